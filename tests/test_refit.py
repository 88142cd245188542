import copy

import numpy as np
import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from molvae import MolVAE, UserError, tabular
from molvae.cli import app
from molvae.refit import fit_head

runner = CliRunner()
DATA = "data/moses_test_1k.csv"


def _frozen(vae: MolVAE) -> dict[str, torch.Tensor]:
    """Every weight outside the property head."""
    state = vae.model.state_dict()
    return {k: v.clone() for k, v in state.items() if not k.startswith("head.")}


def test_a_refitted_head_predicts_better_and_leaves_the_rest_alone(
    tiny_model, moses_smiles, tmp_path
):
    vae = copy.deepcopy(tiny_model)
    smiles = moses_smiles[400:2000]
    frozen = _frozen(vae)
    ds, _ = tabular.prepare(vae, smiles, properties=vae.property_names)
    values = ds.properties
    r2 = fit_head(
        vae, vae.encode_dataset(ds), values, hidden=48, epochs=40, progress=False, batch_size=64
    )
    # The tiny head saw 400 molecules for 6 epochs; 1,440 more molecules and 40 epochs read
    # the same (poor) latents better on the held-out 160.
    assert r2["after"]["logp"] > r2["before"]["logp"] + 0.05, r2
    assert r2["after"]["qed"] > r2["before"]["qed"], r2
    assert r2["kept"] == "new"
    assert vae.model_config.prop_hidden == 48
    assert vae.model.head.net[0].out_features == 48
    for k, v in _frozen(vae).items():
        torch.testing.assert_close(v, frozen[k], rtol=0, atol=0)
    # Samples and reconstructions are the encoder's and decoder's: unchanged.
    assert vae.reconstruct(smiles[:20]) == tiny_model.reconstruct(smiles[:20])

    # The new width is in the model config, so the file loads with the right shapes.
    vae.save(tmp_path / "m.pt")
    loaded = MolVAE.load(tmp_path / "m.pt", device="cpu")
    assert loaded.model_config.prop_hidden == 48
    assert loaded.head_fit == pytest.approx(
        {"molecules": 1440, "r2_logp": r2["after"]["logp"], "r2_qed": r2["after"]["qed"]}
    )
    assert tiny_model.head_fit is None  # a trained model's head was not refitted
    np.testing.assert_allclose(
        loaded.predict(smiles[:30])[["logp", "qed"]],
        vae.predict(smiles[:30])[["logp", "qed"]],
        rtol=1e-5,
        atol=1e-5,
    )


def test_the_new_head_learns_a_nonlinear_map_of_the_latents(tiny_model):
    vae = copy.deepcopy(tiny_model)
    mu = torch.randn(4000, vae.latent_dim, generator=torch.Generator().manual_seed(0))
    logp = 2.0 + mu[:, 0] * mu[:, 1] + 0.5 * mu[:, 4]
    qed = 0.7 + 0.1 * torch.tanh(mu[:, 2] * mu[:, 3])
    values = torch.stack([logp, qed], dim=1).double().numpy()
    values[::2, 1] = np.nan  # half the QED values unknown: left out, not pulled to the mean
    r2 = fit_head(vae, mu, values, hidden=64, epochs=30, progress=False, batch_size=128)
    assert r2["after"]["logp"] > 0.9 and r2["after"]["qed"] > 0.85, r2
    assert r2["kept"] == "new"
    assert r2["before"]["logp"] < 0.2, r2  # the trained head knows nothing of this map
    pred = vae.standardiser.inverse(vae.model.head(mu[:5]).detach().numpy())
    np.testing.assert_allclose(pred[:, 0], values[:5, 0], atol=0.3)

    # A 2-unit head cannot read the map as well: the 64-unit one stays, untouched.
    good = copy.deepcopy(vae.model.head.state_dict())
    worse = fit_head(vae, mu, values, hidden=2, epochs=1, progress=False)
    assert worse["kept"] == "old" and vae.model_config.prop_hidden == 64, worse
    for k, v in vae.model.head.state_dict().items():
        torch.testing.assert_close(v, good[k], rtol=0, atol=0)


def test_refit_errors_are_one_clear_sentence(tiny_model, tiny_smiles_model, moses_smiles):
    vae = copy.deepcopy(tiny_model)
    with pytest.raises(UserError, match="Only 10 molecules have a value of 'logp'"):
        vae.refit_head(moses_smiles[:10])
    with pytest.raises(UserError, match="number of epochs must be at least 1"):
        vae.refit_head(moses_smiles[:100], epochs=0)
    smiles = moses_smiles[400:600]
    vae.add_property("potency", pd.DataFrame({"smiles": smiles, "potency": range(200)}))
    with pytest.raises(UserError, match="predicts 'potency', which the refit molecules lack"):
        vae.refit_head(smiles)
    sparse = pd.DataFrame({"smiles": smiles, "potency": [1.0] * 10 + [None] * 190})
    with pytest.raises(UserError, match="Only 10 molecules have a value of 'potency'"):
        vae.refit_head(sparse)
    with pytest.raises(UserError, match="no property head to refit"):
        tiny_smiles_model.refit_head(moses_smiles[:100])


def test_export_refits_the_head(tiny_model, tmp_path):
    model = tmp_path / "m.pt"
    tiny_model.save(model)
    out = tmp_path / "refit.pt"
    args = ["export", str(model), "-o", str(out), "--refit-head", DATA, "--head-hidden", "24"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "refitted head, held-out R² logp:" in result.output
    ckpt = torch.load(out, weights_only=True)
    assert ckpt["model_config"]["prop_hidden"] == 24
    assert ckpt["state_dict"]["head.net.0.weight"].shape == (24, 16)
    before = torch.load(model, weights_only=True)["state_dict"]
    for k, v in ckpt["state_dict"].items():
        if not k.startswith("head."):
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)

    described = " ".join(runner.invoke(app, ["info", str(out)]).output.split())
    assert "property head: refitted after training, on 900 molecules; 24 units" in described

    lone = runner.invoke(app, ["export", str(model), "-o", str(out), "--head-hidden", "24"])
    assert isinstance(lone.exception, UserError) and "--refit-head" in str(lone.exception)

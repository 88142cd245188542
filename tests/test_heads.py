import copy

import numpy as np
import pandas as pd
import pytest
import torch

from molvae import MolVAE, UserError
from molvae.heads import (
    MIN_MOLECULES,
    ExtendedHead,
    fit_outputs,
    head_features,
    r2_score,
    ridge_fit,
)


def test_ridge_fit_recovers_a_linear_map_and_leaves_the_bias_unpenalised():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(500, 8, generator=gen, dtype=torch.float64)
    w = torch.arange(1.0, 9.0, dtype=torch.float64)
    y = x @ w + 3.0
    fit = ridge_fit(x, y, ridge=0.0)
    torch.testing.assert_close(fit, torch.cat([w, torch.tensor([3.0], dtype=torch.float64)]))
    # A huge penalty shrinks the weights to zero, and the unpenalised bias becomes the mean.
    shrunk = ridge_fit(x, y, ridge=1e9)
    assert shrunk[:-1].abs().max() < 1e-6
    assert shrunk[-1].item() == pytest.approx(y.mean().item(), abs=1e-6)


def test_r2_score():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    assert r2_score(y, y) == 1.0
    assert r2_score(y, np.full(4, y.mean())) == 0.0


def test_added_property_is_a_new_output_and_leaves_the_others_unchanged(
    tiny_model, moses_smiles, tmp_path
):
    vae = copy.deepcopy(tiny_model)
    smiles = moses_smiles[400:1400]
    before = vae.predict(smiles[:50])
    # A column that is exactly linear in the head's logP output: the fit must recover it.
    logp = vae.predict(smiles)["logp"].to_numpy()
    table = pd.DataFrame({"smiles": smiles, "potency": 3.0 * logp + 1.0})
    fit = vae.add_property("potency", table)
    assert fit["n"] == len(smiles)
    assert fit["r2"] > 0.999
    assert vae.property_names == ["logp", "qed", "potency"]
    after = vae.predict(smiles[:50])
    pd.testing.assert_frame_equal(after[["smiles", "logp", "qed"]], before)
    np.testing.assert_allclose(after["potency"], 3.0 * before["logp"] + 1.0, atol=0.05)

    # The new output is the ridge fit on the head's features, and it survives save and load.
    vae.save(tmp_path / "m.pt")
    loaded = MolVAE.load(tmp_path / "m.pt", device="cpu")
    pd.testing.assert_frame_equal(loaded.predict(smiles[:50]), after, atol=1e-5, rtol=1e-5)
    x = head_features(vae, vae.encode(smiles[:5]))
    assert x.shape == (5, vae.model_config.prop_hidden)


def test_a_computed_property_is_fitted_on_molecules_alone(tiny_model, moses_smiles):
    vae = copy.deepcopy(tiny_model)
    fit = vae.add_property("tpsa", moses_smiles[400:1400])
    assert 0.0 < fit["r2"] <= 1.0 and fit["mae"] > 0
    assert vae.predict("c1ccccc1O")["tpsa"].item() > 0
    assert tiny_model.property_names == ["logp", "qed"]  # the session's model is untouched


def test_add_property_errors_are_one_clear_sentence(tiny_model, moses_smiles):
    vae = copy.deepcopy(tiny_model)
    with pytest.raises(UserError, match="predicts 'logp' already"):
        vae.add_property("logp", moses_smiles[:100])
    few = moses_smiles[: MIN_MOLECULES - 1]
    with pytest.raises(UserError, match=f"Only {MIN_MOLECULES - 1} molecules have a value"):
        vae.add_property("tpsa", few)
    with pytest.raises(UserError, match="'pIC50'"):
        vae.add_property("pIC50", moses_smiles[:100])
    assert vae.property_names == ["logp", "qed"]


def test_fitted_outputs_extend_the_head_and_leave_the_model_alone(tiny_model, moses_smiles):
    smiles = moses_smiles[400:1400]
    logp = tiny_model.predict(smiles)["logp"].to_numpy()
    table = pd.DataFrame({"smiles": smiles, "potency": 3.0 * logp + 1.0})
    table["sparse"] = np.where(np.arange(len(table)) < MIN_MOLECULES - 1, 1.0, np.nan)
    fits = fit_outputs(tiny_model, ["potency", "tpsa", "sparse"], table)
    assert list(fits) == ["potency", "tpsa"]  # too few values of "sparse" to fit
    assert tiny_model.property_names == ["logp", "qed"]

    head = ExtendedHead(tiny_model.model.head, list(fits.values()))
    z = tiny_model.encode(smiles[:50])
    with torch.no_grad():
        out = head(z)
        own = tiny_model.model.head(z)
    assert out.shape == (50, 4)
    torch.testing.assert_close(out[:, :2], own)
    potency = out[:, 2].double() * fits["potency"].std + fits["potency"].mean
    np.testing.assert_allclose(potency.numpy(), 3.0 * logp[:50] + 1.0, atol=0.05)
    x = head_features(tiny_model, z)
    np.testing.assert_allclose(
        fits["tpsa"].predict(x).numpy(),
        out[:, 3].double().numpy() * fits["tpsa"].std + fits["tpsa"].mean,
        rtol=1e-4,
    )

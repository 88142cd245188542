"""The conditional VAE (issue #12): ``train --condition``, conditions drawn for sampling,
``sample --where`` with ``method="cvae"``, checkpoints old and new."""

import numpy as np
import pandas as pd
import pytest
import torch
from conftest import one_sentence
from rdkit import Chem
from rdkit.Chem import Crippen, rdMolDescriptors
from typer.testing import CliRunner

from molvae import MolVAE, conditional, cvae
from molvae.cli.main import app
from molvae.config import DataConfig, ModelConfig
from molvae.data.properties import compute_properties
from molvae.errors import UserError
from molvae.prior import sample_latents
from molvae.sample import decode_texts, texts_to_smiles
from molvae.train import checkpoint
from molvae.train.run import with_condition
from molvae.windows import resolve_windows

runner = CliRunner()
#: Decode at temperature 1: the tiny model's greedy decodes are a few long repeats.
T = 1.0


def _standardised(vae, logp: torch.Tensor) -> torch.Tensor:
    col = vae.model.condition[0]
    return ((logp - vae.standardiser.mean[col]) / vae.standardiser.std[col]).float()


def test_the_condition_is_a_property_and_steers_the_decoder(tiny_cvae):
    assert tiny_cvae.property_names == ["qed", "logp"] and tiny_cvae.model.condition == [1]
    assert tiny_cvae.model_config.condition == ("logp",)
    gen = torch.Generator().manual_seed(0)
    want = torch.rand(400, generator=gen) * 4.5  # logP conditions in 0 .. 4.5
    z = sample_latents(tiny_cvae, 400, generator=gen)
    cond = _standardised(tiny_cvae, want).unsqueeze(1)  # (400, 1)
    args = (tiny_cvae.model, tiny_cvae.vocab, "selfies", z, tiny_cvae.max_len, False, T, gen)
    smiles = texts_to_smiles(decode_texts(*args, cond=cond), "selfies")
    got = np.array([compute_properties(s, ["logp"])[0] if s else np.nan for s in smiles])
    ok = np.isfinite(got)
    assert ok.mean() > 0.9
    r = np.corrcoef(want.numpy()[ok], got[ok])[0, 1]
    assert r > 0.3, r  # chance: |r| < 0.1 for 400 molecules
    low, high = got[ok][want.numpy()[ok] < 1.5], got[ok][want.numpy()[ok] > 3.0]
    assert high.mean() - low.mean() > 0.7, (low.mean(), high.mean())


@pytest.mark.parametrize(("where", "inside"), [("logp<=1", "low"), ("logp=3..5", "high")])
def test_cvae_where_writes_only_verified_molecules_inside_the_window(tiny_cvae, where, inside):
    got = conditional.sample_where(tiny_cvae, 10, [where, "tpsa<=70"], temperature=T, seed=0)
    frame = got.frame
    assert got.method == "cvae" and frame.attrs["method"] == "cvae"
    assert len(frame) == 10 and frame["smiles"].is_unique
    assert list(frame.columns) == ["smiles", "logp", "tpsa"]
    window = resolve_windows([where])[0]
    for s in frame["smiles"]:  # TPSA is not in the condition: verification alone keeps it
        mol = Chem.MolFromSmiles(s)
        assert window.contains([Crippen.MolLogP(mol)])[0] and rdMolDescriptors.CalcTPSA(mol) <= 70
    assert 0.05 < got.hit_rate <= 1 and got.decoded <= conditional.DECODES_PER_MOLECULE * 10


def test_conditions_are_drawn_inside_windows_and_from_the_training_values(tiny_cvae):
    sample = tiny_cvae.conditions
    assert sample.values.shape[1] == 1 and len(sample.values) == 360  # the training split
    col = tiny_cvae.model.condition[0]
    mean, std = tiny_cvae.standardiser.mean[col], tiny_cvae.standardiser.std[col]
    gen = torch.Generator().manual_seed(0)
    free = cvae.draw_conditions(tiny_cvae, 4000, (), gen)[:, 0] * std + mean
    assert float(free.mean()) == pytest.approx(float(sample.values.mean()), abs=0.1)
    windows = resolve_windows(["logp>=3", "qed>=0.5"])
    drawn = cvae.draw_conditions(tiny_cvae, 4000, windows, gen)[:, 0] * std + mean
    top = float(sample.hi[0])
    assert float(drawn.min()) >= 3 and float(drawn.max()) <= top
    assert float(drawn.mean()) == pytest.approx((3 + top) / 2, abs=0.1)  # uniform inside


def test_method_defaults_and_errors(tiny_cvae, tiny_model):
    assert conditional.resolve_method(tiny_cvae, None, resolve_windows(["logp>=2"])) == "cvae"
    assert conditional.resolve_method(tiny_cvae, None, resolve_windows(["tpsa>=2"])) == "guided"
    assert conditional.resolve_method(tiny_model, None, resolve_windows(["logp>=2"])) == "guided"
    got = tiny_cvae.sample(3, where=["logp=1..3"], method="guided", temperature=T, seed=0)
    assert got.attrs["method"] == "guided" and got["logp"].between(1, 3).all()
    for call in (
        lambda: tiny_model.sample(3, where=["logp=1..3"], method="cvae"),
        lambda: tiny_model.sample(3, method="cvae"),
    ):
        with pytest.raises(UserError, match="Method cvae needs a conditional VAE") as err:
            call()
        assert one_sentence(str(err.value))
    with pytest.raises(UserError, match="Unknown method 'bo'"):
        tiny_cvae.sample(3, where=["logp>=1"], method="bo")


def test_an_unknown_condition_is_one_sentence():
    with pytest.raises(UserError, match="Cannot condition on 'pic50'") as err:
        with_condition(DataConfig(), ModelConfig(condition=("pic50",)))
    assert one_sentence(str(err.value)) and "--properties" in str(err.value)
    cfg = with_condition(DataConfig(properties=["pic50"]), ModelConfig(condition=("qed", "pic50")))
    assert cfg.properties == ["pic50", "qed"]  # a column named in --properties is fine
    result = runner.invoke(app, ["train", "data/moses_train_2k.csv", "--condition", "foo"])
    assert isinstance(result.exception, UserError) and "Cannot condition on 'foo'" in str(
        result.exception
    )


def test_a_cvae_head_is_not_refitted(tiny_cvae, moses_smiles):
    with pytest.raises(UserError, match="conditional model decodes with its head") as err:
        tiny_cvae.refit_head(moses_smiles[:100])
    assert one_sentence(str(err.value))


def test_a_cvae_checkpoint_round_trips_with_weights_only(tiny_cvae, tmp_path):
    path = tmp_path / "cvae.pt"
    tiny_cvae.save(path)
    raw = torch.load(path, weights_only=True)
    assert raw["model_config"]["condition"] == ("logp",)
    assert set(raw["condition_sample"]) == {"values", "lo", "hi"}
    back = MolVAE.load(path, device="cpu")
    assert back.model.condition == [1] and torch.equal(
        back.conditions.values, tiny_cvae.conditions.values
    )
    z = torch.randn(6, back.latent_dim, generator=torch.Generator().manual_seed(1))
    condition = np.linspace(0, 5, 6)
    assert back.decode(z, condition=condition) == tiny_cvae.decode(z, condition=condition)
    # Other conditions decode to other molecules; none given is the head's prediction.
    assert back.decode(z, condition=condition[::-1]) != back.decode(z, condition=condition)
    pred = back.standardiser.inverse(back.model.head(z).detach().numpy())[:, 1]
    assert back.decode(z) == back.decode(z, condition=pred)
    with pytest.raises(UserError, match="Give 1 condition values"):
        back.decode(z, condition=[1.0, 2.0])


def test_old_plain_checkpoints_load_unchanged(tiny_model, tmp_path):
    ckpt = tiny_model.to_checkpoint()
    del ckpt["model_config"]["condition"]  # as written before the CVAE existed
    path = tmp_path / "old.pt"
    checkpoint.save(path, ckpt)
    old = MolVAE.load(path, device="cpu")
    assert old.model_config.condition == () and old.model.condition == []
    assert old.conditions is None and "condition_sample" not in ckpt
    z = torch.randn(4, old.latent_dim, generator=torch.Generator().manual_seed(2))
    assert old.decode(z) == tiny_model.decode(z)
    assert torch.equal(old.encode(["CCO", "c1ccccc1"]), tiny_model.encode(["CCO", "c1ccccc1"]))


def test_cli_trains_a_cvae_and_samples_inside_a_window(tmp_path):
    out = tmp_path / "run"
    args = ["train", "data/moses_train_2k.csv", "--preset", "tiny", "--epochs", "1"]
    args += ["--max-molecules", "150", "--condition", "logp", "--out", str(out)]
    result = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    model = MolVAE.load(out / "best.pt", device="cpu")
    assert model.property_names == ["logp"] and model.model_config.condition == ("logp",)
    hits = tmp_path / "hits.csv"
    args = ["sample", str(out / "best.pt"), "-n", "3", "--seed", "0", "--temperature", "1"]
    result = runner.invoke(app, [*args, "--where", "logp=1..4", "-o", str(hits)])
    assert result.exit_code == 0, result.output
    assert "method cvae" in result.output and "hit rate" in result.output
    assert pd.read_csv(hits)["logp"].between(1, 4).all()
    unconditional = runner.invoke(app, ["sample", str(out / "best.pt"), "-n", "3", "--seed", "0"])
    assert unconditional.exit_code == 0, unconditional.output

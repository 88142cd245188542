"""The GuacaMol objectives, checked against values that follow from their definitions; a
small run of benchmarks/far_latents.py; how benchmarks/consistent_samples.py sets up the
prior it samples; and benchmarks/finetune_curve.py's learning curve."""

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from molvae.optimize import benchmarks as b


def test_modifiers_follow_guacamol():
    assert b.gaussian(2, 0.5)(2) == 1.0 and b.gaussian(2, 0.5)(3) == pytest.approx(math.exp(-2))
    assert b.min_gaussian(4, 1)(1) == 1.0 and b.min_gaussian(4, 1)(5) == pytest.approx(
        0.60653, 1e-4
    )
    assert b.max_gaussian(90, 10)(120) == 1.0 and b.max_gaussian(90, 10)(80) < 1.0
    assert b.clipped(0.75)(0.3) == pytest.approx(0.4) and b.clipped(0.75)(0.9) == 1.0


def test_targets_score_themselves_and_invalid_molecules_score_zero():
    assert b.score("celecoxib_rediscovery")([b.CELECOXIB, "CCO"]) == [
        1.0,
        pytest.approx(0.0, abs=0.05),
    ]
    assert b.score("aripiprazole_similarity")([b.ARIPIPRAZOLE])[0] == 1.0
    undecane, decane = "CCCCCCCCCCC", "CCCCCCCCCC"
    iso = b.score("isomers_c11h24")([undecane, "CC(C)CCCCCCCC", decane])
    assert iso[:2] == [1.0, 1.0] and iso[2] == pytest.approx(
        math.exp(-(0.5 + 2 + 9 / 8) / 3)  # C 10 of 11, H 22 of 24, 32 atoms of 35
    )
    median = b.score("median_molecules_1")([b.CAMPHOR, b.MENTHOL])
    assert 0 < median[0] < 0.5 and 0 < median[1] < 0.5  # each like one target only
    assert b.score("osimertinib_mpo")(["not a molecule"]) == [0.0]
    assert math.isnan(b.score("plogp")(["not a molecule"])[0])
    assert set(b.objectives()) >= {"qed", "plogp", "zaleplon_mpo", "median_molecules_2"}


def test_far_latents_script_prints_one_row_per_scale():
    script = Path(__file__).resolve().parents[1] / "benchmarks" / "far_latents.py"
    args = [sys.executable, str(script), "--n", "20", "--scales", "1", "3"]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    rows = json.loads(out)["rows"]
    assert [r["scale"] for r in rows] == [1.0, 3.0]
    assert all(0 < r["scored"] <= 20 and r["plogp_max"] >= r["plogp_median"] for r in rows)


def _consistent_samples(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import consistent_samples

    return consistent_samples


def test_consistent_samples_widens_only_the_dimensions_in_use(monkeypatch):
    from types import SimpleNamespace

    from molvae.errors import UserError
    from molvae.prior import LatentPrior

    bench = _consistent_samples(monkeypatch)
    scales = torch.tensor([[0.2, 0.95], [0.3, 0.9]])  # dimension 1 sits near the N(0, 1) prior
    prior = LatentPrior(torch.zeros(2), torch.eye(2), torch.zeros(2, 2), scales)
    out = bench.prepare_prior(SimpleNamespace(prior=prior), None, 2.0, active_spread=True)
    assert out == {"dims_at_spread_1": 1} and prior.spread == 2.0
    z = prior.sample(40_000, torch.device("cpu"), torch.Generator().manual_seed(0))
    # the spread set first (2) widens dimension 0; dimension 1 is drawn at its own sd
    want = [2 * math.sqrt((0.2**2 + 0.3**2) / 2), math.sqrt((0.95**2 + 0.9**2) / 2)]
    assert z.std(dim=0).tolist() == pytest.approx(want, rel=0.02)
    with pytest.raises(UserError, match="needs a model with a mixture prior"):
        bench.prepare_prior(SimpleNamespace(prior=None), None, 2.0, active_spread=False)


def test_consistent_samples_refits_over_new_references_keeping_the_spreads(
    tiny_model, moses_smiles, monkeypatch
):
    bench = _consistent_samples(monkeypatch)
    monkeypatch.setattr(tiny_model, "prior", None)
    tiny_model.fit_prior(moses_smiles[:300], "mixture", spread=1.5, consistent_spread=2.0)
    picked = []

    def unseen(vae, path, n):  # 600 stand-ins for the 1.58 M-row MOSES table
        picked.append(n)
        return moses_smiles[300:900]

    monkeypatch.setattr(bench, "unseen_molecules", unseen)
    out = bench.prepare_prior(tiny_model, 260, None, active_spread=False)
    prior = tiny_model.prior
    assert picked == [260] and out == {"references": 260}
    assert prior.components.shape == (260, tiny_model.latent_dim)
    assert (prior.spread, prior.consistent_spread) == (1.5, 2.0)
    ds, _ = tiny_model.prepare(moses_smiles[300:900])
    mu, _ = tiny_model.encode_posterior(ds)
    exact = "donot_use_mm_for_euclid_dist"  # the components are the new references' posteriors
    assert torch.cdist(prior.components, mu, compute_mode=exact).min(dim=1).values.max() < 1e-5


def test_finetune_curve_validates_the_start_then_every_epoch_and_resumes(tiny_model, tmp_path):
    """benchmarks/finetune_curve.py on the tiny model and its own training table (the first
    400 rows of data/moses_train_2k.csv, as the fixture trained it)."""
    root = Path(__file__).resolve().parents[1]
    model, data, preset = tmp_path / "tiny.pt", tmp_path / "train.csv", tmp_path / "ft.toml"
    tiny_model.save(model)
    lines = (root / "data" / "moses_train_2k.csv").read_text().splitlines()[:401]
    data.write_text("\n".join(lines) + "\n")
    preset.write_text("[train]\nepochs = 2\nbatch_size = 64\nlr = 1e-3\nbeta = 0.1\n")
    script = root / "benchmarks" / "finetune_curve.py"
    args = [sys.executable, str(script), "--init", str(model), "--preset", str(preset)]
    args += ["--data", str(data), "--out", str(tmp_path / "run"), "--train-molecules", "200"]
    args += ["--val-molecules", "30", "--cache-dir", str(tmp_path / "cache")]
    result = json.loads(subprocess.run(args, capture_output=True, text=True, check=True).stdout)
    assert result["train_molecules"] == 200 and result["val_molecules"] == 30
    start = result["start"]  # the starting model, validated before any step
    assert 0 <= start["exact_match"] <= 1 and start["kl_loss"] > 0 and "r2_logp" in start
    assert [row["epoch"] for row in result["curve"]] == [1, 2]
    assert [row["passes"] for row in result["curve"]] == [200, 400]
    again = subprocess.run([*args, "--resume"], capture_output=True, text=True, check=True)
    assert json.loads(again.stdout)["start"] == start  # a finished run, kept

import json
from pathlib import Path

import pytest

import molvae.evaluate
from molvae.config import DataConfig
from molvae.evaluate import evaluate, reference_stats
from molvae.sample import Sampled

DATA = Path(__file__).resolve().parents[1] / "data"
KEYS = {
    "valid",
    "unique@1000",
    "unique@10000",
    "SNN/Test",
    "Frag/Test",
    "Scaf/Test",
    "IntDiv",
    "IntDiv2",
    "Filters",
    "Novelty",
    "recon_exact",
    "active_units",
    "r2_logp",
    "mae_logp",
}


def test_evaluate_reports_every_key_and_caches_reference_stats(tiny_model, tmp_path):
    test_file = tmp_path / "test.csv"
    lines = (DATA / "moses_test_1k.csv").read_text().splitlines()[:301]
    test_file.write_text("\n".join(lines) + "\n")
    result = evaluate(
        tiny_model,
        test_file,
        n=300,
        n_recon=100,
        use_fcd=False,
        cache=str(tmp_path / "cache"),
        progress=False,
    )
    assert set(result) >= KEYS
    assert 0.0 <= result["valid"] <= 1.0 and 0.0 <= result["Novelty"] <= 1.0
    assert 0 <= result["active_units"] <= tiny_model.latent_dim
    json.dumps(result)  # plain numbers, ready for a JSON file
    cached = list((tmp_path / "cache").glob("ref-*.npz"))
    assert len(cached) == 1
    stats = reference_stats(["CCO"], DataConfig(cache_dir=str(tmp_path / "c2")))
    again = reference_stats(["CCO"], DataConfig(cache_dir=str(tmp_path / "c2")))
    assert (stats.fps == again.fps).all() and stats.fragments == again.fragments


def test_fcd_of_a_set_against_itself_is_near_zero():
    from molvae import metrics

    fcd = metrics.fcd_model()
    if fcd is None:
        pytest.skip("fcd_torch is not installed")
    smiles = (DATA / "moses_test_1k.csv").read_text().splitlines()[1:201]
    ref = metrics.ReferenceStats.compute(smiles, fcd)
    same = metrics.moses_metrics(smiles, ref, None, fcd)
    other = metrics.moses_metrics(["CCCCCCCCCCCCCCCC", "CCCCCCCCCCCCCCCCCO"] * 50, ref, None, fcd)
    assert same["FCD/Test"] < 0.5
    assert other["FCD/Test"] > 10 * max(same["FCD/Test"], 0.1)


def test_evaluate_values_match_hand_computed_cases(tiny_model, tmp_path, monkeypatch):
    """The plumbing: what is sampled, the training set given, the reconstruction subset."""
    test_file = tmp_path / "test.csv"
    lines = (DATA / "moses_test_1k.csv").read_text().splitlines()[:61]
    test_file.write_text("\n".join(lines) + "\n")
    train_file = tmp_path / "train.csv"
    train_file.write_text("smiles\nCCO\nCCCC\n")
    generated = ["CCO", "CCO", "c1ccccc1", None, "CCN", "CCCC", None, "CCN"]
    seen = {}

    def fake_sample(vae, n, **options):
        seen.update(n=n, **options)
        return Sampled(list(generated), drawn=10, strict=8, references=2, screened=8)

    monkeypatch.setattr(molvae.evaluate, "sample_molecules", fake_sample)
    result = evaluate(
        tiny_model,
        test=test_file,
        train=train_file,
        n=8,
        n_recon=1000,  # more than the test set: every usable test molecule
        seed=5,
        use_fcd=False,
        cache=str(tmp_path / "cache"),
        progress=False,
        prior="standard",
    )
    assert {k: seen[k] for k in ("n", "seed", "prior", "strict", "consistent")} == {
        "n": 8,
        "seed": 5,
        "prior": "standard",
        "strict": True,
        "consistent": None,
    }
    assert seen["keep_references"] is False  # copies of the prior's references left out
    assert result["reference_copies"] == pytest.approx(2 / 8)
    assert result["valid"] == pytest.approx(6 / 8)
    assert result["strict"] == pytest.approx(8 / 10)  # the raw rate, as sample_molecules counted
    assert result["unique@1000"] == pytest.approx(4 / 6)  # CCO, c1ccccc1, CCN, CCCC
    assert result["Novelty"] == pytest.approx(2 / 4)  # c1ccccc1 and CCN are not in train.csv
    frame, _ = tiny_model.reconstruct_table(test_file)
    assert result["recon_exact"] == pytest.approx(frame["exact"].mean())
    mu = tiny_model.encode(frame["smiles"].tolist())
    from molvae import metrics

    assert result["active_units"] == metrics.active_units(mu)

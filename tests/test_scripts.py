"""The one-command recipes in scripts/, run at toy size on the CPU."""

import json
import math
import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]


@pytest.mark.slow
def test_train_bundled_script_trains_exports_and_evaluates(tmp_path):
    env = {
        **os.environ,
        "MOLVAE_DATA": str(ROOT / "data" / "moses_train_2k.csv"),
        "MOLVAE_TEST": str(ROOT / "data" / "moses_test_1k.csv"),
        "MOLVAE_PRESET": "tiny",
        "MOLVAE_EPOCHS": "1",
        "MOLVAE_DEVICE": "cpu",
        "MOLVAE_EVAL_N": "50",
        "MOLVAE_N_REFERENCE": "200",
        "OMP_NUM_THREADS": "1",
    }
    out = tmp_path / "run"

    def run_script(**settings):
        done = subprocess.run(
            ["bash", str(ROOT / "scripts" / "train_bundled.sh"), str(out)],
            cwd=ROOT,
            env={**env, **settings},
            capture_output=True,
            text=True,
            timeout=1200,
        )
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return json.loads((out / "timings.json").read_text())

    # Train on one machine (MOLVAE_EVALUATE=0), then export and evaluate on another: the
    # second call resumes the finished run, trains no further and evaluates.
    trained = run_script(MOLVAE_EVALUATE="0")
    assert not (out / "molvae_moses.pt").exists()
    assert trained["epochs"] == 1.0 and trained["training_molecules"] > 1800
    assert trained["molecules_per_s"] > 0 and trained["export_and_evaluate_s"] is None
    log = (out / "metrics.csv").read_text()
    timings = run_script()
    assert (out / "metrics.csv").read_text() == log  # no step was added
    assert (out / "molvae_moses.pt").exists() and (out / "reference.csv").exists()
    assert timings["epochs"] == 1.0 and timings["export_and_evaluate_s"] >= 0
    # Exported as the bundled file is: self-consistent sampling, a head refitted at 512 units.
    from molvae import MolVAE
    from molvae.sample import sample_molecules

    exported = MolVAE.load(out / "molvae_moses.pt", device="cpu")
    assert exported.prior.consistent_spread == 2.2 and exported.head_fit is not None
    assert exported.model.head.net[0].out_features == 512
    # Evaluated as `sample` samples by default, self-consistently. A one-epoch toy reconstructs
    # few or none of its samples; with none, the MOSES metrics are NaN (nothing to score).
    result = json.loads((out / "evaluate.json").read_text())
    assert result["strict"] == 1.0 and 0.0 <= result["consistent"] <= 1.0
    assert result["valid"] == 1.0 if result["consistent"] > 0 else math.isnan(result["valid"])
    plain = sample_molecules(exported, 20, seed=0, consistent=False).smiles
    assert len(plain) == 20 and None not in plain


def test_train_bundled_script_refuses_without_cuda(tmp_path):
    pytest.importorskip("torch")
    import torch

    if torch.cuda.is_available():
        pytest.skip("a CUDA device is present")
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "train_bundled.sh"), str(tmp_path / "x")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "MOLVAE_DEVICE": "cuda"},
    )
    assert done.returncode == 1
    assert "No CUDA device" in done.stderr and not (tmp_path / "x").exists()


def _pack_cache_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("pack_cache", ROOT / "scripts" / "pack_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("dtype, tolerance", [("float32", 0.0), ("float16", 2e-3)])
def test_pack_cache_round_trip_is_read_back_as_the_same_dataset(tmp_path, dtype, tolerance):
    import numpy as np

    from molvae.config import DataConfig
    from molvae.data.cache import read_cache
    from molvae.data.load import load_dataset

    pack_cache = _pack_cache_module()
    cfg = DataConfig(properties=["logp", "qed"], max_molecules=300, cache_dir=str(tmp_path / "c"))
    first = load_dataset(ROOT / "data" / "moses_train_2k.csv", cfg, progress=False)
    (cached,) = (tmp_path / "c").glob("*.npz")
    pack_cache.pack(str(cached), str(tmp_path / "pack.npz"), dtype)
    (tmp_path / "there").mkdir()
    pack_cache.unpack(str(tmp_path / "pack.npz"), str(tmp_path / "there" / cached.name))

    again = read_cache(tmp_path / "there" / cached.name)
    assert again is not None and again.smiles == first.smiles
    assert again.tokens.dtype == first.tokens.dtype
    np.testing.assert_array_equal(again.tokens, first.tokens)
    np.testing.assert_array_equal(again.offsets, first.offsets)
    np.testing.assert_array_equal(again.rows, first.rows)
    assert again.property_names == first.property_names
    assert again.vocab.to_list() == first.vocab.to_list() and again.n_input == first.n_input
    np.testing.assert_allclose(again.properties, first.properties, rtol=tolerance, atol=tolerance)
    assert (first.properties != again.properties).any() == (tolerance > 0)
    # The run on the other machine finds it under the same name: the key is unchanged.
    there = DataConfig(**{**cfg.__dict__, "cache_dir": str(tmp_path / "there")})
    assert load_dataset(ROOT / "data" / "moses_train_2k.csv", there, progress=False).from_cache


def test_pack_cache_refuses_rows_out_of_order_with_a_clear_error(tmp_path):
    import numpy as np

    pack_cache = _pack_cache_module()
    arrays = {
        "smiles": np.frombuffer(b"C\nCC", np.uint8),
        "tokens": np.array([3, 3, 3], np.int16),
        "offsets": np.array([0, 1, 3]),
        "properties": np.zeros((2, 1), np.float32),
        "rows": np.array([5, 2]),  # not increasing: gaps cannot encode it
        "meta": np.frombuffer(b"{}", np.uint8),
    }
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match="row gaps"):
        pack_cache.pack(str(tmp_path / "bad.npz"), str(tmp_path / "p.npz"))

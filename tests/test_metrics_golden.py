"""molvae's MOSES metrics against the official values (molsets 0.3.1, ``official.json``).

The golden inputs live in ``../shared/data/moses_golden/`` beside the repository (CI has it;
``MOLVAE_SHARED`` points elsewhere). FCD must agree to 1e-3 relative, every other key to 1e-6.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pytest

from molvae import metrics

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOLVAE_SHARED", ROOT.parent / "shared")) / "data"
GOLDEN = SHARED / "moses_golden"

pytestmark = pytest.mark.skipif(not GOLDEN.exists(), reason=f"no golden data at {GOLDEN}")


def _smiles(name: str) -> list[str]:
    # keep_default_na=False: the empty string in gen.csv is a (invalid) molecule, not a NaN.
    return pd.read_csv(GOLDEN / name, keep_default_na=False)["SMILES"].tolist()


def _assert_matches(ours: dict[str, float], keys: list[str]) -> None:
    official = json.loads((GOLDEN / "official.json").read_text())["metrics"]
    for key in keys:
        want = official[key]
        if key.startswith("FCD"):
            assert ours[key] == pytest.approx(want, rel=1e-3), key
        else:
            assert ours[key] == pytest.approx(want, abs=1e-6), key


@pytest.fixture(scope="module")
def fcd():
    pytest.importorskip("fcd_torch")
    return metrics.fcd_model()


@pytest.fixture(scope="module")
def generated() -> list[str]:
    return _smiles("gen.csv")


@pytest.fixture(scope="module")
def ours(fcd, generated) -> dict[str, float]:
    ref = metrics.ReferenceStats.compute(_smiles("ref.csv"), fcd)
    train = set(_smiles("train.csv"))
    return metrics.moses_metrics(generated, ref, train, fcd, ks=(100, 1000))


def test_every_test_set_key_equals_the_official_value(ours):
    official = json.loads((GOLDEN / "official.json").read_text())["metrics"]
    keys = [k for k in official if not k.endswith("/TestSF")]
    assert [k for k in ours if k in keys] == keys  # same keys, same order as MOSES
    _assert_matches(ours, keys)


@pytest.mark.slow
def test_scaffold_test_keys_equal_the_official_values(fcd, generated):
    """The ``/TestSF`` keys from MOSES's 176 k scaffold test set (a few minutes)."""
    path = SHARED / "moses" / "test_scaffolds.csv.gz"
    if not path.exists():
        pytest.skip(f"no MOSES scaffold test set at {path}")
    scaffold_set = pd.read_csv(path)["SMILES"].tolist()
    ref_sf = metrics.ReferenceStats.compute(scaffold_set, fcd, with_distributions=False)
    ref = metrics.ReferenceStats.compute(_smiles("ref.csv"))
    ours = metrics.moses_metrics(generated, ref, None, fcd, ks=(), ref_scaffolds=ref_sf)
    _assert_matches(ours, ["FCD/TestSF", "SNN/TestSF", "Frag/TestSF", "Scaf/TestSF"])

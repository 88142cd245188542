"""Ring statistics of generated sets."""

import math
from pathlib import Path

import pandas as pd

from molvae.structure import ring_stats


def test_open_chain_where_a_ring_was_meant():
    # The typical sample: one ring, three acyclic C=C/C=N bonds (the C=O does not count).
    stats = ring_stats(["CC(C)CNC=C(N)NC(=O)NC=CN=C(O)c1ccccc1"])
    assert stats == {"rings": 1.0, "aromatic": 1.0, "acyclic_C=C/C=N": 3.0}


def test_means_over_valid_molecules_only():
    stats = ring_stats(["C1CCCCC1", "C=CC=N", "not a smiles", "c1ccc2ccccc2c1"])
    assert stats["rings"] == 1.0  # (1 + 0 + 2) / 3
    assert math.isclose(stats["aromatic"], 1 / 3)
    assert math.isclose(stats["acyclic_C=C/C=N"], 2 / 3)
    assert all(math.isnan(v) for v in ring_stats(["xx"]).values())


def test_moses_test_sample_matches_the_published_profile():
    smiles = pd.read_csv(Path(__file__).parents[1] / "data" / "moses_test_1k.csv")["SMILES"]
    stats = ring_stats(smiles.tolist())
    assert 2.4 < stats["rings"] < 2.7 and stats["aromatic"] > 0.95
    assert stats["acyclic_C=C/C=N"] < 0.05

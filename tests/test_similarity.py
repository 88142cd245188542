"""molvae.similarity: Tanimoto similarity as MOSES computes it (SNN, IntDiv)."""

import numpy as np
import pytest

from molvae import similarity


def test_internal_diversity_of_identical_molecules_is_zero():
    fps = similarity.fingerprints(["c1ccccc1O"] * 5)
    assert similarity.internal_diversity(fps, 1) == pytest.approx(0.0)
    assert similarity.internal_diversity(fps, 2) == pytest.approx(0.0)


def test_internal_diversity_matches_hand_computed_pairs():
    fps = np.array([[1, 1, 0, 0], [0, 1, 1, 0]], dtype=np.uint8)  # T(a, b) = 1/3
    mean_t = (1 + 1 + 1 / 3 + 1 / 3) / 4
    assert similarity.internal_diversity(fps, 1) == pytest.approx(1 - mean_t)
    mean_t2 = (1 + 1 + 1 / 9 + 1 / 9) / 4
    assert similarity.internal_diversity(fps, 2) == pytest.approx(1 - mean_t2**0.5)


def test_snn_is_one_for_molecules_in_the_reference_and_less_otherwise():
    ref = similarity.fingerprints(["CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1"])
    same = similarity.fingerprints(["CC(=O)Nc1ccc(O)cc1"])
    assert similarity.snn(same, ref) == pytest.approx(1.0)
    other = similarity.fingerprints(["CCCCCCCCCC"])
    assert similarity.snn(other, ref) < 0.2

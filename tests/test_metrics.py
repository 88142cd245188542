from collections import Counter

import numpy as np
import pytest

from molvae import metrics
from molvae.data.chem import to_mol


def test_valid_counts_none_and_empty_as_invalid():
    assert metrics.fraction_valid(["CCO", None, "", "c1ccccc1"]) == 0.5
    assert np.isnan(metrics.fraction_valid([]))  # MOSES divides by zero here: nan, not 0


def test_unique_at_k_over_valid_molecules():
    gen = ["CCO", "CCO", None, "CCN", "CCO", "CCC"]
    assert metrics.fraction_unique(gen) == pytest.approx(3 / 5)
    assert metrics.fraction_unique(gen, k=2) == pytest.approx(1 / 2)  # first two valid: CCO CCO
    assert metrics.fraction_unique(gen, k=1000) == pytest.approx(3 / 5)  # fewer than k: all


def test_novelty_against_a_tiny_train_set():
    gen = ["CCO", "CCO", "CCN", "CCC", None]
    assert metrics.novelty(gen, {"CCO"}) == pytest.approx(2 / 3)  # distinct: CCO CCN CCC
    assert metrics.novelty(gen, lambda s: np.array([x == "CCC" for x in s])) == pytest.approx(2 / 3)


def test_cosine_similarity_of_counts():
    assert metrics.cosine_similarity(Counter(a=1, b=1), Counter(a=1, b=1)) == pytest.approx(1.0)
    assert metrics.cosine_similarity(Counter(a=1), Counter(b=2)) == 0.0
    assert metrics.cosine_similarity(Counter(a=3, b=4), Counter(a=1)) == pytest.approx(3 / 5)


def test_scaffolds_need_two_rings_and_fragments_use_brics():
    mols = [to_mol(s) for s in ["c1ccc(Cc2ccccc2)cc1", "CCc1ccccc1", "Cc1ccc(Cc2ccccc2)cc1"]]
    assert metrics.scaffolds(mols) == Counter({"c1ccc(Cc2ccccc2)cc1": 2})  # one ring: skipped
    # BRICS cuts both bonds of the ester O and the ring-carbonyl bond, and labels each dummy
    # atom with its BRICS environment type, as MOSES's Frag counts them.
    frags = metrics.fragments([to_mol("CCOC(=O)c1ccccc1")])
    assert frags == Counter({"[4*]CC": 1, "[3*]O[3*]": 1, "[1*]C([6*])=O": 1, "[16*]c1ccccc1": 1})


def test_fraction_passes_filters_and_empty_sets_are_nan():
    mols = [to_mol("CCO"), to_mol("C[N+](C)(C)C")]
    assert metrics.fraction_passes_filters(mols) == 0.5
    assert np.isnan(metrics.fraction_passes_filters([]))
    assert np.isnan(metrics.cosine_similarity(Counter(), Counter(a=1)))
    assert np.isnan(metrics.moses_metrics([], metrics.ReferenceStats.compute(["CCO"]))["SNN/Test"])


def test_moses_metrics_keys_without_fcd():
    ref = metrics.ReferenceStats.compute(["CCOc1ccccc1", "c1ccc(Cc2ccccc2)cc1"])
    out = metrics.moses_metrics(["CCOc1ccccc1", None, "CCN"], ref, {"CCN"})
    assert set(out) == {
        "valid",
        "unique@1000",
        "unique@10000",
        "SNN/Test",
        "Frag/Test",
        "Scaf/Test",
        "IntDiv",
        "IntDiv2",
        "Filters",
        "logP",
        "SA",
        "QED",
        "weight",
        "Novelty",
    }
    assert out["valid"] == pytest.approx(2 / 3)
    assert out["Novelty"] == pytest.approx(0.5)

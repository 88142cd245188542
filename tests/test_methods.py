"""The methods in one harness: screen, GA and BO's library step spend exactly the budget, never
call the oracle twice on a molecule, and record where each molecule came from."""

import copy
from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from molvae import UserError
from molvae.config import OptimizeConfig
from molvae.optimize import methods
from molvae.optimize.box import DataBox
from molvae.optimize.constraints import Constraints
from molvae.optimize.ga import alphabet_of, crossover, mutate, offspring
from molvae.optimize.library import Library
from molvae.optimize.methods import Batch, ranked_together
from molvae.optimize.objectives import Objective, builtin

CHEAP = {"raw_samples": 32, "num_restarts": 2, "gp_maxiter": 20}


def _counting(name="qed"):
    """A QED oracle that records every molecule it is asked about."""
    calls: list[str] = []
    qed = builtin(name)

    def score(smiles):
        calls.extend(smiles)
        return qed.fn(smiles)

    return Objective(name, score, name), calls


@pytest.mark.parametrize("method", ["screen", "ga"])
def test_screen_and_ga_spend_exactly_the_budget_without_repeats(method, pretrained, tmp_path):
    from molvae.optimize.bo import optimize

    objective, calls = _counting()
    cfg = OptimizeConfig(budget=32, batch_size=5, n_init=10, method=method, seed=4)
    journal = optimize(objective, pretrained, cfg, tmp_path, progress=False)
    assert len(calls) == 32 and len(set(calls)) == 32  # exactly the budget, no repeats
    assert journal["smiles"].tolist() == calls
    assert Counter(journal["source"]) == {"start": 10, method: 22}
    if method == "screen":  # in the library's seeded random order, nothing else
        assert set(journal["smiles"]) <= set(Library(pretrained.train_sample, "").smiles)


def test_screen_needs_a_library_and_reads_one_from_a_file(pretrained, tmp_path):
    from molvae.optimize.bo import optimize

    bare = copy.copy(pretrained)
    bare.train_sample = []
    with pytest.raises(UserError, match="give one with --library FILE"):
        optimize("qed", bare, OptimizeConfig(method="screen"), tmp_path / "a", progress=False)
    mine = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(40)
    path = tmp_path / "library.csv"
    pd.DataFrame({"smiles": mine}).to_csv(path, index=False)
    cfg = OptimizeConfig(budget=15, batch_size=5, n_init=5, method="screen", library=str(path))
    journal = optimize("qed", bare, cfg, tmp_path / "b", progress=False)
    screened = journal.loc[journal["source"] == "screen", "smiles"]
    assert len(screened) == 10 and set(screened) <= set(Library(list(mine), "").smiles)
    empty = tmp_path / "empty.csv"
    empty.write_text("smiles\nnot_a_molecule\n")
    with pytest.raises(UserError, match="holds no valid SMILES"):
        optimize("qed", bare, OptimizeConfig(library=str(empty)), tmp_path / "c")


def test_ga_operators_edit_one_token_and_splice_two_parents():
    rng = np.random.default_rng(0)
    tokens = ["[C]", "[C]", "[O]"]
    sizes = Counter(len(mutate(tokens, ["[N]"], rng)) for _ in range(300))
    assert set(sizes) == {2, 3, 4}  # delete, replace, insert
    child = crossover(["[C]", "[C]"], ["[N]", "[O]"], np.random.default_rng(1))
    assert child[0] == "[C]" and set(child) <= {"[C]", "[N]", "[O]"}
    assert alphabet_of(["<pad>", "<bos>", "[C]", "[=O]"]) == ["[C]", "[=O]"]
    seen = {"CCO"}
    kids = offspring(["CCO", "CCN"], np.array([0.5, 0.5]), ["[C]", "[N]", "[O]"], 6, rng,
                     lambda s: s not in seen)  # fmt: skip
    assert len(kids) == 6 and len(set(kids)) == 6 and "CCO" not in kids


def test_library_molecules_enter_bo_batches_when_the_acquisition_prefers_them():
    # In the unit square, the acquisition prefers points near (1, 1); two decoded proposals
    # lie at the origin, the library holds one molecule near (1, 1) and one at (0.5, 0.5).
    def acq(x):  # b x q x d -> b: the best point of each batch
        return -((x - 1.0) ** 2).sum(dim=-1).min(dim=-1).values

    box = DataBox([0.0, 0.0], [1.0, 1.0])
    library = Library(["c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN"], "test")
    library._latents = torch.tensor([[0.9, 0.95], [0.5, 0.5], [0.2, 0.1]], dtype=torch.float64)
    decoded = torch.tensor([[0.0, 0.0], [0.1, 0.0]])
    batch = Batch(["CCO", "CCC"], ["bo", "bo"], decoded)
    constraints = Constraints(OptimizeConfig(guards=False))
    seen = {"CCN"}  # already scored: never offered again
    out = ranked_together(batch, library, None, None, acq, box, 2, seen, constraints)
    assert out.smiles[0] == "Oc1ccccc1" and out.sources[0] == "library"
    assert "CCN" not in out.smiles and len(out.smiles) == 2
    assert torch.allclose(out.latents[0].double(), library._latents[0])


def test_edits_of_the_best_molecules_enter_bo_batches_ranked_by_the_acquisition(monkeypatch):
    def acq(x):  # b x q x d -> b: prefers points near (1, 1)
        return -((x - 1.0) ** 2).sum(dim=-1).min(dim=-1).values

    where = {"CCCO": [0.95, 1.0], "CCCCl": [0.0, 0.1], "C1CC1": [float("nan"), 0.0]}
    monkeypatch.setattr(
        methods, "latents_of", lambda model, smiles: torch.tensor([where[s] for s in smiles])
    )
    batch = Batch(["CCO", "CCC"], ["bo", "bo"], torch.tensor([[0.0, 0.0], [0.5, 0.4]]))
    edits = Batch(["CCCO", "CCCCl", "C1CC1"], ["ga"] * 3, reasons=Counter(ring=2))
    edits.turned_away = ["C1CC1C1CC1"]
    constraints = Constraints(OptimizeConfig(guards=False))
    box = DataBox([0.0, 0.0], [1.0, 1.0])
    out = ranked_together(batch, None, edits, None, acq, box, 2, set(), constraints)
    assert out.smiles[0] == "CCCO" and out.sources[0] == "edit"
    assert len(out.smiles) == 2 and "C1CC1" not in out.smiles
    torch.testing.assert_close(out.latents[0], torch.tensor([0.95, 1.0]))
    # The edits' rejections are the batch's; an edit the VAE cannot read is turned away.
    assert out.reasons == Counter({"ring": 2, methods.UNREADABLE: 1})
    assert out.turned_away == ["C1CC1C1CC1", "C1CC1"]


@pytest.mark.parametrize("edits", [0, 3])
def test_bo_runs_record_library_edit_and_decoded_sources(pretrained, tmp_path, edits):
    from molvae.optimize.bo import optimize

    objective, calls = _counting("logp")
    cfg = OptimizeConfig(budget=30, batch_size=5, n_init=10, seed=2, edits=edits, **CHEAP)
    journal = optimize(objective, pretrained, cfg, tmp_path, progress=False)
    assert len(calls) == 30 and len(set(calls)) == 30
    sources = Counter(journal["source"])
    assert sources["start"] == 10 and sources["library"] + sources["edit"] > 0
    assert set(sources) <= {"start", "library", "bo", "edit"}
    assert (sources["edit"] > 0) == (edits > 0)
    train = set(Library(pretrained.train_sample, "").smiles)
    assert set(journal.loc[journal["source"] == "library", "smiles"]) <= train


def test_mutations_write_the_molecules_own_tokens_half_the_time():
    rng = np.random.default_rng(0)
    written = Counter()
    for _ in range(400):
        child = mutate(["[C]", "[C]", "[C]"], ["[N]"], rng)
        written.update(t for t in child if t != "[C]")
        written["own"] += len(child) == 4 and "[N]" not in child  # an inserted [C]
    # Inserts and replacements write [N] from the alphabet or [C] from the molecule itself.
    assert written["[N]"] > 50 and written["own"] > 30


def test_source_shares_follow_each_sources_hits():
    starts = ["start"] * 10
    values = np.arange(10.0)
    # No hits yet: one slot each, the rest shared evenly.
    assert methods.source_quotas(starts, values, ["bo", "library", "edit"], 10) == {
        "bo": 4,
        "library": 3,
        "edit": 3,
    }
    # Edits entered the best ten six times, the library never: edits get most of the batch.
    sources = starts + ["library"] * 5 + ["edit"] * 6 + ["bo"]
    record = np.concatenate([values, [-1.0] * 5, 10.0 + np.arange(6), [np.nan]])
    shares = methods.source_quotas(sources, record, ["bo", "library", "edit"], 10)
    assert shares == {"bo": 2, "library": 2, "edit": 6}  # 1 each, then 7 shared 1 : 1 : 7
    assert methods.source_quotas(sources, record, ["bo", "library", "edit"], 3) is None


def test_bo_batches_hold_each_source_to_its_share():
    def acq(x):  # b x q x d -> b: each point the nearer (1, 1) the better
        return -((x - 1.0) ** 2).sum(dim=-1).sum(dim=-1)

    box = DataBox([0.0, 0.0], [1.0, 1.0])
    library = Library(["c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN", "CCCN"], "test")
    library._latents = torch.tensor(
        [[0.9, 0.95], [0.95, 0.9], [0.92, 0.92], [0.91, 0.93]], dtype=torch.float64
    )
    decoded = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.2, 0.1], [0.3, 0.2]])
    batch = Batch(["CCO", "CCC", "CCCC", "CCCCC"], ["bo"] * 4, decoded)
    constraints = Constraints(OptimizeConfig(guards=False))
    # The library has every candidate the acquisition likes, but has never had a hit while
    # the decoded proposals had four: it gets one slot of four.
    record = (["start"] * 10 + ["bo"] * 4, np.arange(14.0))
    out = ranked_together(batch, library, None, None, acq, box, 4, set(), constraints, record)
    assert Counter(out.sources) == {"bo": 3, "library": 1}
    assert out.smiles[0] == "Oc1ccccc1"  # the library's best came first
    # Without a record the acquisition alone chooses: all four from the library.
    out = ranked_together(batch, library, None, None, acq, box, 4, set(), constraints)
    assert Counter(out.sources) == {"library": 4}

"""The run's files: the journal as the one copy of the scored data, and the loop state."""

import math

import numpy as np
import pytest
import torch

from molvae import UserError
from molvae.optimize.box import DataBox
from molvae.optimize.journal import (
    Journal,
    LoopState,
    journal_latents,
    load_state,
    save_state,
    training_data,
    without_latents,
)
from molvae.optimize.trust_region import TrustRegion, update


def test_latents_round_trip_exactly_and_feed_the_training_data(tmp_path):
    j = Journal(tmp_path / "journal.csv", ["score_a", "score_b"], latent_dim=3).open()
    z = torch.randn(3, 3)  # float32, as the encoder gives them
    z[2] = float("nan")  # a molecule that could not be encoded
    scores = np.array([[1.0, 2.0], [np.nan, 1.0], [0.5, 0.5]])
    j.append(0, "init", ["CCO", "CCN", "CCC"], scores, z)
    rows = j.read()
    assert list(rows.columns[-3:]) == ["z0", "z1", "z2"]
    latents = journal_latents(rows, 3)
    assert latents.dtype == torch.float64
    assert torch.equal(latents[:2], z[:2].double())  # bit for bit
    x, y = training_data(rows, ["score_a", "score_b"], latents)
    assert torch.equal(x, z[:1].double())  # failed score and missing latent left out
    assert y.tolist() == [[1.0, 2.0]]
    assert "z0" not in without_latents(rows) and "score_a" in without_latents(rows)


def test_a_journal_is_never_overwritten_and_must_match_on_resume(tmp_path):
    path = tmp_path / "journal.csv"
    Journal(path, latent_dim=2).open().append(1, "bo", ["CCO"], [1.0], torch.zeros(1, 2))
    with pytest.raises(UserError, match="already holds"):
        Journal(path, latent_dim=2).open()
    with pytest.raises(UserError, match="columns differ"):
        Journal(path, latent_dim=4).open(resume=True).check_columns()
    assert len(Journal(path, latent_dim=2).open(resume=True).read()) == 1
    Journal(tmp_path / "empty.csv").open()
    Journal(tmp_path / "empty.csv").open()  # a header alone holds no run


def test_loop_state_round_trips_with_its_parts(tmp_path):
    region = update(TrustRegion(dim=2, batch_size=1), False)
    state = LoopState(
        objective="qed,sa",
        config={"budget": 10, "seed": 0},
        iteration=3,
        init_done=True,
        box=DataBox([0.0, -1.0], [1.0, 1.0]),
        ref_point=[0.1, -5.0],
        trust_region=region,
        rejected={"PAINS alert": 2},
        turned_away=["c1ccccc1N=Nc1ccccc1"],
    )
    warm = {"lengthscale": torch.tensor([0.5, 2.0])}
    save_state(tmp_path, state, warm)
    loaded, loaded_warm = load_state(tmp_path)
    assert loaded == state
    assert torch.equal(loaded_warm["lengthscale"], warm["lengthscale"])
    save_state(tmp_path, state, None)  # a cold GP next: no stale warm start left behind
    assert load_state(tmp_path)[1] is None
    assert load_state(tmp_path / "nothing") == (None, None)


def test_changed_settings_ignore_a_larger_budget():
    state = LoopState("logp", {"budget": 10, "seed": 0, "batch_size": 5})
    assert state.changed_settings("logp", {"budget": 20, "seed": 0, "batch_size": 5}) == []
    changed = state.changed_settings("qed", {"budget": 20, "seed": 1, "batch_size": 5})
    assert changed == ["objective", "seed"]
    # A run saved before a setting existed resumes with the setting's current value.
    assert (
        state.changed_settings("logp", {"budget": 10, "seed": 0, "batch_size": 5, "edits": 3}) == []
    )


def test_journal_records_the_properties_beside_the_scores(tmp_path):
    j = Journal(tmp_path / "journal.csv")
    j.append(2, "random", ["CC(=O)Nc1ccc(O)cc1", "not a molecule"], [0.5, float("nan")])
    rows = j.read()
    assert rows["heavy_atoms"].tolist() == [11, 0]
    assert rows["mw"].iloc[0] == pytest.approx(151.165, abs=0.01)
    assert math.isnan(rows["qed"].iloc[1]) and rows["source"].tolist() == ["random"] * 2

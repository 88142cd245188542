import numpy as np
import pandas as pd
import pytest
import torch

from molvae import UserError
from molvae.config import OptimizeConfig
from molvae.optimize.bo import optimize
from molvae.optimize.pareto import (
    balanced,
    hypervolume,
    hypervolume_so_far,
    pareto_mask,
    reference_point,
)

POINTS = np.array([[1.0, 2.0], [2.0, 1.0], [0.5, 0.5], [1.0, 1.0], [np.nan, 9.0]])


def test_pareto_mask_keeps_only_undominated_finite_rows():
    assert list(pareto_mask(POINTS)) == [True, True, False, False, False]


def test_hypervolume_of_a_staircase():
    # [1,2] and [2,1] over the origin: 1*2 + 2*1 - 1*1 = 3
    assert hypervolume(POINTS, np.zeros(2)) == pytest.approx(3.0)
    assert hypervolume(POINTS[2:3], np.zeros(2)) == pytest.approx(0.25)
    assert hypervolume(POINTS, np.array([5.0, 5.0])) == 0.0  # nothing beyond the reference


def test_hypervolume_so_far_grows_only_with_new_front_points():
    y = np.array([[0.5, 0.5], [0.4, 0.4], [1.0, 2.0], [2.0, 1.0]])
    curve = hypervolume_so_far(y, np.zeros(2))
    assert curve == pytest.approx([0.25, 0.25, 2.0, 3.0])
    assert hypervolume_so_far(y[:1], np.zeros(2), start=y[2:])[0] == pytest.approx(3.0)


def test_reference_point_is_below_every_row():
    ref = reference_point(POINTS)
    finite = POINTS[np.isfinite(POINTS).all(axis=1)]
    assert (finite > ref).all()


def test_balanced_score_prefers_the_middle_of_the_front():
    y = torch.tensor([[0.0, 10.0], [5.0, 5.0], [10.0, 0.0]])
    assert int(torch.argmax(balanced(y))) == 1
    assert torch.equal(balanced(y[:, :1]), y[:, 0])


def test_two_objective_run_writes_a_pareto_front_and_resumes(pretrained, tmp_path):
    cfg = OptimizeConfig(budget=30, batch_size=5, n_init=15, seed=0)
    journal = optimize(["qed", "sa"], pretrained, cfg, tmp_path, progress=False)
    assert {"score_qed", "score_sa"} <= set(journal.columns) and "score" not in journal
    assert len(journal) == 30 and journal["smiles"].is_unique
    assert np.allclose(journal["score_sa"], -journal["sa"])  # SA is minimised
    top = pd.read_csv(tmp_path / "top.csv")
    y = journal[["score_qed", "score_sa"]].to_numpy()
    front = set(journal.loc[pareto_mask(y), "smiles"])
    assert set(top["smiles"]) == front and len(front) >= 1
    for name in ("pareto.png", "best_so_far.png", "report.html"):
        assert (tmp_path / name).stat().st_size > 0
    assert "Pareto front" in (tmp_path / "report.html").read_text()
    longer = OptimizeConfig(budget=35, batch_size=5, n_init=15, seed=0)
    extended = optimize(["qed", "sa"], pretrained, longer, tmp_path, resume=True, progress=False)
    assert len(extended) == 35 and extended["smiles"].is_unique
    pd.testing.assert_frame_equal(extended.iloc[:30], journal)
    with pytest.raises(UserError, match="different objective"):
        optimize(["qed", "logp"], pretrained, longer, tmp_path, resume=True, progress=False)


def test_multi_objective_init_scores_and_gradient_refusal(pretrained, tmp_path):
    init = tmp_path / "init.csv"
    smiles = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(10)
    pd.DataFrame({"SMILES": smiles, "score_qed": 0.5, "score_logp": 1.0}).to_csv(init, index=False)
    cfg = OptimizeConfig(budget=5, batch_size=5, n_init=10, method="random")
    journal = optimize(["qed", "logp"], pretrained, cfg, tmp_path / "r", init, progress=False)
    given = journal[journal["source"] == "given"]
    assert len(given) == 10 and (given["score_qed"] == 0.5).all()  # not evaluated again
    assert (journal["source"] == "random").sum() == 5
    with pytest.raises(UserError, match="single --target"):
        optimize(["qed", "logp"], pretrained, OptimizeConfig(method="gradient"), tmp_path / "g")
    with pytest.raises(UserError, match="must differ"):
        optimize(["qed", "qed"], pretrained, OptimizeConfig(), tmp_path / "d")

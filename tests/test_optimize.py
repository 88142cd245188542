import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest
import torch

from molvae import MolVAE, UserError
from molvae.config import OptimizeConfig
from molvae.data.chem import fingerprint, to_mol
from molvae.data.properties import PROPERTIES
from molvae.optimize.bo import Optimizer, optimize
from molvae.optimize.journal import COLUMNS, Journal
from molvae.optimize.objectives import Objective, builtin, custom, from_spec

# -- objectives ---------------------------------------------------------------------------------


def test_builtin_objectives_follow_rdkit_and_their_direction():
    mol = "CC(=O)Nc1ccc(O)cc1"
    m = to_mol(mol)
    assert builtin("logp")([mol])[0] == pytest.approx(PROPERTIES["logp"](m))
    assert builtin("sa")([mol])[0] == pytest.approx(-PROPERTIES["sa"](m))  # minimised
    assert builtin("mw=350")([mol])[0] == pytest.approx(-abs(PROPERTIES["mw"](m) - 350))
    assert np.isnan(builtin("qed")(["not a molecule"])[0])
    with pytest.raises(UserError, match="Unknown target"):
        builtin("potency")
    with pytest.raises(UserError, match="needs a target"):
        builtin("mw")


def test_custom_objective_from_a_file(tmp_path):
    f = tmp_path / "scores.py"
    f.write_text("def score(smiles):\n    return [len(s) for s in smiles]\n")
    obj = custom(f"{f}:score")
    assert obj(["CCO", "CCCC"]).tolist() == [3.0, 4.0]
    with pytest.raises(UserError, match="not a function"):
        custom(f"{f}:nope")
    with pytest.raises(UserError, match="does not exist"):
        custom(f"{tmp_path / 'missing.py'}:score")


def test_bad_objectives_are_recorded_as_failures_or_clear_errors():
    def raises(smiles):
        raise RuntimeError("assay robot offline")

    assert np.isnan(Objective("r", raises)(["CCO", "CCN"])).all()
    weird = Objective("w", lambda s: [1.0, float("inf"), float("nan")])
    assert np.isnan(weird(["C", "CC", "CCC"])[1:]).all()
    with pytest.raises(UserError, match="returned 1 scores for 2"):
        Objective("short", lambda s: [1.0])(["CCO", "CCN"])
    with pytest.raises(UserError, match="must return numbers"):
        Objective("text", lambda s: ["high"] * len(s))(["CCO"])
    assert from_spec(len).name == "len"


# -- journal -------------------------------------------------------------------------------------


def test_journal_appends_and_drops_a_half_written_line(tmp_path):
    j = Journal(tmp_path / "journal.csv")
    j.append(1, "bo", ["CCO", "CCN"], [1.0, float("nan")])
    with open(tmp_path / "journal.csv", "a") as fh:
        fh.write("2,CCC,0.5,bo")  # killed mid-write
    again = Journal(tmp_path / "journal.csv").open(resume=True)
    rows = again.read()
    assert list(rows.columns) == COLUMNS
    assert rows["smiles"].tolist() == ["CCO", "CCN"]
    assert np.isnan(rows["score"].iloc[1])


# -- runs ---------------------------------------------------------------------------------------


def _similarity_to(target: str):
    from rdkit import DataStructs

    ref = fingerprint(target)

    def score(smiles):
        return [DataStructs.TanimotoSimilarity(ref, fingerprint(s)) for s in smiles]

    return score


def test_bo_run_writes_outputs_and_respects_budget_and_constraints(pretrained, tmp_path):
    # QED, not logP: logP under a 25-atom cap drives BO against the cap until it stalls
    # (issue #11), which is not what this test is about.
    cfg = OptimizeConfig(budget=40, batch_size=5, n_init=20, max_heavy_atoms=25, seed=1)
    journal = optimize("qed", pretrained, cfg, tmp_path, progress=False)
    assert len(journal) == 40 and journal["smiles"].is_unique
    assert (journal.loc[journal["iteration"] > 0, "heavy_atoms"] <= 25).all()
    for name in ("journal.csv", "top.csv", "best_so_far.png", "report.html"):
        assert (tmp_path / name).exists()
    assert "<svg" in (tmp_path / "report.html").read_text()
    gp_state = torch.load(tmp_path / "gp_state.pt", weights_only=True)  # resume's warm start
    assert any("lengthscale" in k for k in gp_state)
    top = pd.read_csv(tmp_path / "top.csv")
    assert top["score"].iloc[0] == pytest.approx(journal["score"].max())
    with pytest.raises(UserError, match="already holds"):  # never overwrite a journal
        optimize("qed", pretrained, cfg, tmp_path, progress=False)
    with pytest.raises(UserError, match="different objective"):
        optimize("logp", pretrained, cfg, tmp_path, resume=True, progress=False)
    longer = OptimizeConfig(budget=50, batch_size=5, n_init=20, max_heavy_atoms=25, seed=1)
    extended = optimize("qed", pretrained, longer, tmp_path, resume=True, progress=False)
    assert len(extended) == 50
    pd.testing.assert_frame_equal(extended.iloc[:40], journal)


@pytest.mark.slow
def test_bo_beats_random_on_a_hidden_target(pretrained, tmp_path):
    """Averaged over two seeds: a single BO run can stall (on the bundled model, seed 3 of 0-3
    ends below random), but on average BO finds closer molecules and proposes better ones.

    Slow (four runs of 120 calls) and, as any comparison of two seeded searches, sensitive to
    the seeds; the VAE-free tests in test_proposals.py check that BO steers toward an optimum.
    """
    target = "CC(=O)Nc1ccc(O)cc1"
    best, proposed = {"bo": 0.0, "random": 0.0}, {"bo": 0.0, "random": 0.0}
    for seed in (0, 1):
        for method in ("bo", "random"):
            cfg = OptimizeConfig(budget=120, batch_size=5, n_init=20, method=method, seed=seed)
            out = tmp_path / f"{method}{seed}"
            journal = optimize(_similarity_to(target), pretrained, cfg, out, progress=False)
            best[method] += journal["score"].max() / 2
            proposed[method] += journal.loc[journal["iteration"] > 0, "score"].mean() / 2
    assert best["bo"] > best["random"], best
    assert proposed["bo"] > 1.3 * proposed["random"], proposed  # BO's picks are better


@pytest.mark.parametrize("method", ["random", "bo"])
def test_an_interrupted_run_resumes_exactly_as_one_go(method, pretrained, tmp_path):
    """The journal is the one copy of the scored data and state.json holds the rest of the
    loop (trust region, turned-away molecules, GP warm start), so a run interrupted while
    scoring and resumed makes exactly the oracle calls of a run that was never stopped."""
    qed = builtin("qed")
    calls = []

    def interrupted(smiles):
        calls.append(len(smiles))
        if len(calls) == 3:  # the second batch after the starting molecules: Ctrl-C
            raise KeyboardInterrupt
        return qed.fn(smiles)

    cheap = {"raw_samples": 32, "num_restarts": 2, "gp_maxiter": 20}
    cfg = OptimizeConfig(25, 5, method, 10, max_heavy_atoms=20, seed=3, **cheap)
    whole = optimize(qed, pretrained, cfg, tmp_path / "whole", progress=False)
    with pytest.raises(UserError, match="Interrupted after 1[0-9] oracle calls") as err:
        run = Objective("qed", interrupted, "qed")
        optimize(run, pretrained, cfg, tmp_path / "parts", progress=False)
    assert err.value.exit_code == 130
    parts = optimize(qed, pretrained, cfg, tmp_path / "parts", resume=True, progress=False)
    pd.testing.assert_frame_equal(parts.drop(columns="time"), whole.drop(columns="time"))
    states = [json.loads((tmp_path / run / "state.json").read_text()) for run in ("whole", "parts")]
    assert states[0] == states[1]
    assert states[0]["rejected"].get("too many heavy atoms", 0) > 0  # turned-away ones, too


def test_gradient_baseline_needs_a_matching_property_head(tiny_model, pretrained, tmp_path):
    with pytest.raises(UserError, match="property head"):
        Optimizer(tiny_model, builtin("sa"), OptimizeConfig(method="gradient"), tmp_path)
    head = {k: v.clone() for k, v in pretrained.model.head.state_dict().items()}
    cfg = OptimizeConfig(budget=30, batch_size=5, n_init=10, method="gradient")
    journal = optimize("logp", pretrained, cfg, tmp_path, progress=False)
    after = pretrained.model.head.state_dict()
    assert all(torch.equal(head[k], after[k]) for k in head)  # the model is not changed
    assert (journal["source"] == "gradient").sum() > 0 and journal["smiles"].is_unique


def test_the_head_estimate_is_the_heads_prediction_in_the_objectives_units(pretrained):
    from molvae.optimize.box import DataBox
    from molvae.optimize.objectives import head_estimate

    smiles = ["CCOc1ccccc1C(=O)N", "CN1CCN(c2ccc(Cl)cc2)CC1"]
    z = pretrained.encode(smiles).double()
    predicted = pretrained.predict(smiles)
    sa = head_estimate(pretrained, [builtin("sa")])  # minimised: the estimate is -SA
    np.testing.assert_allclose(sa(z).numpy(), -predicted["sa"], rtol=1e-4)
    box = DataBox.around(z)  # the GP's prior mean takes unit-cube points
    logp = head_estimate(pretrained, [builtin("logp")], box)
    np.testing.assert_allclose(logp(box.to_unit(z)).numpy(), predicted["logp"], rtol=1e-4)
    point = z.clone().requires_grad_(True)
    sa(point).sum().backward()  # differentiable in the latents; the head stays untouched
    assert point.grad.abs().sum() > 0
    assert all(p.grad is None for p in pretrained.model.head.parameters())
    assert head_estimate(pretrained, [builtin("logp"), builtin("qed")]) is None
    assert head_estimate(pretrained, [builtin("mw=350")]) is None  # a target value: no property


def test_killed_run_resumes_without_duplicates_or_losses(tmp_path):
    scorer = tmp_path / "slow.py"
    scorer.write_text(
        "import time\n"
        "def score(smiles):\n    time.sleep(0.2)\n    return [len(s) / 10 for s in smiles]\n"
    )
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "molvae",
        "optimize",
        "--objective",
        f"{scorer}:score",
        "--budget",
        "45",
        "--batch-size",
        "5",
        "--n-init",
        "15",
        "--out",
        str(out),
        "--seed",
        "2",
    ]  # the bundled model
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    journal = out / "journal.csv"
    deadline = time.time() + 120
    while time.time() < deadline:
        if journal.exists() and len(journal.read_text().splitlines()) > 26:
            break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = pd.read_csv(journal)
    assert 20 < len(before) < 45

    done = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    after = pd.read_csv(journal)
    assert len(after) == 45
    assert after["smiles"].is_unique
    pd.testing.assert_frame_equal(after.iloc[: len(before)], before)  # nothing lost


def test_rank_weights_favour_the_best_and_sum_to_one():
    from molvae.optimize.retrain import rank_weights

    w = rank_weights(np.array([0.1, 0.9, 0.5]), k=0.1)
    assert w.sum() == pytest.approx(1.0)
    assert w[1] > w[2] > w[0]
    assert w[1] / w[2] == pytest.approx((0.3 + 1) / 0.3)  # 1 / (kN + rank), kN = 0.3


def test_weighted_retraining_fine_tunes_a_copy_and_resumes_with_it(pretrained, tmp_path):
    before = {k: v.clone() for k, v in pretrained.model.state_dict().items()}
    cfg = OptimizeConfig(budget=30, batch_size=5, n_init=10, retrain_every=10, retrain_steps=5)
    journal = optimize("qed", pretrained, cfg, tmp_path, progress=False)
    assert len(journal) == 30 and journal["smiles"].is_unique
    state = json.loads((tmp_path / "state.json").read_text())
    assert state["retrains"] >= 1
    tuned = MolVAE.load(tmp_path / "model.pt")
    changed = [k for k, v in tuned.model.state_dict().items() if not torch.equal(v, before[k])]
    assert changed  # the saved model was fine-tuned ...
    for k, v in pretrained.model.state_dict().items():  # ... and the caller's was not touched
        assert torch.equal(v, before[k])
    longer = OptimizeConfig(budget=40, batch_size=5, n_init=10, retrain_every=10, retrain_steps=5)
    extended = optimize("qed", pretrained, longer, tmp_path, resume=True, progress=False)
    assert len(extended) == 40 and extended["smiles"].is_unique
    assert json.loads((tmp_path / "state.json").read_text())["retrains"] > state["retrains"]

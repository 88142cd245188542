"""molvae.windows, molvae.guide and molvae.conditional: windows, head guidance, verified
conditional sampling (issue #12)."""

import re
import warnings

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem
from rdkit.Chem import Crippen, Descriptors
from typer.testing import CliRunner

from molvae import conditional
from molvae.cli.main import app
from molvae.errors import UserError
from molvae.guide import GuidedProposer, build_guide
from molvae.heads import fit_outputs, head_features
from molvae.optimize.guards import drug_like_failure
from molvae.pool import qed_of
from molvae.windows import NOT_A_HIT, Verifier, Window, parse_window, resolve_windows


@pytest.mark.parametrize(
    ("spec", "window"),
    [
        ("logp=2..3", Window("logp", 2.0, 3.0)),
        ("qed>=0.6", Window("qed", 0.6, None)),
        ("mw<=500", Window("mw", None, 500.0)),
        ("logp=2..", Window("logp", 2.0, None)),
        ("logp=..3", Window("logp", None, 3.0)),
        (" LogP = -1.5 .. 2e0 ", Window("logp", -1.5, 2.0)),
    ],
)
def test_window_syntax(spec, window):
    assert parse_window(spec) == window
    assert parse_window(str(window)) == window  # printed as it is written


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("logp~2", "Cannot read the window"),
        ("logp=3..2", "is empty"),
        ("logp=..", "has no bound"),
        ("logp>=inf", "Cannot read the window"),
    ],
)
def test_bad_windows_are_one_clear_sentence(spec, message):
    with pytest.raises(UserError, match=message) as err:
        parse_window(spec)
    text = str(err.value)
    assert not re.search(r"\. [A-Z]", text) and text.endswith(".")  # one sentence


def test_windows_from_a_mapping_merge_and_name_only_checkable_properties():
    got = resolve_windows({"logp": (2, 3), "QED": (0.6, None)})
    assert got == [Window("logp", 2.0, 3.0), Window("qed", 0.6, None)]
    assert resolve_windows(["logp>=1", "logp=0..2"]) == [Window("logp", 1.0, 2.0)]
    with pytest.raises(UserError, match="is empty"):
        resolve_windows(["logp>=3", "logp<=2"])
    with pytest.raises(UserError, match=r"Unknown property 'pic50'.*pic50 cannot be checked"):
        resolve_windows(["pic50>=6"], head_names=["pic50", "logp"])
    with pytest.raises(UserError, match="must be a pair"):
        resolve_windows({"logp": 2})
    assert resolve_windows(None) == []


def test_verifier_uses_computed_values_and_similarity():
    smiles = ["CCO", "c1ccccc1CCCCCC", "CCCCO"]
    v = Verifier(resolve_windows(["logp=-1..1"]), similar_to="CCCO", min_similarity=0.2)
    frame = v.check(smiles)
    logp = [Crippen.MolLogP(Chem.MolFromSmiles(s)) for s in smiles]
    assert frame["logp"].tolist() == pytest.approx(logp)
    assert frame["hit"].tolist() == [
        lo and s >= 0.2
        for lo, s in zip([-1 <= x <= 1 for x in logp], frame["similarity"], strict=True)
    ]
    assert frame["hit"].any() and not frame["hit"].all()
    assert v.distance(frame, {"logp": 1.0, "similarity": 1.0})[frame["hit"]].sum() == 0
    with pytest.raises(UserError, match="not a valid SMILES"):
        Verifier([], similar_to="C1CC")


def test_with_guards_a_molecule_in_the_window_must_also_be_drug_like():
    smiles = [
        "CC(=O)Nc1ccc(O)cc1",  # paracetamol: drug-like
        "CCCCCCCCCCO",  # a long alkyl chain
        "CC1=CC=C1C(=O)NC",  # a cyclobutadiene
        "O=C(OO)c1ccccc1",  # a peracid (peroxide)
    ]
    windows = resolve_windows(["logp=-2..6"])
    plain = Verifier(windows).check(smiles)
    assert plain["hit"].all()
    guarded = Verifier(windows, guards=True)
    frame = guarded.check(smiles)
    assert frame["hit"].tolist() == [True, False, False, False]
    assert [drug_like_failure(Chem.MolFromSmiles(s)) for s in smiles[1:]] == [
        "long alkyl chain",
        "cyclobutadiene",
        "peroxide (O-O)",
    ]
    # inside the window but no hit: just outside it, so never an anchor inside
    assert guarded.distance(frame, {"logp": 1.0}).tolist() == [0.0] + [NOT_A_HIT] * 3
    assert guarded.describe() == "logp=-2..6 (drug-like)"


def test_head_guidance_moves_latents_into_the_window(tiny_model):
    gen = torch.Generator().manual_seed(0)
    guide = build_guide(tiny_model, [])
    z = guide.draw(400, gen)
    with torch.no_grad():  # a window that 10 % of prior draws are predicted inside
        pred = tiny_model.model.head(z)[:, 0] * tiny_model.standardiser.std[0]
    top = float(torch.quantile(pred + tiny_model.standardiser.mean[0], 0.9))
    guide = build_guide(tiny_model, resolve_windows([f"logp>={top}"]))
    with torch.no_grad():
        before = (guide.distance(z, aimed=False) == 0).float().mean()
        refined = guide.refine(z)
        after = (guide.distance(refined, aimed=False) == 0).float().mean()
    assert before == pytest.approx(0.1, abs=0.01) and after > 0.3


def test_a_window_the_head_lacks_is_guided_by_an_output_fitted_on_molecules(
    tiny_model, moses_smiles
):
    fitted = fit_outputs(tiny_model, ["tpsa"], moses_smiles[400:1400])
    z = build_guide(tiny_model, []).draw(400, torch.Generator().manual_seed(0))
    with torch.no_grad():
        pred = fitted["tpsa"].predict(head_features(tiny_model, z)).float()
    top = float(torch.quantile(pred, 0.9))
    window = resolve_windows([f"tpsa>={top}"])
    assert build_guide(tiny_model, window).index == []  # the head alone cannot guide it
    guide = build_guide(tiny_model, window, fitted=fitted)
    assert guide.index == [len(tiny_model.property_names)]
    with torch.no_grad():
        before = (guide.distance(z, aimed=False) == 0).float().mean()
        after = (guide.distance(guide.refine(z), aimed=False) == 0).float().mean()
    assert before == pytest.approx(0.1, abs=0.01) and after > 0.3


def test_calibration_corrects_predictions_by_where_decodes_landed(tiny_model):
    guide = build_guide(tiny_model, resolve_windows(["logp>=0"]))
    z = guide.draw(300, torch.Generator().manual_seed(0))
    with torch.no_grad():
        before = guide.predict(z)[:, 0]
        values = (before - 1.0) * guide.scale + guide.center  # decodes 1 std lower than predicted
        guide.calibrate(z[:50], values[:50, None].numpy())
        assert torch.equal(guide.predict(z)[:, 0], before)  # too few decodes to fit on yet
        guide.calibrate(z[50:], values[50:, None].numpy())
        after = guide.predict(z)[:, 0]
    torch.testing.assert_close(after, before - 1.0, atol=0.05, rtol=0)


#: The tiny model decodes greedily (the default here) to a handful of molecules: sample tokens.
T = 1.0


@pytest.fixture(scope="module")
def window_run(tiny_model):
    return conditional.sample_where(tiny_model, 8, ["logp=1..3", "mw<=350"], temperature=T, seed=0)


def test_every_molecule_written_is_inside_the_window_by_rdkit(window_run):
    frame = window_run.frame
    assert 0 < len(frame) <= 8 and list(frame.columns) == ["smiles", "logp", "mw"]
    assert frame["smiles"].is_unique
    for smiles in frame["smiles"]:
        mol = Chem.MolFromSmiles(smiles)
        assert 1 <= Crippen.MolLogP(mol) <= 3 and Descriptors.MolWt(mol) <= 350
    assert 0 < window_run.hit_rate == window_run.verified / window_run.decoded <= 1
    assert window_run.strict <= window_run.decoded <= conditional.DECODES_PER_MOLECULE * 8


@pytest.mark.parametrize("where", [["logp>=40"], ["mw<=10"]])
def test_an_unreachable_window_ends_at_the_budget_with_one_sentence(tiny_model, where):
    got = conditional.sample_where(tiny_model, 3, where, budget=150, seed=0)
    assert got.frame.empty and got.decoded == 150
    message = got.shortfall()
    assert (
        message.startswith("Only 0 of 3 molecules satisfy")
        and "out of this model's reach" in message
    )


def test_every_round_decodes_so_the_smallest_budget_ends(tiny_model):
    got = conditional.sample_where(tiny_model, 2, ["logp>=40"], budget=1, seed=0)
    assert got.decoded == 1 and got.frame.empty
    with pytest.raises(UserError, match="budget must be at least 1"):
        conditional.sample_where(tiny_model, 2, ["logp>=1"], budget=0)
    with pytest.raises(UserError, match="at least one property window"):
        conditional.sample_where(tiny_model, 2)


def test_api_returns_a_verified_dataframe_and_keeps_plain_sampling(tiny_model):
    frame = tiny_model.sample(4, where={"logp": (1, 3)}, temperature=T, seed=0)
    assert isinstance(frame, pd.DataFrame) and 0 < len(frame) <= 4
    assert frame["logp"].between(1, 3).all()
    assert 0 < frame.attrs["hit_rate"] <= 1 and frame.attrs["decoded"] > 0
    with pytest.warns(UserWarning, match="out of this model's reach"):
        tiny_model.sample(2, where=["logp>=40"], budget=50, seed=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        plain = tiny_model.sample(3, seed=0)
    assert isinstance(plain, list) and len(plain) == 3


def test_cli_where_writes_verified_rows_or_ends_with_a_sentence(tiny_model, tmp_path):
    model = tmp_path / "tiny.pt"
    tiny_model.save(model)
    out = tmp_path / "hits.csv"
    runner = CliRunner()
    args = ["sample", str(model), "-n", "4", "--seed", "0", "--temperature", "1", "-o", str(out)]
    result = runner.invoke(app, [*args, "--where", "logp=1..3"])
    assert result.exit_code == 0, result.output
    written = pd.read_csv(out)
    assert len(written) > 0 and written["logp"].between(1, 3).all()
    assert "hit rate" in result.output
    result = runner.invoke(app, [*args, "--where", "logp=-5..8", "--guards", "--budget", "400"])
    assert result.exit_code in (0, 1) and "(drug-like)" in result.output, result.output
    assert all(drug_like_failure(Chem.MolFromSmiles(s)) is None for s in pd.read_csv(out)["smiles"])
    result = runner.invoke(app, [*args, "--where", "logp>=40", "--budget", "60"])
    assert result.exit_code == 1 and "out of this model's reach" in result.output
    assert pd.read_csv(out).empty  # what was found (nothing) is written
    result = runner.invoke(app, [*args, "--where", "foo>=1"])
    assert isinstance(result.exception, UserError) and "Unknown property 'foo'" in str(
        result.exception
    )


def test_only_molecules_as_drug_like_as_the_seeds_in_the_window_become_anchors(tiny_model):
    windows = resolve_windows(["logp=-10..10"])  # every seed is inside
    verifier = Verifier(windows)
    proposer = GuidedProposer(tiny_model, windows, verifier)
    seeds = verifier.check(proposer.known)
    qed = qed_of(seeds)
    assert proposer.qed_floor == pytest.approx(float(np.median(qed)))
    assert proposer.pool.inside == int((qed >= proposer.qed_floor).sum())  # the rest: no anchors
    assert not proposer.pool.climbing
    found = seeds.iloc[[int(np.argmin(qed)), int(np.argmax(qed))]]  # two hits found again
    before = len(proposer.pool.z)
    proposer.learn(found, torch.zeros(2, tiny_model.latent_dim))
    assert len(proposer.pool.z) == before + 1  # the least drug-like is a hit, but no anchor
    assert float(proposer.pool.dist[-1]) == 0

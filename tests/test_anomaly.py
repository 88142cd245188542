import math

import numpy as np
import pandas as pd
import pytest
import torch

from molvae.anomaly import elbo_terms
from molvae.data.dataset import make_batch
from molvae.errors import UserError
from molvae.train.validation import validate

OOD = ["C1CCCCCCCCCCCCCCCCCCC1", "CCCCCCCCCCCCCCCCCCCCCCCCC", "OCC(O)C(O)C(O)C(O)C(O)CO"]


def test_elbo_terms_match_the_training_loss(tiny_model):
    ds, _ = tiny_model.prepare(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"])
    ids, lengths = ds.to_padded(tiny_model.vocab)
    batch = make_batch(ids, lengths, slice(None))
    net = tiny_model.model
    nll, kl = elbo_terms(net, batch, n_samples=3, generator=torch.Generator().manual_seed(0))
    assert nll.shape == (3, 3) and kl.shape == (3,)
    assert (nll > 0).all() and (kl >= 0).all()
    out = net(batch, sample_z=False)
    assert kl.mean().item() == pytest.approx(out.kl_loss.item(), rel=1e-4)


def test_reconstruction_term_at_the_mean_equals_validation_recon_loss(tiny_model):
    """The anomaly score's NLL at z = mu is, molecule by molecule, what validation reports."""
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1", "CCN(CC)CC"]
    ds, _ = tiny_model.prepare(smiles)
    ids, lengths = ds.to_padded(tiny_model.vocab)
    nll, _ = elbo_terms(tiny_model.model, make_batch(ids, lengths, slice(None)), 1, at_mean=True)
    again, _ = elbo_terms(tiny_model.model, make_batch(ids, lengths, slice(None)), 1, at_mean=True)
    assert torch.equal(nll, again)  # deterministic
    for i in range(len(ds)):
        one = ds.subset([i])
        metrics = validate(
            tiny_model.model, one, tiny_model.standardiser, 8, "cpu", vocab=tiny_model.vocab
        )
        assert nll[i, 0].item() == pytest.approx(metrics["recon_loss"], rel=1e-5)
    metrics = validate(
        tiny_model.model, ds, tiny_model.standardiser, 8, "cpu", vocab=tiny_model.vocab
    )
    assert nll.mean().item() == pytest.approx(metrics["recon_loss"], rel=1e-5)


def test_scores_keep_input_order_and_flag_what_the_model_cannot_represent(tiny_model):
    frame, rejects = tiny_model.score(["CCO", "[Fe]", "not a molecule", "c1ccccc1O"], threshold=1e9)
    assert list(frame["row"]) == [1, 2, 4] and list(rejects["row"]) == [3]
    assert list(frame["flag"]) == [False, True, False]
    assert frame.loc[1, "note"] == "unsupported element" and math.isinf(frame.loc[1, "neg_elbo"])
    assert (frame.loc[[0, 2], "recon_logprob"] < 0).all()


def test_scores_are_reproducible_and_estimates_tighten_with_samples(tiny_model):
    a, _ = tiny_model.score(["CCO", "c1ccccc1O"], seed=3)
    b, _ = tiny_model.score(["CCO", "c1ccccc1O"], seed=3)
    pd.testing.assert_frame_equal(a, b)
    # log mean p(x|z) >= mean log p(x|z): the reconstruction probability bounds the ELBO's term
    many, _ = tiny_model.score(["CCO"], n_samples=16)
    assert many.loc[0, "recon_logprob"] >= -many.loc[0, "neg_elbo"]


def test_calibrated_threshold_flags_about_the_quantile_and_is_saved(
    tiny_model, tmp_path, monkeypatch
):
    from molvae import MolVAE

    # calibrate() sets these; monkeypatch puts them back even if the test fails.
    monkeypatch.setattr(tiny_model, "anomaly_threshold", None)
    monkeypatch.setattr(tiny_model, "anomaly_quantile", None)

    ref = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(200).tolist()
    threshold = tiny_model.calibrate(ref, quantile=0.9)
    frame, _ = tiny_model.score(ref)
    assert frame["flag"].mean() == pytest.approx(0.1, abs=0.02)
    tiny_model.save(tmp_path / "m.pt")
    loaded = MolVAE.load(tmp_path / "m.pt")
    assert loaded.anomaly_threshold == threshold and loaded.anomaly_quantile == 0.9
    with pytest.raises(UserError, match="quantile"):
        tiny_model.calibrate(ref, quantile=1.5)
    with pytest.raises(UserError, match="at least 20"):
        tiny_model.calibrate(ref[:5])


def test_calibration_scores_a_random_subset_of_a_large_reference(tiny_model, monkeypatch):
    from molvae import anomaly

    monkeypatch.setattr(tiny_model, "anomaly_threshold", None)
    monkeypatch.setattr(tiny_model, "anomaly_quantile", None)
    monkeypatch.setattr(anomaly, "MAX_CALIBRATION", 50)
    scored = []
    real = anomaly.score_dataset
    monkeypatch.setattr(
        anomaly, "score_dataset", lambda vae, ds, *a: scored.append(ds.smiles) or real(vae, ds, *a)
    )
    ref = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(200).tolist()
    tiny_model.calibrate(ref)
    first = list(tiny_model.prepare(ref)[0].smiles[:50])
    assert len(scored[0]) == 50 and list(scored[0]) != first  # random, not the first 50


def test_bundled_model_scores_out_of_domain_molecules_higher(pretrained):
    test = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(100).tolist()
    inside, _ = pretrained.score(test, threshold=np.inf)
    outside, _ = pretrained.score(OOD, threshold=np.inf)
    assert outside["neg_elbo"].min() > inside["neg_elbo"].median()

import math

import numpy as np
import pandas as pd
import pytest
import torch

from molvae.anomaly import elbo_terms
from molvae.errors import UserError

OOD = ["C1CCCCCCCCCCCCCCCCCCC1", "CCCCCCCCCCCCCCCCCCCCCCCCC", "OCC(O)C(O)C(O)C(O)C(O)CO"]


def test_elbo_terms_match_the_training_loss(tiny_model):
    ds, _ = tiny_model.prepare(["CCO", "c1ccccc1O", "CC(=O)Nc1ccc(O)cc1"])
    ids, lengths = ds.to_padded(tiny_model.vocab)
    net = tiny_model.model
    nll, kl = elbo_terms(net, ids, lengths, n_samples=3, generator=torch.Generator().manual_seed(0))
    assert nll.shape == (3, 3) and kl.shape == (3,)
    assert (nll > 0).all() and (kl >= 0).all()
    out = net(ids, lengths, sample_z=False)
    assert kl.mean().item() == pytest.approx(out.kl_dims.sum().item(), rel=1e-4)
    # With z fixed at mu the summed NLL is the model's recon_loss, molecule by molecule.
    mu_nll, _ = elbo_terms(net.eval(), ids, lengths, 1, torch.Generator().manual_seed(0))
    assert torch.isfinite(mu_nll).all()


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


def test_calibrated_threshold_flags_about_the_quantile_and_is_saved(tiny_model, tmp_path):
    from molvae import MolVAE

    ref = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(200).tolist()
    threshold = tiny_model.calibrate(ref, quantile=0.9)
    frame, _ = tiny_model.score(ref)
    assert frame["flag"].mean() == pytest.approx(0.1, abs=0.02)
    tiny_model.save(tmp_path / "m.pt")
    assert MolVAE.load(tmp_path / "m.pt").ckpt["anomaly_threshold"] == threshold
    with pytest.raises(UserError, match="quantile"):
        tiny_model.calibrate(ref, quantile=1.5)
    with pytest.raises(UserError, match="at least 20"):
        tiny_model.calibrate(ref[:5])
    del tiny_model.ckpt["anomaly_threshold"]


def test_bundled_model_scores_out_of_domain_molecules_higher(pretrained):
    test = pd.read_csv("data/moses_test_1k.csv")["SMILES"].head(100).tolist()
    inside, _ = pretrained.score(test, threshold=np.inf)
    outside, _ = pretrained.score(OOD, threshold=np.inf)
    assert outside["neg_elbo"].min() > inside["neg_elbo"].median()

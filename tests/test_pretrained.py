"""The bundled model: present, small, safe to load, and good enough to sample from offline."""

from pathlib import Path

import torch

from molvae import MolVAE
from molvae.api import PRETRAINED_DIR
from molvae.data.chem import to_mol

DATA = Path(__file__).resolve().parents[1] / "data"


def test_bundled_model_is_small_and_loads_with_weights_only():
    path = PRETRAINED_DIR / "molvae_moses.pt"
    assert path.exists()
    assert path.stat().st_size < 20 * 1024 * 1024
    raw = torch.load(path, weights_only=True)
    assert set(raw["property_names"]) >= {"logp", "qed", "sa", "plogp"}


def test_bundled_model_samples_valid_molecules():
    model = MolVAE.pretrained(device="cpu")
    smiles = model.sample(200, seed=0)
    valid = [s for s in smiles if s and to_mol(s) is not None]
    assert len(valid) >= 190
    assert len(set(valid)) >= 180


def test_bundled_property_head_tracks_rdkit_logp():
    """On held-out MOSES test molecules the logP head explains most of the variance."""
    import numpy as np
    import pandas as pd

    from molvae.data.properties import PROPERTIES

    model = MolVAE.pretrained(device="cpu")
    smiles = pd.read_csv(DATA / "moses_test_1k.csv")["SMILES"].tolist()[:300]
    pred = model.predict(smiles)["logp"].to_numpy()
    true = np.array([PROPERTIES["logp"](to_mol(s)) for s in smiles])
    r2 = 1 - np.mean((pred - true) ** 2) / np.var(true)
    assert r2 > 0.7, r2


def test_bundled_model_ships_a_fitted_prior_and_an_anomaly_threshold():
    raw = torch.load(PRETRAINED_DIR / "molvae_moses.pt", weights_only=True)
    d = raw["model_config"]["latent_dim"]
    assert raw["latent_prior"]["scale_tril"].shape == (d, d)
    assert 0 < raw["anomaly_threshold"] < 1000 and raw["anomaly_quantile"] == 0.99


def test_bundled_model_tells_moses_molecules_from_out_of_domain_ones():
    """Issue #5's bar: ROC AUC >= 0.9 between MOSES test and data/out_of_domain.csv."""
    import numpy as np
    import pandas as pd
    from sklearn.metrics import roc_auc_score

    model = MolVAE.pretrained(device="cpu")
    inside, _ = model.score(pd.read_csv(DATA / "moses_test_1k.csv").head(300), n_samples=4)
    outside, _ = model.score(DATA / "out_of_domain.csv", n_samples=4)
    y = np.r_[np.zeros(len(inside)), np.ones(len(outside))]
    s = np.nan_to_num(np.r_[inside["neg_elbo"], outside["neg_elbo"]], posinf=1e12)
    assert roc_auc_score(y, s) >= 0.9
    assert inside["flag"].mean() < 0.05  # the 99th-percentile threshold holds on new molecules


def test_grammar_model_draws_no_spare_latents():
    """The bundled decoder writes only strict SELFIES, so n molecules take n decodes."""
    from molvae.sample import sample_molecules

    model = MolVAE.pretrained(device="cpu")
    got = sample_molecules(model, 30, seed=0, strict=True, consistent=False, keep_references=True)
    assert model.model.grammar is not None
    assert got.drawn == got.strict == len(got.smiles) == 30

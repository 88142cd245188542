"""The bundled model: present, small, safe to load, and good enough to sample from offline."""

import torch

from molvae import MolVAE
from molvae.api import PRETRAINED_DIR
from molvae.chem import to_mol


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
    model = MolVAE.pretrained(device="cpu")
    smiles = ["CCCCCCCCCCCC(=O)OC", "OCC(O)CO", "c1ccc2ccccc2c1", "CC(=O)Nc1ccc(O)cc1"]
    pred = model.predict(smiles)["logp"].to_numpy()
    from molvae.chem import PROPERTIES

    true = [PROPERTIES["logp"](to_mol(s)) for s in smiles]
    assert pred.argmax() == int(torch.tensor(true).argmax())
    assert pred.argmin() == int(torch.tensor(true).argmin())

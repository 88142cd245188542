"""Shared fixtures: small data from data/ and a tiny model trained once per session."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
import torch

from molvae.config import DataConfig, load_preset, replace

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Every test writes tokenised-data caches to a temporary folder, never ~/.cache."""
    monkeypatch.setenv("MOLVAE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session", autouse=True)
def _threads():
    torch.set_num_threads(2)


@pytest.fixture(scope="session")
def moses_smiles() -> list[str]:
    """2,000 MOSES training molecules (data/moses_train_2k.csv)."""
    return pd.read_csv(DATA / "moses_train_2k.csv")["SMILES"].tolist()


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory, moses_smiles):
    """A tiny model trained briefly on 400 molecules with logp and qed heads (~10 s)."""
    from molvae.train.run import train

    out = tmp_path_factory.mktemp("tiny_model")
    p = load_preset("tiny")
    frame = pd.DataFrame({"smiles": moses_smiles[:400]})
    return train(
        frame,
        out=out,
        model_config=p.model,
        train_config=replace(p.train, epochs=6, lr=3e-3),
        data_config=DataConfig(
            properties=["logp", "qed"], val_fraction=0.1, cache_dir=str(out / "cache")
        ),
        progress=False,
    )


@pytest.fixture(scope="session")
def tiny_smiles_model(tmp_path_factory, moses_smiles):
    """A tiny SMILES-token model trained briefly on 400 molecules (~10 s; ~4 % valid samples)."""
    from molvae.train.run import train

    out = tmp_path_factory.mktemp("tiny_smiles_model")
    p = load_preset("tiny")
    return train(
        pd.DataFrame({"smiles": moses_smiles[:400]}),
        out=out,
        model_config=p.model,
        train_config=replace(p.train, epochs=10, lr=5e-3),
        data_config=DataConfig(tokens="smiles", val_fraction=0.1, cache_dir=str(out / "cache")),
        progress=False,
    )


@pytest.fixture(scope="session")
def pretrained():
    """The bundled model (shipped inside the package; no download)."""
    from molvae import MolVAE

    return MolVAE.pretrained(device="cpu")

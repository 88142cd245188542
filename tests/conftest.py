"""Shared fixtures: small data from data/ and a tiny model trained once per session."""

from __future__ import annotations

import dataclasses
import re
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
def train_tiny(tmp_path_factory, moses_smiles):
    """Train a `tiny`-preset model on the first 400 molecules (~10 s): ``train_tiny(name,
    epochs, lr, model_config, **data_config_fields)``."""
    from molvae.train.run import train

    def run(name, epochs=6, lr=3e-3, model_config=None, **data):
        out = tmp_path_factory.mktemp(name)
        p = load_preset("tiny")
        return train(
            pd.DataFrame({"smiles": moses_smiles[:400]}),
            out=out,
            model_config=model_config or p.model,
            train_config=replace(p.train, epochs=epochs, lr=lr),
            data_config=DataConfig(val_fraction=0.1, cache_dir=str(out / "cache"), **data),
            progress=False,
        )

    return run


@pytest.fixture(scope="session")
def tiny_model(train_tiny):
    """A tiny model trained briefly on 400 molecules with logp and qed heads (~10 s)."""
    return train_tiny("tiny_model", properties=["logp", "qed"])


@pytest.fixture(scope="session")
def tiny_smiles_model(train_tiny):
    """A tiny SMILES-token model trained briefly on 400 molecules (~10 s; ~4 % valid samples)."""
    return train_tiny("tiny_smiles_model", epochs=10, lr=5e-3, tokens="smiles")


@pytest.fixture(scope="session")
def tiny_cvae(train_tiny):
    """A tiny CVAE on logP (added to the properties by itself), 400 molecules, ~10 s."""
    condition = dataclasses.replace(load_preset("tiny").model, condition=("logp",))
    return train_tiny("tiny_cvae", model_config=condition, properties=["qed"])


def one_sentence(text: str) -> bool:
    """Whether a message is one sentence (``from conftest import one_sentence``)."""
    return text.endswith(".") and not re.search(r"\. [A-Z]", text)


@pytest.fixture(scope="session")
def pretrained():
    """The bundled model (shipped inside the package; no download)."""
    from molvae import MolVAE

    return MolVAE.pretrained(device="cpu")

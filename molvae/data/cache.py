"""The on-disk cache of cleaned, tokenised datasets, keyed by the input's content, the clean-up
options and the representation (SELFIES or SMILES tokens), so a second run on the same file
skips clean-up entirely."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd

from molvae.config import DataConfig
from molvae.data.dataset import MolDataset
from molvae.data.tables import Table
from molvae.data.tokens import Vocab
from molvae.files import atomic_write

#: Bump when clean-up changes what it produces, so old caches are not reused.
CLEAN_VERSION = 2


def cache_file(table: Table, path: Path | None, cfg: DataConfig, drop_duplicates: bool) -> Path:
    """Where the cleaned form of ``table`` is cached: a file named by everything that shapes
    it (the input's content, the clean-up options and tokens (``DataConfig.cleaning_key``),
    de-duplication and :data:`CLEAN_VERSION`)."""
    key = hashlib.sha256(
        json.dumps(
            [content_hash(table, path), cfg.cleaning_key(), drop_duplicates, CLEAN_VERSION],
            sort_keys=True,
        ).encode()
    ).hexdigest()[:24]
    return cache_dir(cfg) / f"{key}.npz"


def content_hash(table: Table, path: Path | None) -> str:
    h = hashlib.sha256()
    if path is not None:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    else:
        h.update(pd.util.hash_pandas_object(table.frame, index=False).values.tobytes())
        h.update(json.dumps(list(map(str, table.frame.columns))).encode())
    return h.hexdigest()


def cache_dir(cfg: DataConfig) -> Path:
    """The folder holding tokenised-dataset caches."""
    if cfg.cache_dir:
        return Path(cfg.cache_dir)
    if os.environ.get("MOLVAE_CACHE"):
        return Path(os.environ["MOLVAE_CACHE"])
    return Path.home() / ".cache" / "molvae"


def write_cache(path: Path, ds: MolDataset) -> None:
    meta = {
        "vocab": ds.vocab.to_list(),
        "property_names": ds.property_names,
        "n_input": ds.n_input,
        "rejects": ds.rejects.to_dict(orient="list"),
    }
    arrays = {
        "smiles": np.frombuffer("\n".join(ds.smiles).encode(), dtype=np.uint8),
        "tokens": ds.tokens,
        "offsets": ds.offsets,
        "properties": ds.properties,
        "rows": ds.rows,
        "meta": np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8),
    }
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))


def read_cache(path: Path) -> MolDataset | None:
    if not path.exists():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            text = z["smiles"].tobytes().decode()
            smiles = text.split("\n") if text else []
            return MolDataset(
                smiles=smiles,
                tokens=z["tokens"],
                offsets=z["offsets"],
                vocab=Vocab.from_list(meta["vocab"]),
                properties=z["properties"],
                property_names=meta["property_names"],
                rows=z["rows"],
                rejects=pd.DataFrame(meta["rejects"], columns=["row", "input", "reason"]),
                n_input=meta["n_input"],
                from_cache=True,
            )
    except Exception:  # a damaged cache is rebuilt, never trusted
        return None

"""One self-describing checkpoint file: configs, vocabulary, weights, property statistics,
optimizer state and library versions. Written atomically; read with ``weights_only=True`` so a
file from a stranger cannot run code."""

from __future__ import annotations

import hashlib
import os
import pickle
import platform
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molvae.errors import UserError
from molvae.files import atomic_write

FORMAT = "molvae-checkpoint"
FORMAT_VERSION = 1


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped a checkpoint."""
    import rdkit
    import selfies

    import molvae

    return {
        "molvae": molvae.__version__,
        "torch": str(torch.__version__),
        "rdkit": str(rdkit.__version__),
        "selfies": str(selfies.__version__),
        "python": platform.python_version(),
    }


def save(path: str | os.PathLike, payload: dict[str, Any]) -> None:
    """Write ``payload`` to ``path`` atomically (temporary file, then rename)."""
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    atomic_write(path, lambda tmp: torch.save(full, tmp))


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint without executing any code stored in it.

    Raises:
        UserError: The file is missing, is not a molvae checkpoint, or holds pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Model file {path} does not exist; pass the path of a .pt checkpoint.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" not in str(err).lower():
            raise UserError(f"{path} is not a readable molvae checkpoint; is it damaged?") from err
        raise UserError(
            f"Refusing to load {path}: it holds pickled Python objects that could run code; "
            "only molvae checkpoints (plain tensors and values) can be loaded."
        ) from err
    except Exception as err:
        raise UserError(f"{path} is not a readable molvae checkpoint ({err}).") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not a molvae checkpoint; train one with `molvae train`.")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise UserError(f"{path} was written by a newer molvae; upgrade molvae to read it.")
    return ckpt


def smiles_hashes(smiles: list[str]) -> torch.Tensor:
    """Sorted unique 64-bit hashes of canonical SMILES (a compact training set for novelty)."""
    return torch.from_numpy(np.unique(_hash64(smiles)))


def contains(hashes: torch.Tensor, smiles: list[str]) -> np.ndarray:
    """Which of ``smiles`` have their hash in ``hashes`` (from :func:`smiles_hashes`)."""
    if hashes is None or len(hashes) == 0:
        return np.zeros(len(smiles), dtype=bool)
    query = _hash64(smiles)
    table = hashes.numpy()
    pos = np.clip(np.searchsorted(table, query), 0, len(table) - 1)
    return table[pos] == query


def _hash64(smiles: list[str]) -> np.ndarray:
    def one(s: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(s.encode(), digest_size=8).digest(), "little", signed=True
        )

    return np.fromiter((one(s) for s in smiles), dtype=np.int64, count=len(smiles))

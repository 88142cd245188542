"""Hashes of canonical SMILES: a compact record of a model's training molecules, so a model
file can tell new molecules from training ones (novelty) without storing the SMILES, and of a
mixture prior's reference molecules (sampling leaves out their copies)."""

from __future__ import annotations

import hashlib

import numpy as np
import torch

#: Bits of each hash a slim model file keeps (``molvae export --half``): a molecule outside
#: the training set is then taken for a training one with probability ``n_train / 2**32``
#: (2e-4 for a million training molecules), and the record takes half the space.
COMPACT_BITS = 32


def smiles_hashes(smiles: list[str]) -> torch.Tensor:
    """Sorted unique 64-bit hashes of canonical SMILES (a compact training set for novelty)."""
    return torch.from_numpy(np.unique(_hash64(smiles)))


def compact(hashes: torch.Tensor) -> torch.Tensor:
    """The top :data:`COMPACT_BITS` bits of 64-bit ``hashes``, sorted and unique (int32);
    already compact ones come back as they are (a slim file saved again)."""
    if hashes.dtype == torch.int32:
        return hashes
    top = (hashes.numpy() >> (64 - COMPACT_BITS)).astype(np.int32)
    return torch.from_numpy(np.unique(top))


def for_file(hashes: torch.Tensor | None, half: bool) -> torch.Tensor | None:
    """``hashes`` as a model file stores them: :func:`compact` in a slim (``half``) file."""
    return compact(hashes) if half and hashes is not None else hashes


def contains(hashes: torch.Tensor | None, smiles: list[str]) -> np.ndarray:
    """Which of ``smiles`` have their hash in ``hashes`` (from :func:`smiles_hashes`, or
    :func:`compact` ones)."""
    if hashes is None or len(hashes) == 0:
        return np.zeros(len(smiles), dtype=bool)
    query = _hash64(smiles)
    table = hashes.numpy()
    if table.dtype == np.int32:
        query = (query >> (64 - COMPACT_BITS)).astype(np.int32)
    pos = np.clip(np.searchsorted(table, query), 0, len(table) - 1)
    return table[pos] == query


def _hash64(smiles: list[str]) -> np.ndarray:
    def one(s: str) -> int:
        return int.from_bytes(
            hashlib.blake2b(s.encode(), digest_size=8).digest(), "little", signed=True
        )

    return np.fromiter((one(s) for s in smiles), dtype=np.int64, count=len(smiles))

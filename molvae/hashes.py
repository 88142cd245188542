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
#: A slim file splits each compact hash into its top and bottom 16 bits when it holds more
#: than this many (see :func:`pack`): then a count per top half takes less room than them.
PACK_ABOVE = 1 << 16
_HALF = 16


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
    """``hashes`` as a model file stores them: :func:`compact` in a slim (``half``) file, and
    then :func:`pack`-ed when there are more than :data:`PACK_ABOVE`."""
    if not half or hashes is None:
        return hashes
    short = compact(hashes)
    return pack(short) if len(short) > PACK_ABOVE else short


def from_file(stored: torch.Tensor | None) -> torch.Tensor | None:
    """The hashes a model file holds, as :func:`for_file` took them (:func:`unpack`-ed)."""
    return unpack(stored) if stored is not None and stored.dtype == torch.int16 else stored


def pack(short: torch.Tensor) -> torch.Tensor:
    """Sorted unique 32-bit hashes in 16 bits each, losslessly: how many hashes have each
    value of the top 16 bits (65,536 counts), then the bottom 16 bits of every hash, in order
    (int16 bit patterns). A million hashes take 2.1 MB instead of 4 MB.

    Raises:
        ValueError: More than 65,535 hashes share their top 16 bits (only for billions).
    """
    h = short.numpy().astype(np.int64)
    counts = np.bincount((h >> _HALF) + (1 << (_HALF - 1)), minlength=1 << _HALF)
    if counts.max(initial=0) >= 1 << _HALF:
        raise ValueError("Too many hashes to pack into 16-bit counts.")
    low = h & ((1 << _HALF) - 1)
    words = np.concatenate([counts, low]).astype(np.uint16)
    return torch.from_numpy(words.view(np.int16))


def unpack(packed: torch.Tensor) -> torch.Tensor:
    """The sorted 32-bit hashes that :func:`pack` stored (int32)."""
    words = packed.numpy().view(np.uint16).astype(np.int64)
    counts, low = words[: 1 << _HALF], words[1 << _HALF :]
    top = np.repeat(np.arange(1 << _HALF) - (1 << (_HALF - 1)), counts)
    return torch.from_numpy(((top << _HALF) | low).astype(np.int32))


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

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
_HALF = 16  # bits of each half of a packed hash
_BUCKETS = 1 << _HALF  # values of the top half, and of the bottom
_OFFSET = 1 << (_HALF - 1)  # the top half of a signed hash, shifted to count from 0
#: A slim file splits each compact hash into its top and bottom 16 bits when it holds more
#: than this many (see :func:`pack`): then a count per top half takes less room than them.
PACK_ABOVE = _BUCKETS


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


def to_file(ckpt: dict, key: str, hashes: torch.Tensor | None, half: bool) -> None:
    """Store ``hashes`` in the checkpoint dict ``ckpt`` as a model file keeps them: under
    ``key``, :func:`compact` in a slim (``half``) file; more than :data:`PACK_ABOVE` compact
    ones :func:`pack`-ed under ``key + "_packed"`` instead (a molvae too old to unpack them
    then finds no hashes, rather than wrong ones)."""
    short = compact(hashes) if half and hashes is not None else hashes
    if short is not None and short.dtype == torch.int32 and len(short) > PACK_ABOVE:
        ckpt[key + "_packed"] = pack(short)
    else:
        ckpt[key] = short


def from_file(ckpt: dict, key: str) -> torch.Tensor | None:
    """The hashes :func:`to_file` stored under ``key`` (64-bit, or compact 32-bit ones;
    ``None`` if there are none)."""
    packed = ckpt.get(key + "_packed")
    return unpack(packed) if packed is not None else ckpt.get(key)


def pack(short: torch.Tensor) -> torch.Tensor:
    """Sorted unique 32-bit hashes in 16 bits each, losslessly: how many hashes have each
    value of the top 16 bits (:data:`_BUCKETS` counts), then the bottom 16 bits of every hash,
    in order (int16 bit patterns). A million hashes take 2.1 MB instead of 4 MB.

    Raises:
        ValueError: ``short`` is not strictly increasing, or more than 65,535 hashes share
            their top 16 bits (only for billions).
    """
    h = short.numpy().astype(np.int64)
    if (np.diff(h) <= 0).any():
        raise ValueError("Only sorted unique hashes can be packed.")
    counts = np.bincount((h >> _HALF) + _OFFSET, minlength=_BUCKETS)
    if counts.max(initial=0) >= _BUCKETS:
        raise ValueError("Too many hashes to pack into 16-bit counts.")
    words = np.concatenate([counts, h & (_BUCKETS - 1)]).astype(np.uint16)
    return torch.from_numpy(words.view(np.int16))


def unpack(packed: torch.Tensor) -> torch.Tensor:
    """The sorted 32-bit hashes that :func:`pack` stored (int32).

    Raises:
        ValueError: ``packed`` is not what :func:`pack` writes (a damaged file).
    """
    words = packed.numpy().view(np.uint16).astype(np.int64)
    counts, low = words[:_BUCKETS], words[_BUCKETS:]
    if len(counts) != _BUCKETS or counts.sum() != len(low):
        raise ValueError("The packed hashes are damaged: their counts do not match.")
    top = np.repeat(np.arange(_BUCKETS) - _OFFSET, counts)
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

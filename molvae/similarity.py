"""Tanimoto similarity of Morgan fingerprints, as MOSES computes it for ``SNN`` and ``IntDiv``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from rdkit import Chem

from molvae.data.chem import fingerprint

#: Morgan fingerprints for SNN and IntDiv: radius 2, 1024 bits, as in MOSES.
FP_BITS = 1024


def fingerprints(mols: Sequence[Chem.Mol | str | None]) -> np.ndarray:
    """Morgan (r=2, 1024 bits) fingerprints as a `n x 1024` uint8 0/1 matrix (zeros if invalid)."""
    out = np.zeros((len(mols), FP_BITS), dtype=np.uint8)
    for i, m in enumerate(mols):
        fp = fingerprint(m, radius=2, n_bits=FP_BITS)
        if fp is not None:
            out[i, list(fp.GetOnBits())] = 1
    return out


def _tanimoto_blocks(a: np.ndarray, b: np.ndarray, block: int = 1024):
    """Yield ``(rows, sims)``: Tanimoto of a-row blocks against all of ``b`` (`len(rows) x n_b`).

    Two empty fingerprints count as identical (similarity 1), as in MOSES.
    """
    tb = torch.from_numpy(b).float()  # (Nb, F)
    nb = tb.sum(1)  # (Nb,)
    for start in range(0, len(a), block):
        ta = torch.from_numpy(a[start : start + block]).float()  # (n, F)
        inter = ta @ tb.T  # (n, Nb)
        union = ta.sum(1, keepdim=True) + nb.unsqueeze(0) - inter
        sims = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
        yield slice(start, start + len(ta)), sims


def snn(gen_fps: np.ndarray, ref_fps: np.ndarray) -> float:
    """``SNN``: mean Tanimoto similarity of each generated molecule to its nearest reference."""
    if len(gen_fps) == 0:
        return float("nan")
    best = np.zeros(len(gen_fps))
    for rows, sims in _tanimoto_blocks(gen_fps, ref_fps):
        best[rows] = sims.max(dim=1).values.numpy()
    return float(best.mean())


def internal_diversity(fps: np.ndarray, p: int = 1) -> float:
    """``IntDiv_p``: ``1 - mean_i (mean_j T(i, j)^p)^(1/p)`` over the generated set, as MOSES."""
    if len(fps) == 0:
        return float("nan")
    per_mol = np.zeros(len(fps))
    for rows, sims in _tanimoto_blocks(fps, fps):
        per_mol[rows] = sims.double().pow(p).mean(dim=1).numpy()
    return float(1.0 - np.mean(per_mol ** (1.0 / p)))

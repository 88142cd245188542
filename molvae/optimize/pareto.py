"""Several objectives at once: Pareto fronts, hypervolume and a balanced single score.

Scores are `n x m` arrays, higher better in every column (``sa`` is already negated by its
objective); rows with a non-finite score are never on a front.
"""

from __future__ import annotations

import numpy as np
import torch


def pareto_mask(y: np.ndarray) -> np.ndarray:
    """`n` booleans: the rows no other row beats in every objective (maximisation)."""
    from botorch.utils.multi_objective.pareto import is_non_dominated

    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    ok = np.isfinite(y).all(axis=1)
    mask = np.zeros(len(y), dtype=bool)
    if ok.any():
        mask[ok] = is_non_dominated(torch.from_numpy(y[ok]), deduplicate=False).numpy()
    return mask


def reference_point(y: np.ndarray) -> np.ndarray:
    """A point slightly worse than every finite row in each objective (hypervolume's origin)."""
    y = np.asarray(y, dtype=float)
    y = y[np.isfinite(y).all(axis=1)]
    lo, hi = y.min(axis=0), y.max(axis=0)
    return lo - 0.1 * np.maximum(hi - lo, 1e-6)


def hypervolume(y: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by the rows of ``y`` and bounded below by ``ref``."""
    from botorch.utils.multi_objective.hypervolume import Hypervolume

    y = np.asarray(y, dtype=float)
    y = y[pareto_mask(y)]
    y = y[(y > ref).all(axis=1)]
    if not len(y):
        return 0.0
    return float(
        Hypervolume(torch.as_tensor(ref, dtype=torch.float64)).compute(torch.from_numpy(y))
    )


def hypervolume_so_far(
    y: np.ndarray, ref: np.ndarray, start: np.ndarray | None = None
) -> np.ndarray:
    """Hypervolume after each row of ``y`` (rows in evaluation order), counting ``start`` rows."""
    front = np.zeros((0, y.shape[1])) if start is None else np.asarray(start, dtype=float)
    out = np.zeros(len(y))
    value = hypervolume(front, ref) if len(front) else 0.0
    for i, row in enumerate(np.asarray(y, dtype=float)):
        if np.isfinite(row).all() and (row > ref).all():
            candidate = np.vstack([front, row])
            mask = pareto_mask(candidate)
            if mask[-1]:  # a new non-dominated point: the volume grew
                front = candidate[mask]
                value = hypervolume(front, ref)
        out[i] = value
    return out


def balanced(y: torch.Tensor) -> torch.Tensor:
    """One score per row: its worst objective after scaling each to [0, 1] over the rows.

    With one objective this ranks like the score itself; with several it prefers points that
    are good in all of them (the middle of the front), which is where the trust region centres.
    """
    if y.shape[1] == 1:
        return y[:, 0]
    lo, hi = y.min(dim=0).values, y.max(dim=0).values
    return ((y - lo) / (hi - lo).clamp(min=1e-9)).min(dim=1).values


def row_values(y: np.ndarray) -> np.ndarray:
    """One value per row of `n x m` scores, higher better: the score itself, or with several
    objectives :func:`balanced` over the finite rows; ``-inf`` for rows with a failed score."""
    y = np.asarray(y, dtype=float).reshape(len(y), -1)
    ok = np.isfinite(y).all(axis=1)
    out = np.full(len(y), -np.inf)
    if ok.any():
        out[ok] = balanced(torch.from_numpy(y[ok])).numpy()
    return out

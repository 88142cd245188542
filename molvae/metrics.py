"""Generation metrics with the MOSES names and definitions (``valid``, ``unique@k``,
``Novelty``)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np


def fraction_valid(generated: Sequence[str | None]) -> float:
    """``valid``: the fraction of generated molecules that are valid (not ``None``/empty)."""
    if not generated:
        return 0.0
    return sum(1 for s in generated if s) / len(generated)


def fraction_unique(generated: Sequence[str | None], k: int | None = None) -> float:
    """``unique@k``: distinct molecules among the first ``k`` valid ones (all if ``None``).

    As in MOSES, when fewer than ``k`` valid molecules exist the fraction is taken over those.
    """
    valid = [s for s in generated if s]
    if k is not None:
        valid = valid[:k]
    return len(set(valid)) / len(valid) if valid else 0.0


def novelty(
    generated: Sequence[str | None], in_train: Callable[[list[str]], np.ndarray] | set[str]
) -> float:
    """``Novelty``: the fraction of distinct valid molecules not found in the training set.

    Args:
        generated: Canonical SMILES (``None`` for invalid).
        in_train: The training set as a set of canonical SMILES, or a function telling, for a
            list of SMILES, which are in it.
    """
    unique = sorted({s for s in generated if s})
    if not unique:
        return 0.0
    if isinstance(in_train, set):
        seen = np.array([s in in_train for s in unique])
    else:
        seen = np.asarray(in_train(unique))
    return float(1.0 - seen.mean())

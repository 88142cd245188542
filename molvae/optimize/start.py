"""The starting molecules of a run: from an ``--init`` table (optionally with their scores) or
the model's own training sample."""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from molvae.api import MolVAE
from molvae.data.chem import to_smiles
from molvae.data.tables import find_column, read_table

#: Prior samples drawn per starting molecule wanted when the model stores no training sample:
#: about one in four of the bundled model's samples passes the guards (most others have a
#: ring over 7 atoms or a structural alert).
SAMPLE_FACTOR = 5


@dataclass
class Start:
    """Distinct canonical starting molecules.

    Attributes:
        smiles: The molecules, in a seeded random order of the pool.
        given: `n x m` their scores where the input supplied them (``nan``: none).
        rejected: Molecules of the pool left out, by reason.
    """

    smiles: list[str]
    given: np.ndarray
    rejected: Counter = field(default_factory=Counter)


def starting_molecules(
    model: MolVAE,
    init: str | os.PathLike | pd.DataFrame | None,
    score_cols: list[str],
    n_init: int,
    seed: int,
    screen: Callable[[list[str]], list[str | None]] | None = None,
) -> Start:
    """Up to ``n_init`` distinct valid molecules drawn in a seeded order from the pool.

    Args:
        model: Supplies the pool when ``init`` is ``None``: its training sample, else samples.
        init: A SMILES table; when it has every one of ``score_cols`` (any case), those are
            the molecules' given scores.
        score_cols: The journal's score columns (`m`).
        n_init: Molecules wanted.
        seed: Seed of the order and of any sampling.
        screen: Why each of a list of molecules may not be scored (``None``: it may), e.g.
            :meth:`~molvae.optimize.constraints.Constraints.screen`; rejected ones are
            counted by reason and replaced by the next in the order. Molecules whose scores
            came with the input are kept (they cost no oracle call).
    """
    pool, given = _pool(model, init, score_cols, n_init, seed)
    start = Start([], np.zeros((0, len(score_cols))))
    scores, pending, known = [], [], set()
    order, pos = np.random.default_rng(seed).permutation(len(pool)), 0
    while pos < len(order) or pending:
        if pos < len(order) and len(start.smiles) + len(pending) < n_init:
            i, pos = order[pos], pos + 1
            canon = to_smiles(pool[i])
            if canon is None:
                start.rejected["invalid starting molecule"] += 1
            elif canon in known:
                start.rejected["duplicate starting molecule"] += 1
            else:
                known.add(canon)
                pending.append((canon, given[i]))
            continue
        reasons: list[str | None] = [None] * len(pending)
        new = [j for j, (_, score) in enumerate(pending) if not np.isfinite(score).all()]
        if screen and new:  # molecules whose scores came with the input stay
            for j, reason in zip(new, screen([pending[j][0] for j in new]), strict=True):
                reasons[j] = reason
        for (canon, score), reason in zip(pending, reasons, strict=True):
            if reason is None:
                start.smiles.append(canon)
                scores.append(score)
            else:
                start.rejected[reason] += 1
        pending = []
        if len(start.smiles) == n_init:
            break
    start.given = np.asarray(scores, dtype=float).reshape(len(start.smiles), len(score_cols))
    return start


def _pool(
    model: MolVAE,
    init: str | os.PathLike | pd.DataFrame | None,
    score_cols: list[str],
    n_init: int,
    seed: int,
) -> tuple[list[str], np.ndarray]:
    """Candidate starting SMILES and their `n x m` given scores (``nan``: none)."""
    if init is None:
        pool = list(model.train_sample)
        if not pool:
            pool = [s for s in model.sample(SAMPLE_FACTOR * n_init, seed=seed) if s]
        return pool, np.full((len(pool), len(score_cols)), np.nan)
    table = read_table(init)
    frame = table.frame
    pool = frame[table.smiles_col].astype(str).tolist()
    cols = [find_column(frame.columns, c) for c in score_cols]
    if not all(cols):  # only scores for every objective count
        return pool, np.full((len(pool), len(score_cols)), np.nan)
    return pool, frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)

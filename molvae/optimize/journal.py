"""The journal: every oracle call, appended and flushed to ``journal.csv`` batch by batch.

A run killed at any point (even ``kill -9``) loses at most the batch being evaluated; a
half-written last line is dropped when the journal is read back.
"""

from __future__ import annotations

import csv
import io
import os
import time
from pathlib import Path

import numpy as np
import pandas as pd

from molvae.data.chem import to_mol
from molvae.data.properties import compute_properties

#: Properties recorded beside each score.
RECORDED = ["logp", "qed", "sa", "mw", "tpsa"]
#: The ``method`` of starting molecules whose scores came with the input (not oracle calls).
GIVEN = "given"
COLUMNS = ["iteration", "smiles", "score", "method", "heavy_atoms", *RECORDED, "time"]


def score_columns(names: list[str]) -> list[str]:
    """The journal's score columns: ``score`` for one objective, ``score_<name>`` for each of
    several."""
    return ["score"] if len(names) == 1 else [f"score_{n}" for n in names]


def describe(smiles: str) -> dict[str, float]:
    """The recorded properties of one molecule (``nan`` where RDKit fails)."""
    mol = to_mol(smiles)
    values = compute_properties(mol, RECORDED)
    heavy = mol.GetNumHeavyAtoms() if mol is not None else 0
    return {"heavy_atoms": heavy, **dict(zip(RECORDED, values, strict=True))}


def oracle_calls(journal: pd.DataFrame) -> int:
    """Oracle calls recorded in a journal (rows whose scores came with the input excluded)."""
    return int((journal["method"] != GIVEN).sum())


class Journal:
    """Append-only CSV of oracle calls.

    Args:
        path: The ``journal.csv`` file.
        resume: Keep existing rows (else start a new file).
        score_cols: One column per objective (see :func:`score_columns`).
    """

    def __init__(
        self, path: str | os.PathLike, resume: bool = False, score_cols: list[str] | None = None
    ) -> None:
        self.path = Path(path)
        self.score_cols = score_cols or ["score"]
        self.columns = ["iteration", "smiles", *self.score_cols, *COLUMNS[3:]]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            self._drop_partial_line()
        else:
            self.path.write_text(",".join(self.columns) + "\n")

    def _drop_partial_line(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def read(self) -> pd.DataFrame:
        """All rows recorded so far."""
        return pd.read_csv(self.path, keep_default_na=True)

    def append(self, iteration: int, method: str, smiles: list[str], scores) -> None:
        """Record a batch of evaluations (`n` or `n x m` scores), then flush and fsync so a
        crash cannot lose it."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns, lineterminator="\n")
        now = time.time()
        scores = np.asarray(scores, dtype=float).reshape(len(smiles), len(self.score_cols))
        for s, y in zip(smiles, scores, strict=True):
            writer.writerow(
                {
                    "iteration": iteration,
                    "smiles": s,
                    **dict(zip(self.score_cols, y, strict=True)),
                    "method": method,
                    **describe(s),
                    "time": round(now, 3),
                }
            )
        with open(self.path, "a") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())

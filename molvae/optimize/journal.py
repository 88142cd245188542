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

import pandas as pd

from molvae.chem import compute_properties, to_mol

#: Properties recorded beside each score.
RECORDED = ["logp", "qed", "sa", "mw", "tpsa"]
#: The ``method`` of starting molecules whose scores came with the input (not oracle calls).
GIVEN = "given"
COLUMNS = ["iteration", "smiles", "score", "method", "heavy_atoms", *RECORDED, "time"]


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
    """

    def __init__(self, path: str | os.PathLike, resume: bool = False) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if resume and self.path.exists():
            self._drop_partial_line()
        else:
            self.path.write_text(",".join(COLUMNS) + "\n")

    def _drop_partial_line(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def read(self) -> pd.DataFrame:
        """All rows recorded so far."""
        return pd.read_csv(self.path, keep_default_na=True)

    def append(self, iteration: int, method: str, smiles: list[str], scores) -> None:
        """Record a batch of evaluations, then flush and fsync so a crash cannot lose it."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        now = time.time()
        for s, y in zip(smiles, scores, strict=True):
            writer.writerow(
                {
                    "iteration": iteration,
                    "smiles": s,
                    "score": y,
                    "method": method,
                    **describe(s),
                    "time": round(now, 3),
                }
            )
        with open(self.path, "a") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())

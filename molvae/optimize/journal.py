"""Everything an optimisation run keeps on disk, and the only module that reads or writes it.

- ``journal.csv``: every oracle call, appended and fsynced batch by batch, with the latent
  point of each molecule (columns ``z0`` ...). It is the one copy of the scored data: the
  GP's training tensors are derived from it (:func:`training_data`). A run killed at any
  point (even ``kill -9``) loses at most the batch being evaluated; a half-written last line
  is dropped when the journal is opened again.
- ``state.json``: the loop's own state (:class:`LoopState`), written atomically.
- ``gp_state.pt``: the last GP's hyperparameters, the next fit's warm start.
- ``model.pt``: the fine-tuned VAE of a run with weighted retraining.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from molvae.api import MolVAE
from molvae.data.chem import to_mol
from molvae.data.properties import compute_properties
from molvae.errors import UserError
from molvae.files import atomic_write
from molvae.optimize.box import DataBox
from molvae.optimize.trust_region import TrustRegion

#: Properties recorded beside each score.
RECORDED = ["logp", "qed", "sa", "mw", "tpsa"]
#: The ``source`` of starting molecules whose scores came with the input (not oracle calls) ...
GIVEN = "given"
#: ... and of scored starting molecules. Other sources: ``library`` (a library molecule chosen
#: by the acquisition), ``edit`` (a SELFIES edit BO's acquisition chose) and the method that
#: proposed a molecule (``bo``, ``ga``, ``screen`` ...).
START = "start"
COLUMNS = ["iteration", "smiles", "score", "source", "heavy_atoms", *RECORDED, "time"]
#: Latents are float32 (the encoder's precision): 9 significant digits read back exactly.
LATENT_FORMAT = "{:.9g}"


def score_columns(names: list[str]) -> list[str]:
    """The journal's score columns: ``score`` for one objective, ``score_<name>`` for each of
    several."""
    return ["score"] if len(names) == 1 else [f"score_{n}" for n in names]


def latent_columns(dim: int) -> list[str]:
    """The journal's latent columns ``z0`` ... ``z<dim-1>``."""
    return [f"z{i}" for i in range(dim)]


def without_latents(rows: pd.DataFrame) -> pd.DataFrame:
    """``rows`` without their latent columns (for the tables people read)."""
    return rows.drop(columns=[c for c in rows.columns if re.fullmatch(r"z\d+", c)])


def describe(smiles: str) -> dict[str, float]:
    """The recorded properties of one molecule (``nan`` where RDKit fails)."""
    mol = to_mol(smiles)
    values = compute_properties(mol, RECORDED)
    heavy = mol.GetNumHeavyAtoms() if mol is not None else 0
    return {"heavy_atoms": heavy, **dict(zip(RECORDED, values, strict=True))}


def oracle_calls(journal: pd.DataFrame) -> int:
    """Oracle calls recorded in a journal (rows whose scores came with the input excluded)."""
    return int((journal["source"] != GIVEN).sum())


class Journal:
    """Append-only CSV of oracle calls (nothing touches the file before :meth:`open`, or the
    first :meth:`append` to a new file).

    Args:
        path: The ``journal.csv`` file.
        score_cols: One column per objective (see :func:`score_columns`).
        latent_dim: Latent columns recorded per molecule (0: none).
    """

    def __init__(
        self, path: str | os.PathLike, score_cols: list[str] | None = None, latent_dim: int = 0
    ) -> None:
        self.path = Path(path)
        self.score_cols = score_cols or ["score"]
        self.latent_cols = latent_columns(latent_dim)
        self.columns = ["iteration", "smiles", *self.score_cols, *COLUMNS[3:], *self.latent_cols]

    def open(self, resume: bool = False) -> Journal:
        """Start a new file, or with ``resume`` keep the rows there (minus a half-written last
        line).

        Raises:
            UserError: Without ``resume``, the file already holds rows (never overwritten).
        """
        if resume and self.path.exists():
            self._drop_partial_line()
            return self
        if self.path.exists() and len(self.path.read_bytes().split(b"\n", 2)) > 2:
            raise UserError(
                f"{self.path.parent} already holds an optimisation run; continue it with "
                "--resume or choose a new --out folder."
            )
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(",".join(self.columns) + "\n")
        return self

    def check_columns(self) -> None:
        """Raise a :class:`UserError` unless the file has this journal's columns (checked on
        resume, after the settings, which explain most differences better)."""
        header = self.path.read_text().split("\n", 1)[0].split(",")
        if header != self.columns:
            raise UserError(
                f"{self.path} was written by another version of molvae or another model "
                "(its columns differ); start a new run in a new --out folder."
            )

    def _drop_partial_line(self) -> None:
        data = self.path.read_bytes()
        if data and not data.endswith(b"\n"):
            with open(self.path, "r+b") as fh:
                fh.truncate(data.rfind(b"\n") + 1)

    def read(self) -> pd.DataFrame:
        """All rows recorded so far."""
        return pd.read_csv(self.path, keep_default_na=True)

    def append(
        self,
        iteration: int,
        source: str | list[str],
        smiles: list[str],
        scores,
        latents: torch.Tensor | None = None,
    ) -> None:
        """Record a batch of evaluations, then flush and fsync so a crash cannot lose it.

        Args:
            iteration: The loop iteration (0: starting molecules).
            source: Where they came from, one for all or one each (:data:`START`, ``bo``,
                ``library`` ...; :data:`GIVEN`: their scores came with the input).
            smiles: The molecules.
            scores: `n` or `n x m` their scores.
            latents: `n x d` their latent points (``nan``: none), when the journal has
                latent columns.
        """
        if not self.path.exists():
            self.open()
        scores = np.asarray(scores, dtype=float).reshape(len(smiles), len(self.score_cols))
        if latents is None:
            latents = torch.full((len(smiles), len(self.latent_cols)), float("nan"))
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        now = round(time.time(), 3)
        sources = [source] * len(smiles) if isinstance(source, str) else source
        for s, y, src, z in zip(smiles, scores, sources, latents.tolist(), strict=True):
            props = describe(s)
            writer.writerow(
                [iteration, s, *y, src, props["heavy_atoms"], *(props[p] for p in RECORDED)]
                + [now, *(LATENT_FORMAT.format(v) for v in z)]
            )
        with open(self.path, "a") as fh:
            fh.write(buf.getvalue())
            fh.flush()
            os.fsync(fh.fileno())


def journal_latents(rows: pd.DataFrame, dim: int) -> torch.Tensor:
    """The `n x d` latents recorded in the journal (float64; ``nan`` where none)."""
    values = rows[latent_columns(dim)].to_numpy(dtype=np.float32)
    return torch.tensor(values).double()


def training_data(
    rows: pd.DataFrame, score_cols: list[str], latents: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The GP's data: rows with every score and a latent point.

    Args:
        rows: The journal.
        score_cols: Its score columns (`m`).
        latents: `n x d` the rows' latents (usually :func:`journal_latents`).

    Returns:
        `k x d` latents and `k x m` scores (float64).
    """
    y = torch.tensor(rows[score_cols].to_numpy(dtype=np.float64))
    ok = torch.isfinite(y).all(dim=1) & torch.isfinite(latents).all(dim=1)
    return latents[ok], y[ok]


@dataclass
class LoopState:
    """What ``state.json`` holds so that ``--resume`` continues the same run (the scored data
    itself is in the journal).

    Attributes:
        objective: The objective names, comma-separated.
        config: The run's :class:`~molvae.config.OptimizeConfig` as a dict.
        iteration: The last finished iteration.
        init_done: The starting molecules are all scored.
        box: The data box mapping latents to the unit cube.
        ref_point: `m` hypervolume reference point.
        trust_region: The trust region after the last iteration.
        retrains: Fine-tunings of the VAE so far (``model.pt`` holds the latest).
        retrained_rows: Journal rows at the last fine-tuning; their latents are re-encoded
            with ``model.pt`` (the journal keeps those they were scored with).
        rejected: Candidates not sent to the oracle, by reason.
        turned_away: Decoded molecules that broke a constraint, never proposed again.
        centres: The molecules trust regions were centred on (a restart picks a new one).
        empty: Iterations in a row that found nothing new to score.
    """

    objective: str = ""
    config: dict = field(default_factory=dict)
    iteration: int = 0
    init_done: bool = False
    box: DataBox | None = None
    ref_point: list[float] | None = None
    trust_region: TrustRegion | None = None
    retrains: int = 0
    retrained_rows: int = 0
    rejected: dict[str, int] = field(default_factory=dict)
    turned_away: list[str] = field(default_factory=list)
    centres: list[str] = field(default_factory=list)
    empty: int = 0

    def changed_settings(self, objective: str, config: dict) -> list[str]:
        """The settings of a resumed run that differ from this one's (a larger budget may
        extend a run, so it does not count; a setting newer than the saved run takes its
        value from this one)."""
        changed = [
            k
            for k, v in config.items()
            if k != "budget" and k in self.config and self.config[k] != v
        ]
        return (["objective"] if objective != self.objective else []) + changed


def save_state(out: Path, state: LoopState, warm: dict | None = None) -> None:
    """Write ``state.json``, and ``gp_state.pt`` from the GP hyperparameters ``warm`` (removed
    when ``None``, so a resumed run starts the next fit as cold as the live run would)."""
    if warm is not None:
        atomic_write(out / "gp_state.pt", lambda tmp: torch.save(warm, tmp))
    else:
        (out / "gp_state.pt").unlink(missing_ok=True)
    text = json.dumps(asdict(state))
    atomic_write(out / "state.json", lambda tmp: tmp.write_text(text))


def load_state(out: Path) -> tuple[LoopState | None, dict | None]:
    """The saved :class:`LoopState` and GP hyperparameters (``None`` where not saved)."""
    path = out / "state.json"
    if not path.exists():
        return None, None
    saved = json.loads(path.read_text())
    known = {f.name for f in fields(LoopState)}
    state = LoopState(**{k: v for k, v in saved.items() if k in known})
    state.box = DataBox(**state.box) if state.box else None
    state.trust_region = TrustRegion(**state.trust_region) if state.trust_region else None
    warm_path = out / "gp_state.pt"
    warm = torch.load(warm_path, weights_only=True) if warm_path.exists() else None
    return state, warm


def save_model(out: Path, model: MolVAE) -> None:
    """Write the fine-tuned VAE to ``model.pt``."""
    model.save(out / "model.pt")


def load_model(out: Path, device: str) -> MolVAE:
    """The fine-tuned VAE from ``model.pt``."""
    return MolVAE.load(out / "model.pt", device=device)

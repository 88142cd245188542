"""Property windows (``logp=2..3``, ``qed>=0.6``) and their check on real molecules.

A window bounds one property; a molecule is in a set of windows when RDKit's computed values
(never the property head's predictions) fall inside every one, and, with a reference molecule,
when its Tanimoto similarity to it is high enough. :mod:`molvae.conditional` samples toward
windows; this module says what they are and whether a molecule is inside.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from molvae.data.chem import fingerprint, to_mol, without_rdkit_log
from molvae.data.properties import PROPERTIES, compute_properties
from molvae.errors import UserError

_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_RANGE = re.compile(rf"^\s*(\w+)\s*=\s*({_NUMBER})?\s*\.\.\s*({_NUMBER})?\s*$")
_BOUND = re.compile(rf"^\s*(\w+)\s*(>=|<=)\s*({_NUMBER})\s*$")
#: A window bound as a pair, ``None`` where open: ``{"logp": (2, 3), "qed": (0.6, None)}``.
Bounds = tuple[float | None, float | None]
#: The distance to the windows of a molecule inside them that is no hit (it fails the guards).
NOT_A_HIT = 1e-6


@dataclass(frozen=True)
class Window:
    """``lo <= name <= hi``; ``None`` leaves a side open."""

    name: str
    lo: float | None = None
    hi: float | None = None

    def __str__(self) -> str:
        if self.hi is None:
            return f"{self.name}>={self.lo:g}"
        if self.lo is None:
            return f"{self.name}<={self.hi:g}"
        return f"{self.name}={self.lo:g}..{self.hi:g}"

    def contains(self, values: np.ndarray) -> np.ndarray:
        """Which values are inside (``nan`` never is)."""
        values = np.asarray(values, dtype=float)
        inside = ~np.isnan(values)
        if self.lo is not None:
            inside &= values >= self.lo
        if self.hi is not None:
            inside &= values <= self.hi
        return inside


def parse_window(spec: str) -> Window:
    """A window from ``name=lo..hi``, ``name=lo..``, ``name=..hi``, ``name>=x`` or ``name<=x``.

    Raises:
        UserError: The text is none of these, or the window is empty.
    """
    if m := _RANGE.match(spec):
        name, lo, hi = m.group(1), m.group(2), m.group(3)
        window = Window(name.lower(), _float(lo), _float(hi))
    elif m := _BOUND.match(spec):
        name, op, x = m.groups()
        bound = float(x)
        window = Window(name.lower(), *((bound, None) if op == ">=" else (None, bound)))
    else:
        raise UserError(
            f"Cannot read the window '{spec}'; write name=lo..hi, name>=x or name<=x "
            "(e.g. logp=2..3 or qed>=0.6)."
        )
    return _checked(window, spec)


def _float(text: str | None) -> float | None:
    return None if text is None else float(text)


def _checked(window: Window, spec: str) -> Window:
    lo, hi = window.lo, window.hi
    if lo is None and hi is None:
        raise UserError(f"The window '{spec}' has no bound; give a lower, an upper bound or both.")
    if any(b is not None and not math.isfinite(b) for b in (lo, hi)):
        raise UserError(f"The window '{spec}' needs finite numbers as bounds.")
    if lo is not None and hi is not None and lo > hi:
        raise UserError(f"The window '{spec}' is empty: its lower bound {lo:g} is above {hi:g}.")
    return window


def resolve_windows(
    where: Mapping[str, Bounds] | Sequence[str] | None, head_names: Sequence[str] = ()
) -> list[Window]:
    """Windows from ``{"logp": (2, 3)}`` or ``["logp=2..3", "qed>=0.6"]``, one per property
    (two windows on one property become their intersection).

    Args:
        where: The windows.
        head_names: The model's property-head names (allowed when RDKit computes them too).

    Raises:
        UserError: A window cannot be read or is empty, or RDKit cannot compute its property.
    """
    if where is None:
        return []
    if isinstance(where, Mapping):
        items = [
            _checked(Window(str(k).lower(), *_pair(k, v)), f"{k}={v}") for k, v in where.items()
        ]
    else:
        items = [parse_window(s) for s in where]
    merged: dict[str, Window] = {}
    for w in items:
        if w.name not in PROPERTIES:
            extra = sorted(set(head_names) - set(PROPERTIES))
            lacking = f" ({', '.join(extra)} cannot be checked by RDKit)" if extra else ""
            raise UserError(
                f"Unknown property '{w.name}' in a window; choose from "
                f"{', '.join(PROPERTIES)}{lacking}."
            )
        if w.name in merged:
            old = merged[w.name]
            lo = max((b for b in (old.lo, w.lo) if b is not None), default=None)
            hi = min((b for b in (old.hi, w.hi) if b is not None), default=None)
            w = _checked(Window(w.name, lo, hi), f"{old} and {w}")
        merged[w.name] = w
    return list(merged.values())


def _pair(name: str, bounds: Bounds) -> tuple[float | None, float | None]:
    try:
        lo, hi = bounds
        return (None if lo is None else float(lo)), (None if hi is None else float(hi))
    except (TypeError, ValueError) as err:
        raise UserError(
            f"The window for '{name}' must be a pair (lo, hi) of numbers or None, got {bounds!r}."
        ) from err


class Verifier:
    """Checks molecules against windows (and similarity to a reference) with RDKit; with
    ``guards``, a hit must also pass the drug-likeness guards of ``molvae optimize``
    (:func:`molvae.optimize.guards.drug_like_failure`: ring sizes, reactive motifs, MOSES's
    filters, SA and QED)."""

    def __init__(
        self,
        windows: Sequence[Window],
        similar_to: str | None = None,
        min_similarity: float = 0.4,
        guards: bool = False,
    ) -> None:
        self.windows = list(windows)
        self.names = [w.name for w in self.windows]
        self.min_similarity = min_similarity
        self.guards = guards
        self.ref_fp = None
        if similar_to is not None:
            self.ref_fp = fingerprint(similar_to)
            if self.ref_fp is None:
                raise UserError(f"--similar-to '{similar_to}' is not a valid SMILES.")

    def describe(self) -> str:
        """The windows as the user would write them, e.g. ``logp=2..3, qed>=0.6``."""
        parts = [str(w) for w in self.windows]
        if self.ref_fp is not None:
            parts.append(f"similarity>={self.min_similarity:g}")
        return ", ".join(parts) + (" (drug-like)" if self.guards else "")

    def check(self, smiles: Sequence[str]) -> pd.DataFrame:
        """The computed properties (and ``similarity``) of each molecule, with ``hit``: whether
        it is inside every window."""
        from rdkit import DataStructs

        with without_rdkit_log():
            mols = [to_mol(s) for s in smiles]
        values = np.array([compute_properties(m, self.names) for m in mols], dtype=float)
        frame = pd.DataFrame(values.reshape(len(smiles), len(self.names)), columns=self.names)
        frame.insert(0, "smiles", list(smiles))
        hit = np.ones(len(smiles), dtype=bool)
        for w in self.windows:
            hit &= w.contains(frame[w.name].to_numpy())
        if self.ref_fp is not None:
            fps = [fingerprint(m) for m in mols]
            sims = [
                math.nan if fp is None else DataStructs.TanimotoSimilarity(self.ref_fp, fp)
                for fp in fps
            ]
            frame["similarity"] = sims
            hit &= frame["similarity"].to_numpy() >= self.min_similarity
        if self.guards:
            from molvae.optimize.guards import drug_like_failure

            hit &= np.array([m is not None and drug_like_failure(m) is None for m in mols])
        frame["hit"] = hit
        return frame

    def distance(self, frame: pd.DataFrame, scales: Mapping[str, float]) -> np.ndarray:
        """How far each checked molecule (a :meth:`check` frame) is from the windows: the sum
        over windows of the shortfall divided by ``scales[name]`` (0 for a hit, ``inf`` where a
        value is missing)."""
        bounds = [(w.name, w.lo, w.hi) for w in self.windows]
        if self.ref_fp is not None:
            bounds.append(("similarity", self.min_similarity, None))
        total = np.zeros(len(frame))
        for name, lo, hi in bounds:
            values = frame[name].to_numpy(dtype=float)
            gap = np.zeros(len(frame))
            if lo is not None:
                gap += np.clip(lo - values, 0, None)
            if hi is not None:
                gap += np.clip(values - hi, 0, None)
            total += np.where(np.isnan(values), np.inf, gap / scales.get(name, 1.0))
        if "hit" in frame:  # inside every window but no hit (the guards): just outside
            total = np.where((total == 0) & ~frame["hit"].to_numpy(dtype=bool), NOT_A_HIT, total)
        return total

    def scales(self, frame: pd.DataFrame) -> dict[str, float]:
        """Each checked column's standard deviation in ``frame`` (1 where it does not vary)."""
        columns = [c for c in frame.columns if c not in ("smiles", "hit")]
        std = frame[columns].std().fillna(0.0)
        return {c: float(s) if s > 1e-8 else 1.0 for c, s in std.items()}

"""Objectives: the real oracle that scores decoded molecules (never the property head alone).

An objective maps a list of SMILES to floats, higher being better; ``nan`` marks a failed
evaluation. Built-ins are computed by RDKit; custom ones come from a Python file or module.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from molvae.data.chem import to_mol
from molvae.data.properties import PROPERTIES
from molvae.errors import UserError

#: Built-in objectives and whether larger raw values are better.
MAXIMISE = {"logp": True, "qed": True, "plogp": True, "sa": False}
#: Properties optimised toward a target value, ``--target mw=350``.
TOWARD = {"mw", "tpsa"}


@dataclass
class Objective:
    """A named scoring function: ``score(smiles) -> floats``, higher is better.

    Attributes:
        name: Shown in outputs (``logp``, ``mw=350``, ``score`` ...).
        fn: The oracle.
        property_name: The RDKit property it is built on, if any (lets the property head
            serve as a prior and the ``gradient`` baseline climb it).
        sign: +1 when the score increases with the property, -1 when it decreases.
    """

    name: str
    fn: Callable[[list[str]], Sequence[float]]
    property_name: str | None = None
    sign: float = 1.0

    def __call__(self, smiles: list[str]) -> np.ndarray:
        """Score molecules safely.

        Returns:
            One float per molecule; ``nan`` where it failed, was not finite, or where the
            function raised (then every molecule of the batch is ``nan``).

        Raises:
            UserError: The function returned a different number of scores than molecules.
        """
        try:
            raw = self.fn(list(smiles))
        except Exception as err:  # a failing oracle must not lose the run
            from molvae.progress import console

            console.print(f"[yellow]Objective '{self.name}' raised {err!r}; batch marked failed.")
            return np.full(len(smiles), np.nan)
        try:
            values = np.asarray(list(raw), dtype=float).reshape(-1)
        except (TypeError, ValueError) as err:
            raise UserError(
                f"Objective '{self.name}' must return numbers, one per SMILES; got {raw!r:.80}."
            ) from err
        if len(values) != len(smiles):
            raise UserError(
                f"Objective '{self.name}' returned {len(values)} scores for {len(smiles)} "
                "molecules; it must return exactly one float per SMILES."
            )
        values[~np.isfinite(values)] = np.nan
        return values


def builtin(spec: str) -> Objective:
    """A built-in objective: ``logp``, ``qed``, ``plogp``, ``sa`` (minimised) or
    ``mw=350`` / ``tpsa=90`` (closeness to the value: ``-|value - target|``)."""
    name, _, target = spec.partition("=")
    name = name.strip().lower()
    if name in TOWARD:
        if not target:
            raise UserError(f"'{name}' needs a target value, e.g. --target {name}=350.")
        try:
            goal = float(target)
        except ValueError as err:
            raise UserError(f"Target '{spec}' is not a number; write e.g. {name}=350.") from err
        fn = PROPERTIES[name]
        return Objective(
            spec, lambda smiles: [-abs(v - goal) for v in _each(smiles, fn)], None, 1.0
        )
    if name not in MAXIMISE:
        known = ", ".join([*MAXIMISE, *(f"{t}=VALUE" for t in TOWARD)])
        raise UserError(f"Unknown target '{spec}'; use one of {known}, or --objective file.py:fn.")
    sign = 1.0 if MAXIMISE[name] else -1.0
    fn = PROPERTIES[name]
    return Objective(name, lambda smiles: [sign * v for v in _each(smiles, fn)], name, sign)


def _each(smiles: list[str], fn) -> list[float]:
    return [_one(s, fn) for s in smiles]


def _one(smiles: str, fn) -> float:
    mol = to_mol(smiles)
    if mol is None:
        return math.nan
    try:
        return float(fn(mol))
    except Exception:
        return math.nan


def custom(spec: str) -> Objective:
    """Load ``path/to/file.py:function`` or ``package.module:function`` as an objective.

    Raises:
        UserError: The file, module or function cannot be found.
    """
    target, _, attr = spec.rpartition(":")
    if not target or not attr:
        raise UserError(f"Objective '{spec}' must look like my_scores.py:score or pkg.mod:score.")
    if target.endswith(".py"):
        path = Path(target)
        if not path.exists():
            raise UserError(f"Objective file {path} does not exist; check the path.")
        module_spec = importlib.util.spec_from_file_location(path.stem, path)
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)  # the user's own scoring code
    else:
        try:
            module = importlib.import_module(target)
        except ImportError as err:
            raise UserError(f"Cannot import module '{target}' for the objective ({err}).") from err
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise UserError(f"'{attr}' in {target} is not a function; name the scoring function.")
    return Objective(attr, fn)


def from_spec(spec: str | Callable) -> Objective:
    """An :class:`Objective` from a target string, ``file.py:fn``, or any callable."""
    if isinstance(spec, Objective):
        return spec
    if callable(spec):
        return Objective(getattr(spec, "__name__", "objective"), spec)
    if ":" in spec:
        return custom(spec)
    return builtin(spec)


def head_gain(
    model, objective: Objective, standardised: bool = False
) -> Callable[[torch.Tensor], torch.Tensor]:
    """The property head's estimate of ``objective`` (one built on a property the head
    predicts), in the objective's units (``standardised``: the head's own, the property's
    mean 0 and standard deviation 1): `... x d` latents to `...` values, higher better,
    differentiable in the latents (the head itself is a frozen float64 copy, as precise as the
    GP it may serve, and never trained by them)."""
    column = model.property_names.index(objective.property_name)
    head = copy.deepcopy(model.model.head).eval().requires_grad_(False).double()
    mean, std = (float(v[column]) for v in (model.standardiser.mean, model.standardiser.std))
    if standardised:
        mean, std = 0.0, 1.0

    def gain(z: torch.Tensor) -> torch.Tensor:
        value = head(z.double().to(model.device))[..., column].to(z.device, z.dtype)
        return objective.sign * (value * std + mean)

    return gain


def head_estimate(model, objectives: Sequence[Objective], box=None) -> Callable | None:
    """:func:`head_gain` of a single objective the head predicts (on the unit cube of a
    :class:`~molvae.optimize.box.DataBox` ``box``, if given); ``None`` for several
    objectives, or one the head does not predict."""
    if len(objectives) != 1 or objectives[0].property_name not in model.property_names:
        return None
    gain = head_gain(model, objectives[0])
    return gain if box is None else lambda u: gain(box.from_unit(u))

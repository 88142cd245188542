"""A conditional VAE's conditions: what its decoder is told to make when sampling.

A CVAE (``molvae train --condition logp,qed``) is trained with the standardised properties of
each molecule beside z (:class:`molvae.model.VAE`). To sample, the condition is drawn here:
from the training molecules' values (:class:`molvae.state.ConditionSample`) for unconditional
samples, and uniformly inside the property windows of ``sample --where``. Which molecules are
kept is never decided here: :mod:`molvae.conditional` verifies every decode with RDKit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from molvae.errors import UserError
from molvae.windows import Window

if TYPE_CHECKING:
    from molvae.state import ModelState


def condition_names(vae: ModelState) -> list[str]:
    """The properties a CVAE is conditioned on (empty for a plain VAE)."""
    return [vae.property_names[i] for i in vae.model.condition]


def draw_conditions(
    vae: ModelState,
    n: int,
    windows: Sequence[Window] = (),
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """`n x n_cond` standardised conditions for a CVAE, on its device.

    A condition property with a window is drawn uniformly inside it, an open side closed at the
    training split's least or greatest value. The others are taken jointly from training
    molecules whose windowed properties lie inside the windows (so that they stay consistent
    with them, e.g. QED given a logP window), or from all of them when none do. Without windows,
    whole rows of training values: the training distribution.

    Args:
        vae: A conditional VAE.
        n: How many.
        windows: Property windows; those on properties outside the condition are ignored.
        generator: A CPU random generator.

    Raises:
        UserError: The model is not a CVAE, or was saved without its training values.
    """
    if not vae.model.condition or vae.conditions is None:
        raise UserError(
            "This model is not a conditional VAE (or was saved without its training property "
            "values); train one with --condition, or sample with --method guided."
        )
    names, sample = condition_names(vae), vae.conditions
    values = sample.values  # (m, C) property units
    bounded = {w.name: w for w in windows if w.name in names}
    inside = torch.ones(len(values), dtype=torch.bool)
    for j, name in enumerate(names):
        if name in bounded:
            inside &= torch.from_numpy(bounded[name].contains(values[:, j].numpy()))
    rows = values[inside] if bool(inside.any()) else values
    out = rows[torch.randint(len(rows), (n,), generator=generator)].clone()  # (n, C)
    for j, name in enumerate(names):
        if name in bounded:
            w = bounded[name]
            lo = float(sample.lo[j]) if w.lo is None else w.lo
            hi = max(float(sample.hi[j]) if w.hi is None else w.hi, lo)
            out[:, j] = lo + (hi - lo) * torch.rand(n, generator=generator)
    cols = vae.model.condition
    mean = torch.as_tensor(vae.standardiser.mean[cols], dtype=torch.float32)
    std = torch.as_tensor(vae.standardiser.std[cols], dtype=torch.float32)
    return ((out - mean) / std).to(vae.device)


def encoder_condition(vae: ModelState, smiles: Sequence[str]) -> torch.Tensor | None:
    """What a CVAE's encoder reads of molecules: `n x n_props` standardised properties (``nan``
    where RDKit does not compute one: the encoder takes the training mean); ``None`` for a
    plain VAE."""
    if not vae.model.condition:
        return None
    return torch.as_tensor(vae.known_properties(smiles), dtype=torch.float32)


def condition_of(vae: ModelState, smiles: Sequence[str]) -> np.ndarray | None:
    """A CVAE's condition properties of molecules: `n x n_cond` in their own units (``nan``
    where RDKit does not compute one); ``None`` for a plain VAE."""
    if not vae.model.condition:
        return None
    return vae.standardiser.inverse(vae.known_properties(smiles))[:, vae.model.condition]


def standardise(
    vae: ModelState, condition: np.ndarray | torch.Tensor | None, n: int
) -> torch.Tensor | None:
    """`n x n_cond` condition values in the properties' units -> the standardised tensor the
    decoder reads (``nan`` stays: the head's prediction); ``None`` for none or a plain VAE.

    Raises:
        UserError: Not ``n_cond`` values per latent vector.
    """
    cols = vae.model.condition
    if condition is None or not cols:
        return None
    values = np.asarray(condition, dtype=np.float64)
    if values.size != n * len(cols):
        raise UserError(
            f"Give {len(cols)} condition values ({', '.join(condition_names(vae))}) per latent "
            f"vector, for {n} vectors; got {values.size} values."
        )
    std = vae.standardiser
    values = (values.reshape(n, len(cols)) - std.mean[cols]) / std.std[cols]
    return torch.as_tensor(values, dtype=torch.float32)

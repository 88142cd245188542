"""The compact form of a mixture prior (:class:`molvae.prior.LatentPrior`): one standard
deviation shared by every component in the latent dimensions the model barely uses, and the
other columns stored in 8 bits. So a model file holds three times as many reference posteriors,
and two samples share a reference (and decode to the same molecule) less often. And the order
a sampling run draws the references in (:class:`ComponentPicker`), each once before any twice,
for the same reason."""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from molvae.prior import LatentPrior

#: A latent dimension whose posterior standard deviation, averaged over a mixture's references,
#: is at least this sits near the N(0, 1) prior: the model barely uses it (the bundled model:
#: 93 of 128, most at about 0.93, the free-bits floor; the others lie below 0.67). A mixture
#: pools the standard deviations of such dimensions: every component shares one there.
POOL_SIGMA = 0.75


def to_u8(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Each column of ``x`` (`K x D`) in 256 even steps between its extremes, and the `2 x D`
    lowest value and step."""
    low = x.min(dim=0).values
    step = ((x.max(dim=0).values - low) / 255).clamp(min=1e-12)
    return ((x - low) / step).round().to(torch.uint8), torch.stack([low, step])


def from_u8(q: torch.Tensor, value_range: torch.Tensor) -> torch.Tensor:
    """The float32 columns that :func:`to_u8` stored."""
    return value_range[0] + q.float() * value_range[1]


def unpool(x: torch.Tensor, shared: torch.Tensor | None, pooled: torch.Tensor) -> torch.Tensor:
    """The `K x latent_dim` standard deviations again: ``x`` in the dimensions not ``pooled``,
    ``shared`` repeated in the others."""
    full = torch.empty(len(x), pooled.numel(), device=x.device)
    full[:, ~pooled] = x
    if pooled.any():
        full[:, pooled] = shared.float().to(x.device)
    return full


def unused_dims(scales: torch.Tensor) -> torch.Tensor:
    """The latent dimensions the model barely uses, from a mixture's `K x latent_dim` standard
    deviations: mean at least :data:`POOL_SIGMA` (a boolean mask)."""
    return scales.mean(dim=0) >= POOL_SIGMA


def shared_columns(x: torch.Tensor) -> torch.Tensor:
    """The columns of ``x`` (`K x D`) equal in every row, such as pooled standard deviations (a
    boolean mask; none for fewer than two rows)."""
    return (x == x[:1]).all(dim=0) & (len(x) > 1)


def pool_unused(scales: torch.Tensor) -> torch.Tensor:
    """A mixture's `K x latent_dim` standard deviations with those of the dimensions the model
    barely uses (mean standard deviation at least :data:`POOL_SIGMA`) pooled: there every
    component gets the root mean square of them all. The mixture's variance in each dimension
    (mean variance plus variance of the means) is unchanged, and so are the means, which is
    what tells the references apart; those posteriors all sit near the free-bits floor anyway
    (the bundled model: about 0.93, varying between references by at most about 0.09), while
    the file stores one value per pooled dimension instead of one per reference."""
    pooled = unused_dims(scales)
    scales = scales.clone()
    if pooled.any():
        scales[:, pooled] = scales[:, pooled].pow(2).mean(dim=0).sqrt()
    return scales


class ComponentPicker:
    """Which reference each draw from a mixture prior comes from: the ``k`` references in a
    random order, then in a new random order, and so on. Each draw on its own is still a
    uniform pick, but the draws of one picker are not independent: a sampling run that keeps
    one picker over all its rounds uses every reference once before any twice (separate runs,
    each with its own picker, repeat references across runs as before). Draws around one
    reference often decode to the same molecule (in an instrumented run of bundled model v4.2,
    every duplicate among 10,000 samples came from a reference drawn twice), so it helps while
    a run makes fewer draws than there are references; see ``BENCHMARKS.md``, Lever 8.

    Args:
        k: Number of references (components), at least 1.
        generator: Random generator; its device is where the picks are made (``None``: the
            global CPU generator).

    Raises:
        ValueError: ``k`` is below 1.
    """

    def __init__(self, k: int, generator: torch.Generator | None = None) -> None:
        if k < 1:
            raise ValueError("A mixture needs at least one reference to pick from.")
        self.k, self.generator = k, generator
        self.device = generator.device if generator is not None else torch.device("cpu")
        self.queue = torch.empty(0, dtype=torch.long, device=self.device)

    def __call__(self, n: int) -> torch.Tensor:
        """The next ``n`` picks (indices below ``k``, on the generator's device)."""
        orders = -(-(n - len(self.queue)) // self.k)  # new random orders needed, if any
        if orders > 0:
            keys = torch.rand(
                orders, self.k, generator=self.generator, device=self.device, dtype=torch.float64
            )
            self.queue = torch.cat([self.queue, keys.argsort(dim=1).flatten()])
        picks, self.queue = self.queue[:n], self.queue[n:]
        return picks


def run_picker(
    prior: LatentPrior | None, generator: torch.Generator | None
) -> ComponentPicker | None:
    """A new :class:`ComponentPicker` for one sampling run from ``prior`` (``None`` unless
    it is a mixture)."""
    if prior is None or prior.components is None:
        return None
    return ComponentPicker(len(prior.components), generator)

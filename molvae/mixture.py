"""The compact form of a mixture prior (:class:`molvae.prior.LatentPrior`): one standard
deviation shared by every component in the latent dimensions the model barely uses, and the
other columns stored in 8 bits. So a model file holds three times as many reference posteriors,
and two samples share a reference (and decode to the same molecule) less often."""

from __future__ import annotations

import torch

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
    random order, then in a new random order, and so on. Each draw is still a uniform pick
    (the mixture's distribution is unchanged), but one sampling run uses every reference
    once before any twice. Draws around one reference often decode to the same molecule
    (on the bundled model, all the duplicates among 10,000 samples came from a reference
    drawn twice), so this takes `unique@10000` from 0.987 to 0.995 at 30,000 references.

    Args:
        k: Number of references (components).
        generator: Random generator (its device is where the picks are made).
    """

    def __init__(self, k: int, generator: torch.Generator | None = None) -> None:
        self.k, self.generator = k, generator
        self.device = generator.device if generator is not None else torch.device("cpu")
        self.queue = torch.empty(0, dtype=torch.long, device=self.device)

    def __call__(self, n: int) -> torch.Tensor:
        """The next ``n`` picks (indices below ``k``, on the generator's device)."""
        while len(self.queue) < n:
            order = torch.randperm(self.k, generator=self.generator, device=self.device)
            self.queue = torch.cat([self.queue, order])
        picks, self.queue = self.queue[:n], self.queue[n:]
        return picks

"""The data box: the range of the scored latents, which maps latents to the unit cube the GP
and the trust region work in. It grows to hold every latent scored since (see
:meth:`DataBox.grow`), so no scored molecule is ever moved onto one of its faces."""

from __future__ import annotations

from dataclasses import dataclass

import torch

#: Margin added on each side of the scored latents' range, as a fraction of it, so that the
#: search can step a little beyond the best molecules seen.
MARGIN = 0.1
#: Smallest side of the box, so a dimension on which every latent agrees still has room.
MIN_SPAN = 1e-3


@dataclass(frozen=True)
class DataBox:
    """An axis-aligned box in latent space (kept in ``state.json`` so a resumed run uses the
    same one).

    Attributes:
        lo: `d` lower corner.
        hi: `d` upper corner.
    """

    lo: list[float]
    hi: list[float]

    @classmethod
    def around(cls, x: torch.Tensor) -> DataBox:
        """The range of `n x d` latents ``x`` plus :data:`MARGIN` each side."""
        lo, hi = x.min(dim=0).values, x.max(dim=0).values
        span = (hi - lo).clamp(min=MIN_SPAN)
        return cls((lo - MARGIN * span).tolist(), (hi + MARGIN * span).tolist())

    def grow(self, x: torch.Tensor) -> DataBox:
        """This box stretched, side by side, to hold every row of `n x d` latents ``x`` with
        :data:`MARGIN` to spare; the box itself where they all lie inside."""
        lo, hi = self._corners()
        if not len(x) or ((x >= lo) & (x <= hi)).all():
            return self
        span = hi - lo
        new_lo = torch.minimum(lo, x.min(dim=0).values - MARGIN * span)
        new_hi = torch.maximum(hi, x.max(dim=0).values + MARGIN * span)
        return DataBox(new_lo.tolist(), new_hi.tolist())

    def _corners(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.tensor(self.lo, dtype=torch.float64)
        return lo, torch.tensor(self.hi, dtype=torch.float64)

    def to_unit(self, z: torch.Tensor) -> torch.Tensor:
        """`n x d` latents as unit-cube coordinates (outside [0, 1] for latents outside the
        box: never clipped, so two molecules never share a point)."""
        lo, hi = self._corners()
        return (z - lo) / (hi - lo)

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        """`n x d` unit-cube points as latents."""
        lo, hi = self._corners()
        return lo + u * (hi - lo)

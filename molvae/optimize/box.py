"""The data box: the range of the scored latents, which maps latents to the unit cube the GP
and the trust region work in."""

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

    def _corners(self) -> tuple[torch.Tensor, torch.Tensor]:
        lo = torch.tensor(self.lo, dtype=torch.float64)
        return lo, torch.tensor(self.hi, dtype=torch.float64)

    def to_unit(self, z: torch.Tensor) -> torch.Tensor:
        """`n x d` latents as points of the unit cube (clipped to it)."""
        lo, hi = self._corners()
        return ((z - lo) / (hi - lo)).clamp(0.0, 1.0)

    def from_unit(self, u: torch.Tensor) -> torch.Tensor:
        """`n x d` unit-cube points as latents."""
        lo, hi = self._corners()
        return lo + u * (hi - lo)

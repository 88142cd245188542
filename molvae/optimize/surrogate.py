"""The surrogate: a BoTorch ``SingleTaskGP`` and a TuRBO-style trust region."""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass

import torch


@dataclass
class TrustRegion:
    """A box around the best point that grows after successes and shrinks after failures."""

    dim: int
    batch_size: int
    length: float = 0.8
    length_min: float = 0.5**7
    length_max: float = 1.6
    successes: int = 0
    failures: int = 0
    restarts: int = 0

    @property
    def failure_tolerance(self) -> int:
        return math.ceil(max(4.0 / self.batch_size, self.dim / self.batch_size))

    def update(self, improved: bool) -> None:
        if improved:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        if self.successes >= 3:
            self.length, self.successes = min(2.0 * self.length, self.length_max), 0
        elif self.failures >= self.failure_tolerance:
            self.length, self.failures = self.length / 2.0, 0
        if self.length < self.length_min:  # collapsed: start again, wide
            self.length, self.restarts = 0.8, self.restarts + 1

    def expand(self) -> None:
        """Widen the region (used when it only yields molecules already evaluated)."""
        self.length = min(2.0 * self.length, self.length_max)
        self.successes = self.failures = 0

    def box(self, center: torch.Tensor, lengthscales: torch.Tensor) -> torch.Tensor:
        """`2 x d` bounds in the unit cube, stretched along the GP's long lengthscales."""
        w = lengthscales / lengthscales.log().mean().exp()  # geometric mean 1, no overflow
        lo = (center - w * self.length / 2).clamp(0.0, 1.0)
        hi = (center + w * self.length / 2).clamp(0.0, 1.0)
        return torch.stack([lo, hi])


def gp_subset(x: torch.Tensor, y: torch.Tensor, center: torch.Tensor, limit: int) -> torch.Tensor:
    """Indices of at most ``limit`` points: the best third, then the nearest to ``center``."""
    if len(x) <= limit:
        return torch.arange(len(x))
    best = torch.argsort(y, descending=True)[: limit // 3]
    rest = torch.ones(len(x), dtype=torch.bool)
    rest[best] = False
    others = torch.nonzero(rest).squeeze(1)
    near = others[torch.argsort((x[others] - center).norm(dim=1))[: limit - len(best)]]
    return torch.cat([best, near])


def fit_gp(x: torch.Tensor, y: torch.Tensor, maxiter: int, warm: dict | None = None):
    """A ``SingleTaskGP`` on unit-cube inputs and standardised outputs.

    Args:
        x: `n x d` inputs in [0, 1]^d (float64).
        y: `n` or `n x m` scores (one GP output per objective).
        maxiter: Cap on the hyperparameter optimiser's iterations.
        warm: Hyperparameters of the previous fit, to start from.
    """
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    y = y.unsqueeze(-1) if y.ndim == 1 else y  # (n, m)
    gp = SingleTaskGP(x, y, outcome_transform=Standardize(m=y.shape[-1]))
    if warm is not None:
        hyper = {k: v for k, v in warm.items() if "outcome_transform" not in k}
        gp.load_state_dict(hyper, strict=False)
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    # A failed fit keeps the starting hyperparameters; BO goes on.
    with contextlib.suppress(Exception):
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    return gp


def lengthscales(gp, dim: int) -> torch.Tensor:
    """`dim` ARD lengthscales (their geometric mean over the outputs of a multi-output GP)."""
    ls = getattr(gp.covar_module, "lengthscale", None)
    if ls is None and hasattr(gp.covar_module, "base_kernel"):
        ls = gp.covar_module.base_kernel.lengthscale
    if ls is None:
        return torch.ones(dim, dtype=torch.float64)
    return ls.detach().reshape(-1, dim).log().mean(dim=0).exp()

"""The surrogate: a BoTorch ``SingleTaskGP`` on a bounded subset of the data, warm-started
from the previous fit's hyperparameters, with the property head as its prior mean where the
head predicts the objective (:class:`HeadMean`)."""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from molvae.config import OptimizeConfig
from molvae.optimize.pareto import balanced

#: A prior mean: `... x d` unit-cube points to `...` estimates of the objective (differentiable).
Prior = Callable[[torch.Tensor], torch.Tensor]

#: With a warm start the data changed by one batch, so the fit needs only a fraction of the
#: optimiser steps of a cold fit (at 1,000 points ~4 s instead of ~15 s) ...
WARM_FRACTION = 5
#: ... but never fewer than this.
WARM_MIN_ITER = 10


class GPFitWarning(UserWarning):
    """A GP's hyperparameters could not be fitted; BO went on with its starting values."""


def fitting_errors() -> tuple[type[Exception], ...]:
    """The errors of a failed fit (the optimiser gave up, a covariance matrix was not positive
    definite or held NaNs, a Cholesky factorisation failed). Anything else is a bug and
    propagates."""
    from botorch.exceptions.errors import ModelFittingError
    from linear_operator.utils.errors import NanError, NotPSDError

    return (ModelFittingError, NotPSDError, NanError, torch.linalg.LinAlgError)


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


def fit_gp(
    x: torch.Tensor,
    y: torch.Tensor,
    maxiter: int,
    warm: dict | None = None,
    prior: Prior | None = None,
):
    """A ``SingleTaskGP`` on unit-cube inputs and standardised outputs.

    Args:
        x: `n x d` inputs in [0, 1]^d (float64).
        y: `n` or `n x m` scores (one GP output per objective).
        maxiter: Cap on the hyperparameter optimiser's iterations.
        warm: Hyperparameters of the previous fit, to start from.
        prior: The objective's estimate at any point, the GP's prior mean (one objective
            only; see :class:`~molvae.optimize.prior_mean.HeadMean`). ``None``: a constant.
    """
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    y = y.unsqueeze(-1) if y.ndim == 1 else y  # (n, m)
    mean = None
    if prior is not None and y.shape[-1] == 1:
        from molvae.optimize.prior_mean import HeadMean

        std = y.std()  # as Standardize scales the outputs: 1 where they barely vary
        mean = HeadMean(prior, x, y.mean(), std if std >= 1e-8 else 1.0)
    gp = SingleTaskGP(x, y, outcome_transform=Standardize(m=y.shape[-1]), mean_module=mean)
    if warm is not None:
        hyper = {k: v for k, v in warm.items() if "outcome_transform" not in k}
        gp.load_state_dict(hyper, strict=False)
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    try:
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    except fitting_errors() as err:  # keep the starting hyperparameters; BO goes on
        warnings.warn(
            f"The GP fit on {len(x)} points failed ({type(err).__name__}: {err}); this "
            "iteration proposes with the GP's starting hyperparameters.",
            GPFitWarning,
            stacklevel=2,
        )
    return gp


def lengthscales(gp, dim: int) -> torch.Tensor:
    """`dim` ARD lengthscales (their geometric mean over the outputs of a multi-output GP)."""
    ls = getattr(gp.covar_module, "lengthscale", None)
    if ls is None and hasattr(gp.covar_module, "base_kernel"):
        ls = gp.covar_module.base_kernel.lengthscale
    if ls is None:
        return torch.ones(dim, dtype=torch.float64)
    return ls.detach().reshape(-1, dim).log().mean(dim=0).exp()


def fit_surrogate(
    u: torch.Tensor,
    y: torch.Tensor,
    cfg: OptimizeConfig,
    warm: dict | None,
    center: torch.Tensor | None = None,
    prior: Prior | None = None,
):
    """A GP on at most ``cfg.max_gp_points`` of the scored points, warm-started if possible.

    Args:
        u: `n x d` scored points in the unit cube (float64).
        y: `n x m` their scores, higher better.
        cfg: GP size and fit settings.
        warm: The previous fit's hyperparameters (see :func:`hyperparameters`), or ``None``.
        center: `d` the trust region's centre, whose neighbours fill the subset after the
            best points (default: the best point).
        prior: The GP's prior mean (see :func:`fit_gp`).

    Returns:
        The fitted GP; its training inputs are the chosen subset of ``u``.
    """
    score = balanced(y)
    center = u[torch.argmax(score)] if center is None else center
    idx = gp_subset(u, score, center, cfg.max_gp_points)
    maxiter = cfg.gp_maxiter
    if warm is not None:
        maxiter = max(WARM_MIN_ITER, cfg.gp_maxiter // WARM_FRACTION)
    return fit_gp(u[idx], y[idx], maxiter, warm, prior)


def hyperparameters(gp) -> dict[str, torch.Tensor]:
    """A detached copy of the GP's state, the next fit's warm start."""
    return {k: v.detach().clone() for k, v in gp.state_dict().items()}

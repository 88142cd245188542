"""Where to look next: latent candidates from BO (qLogEI or, with several objectives, qLogNEHVI),
from the prior (``random``) or from gradient ascent on the property head (``gradient``)."""

from __future__ import annotations

import time

import torch

from molvae.config import OptimizeConfig
from molvae.optimize.pareto import balanced
from molvae.optimize.surrogate import TrustRegion, fit_gp, gp_subset, lengthscales


def propose_bo(
    u: torch.Tensor,
    y: torch.Tensor,
    q: int,
    cfg: OptimizeConfig,
    tr: TrustRegion,
    warm: dict | None,
    ref_point: torch.Tensor | None = None,
) -> tuple[torch.Tensor, dict, dict[str, float]]:
    """``q`` candidates in the unit cube from a GP fitted on (a bounded subset of) the data.

    Args:
        u: `n x d` scored points in the unit cube (float64).
        y: `n x m` their scores, higher better.
        q: Candidates wanted.
        cfg: Settings (GP size and fit, acquisition optimiser, trust region on or off).
        tr: The trust region (used when ``cfg.trust_region``).
        warm: The previous GP's hyperparameters.
        ref_point: `m` hypervolume reference point, needed when ``m > 1``.

    Returns:
        `q x d` candidates, the fitted GP's hyperparameters (the next warm start) and the GP
        fit and acquisition times in seconds.
    """
    from botorch.optim import optimize_acqf

    score = balanced(y)
    center = u[torch.argmax(score)]
    idx = gp_subset(u, score, center, cfg.max_gp_points)
    t0 = time.perf_counter()
    # A warm start (the previous fit's hyperparameters) needs only a few optimiser steps: the
    # data changed by one batch. At 1,000 points this takes the fit from ~15 s to ~4 s.
    maxiter = cfg.gp_maxiter if warm is None else max(10, cfg.gp_maxiter // 5)
    gp = fit_gp(u[idx], y[idx], maxiter, warm)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    d = u.shape[1]
    if cfg.trust_region:
        bounds = tr.box(center, lengthscales(gp, d))
    else:
        bounds = torch.stack([torch.zeros(d), torch.ones(d)]).double()
    if y.shape[1] == 1:
        from botorch.acquisition.logei import qLogExpectedImprovement

        acq = qLogExpectedImprovement(gp, best_f=y[idx, 0].max())
    else:
        from botorch.acquisition.multi_objective.logei import (
            qLogNoisyExpectedHypervolumeImprovement,
        )
        from botorch.sampling import SobolQMCNormalSampler

        # 32 quasi-MC samples (BoTorch's default is 128): the box decompositions of the
        # sampled fronts dominate the cost, and 32 keep an iteration to seconds.
        acq = qLogNoisyExpectedHypervolumeImprovement(
            gp,
            ref_point=ref_point,
            X_baseline=u[idx],
            prune_baseline=True,
            sampler=SobolQMCNormalSampler(sample_shape=torch.Size([32])),
        )
    multi = y.shape[1] > 1
    # Hypervolume acquisitions are optimised greedily, one candidate after another (each
    # conditioned on the ones before as pending points); that costs ~10x a single candidate,
    # so each inner optimisation is kept shorter.
    cand, _ = optimize_acqf(
        acq,
        bounds=bounds,
        q=q,
        num_restarts=cfg.num_restarts,
        raw_samples=min(cfg.raw_samples, 128) if multi else cfg.raw_samples,
        options={"maxiter": 30 if multi else 100, "batch_limit": 64},
        sequential=multi,
    )
    warm = {k: v.detach().clone() for k, v in gp.state_dict().items()}
    return cand.detach(), warm, {"gp_fit_s": fit_s, "acq_s": time.perf_counter() - t0}


def propose_random(q: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """``q`` latent points from the prior N(0, I)."""
    return torch.randn(q, d, generator=gen, dtype=torch.float64)


def propose_gradient(
    head: torch.nn.Module,
    column: int,
    sign: float,
    x: torch.Tensor,
    y: torch.Tensor,
    q: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """Gradient ascent on one output of the property head from the ``q`` best points so far.

    Args:
        head: The property head (standardised outputs).
        column: The output climbed.
        sign: +1 to climb it, -1 to descend.
        x: `n x d` latent points scored so far; ``y`` (`n`) their scores.
    """
    device = next(head.parameters()).device
    top = torch.argsort(y, descending=True)[:q]
    start = x[top].float()
    start = start + 0.1 * torch.randn(start.shape, generator=gen)  # distinct climbs
    z = start.clone().to(device)
    for _ in range(50):  # plain gradient steps on z alone: the model is left untouched
        z.requires_grad_(True)
        gain = sign * head(z)[:, column]
        # Stay where the decoder has seen data: a prior penalty on |z|.
        (grad,) = torch.autograd.grad((gain - 0.01 * z.pow(2).sum(dim=1)).sum(), z)
        z = (z + 0.05 * grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-8)).detach()
    return z.cpu().double()

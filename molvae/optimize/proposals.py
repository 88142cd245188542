"""Where to look next: pure functions from the scored data to `q x d` candidate latents.

``bo`` maximises qLogEI (or, with several objectives, qLogNEHVI) inside the trust region, and
:func:`select_batch` lets the same acquisition choose a batch from any candidate points (decoded
proposals and library molecules together); ``random`` draws uniformly from the unit cube (the
data box BO searches); ``gradient`` climbs a differentiable estimate of the objective (the
property head). None of them decodes, scores or writes anything.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from molvae.config import OptimizeConfig
from molvae.optimize.pareto import balanced
from molvae.optimize.surrogate import lengthscales
from molvae.optimize.trust_region import TrustRegion, region_bounds

#: Quasi-MC samples of qLogNEHVI (BoTorch's default is 128): the box decompositions of the
#: sampled fronts dominate its cost, and 32 keep an iteration to seconds.
NEHVI_SAMPLES = 32
#: Random starts scored by the hypervolume acquisition, at most (it costs ~10x qLogEI).
NEHVI_RAW_SAMPLES = 128
#: Optimiser iterations per acquisition optimisation: one candidate at a time for
#: hypervolume (each conditioned on the ones before), so each inner run is kept shorter.
ACQ_MAXITER = {"single": 100, "multi": 30}
#: Candidates scored at once by the acquisition optimiser and by :func:`select_batch` (bounds
#: their memory).
ACQ_BATCH_LIMIT = 64
#: Gradient baseline: spread of the starting points around the best latents, so the ``q``
#: climbs differ even from the same start.
GRADIENT_JITTER = 0.1
#: Gradient baseline: normalised steps of this length ...
GRADIENT_STEP = 0.05
#: ... this many of them ...
GRADIENT_STEPS = 50
#: ... and the weight of the prior penalty ``|z|^2`` that keeps the climb where the decoder
#: has seen data.
GRADIENT_PRIOR_WEIGHT = 0.01


def propose_bo(
    state: TrustRegion,
    model,
    x: torch.Tensor,
    y: torch.Tensor,
    q: int,
    cfg: OptimizeConfig,
    ref_point: torch.Tensor | None = None,
    center: torch.Tensor | None = None,
) -> torch.Tensor:
    """``q`` candidates in the unit cube that maximise the acquisition.

    Args:
        state: The trust region (used when ``cfg.trust_region``; else the whole cube).
        model: A fitted BoTorch GP on (a subset of) ``x`` (see ``surrogate.fit_surrogate``).
        x: `n x d` scored points in the unit cube (float64).
        y: `n x m` their scores, higher better.
        q: Candidates wanted.
        cfg: Acquisition optimiser settings and ``trust_region``.
        ref_point: `m` hypervolume reference point, needed when ``m > 1``.
        center: `d` the trust region's centre (default: the best point of ``x``).

    Returns:
        `q x d` candidates inside the trust region (or the unit cube).
    """
    from botorch.optim import optimize_acqf  # botorch is slow to import; only BO needs it

    d = x.shape[1]
    if cfg.trust_region:
        center = x[torch.argmax(balanced(y))] if center is None else center
        bounds = region_bounds(state, center.clamp(0.0, 1.0), lengthscales(model, d))
    else:
        bounds = torch.stack([torch.zeros(d), torch.ones(d)]).double()
    multi = y.shape[1] > 1
    acq = acquisition(model, y, ref_point)
    cand, _ = optimize_acqf(
        acq,
        bounds=bounds,
        q=q,
        num_restarts=cfg.num_restarts,
        raw_samples=min(cfg.raw_samples, NEHVI_RAW_SAMPLES) if multi else cfg.raw_samples,
        options={
            "maxiter": ACQ_MAXITER["multi" if multi else "single"],
            "batch_limit": ACQ_BATCH_LIMIT,
        },
        sequential=multi,
    )
    return cand.detach()


def acquisition(model, y: torch.Tensor, ref_point: torch.Tensor | None = None):
    """The acquisition function: qLogEI over the best score of `n x 1` ``y``, or with several
    objectives qLogNEHVI from ``ref_point``."""
    if y.shape[1] > 1:
        return _hypervolume_acquisition(model, ref_point)
    return _ei_acquisition(model, y)


def select_batch(
    acq,
    candidates: torch.Tensor,
    q: int,
    groups: list[str] | None = None,
    quotas: dict[str, int] | None = None,
) -> list[int]:
    """The ``q`` rows of `n x d` ``candidates`` that the acquisition values most as a batch.

    Greedy and sequential: each pick maximises the joint acquisition of itself and the picks
    before it, so a batch is not ``q`` copies of one good region.

    Args:
        acq: A BoTorch acquisition function (see :func:`acquisition`).
        candidates: `n x d` points in the unit cube (float64), any mix of sources.
        q: Picks wanted.
        groups: `n` the source of each candidate, with ``quotas``.
        quotas: The most picks from each group while others remain; a group's unused slots
            go to the rest.

    Returns:
        Up to ``q`` distinct row indices, in the order picked.
    """
    chosen: list[int] = []
    left = list(range(len(candidates)))
    taken: dict[str, int] = {}
    with torch.no_grad():
        while left and len(chosen) < q:
            open_ = left
            if groups is not None and quotas is not None:
                under = [i for i in left if taken.get(groups[i], 0) < quotas.get(groups[i], q)]
                open_ = under or left
            batch = candidates[chosen].unsqueeze(0)  # (1, j, d)
            values = []
            for begin in range(0, len(open_), ACQ_BATCH_LIMIT):
                rows = candidates[open_[begin : begin + ACQ_BATCH_LIMIT]].unsqueeze(1)  # (b, 1, d)
                x = torch.cat([batch.expand(len(rows), -1, -1), rows], dim=1)  # (b, j + 1, d)
                values.append(acq(x))
            pick = open_[int(torch.argmax(torch.cat(values)))]
            left.remove(pick)
            chosen.append(pick)
            if groups is not None:
                taken[groups[pick]] = taken.get(groups[pick], 0) + 1
    return chosen


def _ei_acquisition(model, y: torch.Tensor):
    from botorch.acquisition.logei import qLogExpectedImprovement

    return qLogExpectedImprovement(model, best_f=y[:, 0].max())


def _hypervolume_acquisition(model, ref_point: torch.Tensor | None):
    from botorch.acquisition.multi_objective.logei import (
        qLogNoisyExpectedHypervolumeImprovement,
    )
    from botorch.sampling import SobolQMCNormalSampler

    if ref_point is None:
        raise ValueError("Several objectives need a hypervolume reference point.")
    return qLogNoisyExpectedHypervolumeImprovement(
        model,
        ref_point=ref_point,
        X_baseline=_fitted_inputs(model),
        prune_baseline=True,
        sampler=SobolQMCNormalSampler(sample_shape=torch.Size([NEHVI_SAMPLES])),
    )


def _fitted_inputs(model) -> torch.Tensor:
    """The `n x d` points the GP was fitted on (a multi-output GP keeps one copy per output)."""
    x = model.train_inputs[0]
    return x[0] if x.ndim == 3 else x


def propose_random(q: int, d: int, gen: torch.Generator) -> torch.Tensor:
    """`q x d` points drawn uniformly from the unit cube (the data box BO searches)."""
    return torch.rand(q, d, generator=gen, dtype=torch.float64)


def propose_gradient(
    gain: Callable[[torch.Tensor], torch.Tensor],
    x: torch.Tensor,
    y: torch.Tensor,
    q: int,
    gen: torch.Generator,
) -> torch.Tensor:
    """Gradient ascent on ``gain`` from (jittered copies of) the ``q`` best points so far.

    Args:
        gain: A differentiable estimate of the objective, `n x d` latents (float32) to `n`
            values, higher better (e.g. one output of the property head).
        x: `n x d` latent points scored so far.
        y: `n` their scores.
        q: Candidates wanted.
        gen: The source of the starting jitter.

    Returns:
        `q x d` latents (float64), or fewer when fewer than ``q`` points were scored.
    """
    top = torch.argsort(y, descending=True)[:q]
    start = x[top].float()
    z = start + GRADIENT_JITTER * torch.randn(start.shape, generator=gen)  # distinct climbs
    for _ in range(GRADIENT_STEPS):  # steps on z alone: whatever gain wraps is left untouched
        z.requires_grad_(True)
        penalty = GRADIENT_PRIOR_WEIGHT * z.pow(2).sum(dim=1)
        (grad,) = torch.autograd.grad((gain(z) - penalty).sum(), z)
        z = (z + GRADIENT_STEP * grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-8)).detach()
    return z.double()

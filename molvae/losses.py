"""Loss terms of the VAE and the KL annealing schedules (MOSES names: ``recon_loss``,
``kl_loss``, ``KLAnnealer``)."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from molvae.config import KL_SCHEDULES


def recon_loss(logits: torch.Tensor, targets: torch.Tensor, pad_id: int = 0) -> torch.Tensor:
    """Token cross-entropy summed over each molecule, averaged over the batch.

    Args:
        logits: `batch x time x vocab`.
        targets: `batch x time` ids; ``pad_id`` positions are ignored.

    Returns:
        A scalar: mean over molecules of the summed token negative log-likelihood.
    """
    ce = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]),  # (B*T, V)
        targets.reshape(-1),  # (B*T,)
        ignore_index=pad_id,
        reduction="sum",
    )
    return ce / targets.shape[0]


def kl_per_dim(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(q(z|x) || N(0, I)) per latent dimension, averaged over the batch: `latent_dim`."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar).mean(dim=0)


def kl_loss(kl_dims: torch.Tensor, free_bits: float = 0.0) -> torch.Tensor:
    """Summed KL with free bits: dimensions below ``free_bits`` nats are not penalised.

    Clamping the batch-averaged KL of each dimension from below (Kingma et al. 2016) removes
    the pressure that pushes little-used dimensions all the way to the prior.
    """
    if free_bits > 0:
        kl_dims = torch.clamp(kl_dims, min=free_bits)
    return kl_dims.sum()


def property_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error on standardised targets, ignoring missing (``nan``) values.

    Args:
        pred: `batch x n_props`.
        target: `batch x n_props` with ``nan`` where unknown.
    """
    mask = torch.isfinite(target)
    if not mask.any():
        return pred.sum() * 0.0
    diff = (pred - torch.nan_to_num(target)) * mask
    return diff.pow(2).sum() / mask.sum()


class KLAnnealer:
    """The weight of the KL term at each step.

    Args:
        schedule: ``linear`` (0 -> beta over the warm-up), ``sigmoid`` (a logistic ramp
            centred in the warm-up), ``cyclical`` (linear ramps repeated ``cycles`` times,
            Fu et al. 2019, each ramp taking half a cycle) or ``constant``.
        beta: The final weight.
        total_steps: Steps of the whole run.
        warmup: Fraction of ``total_steps`` spent ramping up (not used by ``cyclical``).
        cycles: Number of cycles for ``cyclical``.
    """

    def __init__(
        self,
        schedule: str,
        beta: float,
        total_steps: int,
        warmup: float = 0.3,
        cycles: int = 4,
    ) -> None:
        if schedule not in KL_SCHEDULES:
            raise ValueError(f"unknown KL schedule {schedule!r}; use one of {KL_SCHEDULES}")
        self.schedule = schedule
        self.beta = beta
        self.total = max(int(total_steps), 1)
        self.warmup_steps = max(int(round(warmup * self.total)), 1)
        self.cycles = max(int(cycles), 1)

    def __call__(self, step: int) -> float:
        if self.schedule == "constant":
            return self.beta
        if self.schedule == "linear":
            return self.beta * min(step / self.warmup_steps, 1.0)
        if self.schedule == "sigmoid":
            x = 12.0 * (step / self.warmup_steps - 0.5)  # from ~0 to ~1 across the warm-up
            return self.beta if step >= self.warmup_steps else self.beta / (1 + math.exp(-x))
        period = self.total / self.cycles
        phase = (step % period) / period
        return self.beta * min(phase / 0.5, 1.0)


def linear_ramp(step: int, total: int, start: float, end: float) -> float:
    """``start`` at step 0, ``end`` at ``total`` and after."""
    frac = min(max(step / max(total, 1), 0.0), 1.0)
    return start + (end - start) * frac

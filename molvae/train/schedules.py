"""Schedules of a training run: the KL weight (MOSES's ``KLAnnealer``), linear ramps of the
scheduled-sampling rate and Gumbel temperature, and the learning rate."""

from __future__ import annotations

import math

from molvae.config import KL_SCHEDULES, TrainConfig

#: Steps of linear learning-rate warm-up: 5 % of the run, at most this many.
LR_WARMUP_MAX_STEPS = 100
LR_WARMUP_FRACTION = 0.05
#: The logistic KL ramp spans ``[-SIGMOID_SPAN / 2, SIGMOID_SPAN / 2]`` over the warm-up, so it
#: starts at 0.25 % of β and reaches 99.75 % of it.
SIGMOID_SPAN = 12.0


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

    @classmethod
    def from_config(cls, cfg: TrainConfig, total_steps: int) -> KLAnnealer:
        """The annealer ``cfg`` describes, over ``total_steps`` steps."""
        return cls(cfg.kl_schedule, cfg.beta, total_steps, cfg.kl_warmup, cfg.kl_cycles)

    def __call__(self, step: int) -> float:
        if self.schedule == "constant":
            return self.beta
        if self.schedule == "linear":
            return self.beta * min(step / self.warmup_steps, 1.0)
        if self.schedule == "sigmoid":
            x = SIGMOID_SPAN * (step / self.warmup_steps - 0.5)  # from ~0 to ~1 across the warm-up
            return self.beta if step >= self.warmup_steps else self.beta / (1 + math.exp(-x))
        period = self.total / self.cycles
        phase = (step % period) / period
        return self.beta * min(phase / 0.5, 1.0)


def linear_ramp(step: int, total: int, start: float, end: float) -> float:
    """``start`` at step 0, ``end`` at ``total`` and after."""
    frac = min(max(step / max(total, 1), 0.0), 1.0)
    return start + (end - start) * frac


def learning_rate(cfg: TrainConfig, step: int, total: int) -> float:
    """Short linear warm-up, then cosine decay to ``lr_final_fraction * lr``."""
    warm = min(LR_WARMUP_MAX_STEPS, max(int(total * LR_WARMUP_FRACTION), 1))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(total - warm, 1)
    floor = cfg.lr_final_fraction
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))

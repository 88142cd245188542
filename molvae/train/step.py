"""The one optimisation step on the VAE loss (:func:`train_step`): the :class:`Trainer
<molvae.train.trainer.Trainer>`, the DDP path and weighted retraining
(:mod:`molvae.optimize.retrain`) all take it."""

from __future__ import annotations

import torch

from molvae.config import TrainConfig
from molvae.data.dataset import Batch
from molvae.train.schedules import linear_ramp


def train_step(
    net: torch.nn.Module,
    opt: torch.optim.Optimizer,
    batch: Batch,
    cfg: TrainConfig,
    *,
    lr: float,
    beta: float,
    progress: float,
    amp: bool = False,
) -> dict[str, float]:
    """One optimisation step on the VAE loss: reconstruction + β KL + property head.

    Args:
        net: The VAE (or its DDP / compiled wrapper).
        opt: Its optimiser.
        batch: The batch; its ``weights``, when given, weight each molecule's loss.
        cfg: Loss weights, free bits, word dropout, scheduled sampling, gradient clip.
        lr: Learning rate of this step.
        beta: KL weight of this step.
        progress: Fraction of training done, ``0`` to ``1``: sets the scheduled-sampling rate
            and the Gumbel temperature.
        amp: bf16 autocast (CUDA only).

    Returns:
        ``loss``, ``recon``, ``kl``, ``prop`` and ``beta`` of the step.
    """
    for group in opt.param_groups:
        group["lr"] = lr
    with torch.autocast(batch.ids.device.type, dtype=torch.bfloat16, enabled=amp):
        out = net(
            batch,
            free_bits=cfg.free_bits,
            word_dropout=cfg.word_dropout,
            sched_sampling=linear_ramp(progress, 1.0, 0.0, cfg.sched_sampling),
            tau=linear_ramp(progress, 1.0, cfg.gumbel_tau_start, cfg.gumbel_tau_end),
        )
    prop = 0.0 if out.prop_loss is None else out.prop_loss
    loss = out.recon_loss + beta * out.kl_loss + cfg.prop_weight * prop
    opt.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), cfg.grad_clip)
    opt.step()
    return {
        "loss": float(loss.detach()),
        "recon": float(out.recon_loss.detach()),
        "kl": float(out.kl_dims.detach().sum()),
        "prop": float(prop.detach()) if torch.is_tensor(prop) else prop,
        "beta": beta,
    }

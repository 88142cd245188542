"""Weighted retraining (Tripp, Daxberger and Hernández-Lobato 2020): during optimisation,
fine-tune the VAE on the molecules scored so far, weighted by rank, so the latent space gives
more room to the good region and BO can move through it.

Each molecule's weight is ``1 / (k N + rank)`` (rank 0 the best, ``N`` molecules, ``k``
small): the top few dominate, the rest keep the model from forgetting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from molvae.chem import PROPERTIES, compute_properties
from molvae.losses import kl_loss, property_loss
from molvae.trainer import Standardiser

if TYPE_CHECKING:
    from molvae.api import MolVAE


def rank_weights(scores: np.ndarray, k: float = 1e-3) -> np.ndarray:
    """Normalised rank weights ``1 / (k N + rank)`` of `n` scores (higher is better)."""
    scores = np.asarray(scores, dtype=float)
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    w = 1.0 / (k * len(scores) + ranks)
    return w / w.sum()


def finetune(
    vae: MolVAE,
    smiles: list[str],
    weights: np.ndarray,
    steps: int,
    seed: int,
    lr: float = 1e-4,
    batch_size: int = 32,
) -> float:
    """Fine-tune ``vae`` in place on molecules drawn with probability ``weights``.

    The loss is the model's own training loss (reconstruction, β-weighted KL with free bits,
    and the property head on the RDKit properties it predicts), so the head stays aligned with
    the moved latent space.

    Returns:
        The mean loss over the last 10 steps.
    """
    ds, _ = vae.prepare(smiles)
    if len(ds) == 0 or steps < 1:
        return float("nan")
    keep = ds.rows - 1  # prepare keeps input order; rows count from 1
    probs = torch.as_tensor(weights[keep] / weights[keep].sum(), dtype=torch.float64)
    ids, lengths = ds.to_padded(vae.vocab)
    targets = _property_targets(vae, ds.smiles)
    train_cfg = vae.ckpt.get("train_config", {})
    beta, free_bits = train_cfg.get("beta", 0.05), train_cfg.get("free_bits", 0.0)
    gen = torch.Generator().manual_seed(seed)
    net = vae.model
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        idx = torch.multinomial(probs, batch_size, replacement=True, generator=gen)
        b_len = lengths[idx]
        b = ids[idx, : int(b_len.max())].to(vae.device)  # (B, T)
        out = net(b, b_len.to(vae.device))
        loss = out.recon_loss + beta * kl_loss(out.kl_dims, free_bits)
        if out.props is not None and targets is not None:
            loss = loss + property_loss(out.props, targets[idx].to(vae.device))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
        losses.append(float(loss.detach()))
    net.eval()
    return float(np.mean(losses[-10:]))


def _property_targets(vae: MolVAE, smiles: list[str]) -> torch.Tensor | None:
    """Standardised RDKit properties the head predicts (`n x n_props`, ``nan`` for the
    others, e.g. columns of the original training file, which the loss then ignores)."""
    names = vae.property_names
    if not names:
        return None
    known = [n for n in names if n in PROPERTIES]
    values = np.full((len(smiles), len(names)), np.nan)
    for i, s in enumerate(smiles):
        props = dict(zip(known, compute_properties(s, known), strict=True))
        values[i] = [props.get(n, np.nan) for n in names]
    std: Standardiser = vae.standardiser
    return torch.as_tensor(std.transform(values), dtype=torch.float32)

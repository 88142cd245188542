"""The VAE's loss terms (MOSES names: ``recon_loss``, ``kl_loss``).

The reconstruction and KL terms are computed in one function, :func:`elbo_terms`; everything
else (training, validation, weighted retraining, anomaly scores) reduces its output.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from molvae.data.tokens import Vocab


def elbo_terms(
    logits: torch.Tensor, targets: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-molecule reconstruction NLL and per-dimension KL(q(z|x) || N(0, I)).

    Args:
        logits: `batch x time x vocab` decoder outputs.
        targets: `batch x time` ids; ``<pad>`` positions are ignored.
        mu: `batch x latent_dim` posterior means.
        logvar: `batch x latent_dim` posterior log-variances.

    Returns:
        ``nll`` of shape `batch` (token NLL summed over each molecule, nats) and ``kl`` of shape
        `batch x latent_dim` (nats).
    """
    ce = F.cross_entropy(
        logits.transpose(1, 2).float(),  # (B, V, T)
        targets,
        ignore_index=Vocab.pad_id,
        reduction="none",
    )  # (B, T)
    kl = 0.5 * (mu.float().pow(2) + logvar.float().exp() - 1.0 - logvar.float())  # (B, Z)
    return ce.sum(dim=1), kl


def kl_loss(kl_dims: torch.Tensor, free_bits: float = 0.0) -> torch.Tensor:
    """Summed KL with free bits: dimensions below ``free_bits`` nats are not penalised.

    Clamping the batch-averaged KL of each dimension from below (Kingma et al. 2016) removes
    the pressure that pushes little-used dimensions all the way to the prior.

    Args:
        kl_dims: `latent_dim` batch-averaged KL of each dimension.
    """
    if free_bits > 0:
        kl_dims = torch.clamp(kl_dims, min=free_bits)
    return kl_dims.sum()


def property_errors(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Squared errors on standardised targets, with ``nan`` (unknown) targets masked out.

    Args:
        pred: `batch x n_props`.
        target: `batch x n_props` with ``nan`` where unknown.

    Returns:
        The summed squared error and the number of known targets of each molecule, each of
        shape `batch`.
    """
    mask = torch.isfinite(target)
    diff = (pred.float() - torch.nan_to_num(target)) * mask  # (B, P)
    return diff.pow(2).sum(dim=1), mask.sum(dim=1).float()

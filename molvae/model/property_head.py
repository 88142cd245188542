"""An MLP on the latent mean that predicts standardised molecular properties."""

from __future__ import annotations

import torch
from torch import nn


class PropertyHead(nn.Module):
    """``mu -> hidden -> hidden -> n_props`` with SiLU activations.

    Predicts targets standardised to zero mean and unit variance; the statistics live in the
    checkpoint and :class:`molvae.api.MolVAE` undoes them.
    """

    def __init__(self, latent_dim: int, hidden: int, n_props: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.n_props = n_props
        self.net = nn.Sequential(
            nn.Linear(latent_dim, hidden),
            nn.SiLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, hidden),
            nn.SiLU(),
            nn.Linear(hidden, n_props),
        )

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        """`batch x latent_dim` -> `batch x n_props` standardised predictions."""
        return self.net(mu)

    def features(self, mu: torch.Tensor) -> torch.Tensor:
        """The last hidden layer, which the outputs read: `batch x latent_dim` -> `batch x
        hidden` (what :mod:`molvae.heads` fits new outputs on)."""
        return self.net[:-1](mu)

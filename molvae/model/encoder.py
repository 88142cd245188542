"""Bidirectional GRU encoder: token ids -> the parameters of q(z | x)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRUEncoder(nn.Module):
    """Embedding -> bidirectional GRU -> (mu, log sigma^2); a conditional VAE's encoder also
    reads the condition, concatenated to the GRU's summary before the two projections.

    Args:
        embedding: Token embedding shared with the decoder.
        hidden: Hidden units per direction.
        layers: Stacked GRU layers.
        latent_dim: Size of z.
        dropout: Dropout between stacked layers.
        cond_dim: Size of the condition (0: an unconditional encoder).
    """

    def __init__(
        self,
        embedding: nn.Embedding,
        hidden: int,
        layers: int,
        latent_dim: int,
        dropout: float,
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.gru = nn.GRU(
            embedding.embedding_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            bidirectional=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.cond_dim = cond_dim
        self.to_mu = nn.Linear(2 * hidden + cond_dim, latent_dim)
        self.to_logvar = nn.Linear(2 * hidden + cond_dim, latent_dim)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor, cond: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch.

        Args:
            ids: `batch x time` token ids (each row ends with ``<eos>``, then padding).
            lengths: `batch` number of real tokens in each row (``<eos>`` included).
            cond: `batch x cond_dim` standardised condition, for a conditional encoder.

        Returns:
            ``mu`` and ``logvar``, each `batch x latent_dim`.
        """
        emb = self.embedding(ids)  # (B, T, E)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)  # (2 * layers, B, H)
        h = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, both directions: (B, 2H)
        if self.cond_dim:
            h = torch.cat([h, cond.to(h.dtype)], dim=-1)  # (B, 2H + C)
        return self.to_mu(h), self.to_logvar(h)

"""Bidirectional GRU encoder: token ids -> the parameters of q(z | x)."""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence


class GRUEncoder(nn.Module):
    """Embedding -> bidirectional GRU -> (mu, log sigma^2).

    Args:
        embedding: Token embedding shared with the decoder.
        hidden: Hidden units per direction.
        layers: Stacked GRU layers.
        latent_dim: Size of z.
        dropout: Dropout between stacked layers.
    """

    def __init__(
        self, embedding: nn.Embedding, hidden: int, layers: int, latent_dim: int, dropout: float
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
        self.to_mu = nn.Linear(2 * hidden, latent_dim)
        self.to_logvar = nn.Linear(2 * hidden, latent_dim)

    def forward(
        self, ids: torch.Tensor, lengths: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Encode a batch.

        Args:
            ids: `batch x time` token ids (each row ends with ``<eos>``, then padding).
            lengths: `batch` number of real tokens in each row (``<eos>`` included).

        Returns:
            ``mu`` and ``logvar``, each `batch x latent_dim`.
        """
        emb = self.embedding(ids)  # (B, T, E)
        packed = pack_padded_sequence(emb, lengths.cpu(), batch_first=True, enforce_sorted=False)
        _, h = self.gru(packed)  # (2 * layers, B, H)
        h = torch.cat([h[-2], h[-1]], dim=-1)  # last layer, both directions: (B, 2H)
        return self.to_mu(h), self.to_logvar(h)

"""GRU decoder conditioned on z, with Gumbel-Softmax scheduled sampling and a fast
step-by-step inference path."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class GRUDecoder(nn.Module):
    """A GRU language model over SELFIES or SMILES tokens, conditioned on a latent vector.

    z sets the initial hidden state of every layer and is also concatenated to every input
    embedding, so the decoder cannot forget it over a long molecule. In a conditional VAE, "z"
    here is the latent vector with the standardised condition appended (:class:`~molvae.model.VAE`
    does the appending), so the condition enters wherever z does.

    With ``state_sizes``, each input also carries the SELFIES derivation state (see
    :mod:`molvae.data.grammar`): one small embedding per state feature, added to the token's.

    Args:
        embedding: Token embedding shared with the encoder.
        hidden: Hidden units per layer.
        layers: Stacked GRU layers.
        latent_dim: Size of z (plus the condition's, in a conditional VAE).
        dropout: Dropout between stacked layers.
        state_sizes: Number of values of each derivation-state feature, or ``None``.
    """

    def __init__(
        self,
        embedding: nn.Embedding,
        hidden: int,
        layers: int,
        latent_dim: int,
        dropout: float,
        state_sizes: tuple[int, ...] | None = None,
    ) -> None:
        super().__init__()
        self.embedding = embedding
        self.state_embeddings = (
            None
            if state_sizes is None
            else nn.ModuleList(nn.Embedding(n, embedding.embedding_dim) for n in state_sizes)
        )
        self.layers = layers
        self.hidden = hidden
        self.z_to_h = nn.Linear(latent_dim, layers * hidden)
        self.gru = nn.GRU(
            embedding.embedding_dim + latent_dim,
            hidden,
            num_layers=layers,
            batch_first=True,
            dropout=dropout if layers > 1 else 0.0,
        )
        self.out = nn.Linear(hidden, embedding.num_embeddings)

    def init_hidden(self, z: torch.Tensor) -> torch.Tensor:
        """`batch x latent_dim` -> `layers x batch x hidden` initial state."""
        h = torch.tanh(self.z_to_h(z))  # (B, L * H)
        return h.view(z.shape[0], self.layers, self.hidden).transpose(0, 1).contiguous()

    def _with_state(self, emb: torch.Tensor, state: torch.Tensor | None) -> torch.Tensor:
        """Add the derivation-state embeddings of ``state`` (`... x n_features`) to ``emb``."""
        if self.state_embeddings is None:
            return emb
        if state is None:
            raise ValueError("this decoder reads the SELFIES derivation state; pass `state`")
        for k, table in enumerate(self.state_embeddings):
            emb = emb + table(state[..., k])
        return emb

    def _run(self, emb: torch.Tensor, z: torch.Tensor, h0: torch.Tensor) -> torch.Tensor:
        zt = z.unsqueeze(1).expand(-1, emb.shape[1], -1)  # (B, T, Z)
        out, _ = self.gru(torch.cat([emb, zt], dim=-1), h0)  # (B, T, H)
        return self.out(out)  # (B, T, V)

    def forward(
        self,
        inputs: torch.Tensor,
        z: torch.Tensor,
        sched_sampling: float = 0.0,
        tau: float = 1.0,
        state: torch.Tensor | None = None,
        allowed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Teacher-forced logits, optionally mixing in the model's own samples.

        With ``sched_sampling > 0`` a first pass predicts every position; a straight-through
        Gumbel-Softmax sample of each prediction then replaces the next input token with
        probability ``sched_sampling`` and a second pass produces the logits (parallel
        scheduled sampling, Duckworth et al. 2019). Gradients flow through the relaxed samples.

        Args:
            inputs: `batch x time` input ids (``<bos>`` then the target shifted right).
            z: `batch x latent_dim` latent vectors.
            sched_sampling: Probability that an input is replaced by a model sample.
            tau: Gumbel-Softmax temperature.
            state: `batch x time x n_features` derivation state of the true prefix, for a
                decoder built with ``state_sizes``.
            allowed: `batch x time x vocab` tokens the grammar allows; the scheduled samples
                are drawn among them only.

        Returns:
            `batch x time x vocab` logits.
        """
        h0 = self.init_hidden(z)
        emb = self.embedding(inputs)  # (B, T, E)
        if sched_sampling <= 0.0 or inputs.shape[1] < 2:
            return self._run(self._with_state(emb, state), z, h0)
        with torch.no_grad():
            first = self._run(self._with_state(emb, state), z, h0)  # (B, T, V)
            if allowed is not None:
                first = first.masked_fill(~allowed, -torch.inf)
        y = F.gumbel_softmax(first[:, :-1], tau=tau, hard=True)  # (B, T-1, V) one-hot, ST
        sampled = y @ self.embedding.weight  # (B, T-1, E)
        swap = torch.rand(inputs.shape[0], inputs.shape[1] - 1, 1, device=z.device)
        swap = swap < sched_sampling  # (B, T-1, 1)
        mixed = torch.where(swap, sampled, emb[:, 1:])  # positions 1.. see predictions of 0..
        emb = torch.cat([emb[:, :1], mixed], dim=1)  # (B, T, E)
        return self._run(self._with_state(emb, state), z, h0)

    def generation_cache(self, z: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """What stays fixed while decoding ``z``, for :meth:`fast_step`.

        The first layer's input projection ``W_ih [emb; z] + b_ih`` splits into a per-token
        part (a `vocab x 3H` table, looked up) and a per-molecule part (`batch x 3H`, computed
        once), so each step only multiplies by the hidden-to-hidden weights. Each
        derivation-state feature gets a table like the tokens'.
        """
        e = self.embedding.embedding_dim
        w_ih = self.gru.weight_ih_l0  # (3H, E + Z)
        token_table = self.embedding.weight @ w_ih[:, :e].T  # (V, 3H)
        z_part = z @ w_ih[:, e:].T + self.gru.bias_ih_l0  # (B, 3H)
        states = [] if self.state_embeddings is None else self.state_embeddings
        return token_table, z_part, *(t.weight @ w_ih[:, :e].T for t in states)

    def fast_step(
        self,
        tok: torch.Tensor,
        cache: tuple[torch.Tensor, ...],
        h: torch.Tensor,
        state: torch.Tensor | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One inference step, equal to a step of the GRU but cheaper (see
        :meth:`generation_cache`).

        Args:
            tok: `batch` previous token ids.
            cache: From :meth:`generation_cache`, rows matching ``tok``.
            h: `layers x batch x hidden`.
            state: `batch x n_features` derivation state, for a decoder that reads it.

        Returns:
            `batch x vocab` logits and the new `layers x batch x hidden` state.
        """
        token_table, z_part, *state_tables = cache
        if state_tables and state is None:
            raise ValueError("this decoder reads the SELFIES derivation state; pass `state`")
        new_h = []
        x = None
        for layer in range(self.layers):
            if layer == 0:
                gi = token_table[tok] + z_part  # (B, 3H)
                for k, table in enumerate(state_tables):
                    gi = gi + table[state[:, k]]
            else:
                w_ih = getattr(self.gru, f"weight_ih_l{layer}")
                gi = x @ w_ih.T + getattr(self.gru, f"bias_ih_l{layer}")  # (B, 3H)
            w_hh = getattr(self.gru, f"weight_hh_l{layer}")
            gh = h[layer] @ w_hh.T + getattr(self.gru, f"bias_hh_l{layer}")  # (B, 3H)
            i_r, i_z, i_n = gi.chunk(3, dim=-1)
            h_r, h_z, h_n = gh.chunk(3, dim=-1)
            r = torch.sigmoid(i_r + h_r)
            update = torch.sigmoid(i_z + h_z)
            n = torch.tanh(i_n + r * h_n)
            x = n + update * (h[layer] - n)  # (1 - u) * n + u * h
            new_h.append(x)
        return self.out(x), torch.stack(new_h)

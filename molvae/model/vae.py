"""The VAE, assembled from an encoder, a decoder and a property head passed in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from molvae.data.dataset import Batch
from molvae.data.grammar import SelfiesGrammar
from molvae.data.tokens import Vocab
from molvae.model.decoder import GRUDecoder
from molvae.model.encoder import GRUEncoder
from molvae.model.losses import elbo_terms, kl_loss, property_errors
from molvae.model.property_head import PropertyHead

Reduction = Literal["mean", "none"]
#: Keeps the Gumbel noise ``-log(-log u)`` finite when ``u`` is exactly 0 or 1.
_EPS = 1e-20


@dataclass
class VAEOutput:
    """What one forward pass returns: the loss terms and the tensors they came from.

    With ``reduction="mean"`` the losses are scalars: (weighted) means over molecules, the KL
    with free bits applied per dimension. With ``reduction="none"`` they have shape `batch`.
    """

    recon_loss: torch.Tensor  # token NLL summed over each molecule
    kl_loss: torch.Tensor  # KL(q(z|x) || N(0, I)) summed over dimensions
    prop_loss: torch.Tensor | None  # squared error on the known standardised targets
    kl_dims: torch.Tensor  # `latent_dim`: batch-mean KL of each dimension (no free bits)
    logits: torch.Tensor  # `batch x time x vocab`
    mu: torch.Tensor  # `batch x latent_dim`
    logvar: torch.Tensor  # `batch x latent_dim`
    props: torch.Tensor | None  # `batch x n_props` standardised predictions
    cond: torch.Tensor | None = None  # `batch x n_cond`: what a CVAE's decoder was given


class VAE(nn.Module):
    """SELFIES or SMILES VAE: ``encoder(x) -> q(z|x)``, ``decoder(z) -> p(x|z)``, ``head(mu) -> y``.

    Args:
        encoder: Maps token ids to ``(mu, logvar)``.
        decoder: Maps z and input ids to logits.
        head: Property predictor on ``mu``, or ``None``.
        grammar: The SELFIES derivation rules, for a decoder that reads the derivation state;
            tokens that SELFIES would have to repair are then masked, in training and decoding.
        condition: Head outputs (property columns) a conditional VAE (CVAE) is conditioned on:
            the encoder reads their standardised values beside the tokens, the decoder beside z.
            A value that is not known (``nan``) is the training mean (0) for the encoder and the
            head's prediction from the latent vector for the decoder, so a CVAE decodes any z.
    """

    def __init__(
        self,
        encoder: GRUEncoder,
        decoder: GRUDecoder,
        head: PropertyHead | None,
        grammar: SelfiesGrammar | None = None,
        condition: Sequence[int] = (),
    ):
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.head = head
        self.grammar = grammar
        self.condition = list(condition)
        if self.condition and head is None:
            raise ValueError("a conditional VAE needs a property head")

    @property
    def latent_dim(self) -> int:
        return self.encoder.to_mu.out_features

    def encode(
        self, ids: torch.Tensor, lengths: torch.Tensor, props: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``mu`` and ``logvar`` (each `batch x latent_dim`) of `batch x time` ids.

        Args:
            ids: Token ids, as :meth:`GRUEncoder.forward` takes them.
            lengths: `batch` tokens per row.
            props: `batch x n_props` standardised properties (``nan`` where unknown), read by a
                CVAE's encoder; ``None``: none known.
        """
        if not self.condition:
            return self.encoder(ids, lengths)
        if props is None:
            cond = torch.zeros(len(ids), len(self.condition), device=ids.device)
        else:
            cond = torch.nan_to_num(props[:, self.condition].float(), nan=0.0)  # (B, C)
        return self.encoder(ids, lengths, cond)

    def decoder_condition(
        self, z: torch.Tensor, cond: torch.Tensor | None = None
    ) -> torch.Tensor | None:
        """A CVAE's decoder condition for ``z``: `batch x n_cond` standardised values, ``cond``
        where given and known, else the head's prediction from ``z``; ``None`` for a plain VAE.
        """
        if not self.condition:
            return None
        with torch.no_grad():  # the head learns from its own loss only
            pred = self.head(z)[:, self.condition].float()  # (B, C)
        if cond is None:
            return pred
        return torch.where(torch.isnan(cond), pred, cond.to(pred))

    @staticmethod
    def _with_condition(z: torch.Tensor, cond: torch.Tensor | None) -> torch.Tensor:
        """What the decoder reads as its latent vector: ``[z; cond]`` (`batch x (Z + C)`)."""
        return z if cond is None else torch.cat([z, cond.to(z.dtype)], dim=1)

    def forward(
        self,
        batch: Batch,
        reduction: Reduction = "mean",
        free_bits: float = 0.0,
        word_dropout: float = 0.0,
        sched_sampling: float = 0.0,
        tau: float = 1.0,
        sample_z: bool = True,
        generator: torch.Generator | None = None,
    ) -> VAEOutput:
        """Encode, sample z by reparameterisation, decode with teacher forcing, score.

        Args:
            batch: Target ids (each row ``tokens + <eos>`` then ``<pad>``), lengths, and
                optionally property targets and per-molecule weights.
            reduction: ``mean`` (weighted by ``batch.weights`` when given) or ``none``
                (one value per molecule).
            free_bits: Nats per latent dimension below which the KL is not penalised
                (``mean`` only).
            word_dropout: Probability of replacing a decoder input by ``<unk>``.
            sched_sampling: See :meth:`GRUDecoder.forward`.
            tau: Gumbel-Softmax temperature.
            sample_z: Sample z (training); ``False`` decodes from ``mu``.
            generator: Random generator for z.
        """
        ids = batch.ids
        mu, logvar = self.encode(ids, batch.lengths, batch.props)  # (B, Z) each
        z = mu
        if sample_z:
            eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
            z = mu + eps * (0.5 * logvar).exp()  # (B, Z)
        known = (
            None if batch.props is None or not self.condition else batch.props[:, self.condition]
        )
        cond = self.decoder_condition(mu, known)  # (B, C) or None
        zc = self._with_condition(z, cond)  # (B, Z + C)
        bos = torch.full_like(ids[:, :1], Vocab.bos_id)
        inputs = torch.cat([bos, ids[:, :-1]], dim=1)  # (B, T): <bos> + targets shifted
        if word_dropout > 0 and self.training:
            drop = torch.rand(inputs.shape, device=ids.device) < word_dropout
            drop[:, 0] = False
            inputs = inputs.masked_fill(drop & (inputs != Vocab.pad_id), Vocab.unk_id)
        if self.grammar is None:
            logits = self.decoder(inputs, zc, sched_sampling=sched_sampling, tau=tau)
        else:
            state, rows = self.grammar.annotate(ids.cpu().numpy())  # (B, T, F), (B, T)
            state = torch.from_numpy(state).to(ids.device)
            allowed = self.grammar.mask_table()[torch.from_numpy(rows)].to(ids.device)
            # The target always stays possible, so an odd training string costs a finite loss.
            allowed.scatter_(2, ids.unsqueeze(2), True)  # (B, T, V)
            logits = self.decoder(
                inputs, zc, sched_sampling=sched_sampling, tau=tau, state=state, allowed=allowed
            )
            logits = logits.masked_fill(~allowed, -torch.inf)
        props = self.head(mu) if self.head is not None else None
        nll, kl = elbo_terms(logits, ids, mu, logvar)  # (B,), (B, Z)
        sq_err = n_known = None
        if props is not None and batch.props is not None:
            sq_err, n_known = property_errors(props, batch.props)  # (B,), (B,)
        if batch.weights is None:
            w = torch.full_like(nll, 1.0 / len(nll))
        else:
            w = batch.weights.float() / batch.weights.float().sum()  # (B,)
        kl_dims = (w.unsqueeze(1) * kl).sum(dim=0)  # (Z,)
        if reduction == "none":
            recon, kl_total = nll, kl.sum(dim=1)
            prop = None if sq_err is None else sq_err / n_known.clamp(min=1.0)
        else:
            recon, kl_total = (w * nll).sum(), kl_loss(kl_dims, free_bits)
            # Every known target counts once (molecules with more known targets count more).
            prop = (
                None
                if sq_err is None
                else (w * sq_err).sum() / (w * n_known).sum().clamp(min=torch.finfo(w.dtype).tiny)
            )
        return VAEOutput(
            recon_loss=recon,
            kl_loss=kl_total,
            prop_loss=prop,
            kl_dims=kl_dims,
            logits=logits,
            mu=mu,
            logvar=logvar,
            props=props,
            cond=cond,
        )

    def mask_unpicked(
        self, logits: torch.Tensor, first_step: bool, first_tokens: torch.Tensor | None = None
    ) -> None:
        """Set to ``-inf``, in place, the `... x vocab` logits of one step's tokens that
        :meth:`generate` never picks: ``<pad>``, ``<bos>`` and ``<unk>``; without a grammar, at
        the first step, also ``<eos>`` (at least one real token) and tokens outside
        ``first_tokens``. A grammar's own masks come from the derivation, where it is known."""
        logits[..., : Vocab.eos_id] = -torch.inf  # never <pad> or <bos>
        logits[..., Vocab.unk_id] = -torch.inf
        if self.grammar is None and first_step:
            logits[..., Vocab.eos_id] = -torch.inf
            if first_tokens is not None:
                logits[..., ~first_tokens.to(logits.device)] = -torch.inf

    @torch.no_grad()
    def generate(
        self,
        z: torch.Tensor,
        max_len: int,
        temperature: float = 1.0,
        greedy: bool = False,
        generator: torch.Generator | None = None,
        first_tokens: torch.Tensor | None = None,
        cond: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Decode token ids from latent vectors, one step at a time.

        Args:
            z: `batch x latent_dim`.
            max_len: Most tokens per molecule.
            temperature: Softmax temperature for sampling (ignored when ``greedy``); ``0``
                means greedy.
            greedy: Take the most likely token at each step.
            generator: Random generator for reproducible sampling.
            first_tokens: `vocab` booleans: the tokens a molecule may start with (atoms, so
                that every decode is a molecule); ``None`` allows any real token.
            cond: `batch x n_cond` standardised condition of a CVAE (``nan``, or ``None`` for
                all: the head's prediction from ``z``; see :meth:`decoder_condition`).

        Returns:
            `batch x max_len` ids; everything after the first ``<eos>`` is ``<eos>``.
        """
        if temperature < 0:
            raise ValueError(f"temperature must not be negative, got {temperature}")
        greedy = greedy or temperature == 0
        dec, grammar = self.decoder, self.grammar
        n = z.shape[0]
        z = self._with_condition(z, self.decoder_condition(z, cond))  # (B, Z + C)
        out = torch.full((n, max_len), Vocab.eos_id, dtype=torch.long, device=z.device)
        tok = torch.full((n,), Vocab.bos_id, dtype=torch.long, device=z.device)
        h = dec.init_hidden(z)  # (L, B, H)
        cache = dec.generation_cache(z)
        rows = torch.arange(n, device=z.device)  # molecules still being decoded
        derivations = None if grammar is None else [grammar.start(max_len - 1) for _ in range(n)]
        for t in range(max_len):
            state = allowed = None
            if derivations is not None:
                state = torch.tensor([grammar.features(d) for d in derivations], device=z.device)
                mask_rows = torch.tensor([grammar.mask_id(d) for d in derivations])
                allowed = grammar.mask_table()[mask_rows].to(z.device)  # (b, V)
            logits, h = dec.fast_step(tok, cache, h, state)  # (b, V)
            self.mask_unpicked(logits, t == 0, first_tokens)
            if allowed is not None:
                logits = logits.masked_fill(~allowed, -torch.inf)
            if greedy:
                tok = logits.argmax(dim=-1)
            else:  # Gumbel-max: a sample from softmax(logits / temperature), without softmax
                u = torch.rand(logits.shape, generator=generator, device=logits.device)
                noise = -torch.log(-torch.log(u + _EPS) + _EPS)
                tok = (logits.float() / temperature + noise).argmax(dim=-1)
            out[rows, t] = tok
            if derivations is not None:
                for d, k in zip(derivations, tok.tolist(), strict=True):
                    grammar.step(d, k)
            going = tok != Vocab.eos_id
            if not bool(going.all()):  # drop finished molecules from the batch
                rows, tok, h = rows[going], tok[going], h[:, going]
                cache = (cache[0], cache[1][going], *cache[2:])
                if derivations is not None:
                    derivations = [d for d, g in zip(derivations, going.tolist(), strict=True) if g]
                if rows.numel() == 0:
                    break
        return out

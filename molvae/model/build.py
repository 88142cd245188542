"""Assembling a :class:`~molvae.model.vae.VAE` from its parts as a :class:`ModelConfig` says."""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from molvae.config import DataConfig, ModelConfig
from molvae.data.grammar import FEATURE_SIZES, SelfiesGrammar
from molvae.data.tokens import Vocab
from molvae.errors import UserError
from molvae.model.decoder import GRUDecoder
from molvae.model.encoder import GRUEncoder
from molvae.model.property_head import PropertyHead
from molvae.model.vae import VAE


def build_vae(
    cfg: ModelConfig,
    vocab: Vocab | int,
    n_props: int,
    tokens: str = DataConfig.tokens,
    property_names: Sequence[str] = (),
) -> VAE:
    """Assemble a VAE from its parts as ``cfg`` describes. For a SELFIES model (``tokens``)
    given the :class:`Vocab` (not only its size) and ``cfg.grammar``, the decoder reads the
    SELFIES derivation state and decodes strictly; a SMILES model never has the grammar. With
    ``cfg.condition`` (names among ``property_names``, the head's) it is a conditional VAE.

    Raises:
        UserError: A condition is not among ``property_names``.
    """
    condition = condition_columns(cfg.condition, property_names)
    n_cond = len(condition)
    selfies_grammar = cfg.grammar and tokens == "selfies" and isinstance(vocab, Vocab)
    grammar = SelfiesGrammar(vocab) if selfies_grammar else None
    vocab_size = len(vocab) if isinstance(vocab, Vocab) else vocab
    embedding = nn.Embedding(vocab_size, cfg.embed_dim, padding_idx=Vocab.pad_id)
    encoder = GRUEncoder(
        embedding, cfg.enc_hidden, cfg.enc_layers, cfg.latent_dim, cfg.dropout, n_cond
    )
    decoder = GRUDecoder(
        embedding,
        cfg.dec_hidden,
        cfg.dec_layers,
        cfg.latent_dim + n_cond,  # the decoder reads [z; condition]
        cfg.dropout,
        state_sizes=FEATURE_SIZES if grammar is not None else None,
    )
    head = PropertyHead(cfg.latent_dim, cfg.prop_hidden, n_props, cfg.dropout) if n_props else None
    return VAE(encoder, decoder, head, grammar, condition)


def condition_columns(condition: Sequence[str], property_names: Sequence[str]) -> list[int]:
    """The head columns of a CVAE's condition names.

    Raises:
        UserError: A name is not among ``property_names``.
    """
    for name in condition:
        if name not in property_names:
            known = ", ".join(property_names) or "none"
            raise UserError(
                f"Cannot condition on '{name}': it is not one of the model's properties "
                f"({known}); add it to --properties."
            )
    return [list(property_names).index(name) for name in condition]

"""The VAE and its parts."""

from molvae.model.build import build_vae, condition_columns
from molvae.model.decoder import GRUDecoder
from molvae.model.encoder import GRUEncoder
from molvae.model.property_head import PropertyHead
from molvae.model.vae import VAE, VAEOutput

__all__ = [
    "GRUDecoder",
    "GRUEncoder",
    "PropertyHead",
    "VAE",
    "VAEOutput",
    "build_vae",
    "condition_columns",
]

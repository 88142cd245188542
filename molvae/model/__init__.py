"""The VAE and its parts."""

from molvae.model.decoder import GRUDecoder
from molvae.model.encoder import GRUEncoder
from molvae.model.property_head import PropertyHead
from molvae.model.vae import VAE, VAEOutput, build_vae

__all__ = ["GRUDecoder", "GRUEncoder", "PropertyHead", "VAE", "VAEOutput", "build_vae"]

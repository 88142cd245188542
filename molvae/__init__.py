"""molvae: molecular design with SELFIES variational autoencoders."""

__version__ = "0.1.0"

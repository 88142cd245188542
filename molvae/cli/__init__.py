"""The ``molvae`` command line (see :mod:`molvae.cli.main`)."""

from molvae.cli.main import app, main

__all__ = ["app", "main"]

"""Deprecated location of :mod:`molvae.data.chem`, kept only for ``molvae.metrics``.

Import from :mod:`molvae.data.chem` and :mod:`molvae.data.properties`; this module goes once
``metrics.py`` does so.
"""

from molvae.data.chem import to_mol, without_rdkit_log
from molvae.data.properties import pains_catalog

__all__ = ["pains_catalog", "to_mol", "without_rdkit_log"]

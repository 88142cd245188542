"""Data: SMILES tables in, cleaned and tokenised molecules out.

``tables`` reads files, ``chem`` wraps RDKit and SELFIES, ``tokens`` holds the vocabulary,
``dataset`` the tokenised molecules and their batches, ``cache`` the on-disk cache and ``load``
the whole path from a file to a :class:`MolDataset`.
"""

from molvae.data.cache import cache_dir
from molvae.data.dataset import Batch, MolDataset, Standardiser, make_batch
from molvae.data.load import load_dataset
from molvae.data.tables import read_table
from molvae.data.tokens import Vocab

__all__ = [
    "Batch",
    "MolDataset",
    "Standardiser",
    "Vocab",
    "cache_dir",
    "load_dataset",
    "make_batch",
    "read_table",
]

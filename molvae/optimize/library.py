"""The library: a pool of real molecules that ``screen`` scores in random order and that ``bo``
ranks together with its decoded proposals, so BO includes virtual screening with active
learning as a special case.

By default it is the model's own training sample (``ModelState.train_sample``); ``--library``
names a SMILES file instead. Molecules are canonicalised and deduplicated once, encoded once
(lazily, the first time BO needs them) and checked against the constraints once each.
"""

from __future__ import annotations

import os
from collections import Counter

import numpy as np
import torch

from molvae.api import MolVAE
from molvae.data.chem import to_smiles
from molvae.data.tables import read_table
from molvae.errors import UserError


class Library:
    """Distinct canonical library molecules and what is known about them.

    Args:
        smiles: The molecules (any SMILES; invalid ones are dropped and counted).
        source: Where they came from, for messages.
    """

    def __init__(self, smiles: list[str], source: str) -> None:
        self.source = source
        self.invalid = 0
        self.smiles: list[str] = []
        known: set[str] = set()
        for s in smiles:
            canon = to_smiles(s)
            if canon is None:
                self.invalid += 1
            elif canon not in known:
                known.add(canon)
                self.smiles.append(canon)
        self._latents: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.smiles)

    def latents(self, model: MolVAE) -> torch.Tensor:
        """`n x d` posterior means of the molecules (``nan`` rows where the model cannot
        encode one), computed once (again after :meth:`forget`)."""
        if self._latents is None:
            from molvae.optimize.candidates import encode_many

            self._latents = encode_many(model, self.smiles).double()
        return self._latents

    def forget(self) -> None:
        """Drop the latents: the model was fine-tuned, and they moved."""
        self._latents = None

    def order(self, seed: int) -> np.ndarray:
        """The indices of the molecules in the seeded random order ``screen`` scores them."""
        return np.random.default_rng(seed).permutation(len(self.smiles))

    def unseen(self, seen: set[str]) -> list[int]:
        """Indices of the molecules not in ``seen``."""
        return [i for i, s in enumerate(self.smiles) if s not in seen]


def load_library(model: MolVAE, path: str | os.PathLike | None) -> Library | None:
    """The library of a run: the molecules of ``path``, else the model's training sample
    (``None`` when the model stores none).

    Raises:
        UserError: The file cannot be read or holds no valid molecule.
    """
    if path is None:
        sample = list(model.train_sample)
        return Library(sample, "the model's training sample") if sample else None
    table = read_table(path)
    library = Library(table.frame[table.smiles_col].astype(str).tolist(), str(path))
    if not len(library):
        raise UserError(f"The library {path} holds no valid SMILES; give a file of molecules.")
    return library


def count_rejections(reasons: list[str | None]) -> Counter:
    """How many molecules were rejected, by reason (``None``: accepted, not counted)."""
    return Counter(r for r in reasons if r is not None)

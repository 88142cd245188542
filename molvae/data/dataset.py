"""The tokenised dataset, its batches and the property standardiser.

:class:`MolDataset` holds cleaned molecules as flat token arrays; :func:`make_batch` cuts a
padded batch out of them (trimmed to its longest molecule, on the device), and
:class:`Standardiser` scales property targets to zero mean and unit variance.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from molvae.data import chem
from molvae.data.tokens import Vocab


@dataclass
class MolDataset:
    """Cleaned, de-duplicated, tokenised molecules and their properties.

    Attributes:
        smiles: Canonical SMILES, one per molecule.
        tokens: Token ids in ``vocab``, all molecules concatenated.
        offsets: ``tokens[offsets[i]:offsets[i + 1]]`` are molecule ``i``'s tokens.
        vocab: The vocabulary the ids refer to.
        properties: `n x p` float array of targets (``nan`` where a value is missing).
        property_names: Names of the ``p`` targets.
        rows: Spreadsheet row of each molecule in the input.
        rejects: One row per unused input row: ``row``, ``input``, ``reason``.
        n_input: Rows read from the input.
        source: Where the data came from.
    """

    smiles: list[str]
    tokens: np.ndarray
    offsets: np.ndarray
    vocab: Vocab
    properties: np.ndarray
    property_names: list[str]
    rows: np.ndarray
    rejects: pd.DataFrame
    n_input: int
    source: str = ""
    from_cache: bool = False

    def __len__(self) -> int:
        return len(self.smiles)

    @property
    def lengths(self) -> np.ndarray:
        """Number of tokens of each molecule (without ``<eos>``)."""
        return np.diff(self.offsets)

    def token_ids(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def reject_counts(self) -> dict[str, int]:
        return dict(Counter(self.rejects["reason"]).most_common())

    def subset(self, index: Sequence[int] | np.ndarray) -> MolDataset:
        """The molecules at ``index`` (rejects stay with the parent)."""
        index = np.asarray(index, dtype=np.int64)
        lengths = self.lengths[index]
        offsets = np.zeros(len(index) + 1, dtype=np.int64)
        np.cumsum(lengths, out=offsets[1:])
        starts = self.offsets[index]
        gather = np.repeat(starts - offsets[:-1], lengths) + np.arange(offsets[-1])
        return MolDataset(
            smiles=[self.smiles[i] for i in index],
            tokens=self.tokens[gather],
            offsets=offsets,
            vocab=self.vocab,
            properties=self.properties[index],
            property_names=self.property_names,
            rows=self.rows[index],
            rejects=self.rejects.iloc[0:0],
            n_input=len(index),
            source=self.source,
        )

    def sample(self, n: int, seed: int) -> MolDataset:
        """A seeded random ``n`` of the molecules (all of them when ``n`` is at least the
        size), in their order."""
        return self.subset(np.sort(np.random.default_rng(seed).permutation(len(self))[:n]))

    def to_padded(self, vocab: Vocab | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids as a padded tensor in ``vocab`` (default: the dataset's own).

        Returns:
            ``ids`` of shape `n x (max_len + 1)` ending each row with ``<eos>`` then ``<pad>``,
            and ``lengths`` of shape `n` counting the ``<eos>``.

        Raises:
            ValueError: A token is missing from ``vocab``; use :meth:`split_by_vocab` first.
        """
        own = self.with_vocab(vocab) if vocab is not None and vocab != self.vocab else self
        tokens, eos = own.tokens, own.vocab.eos_id
        lengths = self.lengths + 1
        n, width = len(self), int(lengths.max(initial=1))
        ids = np.zeros((n, width), dtype=np.int64)
        cols = np.arange(len(tokens)) - np.repeat(self.offsets[:-1], self.lengths)
        ids[np.repeat(np.arange(n), self.lengths), cols] = tokens
        ids[np.arange(n), lengths - 1] = eos
        return torch.from_numpy(ids), torch.from_numpy(lengths.astype(np.int64))

    def with_vocab(self, vocab: Vocab) -> MolDataset:
        """The same molecules with token ids in ``vocab``.

        Raises:
            ValueError: A token is missing from ``vocab``; use :meth:`split_by_vocab` first.
        """
        tokens = vocab.remap_from(self.vocab)[self.tokens]
        if (tokens < 0).any():
            raise ValueError("dataset holds tokens missing from the vocabulary")
        return dataclasses.replace(self, tokens=tokens.astype(self.tokens.dtype), vocab=vocab)

    def split_by_vocab(self, vocab: Vocab) -> tuple[MolDataset, pd.DataFrame]:
        """Keep the molecules whose tokens are all in ``vocab``; reject the rest with reason."""
        table = vocab.remap_from(self.vocab)
        bad_token = table[self.tokens] < 0
        bad_mol = np.zeros(len(self), dtype=bool)
        if bad_token.any():
            owner = np.repeat(np.arange(len(self)), self.lengths)
            bad_mol[owner[bad_token]] = True
        bad = np.flatnonzero(bad_mol)
        rejects = pd.DataFrame(
            {
                "row": self.rows[bad],
                "input": [self.smiles[i] for i in bad],
                "reason": chem.UNKNOWN_TOKEN,
            }
        )
        return self.subset(np.flatnonzero(~bad_mol)), rejects

    def in_vocab(self, vocab: Vocab) -> MolDataset:
        """The molecules whose tokens are all in ``vocab``, with ids in ``vocab``; the others
        join the rejects (reason :data:`~molvae.data.chem.UNKNOWN_TOKEN`)."""
        kept, unknown = self.split_by_vocab(vocab)
        rejects = pd.concat([self.rejects, unknown], ignore_index=True).sort_values("row")
        return dataclasses.replace(
            kept.with_vocab(vocab),
            rejects=rejects,
            n_input=self.n_input,
            from_cache=self.from_cache,
        )

    def split(self, val_fraction: float, seed: int) -> tuple[MolDataset, MolDataset]:
        """Seeded random train/validation split."""
        rng = np.random.default_rng(seed)
        order = rng.permutation(len(self))
        n_val = int(round(len(self) * val_fraction))
        if val_fraction > 0 and len(self) >= 10:
            n_val = max(n_val, 1)
        return self.subset(np.sort(order[n_val:])), self.subset(np.sort(order[:n_val]))


def epoch_batches(
    lengths: np.ndarray, batch_size: int, bucket_size: int, seed: int, epoch: int
) -> list[np.ndarray]:
    """The batches of one epoch: shuffle, cut into buckets, sort each by length, batch, shuffle.

    Molecules of similar length share a batch, so little time is spent on padding. The order
    depends only on ``(seed, epoch)``, which is what makes a resumed run match.

    Returns:
        Index arrays into the `n` molecules of ``lengths``, each at most ``batch_size`` long.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), bucket_size):
        bucket = order[start : start + bucket_size]
        bucket = bucket[np.argsort(lengths[bucket], kind="stable")]
        batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class Standardiser:
    """Per-property mean and standard deviation (from the training split).

    Attributes:
        mean: `n_props` means.
        std: `n_props` standard deviations (1 where a property does not vary).
    """

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardiser:
        """Fit to `n x n_props` values, ignoring ``nan``."""
        if values.shape[1] == 0:
            return cls(np.zeros(0), np.ones(0))
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(values, axis=0))
            std = np.nan_to_num(np.nanstd(values, axis=0), nan=1.0)
        return cls(mean, np.where(std > _MIN_STD, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


#: A property whose standard deviation is below this is constant: it is centred, not scaled.
_MIN_STD = 1e-8


@dataclass
class Batch:
    """A padded batch, trimmed to its longest molecule, on one device.

    Attributes:
        ids: `batch x time` token ids (each row ends with ``<eos>``, then ``<pad>``).
        lengths: `batch` tokens per row, ``<eos>`` included.
        props: `batch x n_props` standardised targets (``nan`` where unknown), or ``None``.
        weights: `batch` per-molecule loss weights, or ``None`` for equal weights.
    """

    ids: torch.Tensor
    lengths: torch.Tensor
    props: torch.Tensor | None = None
    weights: torch.Tensor | None = None

    def __len__(self) -> int:
        return self.ids.shape[0]


def make_batch(
    ids: torch.Tensor,
    lengths: torch.Tensor,
    idx: np.ndarray | torch.Tensor | slice,
    device: torch.device | str = "cpu",
    props: torch.Tensor | None = None,
    weights: torch.Tensor | None = None,
) -> Batch:
    """Rows ``idx`` of padded ids (from :meth:`MolDataset.to_padded`), trimmed and moved.

    Args:
        ids: `n x max_time` padded ids.
        lengths: `n` tokens per row.
        idx: Which rows (an index array or a slice).
        device: Where the batch goes.
        props: `n x n_props` targets, or ``None``.
        weights: `n` per-molecule weights, or ``None``.
    """
    if isinstance(idx, np.ndarray):
        idx = torch.from_numpy(idx)
    lens = lengths[idx]
    width = int(lens.max())
    return Batch(
        ids=ids[idx, :width].to(device, non_blocking=True),  # (B, T)
        lengths=lens.to(device),
        props=props[idx].to(device) if props is not None else None,
        weights=weights[idx].to(device) if weights is not None else None,
    )

"""Token vocabularies (SELFIES or SMILES): build one from data, map tokens to ids and back,
save it with a model; and the SMILES tokenizer."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

import numpy as np

PAD, BOS, EOS, UNK = "<pad>", "<bos>", "<eos>", "<unk>"
SPECIALS = (PAD, BOS, EOS, UNK)

#: One SMILES token, as molecular transformers split SMILES (Schwaller et al. 2019): a bracket
#: atom, ``Br``/``Cl``, a two-digit ring bond ``%NN``, or one character of the organic-subset
#: atoms, bonds, branches, ring bonds and ``.``. Anything else (``*``, ``%(NNN)``) matches
#: nothing, so :func:`split_smiles` refuses it.
SMILES_TOKEN = re.compile(r"\[[^\[\]]+\]|Br|Cl|%\d\d|[BCNOPSFIbcnops()=#$:/\\.\-\d]")
#: SMILES tokens that cannot start a string: branches, bonds, ring bonds, ``.``.
_SMILES_NOT_FIRST = re.compile(r"[()=#$:/\\.\-%\d]")


def split_smiles(smiles: str) -> tuple[str, ...] | None:
    """The tokens of a SMILES string (see :data:`SMILES_TOKEN`), or ``None`` when they do not
    join back to exactly ``smiles`` (a character no token covers)."""
    tokens = tuple(SMILES_TOKEN.findall(smiles))
    return tokens if "".join(tokens) == smiles else None


class Vocab:
    """A token vocabulary (SELFIES or SMILES tokens) with four special tokens.

    Ids 0-3 are ``<pad>``, ``<bos>``, ``<eos>`` and ``<unk>`` (``<unk>`` is only ever a decoder
    input, used by word dropout; it is never a training target). Real tokens follow in sorted
    order, so the same token set always gives the same ids.
    """

    pad_id, bos_id, eos_id, unk_id = 0, 1, 2, 3

    def __init__(self, tokens: Iterable[str]) -> None:
        real = sorted(set(tokens) - set(SPECIALS))
        self.itos: list[str] = [*SPECIALS, *real]
        self.stoi: dict[str, int] = {t: i for i, t in enumerate(self.itos)}

    @classmethod
    def build(cls, token_lists: Iterable[Sequence[str]]) -> Vocab:
        """Vocabulary of every token that occurs in ``token_lists``."""
        seen: set[str] = set()
        for toks in token_lists:
            seen.update(toks)
        return cls(seen)

    def __len__(self) -> int:
        return len(self.itos)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def unknown(self, tokens: Sequence[str]) -> list[str]:
        """The tokens of ``tokens`` this vocabulary does not hold."""
        return [t for t in tokens if t not in self.stoi]

    def encode(self, tokens: Sequence[str]) -> list[int]:
        """Ids of ``tokens`` followed by ``<eos>``.

        Raises:
            KeyError: A token is not in the vocabulary (check with :meth:`unknown` first).
        """
        return [self.stoi[t] for t in tokens] + [self.eos_id]

    def decode(self, ids: Iterable[int]) -> str:
        """The token string of ``ids``, stopping at the first ``<eos>``; specials skipped."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i >= len(SPECIALS):
                out.append(self.itos[i])
        return "".join(out)

    def atom_mask(self, tokens: str) -> np.ndarray:
        """Which ids are atom tokens, the tokens a ``tokens`` string (``selfies`` or ``smiles``)
        may start with: not specials, and not SELFIES branches and ring closures, nor SMILES
        branches, bonds and ring bonds.

        A SELFIES string that starts with an atom always decodes to a molecule, so generation
        without the grammar starts with one of these.
        """
        if tokens == "smiles":
            return np.array(
                [
                    i >= len(SPECIALS) and not _SMILES_NOT_FIRST.match(t)
                    for i, t in enumerate(self.itos)
                ]
            )
        return np.array(
            [
                i >= len(SPECIALS) and "Branch" not in t and "Ring" not in t
                for i, t in enumerate(self.itos)
            ]
        )

    def remap_from(self, other: Vocab) -> np.ndarray:
        """Lookup table from ``other``'s ids to this vocabulary's ids (-1 where missing)."""
        table = np.full(len(other), -1, dtype=np.int64)
        for i, t in enumerate(other.itos):
            table[i] = self.stoi.get(t, -1)
        return table

    def to_list(self) -> list[str]:
        """The tokens in id order (what a checkpoint stores)."""
        return list(self.itos)

    @classmethod
    def from_list(cls, itos: Sequence[str]) -> Vocab:
        """Rebuild a vocabulary saved with :meth:`to_list`, keeping its ids."""
        if tuple(itos[: len(SPECIALS)]) != SPECIALS:
            raise ValueError("not a molvae vocabulary: special tokens missing")
        vocab = cls(())
        vocab.itos = list(itos)
        vocab.stoi = {t: i for i, t in enumerate(vocab.itos)}
        return vocab

"""SELFIES derivation rules: which next tokens keep a string *strict*, and the decoder's view of
the derivation state.

SELFIES decodes every string to a molecule by repairing what does not fit: a bond order larger
than the free valence is lowered, a branch on an atom with one free bond is skipped, a ring
closure that points before the first atom is bent onto it, tokens after a saturated atom are
dropped. Such a string is valid but does not survive ``encoder(decoder(s)) == s``, and what it
decodes to is usually not the molecule the model meant (an open chain where a ring was asked).

:class:`SelfiesGrammar` follows the decoder's derivation (selfies 2.x, ``decoder.py``) token by
token and says, before each token, which tokens need no repair. The decoder masks the others
(at training and at sampling), and it reads the derivation state as input features: what kind of
token comes next, the free valence of the atom it attaches to, the branch depth and the room left
in the current branch. Ring closures also get their index limited to earlier atoms that are not
already bonded and still have a free bond. What the mask cannot see (a ring bond checked at the
end against an atom whose valence a later chain bond used) is left to the strict check.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import torch

from molvae.data.derivation import (
    ATOM,
    BASE,
    BRANCH,
    RING,
    Derivation,
    SelfiesRules,
    index_range,
    ring_capacity,
)
from molvae.data.tokens import Vocab

# Modes of the derivation, the decoder's first state feature.
START, CHAIN, AFTER_BRANCH, RING_INDEX, BRANCH_INDEX, DONE = range(6)
#: Number of values of each state feature: mode, free valence, branch depth, room in branch.
FEATURE_SIZES = (6, 5, 4, 10)
#: Most molecules whose annotation :meth:`SelfiesGrammar.annotate` remembers (~1 kB each).
_MEMO_LIMIT = 2_000_000
#: Molecules per task when :meth:`SelfiesGrammar.precompute` runs in several processes.
_CHUNK = 20_000


def _key(ids: np.ndarray) -> bytes:
    """A padded id row's memo key: its ids up to the padding."""
    return ids[: int(np.count_nonzero(ids != Vocab.pad_id))].tobytes()


def _derive_chunk(itos: list[str], ids: np.ndarray) -> tuple[list, list[tuple]]:
    """Annotate rows in a worker process: its mask keys and each row's (features, key rows)."""
    grammar = SelfiesGrammar(Vocab.from_list(itos))
    done = []
    for row in ids:
        n = int(np.count_nonzero(row != Vocab.pad_id))
        done.append(grammar._annotate_one(row[:n]))
    keys = sorted(grammar._mask_ids, key=grammar._mask_ids.get)
    return [None, *keys], done  # row 0 (allow everything) has no key


class SelfiesGrammar(SelfiesRules):
    """The SELFIES derivation over a :class:`Vocab`: strict-token masks and state features.

    Args:
        vocab: The model's vocabulary. Tokens the grammar does not know (stereo ring bonds
            aside, none in MOSES) are never proposed.
    """

    def __init__(self, vocab: Vocab) -> None:
        super().__init__(vocab)
        self.itos = list(vocab.itos)
        # Distinct masks, numbered; row 0 allows everything (positions after <eos>).
        self._mask_ids: dict[tuple, int] = {}
        self._mask_rows: list[np.ndarray] = [np.ones(self.vocab_size, dtype=bool)]
        self._table: torch.Tensor | None = None
        self._annotated: dict[bytes, tuple[np.ndarray, np.ndarray]] = {}

    def features(self, d: Derivation) -> tuple[int, int, int, int]:
        """``(mode, free valence, branch depth, room)``, each below :data:`FEATURE_SIZES`."""
        frame = d.frames[-1]
        if d.done:
            mode = DONE
        elif d.reading is not None:
            mode = RING_INDEX if d.reading[0] == RING else BRANCH_INDEX
        elif not frame[3]:
            mode = START
        else:
            mode = AFTER_BRANCH if frame[4] else CHAIN
        depth = len(d.frames) - 1
        room = 0 if depth == 0 else min(frame[1], 9)
        return mode, min(max(frame[0], 0), 4), min(depth, 3), room

    def allowed(self, d: Derivation) -> np.ndarray:
        """`vocab` booleans: the tokens that keep the string strict after ``d``.

        Never empty: where the derivation has painted itself into a corner (the length budget
        is spent inside a branch), ``<eos>`` is allowed and the strict check will catch it.
        """
        return self._mask_rows[self.mask_id(d)]

    def mask_table(self) -> torch.Tensor:
        """`n_masks x vocab` booleans: every mask :meth:`mask_id` has numbered so far."""
        if self._table is None or len(self._table) != len(self._mask_rows):
            self._table = torch.from_numpy(np.stack(self._mask_rows))
        return self._table

    def mask_id(self, d: Derivation) -> int:
        """The row of :meth:`mask_table` that holds :meth:`allowed` for ``d``."""
        if d.done:
            key: tuple = ("done",)
        elif d.reading is not None:
            key = ("index", *self._index_limits(d))
        else:
            frame = d.frames[-1]
            top = len(d.frames) == 1
            key = (
                "chain",
                top,
                frame[0],
                min(frame[1], BASE**3 + 8),
                frame[3],
                frame[4],
                *(self._ring_room(d) if frame[3] and not frame[4] else (0, 0)),
            )
        return self._row_for(key)

    def _ring_room(self, d: Derivation) -> tuple[int, int]:
        """The largest free valence among earlier atoms a 1-digit and a 2-digit ring index can
        reach that are not yet bonded to the current atom (0: none)."""
        prev = d.frames[-1][2]
        best = [0, 0]
        for n in (1, 2):
            lo, hi = index_range(n)
            for q in range(lo, min(hi, prev - 1) + 1):
                target = prev - (q + 1)
                if (target, prev) not in d.bonds:
                    best[n - 1] = max(best[n - 1], ring_capacity(d, target))
        return best[0], best[1]

    def _index_limits(self, d: Derivation) -> tuple:
        """The digits that may come next in a ring or branch index, as a tuple of digit values."""
        kind, left, value, order, n = d.reading
        frame = d.frames[-1]
        lo, hi = index_range(n)
        # A branch fits in its frame with room for an atom after it; a ring reaches an atom.
        hi = min(hi, frame[1] - left - 2 if kind == BRANCH else frame[2] - 1)
        scale = BASE ** (left - 1)
        ok = []
        for digit in range(BASE):
            q_lo, q_hi = (value * BASE + digit) * scale, (value * BASE + digit + 1) * scale - 1
            if q_hi < lo or q_lo > hi:
                continue
            if kind == RING and left == 1 and not self._ring_target_ok(d, q_lo, order):
                continue
            ok.append(digit)
        return tuple(ok)

    @staticmethod
    def _ring_target_ok(d: Derivation, q: int, order: int) -> bool:
        prev = d.frames[-1][2]
        target = prev - (q + 1)
        return target >= 0 and (target, prev) not in d.bonds and ring_capacity(d, target) >= order

    def _mask(self, key: tuple) -> np.ndarray:
        mask = np.zeros(self.vocab_size, dtype=bool)
        if key[0] == "done":
            mask[Vocab.eos_id] = True
            return mask
        if key[0] == "index":
            for digit in key[1:]:
                mask[self.digit_tokens[digit]] = True
            if not mask.any():
                mask[Vocab.eos_id] = True
            return mask
        _, top, valence, room, has_atom, after_branch, ring1, ring2 = key
        if room <= 0:  # the length budget is spent
            mask[Vocab.eos_id] = True
            return mask
        kind, order, n = self.kind, self.order, self.n_digits
        atom = kind == ATOM
        if not has_atom and top:  # the first atom: no bond character
            mask |= atom & self.plain & (self.cap > 0)
        elif not has_atom:  # a branch's first atom carries the branch's bond order
            ok = atom & (order == valence) & (self.cap >= order)
            mask |= ok & ((self.cap > order) | (room == 1))
        else:
            ok = atom & (order <= valence) & (self.cap >= order)
            # An atom that saturates ends the branch, so it must be the branch's last symbol.
            mask |= ok & (top | (self.cap > order) | (room == 1))
            branch_room = room - n - 2  # index digits, >= 1 symbol, >= 1 atom after
            lowest = np.where(n == 1, 0, BASE ** np.maximum(n - 1, 0))
            mask |= (
                (kind == BRANCH) & (valence >= 2) & (order <= valence - 1) & (branch_room > lowest)
            )
            if not after_branch:
                reach = np.where(n == 1, ring1, np.where(n == 2, ring2, 0))
                fits = room >= n + 1
                keeps_going = top | (order < valence) | (room == n + 1)
                mask |= (kind == RING) & (order <= valence) & (order <= reach) & fits & keeps_going
        if top and has_atom and not after_branch:
            mask[Vocab.eos_id] = True
        if not mask.any():
            mask[Vocab.eos_id] = True
        return mask

    # -- whole sequences -----------------------------------------------------------------------

    def annotate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """State features and strict-token mask rows for teacher forcing.

        Args:
            ids: `batch x time` target ids (tokens, ``<eos>``, then ``<pad>``).

        Returns:
            `batch x time x 4` features and `batch x time` rows of :meth:`mask_table`; position
            ``t`` describes the state after the first ``t`` targets, i.e. what predicting target
            ``t`` sees. Positions after ``<eos>`` get row 0, which allows everything (they are
            not scored). Each molecule is derived once and remembered.
        """
        b, t = ids.shape
        feats = np.zeros((b, t, len(FEATURE_SIZES)), dtype=np.int64)
        rows = np.zeros((b, t), dtype=np.int64)
        ids = np.asarray(ids, dtype=np.int64)
        for i in range(b):
            n = int(np.count_nonzero(ids[i] != Vocab.pad_id))
            key = _key(ids[i])
            done = self._annotated.get(key)
            if done is None:
                done = self._annotate_one(ids[i, :n])
                if len(self._annotated) < _MEMO_LIMIT:
                    self._annotated[key] = done
            feats[i, :n], rows[i, :n] = done
        return feats, rows

    def _annotate_one(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        feats = np.zeros((len(ids), len(FEATURE_SIZES)), dtype=np.int8)  # compact in the memo
        rows = np.zeros(len(ids), dtype=np.int32)
        d = self.start()
        for col, tok in enumerate(ids.tolist()):
            feats[col] = self.features(d)
            rows[col] = self.mask_id(d)
            self.step(d, tok)
        return feats, rows

    def precompute(self, ids: np.ndarray, n_jobs: int = 1) -> None:
        """Derive every row of `n x time` padded ids now, in ``n_jobs`` processes, so that
        :meth:`annotate` only looks them up (the first epoch on a GPU would otherwise wait for
        the Python derivation)."""
        ids = np.asarray(ids, dtype=np.int64)
        todo = [r for r in ids if _key(r) not in self._annotated]
        todo = todo[: max(_MEMO_LIMIT - len(self._annotated), 0)]
        if n_jobs <= 1 or len(todo) < 2 * _CHUNK:
            if todo:
                self.annotate(np.stack(todo))
            return
        chunks = [np.stack(todo[i : i + _CHUNK]) for i in range(0, len(todo), _CHUNK)]
        with ProcessPoolExecutor(n_jobs) as pool:
            for chunk, (local_keys, done) in zip(
                chunks, pool.map(_derive_chunk, [self.itos] * len(chunks), chunks), strict=True
            ):
                to_parent = np.array(
                    [0, *(self._row_for(k) for k in local_keys[1:])], dtype=np.int32
                )
                for row, (feats, rows) in zip(chunk, done, strict=True):
                    self._annotated[_key(row)] = (feats, to_parent[rows])

    def _row_for(self, key: tuple) -> int:
        row = self._mask_ids.get(key)
        if row is None:
            row = self._mask_ids[key] = len(self._mask_rows)
            self._mask_rows.append(self._mask(key))
        return row

    def is_strict_path(self, ids: Sequence[int], budget: int | None = None) -> bool:
        """Whether every token of ``ids`` (up to ``<eos>``) is allowed where it stands (with a
        length ``budget`` as :meth:`~molvae.model.VAE.generate` derives: at most that many
        tokens before ``<eos>``)."""
        d = self.start() if budget is None else self.start(budget)
        for tok in ids:
            if not self.allowed(d)[tok]:
                return False
            if tok == Vocab.eos_id:
                return True
            self.step(d, tok)
        return True

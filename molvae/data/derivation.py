"""The SELFIES derivation, token by token, as ``selfies.decoder`` (2.x) performs it.

:class:`SelfiesRules` reads each token of a vocabulary once (atom, branch or ring; bond order,
bonding capacity, index digits) and advances a :class:`Derivation`: the branch stack, the free
valence of every atom so far and the bonds made. :mod:`molvae.data.grammar` builds on it to say
which tokens need no repair.
"""

from __future__ import annotations

import re

import numpy as np
from selfies.constants import INDEX_CODE
from selfies.grammar_rules import process_atom_symbol

from molvae.data.tokens import SPECIALS, Vocab

#: Digits of a ring or branch index (selfies' index alphabet has 16 symbols).
BASE = len(INDEX_CODE)
_BRANCH = re.compile(r"^\[([=#]?)Branch([123])\]$")
_RING = re.compile(r"^\[([=#]?|[-/\\]{1,2})Ring([123])\]$")
_ORDER = {"": 1, "=": 2, "#": 3}
ATOM, BRANCH, RING = 1, 2, 3


def index_range(n_digits: int) -> tuple[int, int]:
    """Indices an ``n_digits`` index encodes without a shorter form (selfies picks the shortest)."""
    return (0 if n_digits == 1 else BASE ** (n_digits - 1)), BASE**n_digits - 1


class Derivation:
    """The derivation state of one partial SELFIES string (mutable; see
    :meth:`SelfiesGrammar.step`).

    ``frames`` is the branch stack; each frame is ``[valence, room, prev_atom, has_atom,
    after_branch]``: the free valence of the atom the next token attaches to, the symbols left
    in this branch (the main chain's room is the length budget), that atom's index, whether the
    branch has an atom yet, and whether a branch just closed on it.
    """

    __slots__ = ("frames", "reading", "free", "bonds", "done")

    def __init__(self, budget: int) -> None:
        self.frames: list[list] = [[0, budget, -1, False, False]]
        self.reading: list[int] | None = None  # [kind, digits left, value, bond order, n digits]
        self.free: list[int] = []  # free valence of each atom so far
        self.bonds: set[tuple[int, int]] = set()
        self.done = False


def ring_capacity(d: Derivation, target: int) -> int:
    """The largest ring bond atom ``target`` can still take: its free valence, less one bond
    for each open branch it roots (the chain must go on from it after the branch closes)."""
    cap = d.free[target]
    for outer in d.frames[:-1]:
        if outer[2] == target:
            cap = min(cap, outer[0]) - 1
    return cap


class SelfiesRules:
    """What each token of a :class:`Vocab` does to a SELFIES derivation.

    Args:
        vocab: The vocabulary. Tokens selfies does not know as atoms, branches or rings are
            ignored by the derivation (``kind`` 0).
    """

    def __init__(self, vocab: Vocab) -> None:
        v = len(vocab)
        self.vocab_size = v
        self.kind = np.zeros(v, dtype=np.int64)
        self.order = np.zeros(v, dtype=np.int64)  # bond order the token asks for
        self.plain = np.zeros(v, dtype=bool)  # atom without a bond character
        self.cap = np.zeros(v, dtype=np.int64)  # bonding capacity of an atom
        self.n_digits = np.zeros(v, dtype=np.int64)
        self.digit = np.full(v, -1, dtype=np.int64)
        for i, tok in enumerate(vocab.itos):
            if tok in SPECIALS:
                continue
            self.digit[i] = INDEX_CODE.get(tok, -1)
            if m := _BRANCH.match(tok):
                self.kind[i], self.order[i], self.n_digits[i] = BRANCH, _ORDER[m[1]], int(m[2])
            elif m := _RING.match(tok):
                self.kind[i], self.n_digits[i] = RING, int(m[2])
                self.order[i] = _ORDER.get(m[1], 1)
            elif (parsed := process_atom_symbol(tok)) is not None:
                (order, _), atom = parsed
                self.kind[i], self.order[i], self.cap[i] = ATOM, order, atom.bonding_capacity
                self.plain[i] = tok[1] not in "=#/\\-"
        self.digit_tokens = [np.flatnonzero(self.digit == d) for d in range(BASE)]

    def start(self, budget: int = 10**6) -> Derivation:
        """The state before the first token; ``budget`` is the most tokens before ``<eos>``."""
        return Derivation(budget)

    def step(self, d: Derivation, tok: int) -> None:
        """Advance ``d`` by token id ``tok`` as the selfies decoder would (strict tokens)."""
        if tok == Vocab.eos_id or d.done:
            d.done = True
            return
        frame = d.frames[-1]
        frame[1] -= 1
        if d.reading is not None:
            self._read_digit(d, frame, max(int(self.digit[tok]), 0))
        elif self.kind[tok] == ATOM:
            self._add_atom(d, frame, int(tok))
        elif self.kind[tok] in (BRANCH, RING):
            n = int(self.n_digits[tok])
            d.reading = [int(self.kind[tok]), n, 0, int(self.order[tok]), n]
        self._close_frames(d)

    def _add_atom(self, d: Derivation, frame: list, tok: int) -> None:
        new, cap = len(d.free), int(self.cap[tok])
        bond = 0 if frame[2] < 0 else min(int(self.order[tok]), frame[0], cap)
        d.free.append(cap - bond)
        if bond:
            d.free[frame[2]] -= bond
            d.bonds.add((frame[2], new))
        frame[0], frame[2], frame[3], frame[4] = cap - bond, new, True, False

    def _read_digit(self, d: Derivation, frame: list, digit: int) -> None:
        r = d.reading
        r[1] -= 1
        r[2] = r[2] * BASE + digit
        if r[1] > 0:
            return
        kind, _, q, order, _ = r
        d.reading = None
        prev = frame[2]
        if kind == BRANCH:
            frame[1] -= q + 1  # the branch's symbols count in this frame too
            frame[0] -= order
            frame[4] = True
            d.frames.append([order, q + 1, prev, False, False])
        else:
            target = max(prev - (q + 1), 0)
            bond = min(order, frame[0])
            d.free[prev] -= bond
            d.free[target] -= bond
            d.bonds.add((target, prev))
            frame[0] -= bond
            for outer in d.frames[:-1]:  # a branch root keeps room for its chain's next atom
                if outer[2] == target:
                    outer[0] -= bond

    def _close_frames(self, d: Derivation) -> None:
        while d.reading is None:
            frame = d.frames[-1]
            saturated = frame[3] and frame[0] <= 0
            if len(d.frames) == 1:
                d.done = d.done or saturated
                return
            if frame[1] > 0 and not saturated:
                return
            d.frames.pop()

    # -- what the decoder sees -----------------------------------------------------------------

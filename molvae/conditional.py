"""Conditional sampling: molecules inside property windows, verified by RDKit
(``molvae sample --where``, ``MolVAE.sample(where=...)``).

Two methods propose what to decode; one loop (:func:`sample_where`) does the rest:

- ``guided`` (any model with a property head): latents around known molecules inside the
  windows, refined by the latent property head (:class:`molvae.guide.GuidedProposer`);
- ``cvae`` (a conditional VAE, ``molvae train --condition``): z from the prior and the
  decoder's condition drawn inside the windows (:class:`CvaeProposer`).

Each round the loop asks the method for latents (and conditions), decodes them greedily, keeps
strict decodes (as :func:`molvae.sample.sample_molecules` does), drops molecules already seen,
and verifies the rest with RDKit (:class:`molvae.windows.Verifier`): only computed values
count, never predictions or conditions. ``guided`` steers RDKit properties the head lacks by
outputs fitted on the model's training sample; windows ``cvae`` does not condition on (and
similarity) are met through verification alone. Rounds repeat until ``n`` molecules are
verified or the decode budget is spent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

import pandas as pd
import torch

from molvae.cvae import condition_names, draw_conditions
from molvae.data.chem import is_strict, tokens_to_smiles
from molvae.errors import UserError
from molvae.guide import GuidedProposer
from molvae.mixture import ComponentPicker, run_picker
from molvae.prior import sample_latents
from molvae.progress import progress_bar
from molvae.sample import DECODE_BATCH, decode_texts
from molvae.windows import Bounds, Verifier, Window, resolve_windows

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: The default decode budget per molecule asked for.
DECODES_PER_MOLECULE = 100
#: The default minimum Tanimoto similarity to ``similar_to``.
MIN_SIMILARITY = 0.4
#: How conditional sampling proposes molecules (``method`` of :func:`sample_where`).
METHODS = ("cvae", "guided")


@dataclass
class Conditioned:
    """What :func:`sample_where` found and what it took.

    Attributes:
        frame: The verified molecules: ``smiles``, each window's computed property (and
            ``similarity`` with a reference), at most ``n`` rows; its ``attrs`` hold
            ``hit_rate``, ``decoded``, ``uniqueness`` and ``method``.
        n: Molecules asked for.
        verified: Distinct molecules found inside the windows (the last round may find more
            than ``n``; ``frame`` keeps the first ``n``).
        decoded: Latent vectors decoded.
        strict: Of those, decodes that were strict SELFIES.
        in_window: Strict decodes inside the windows, repeats counted.
        windows: The windows, as the user would write them.
        method: ``cvae`` or ``guided``.
    """

    frame: pd.DataFrame
    n: int
    verified: int
    decoded: int
    strict: int
    in_window: int
    windows: str
    method: str = "guided"

    @property
    def hit_rate(self) -> float:
        """Verified (distinct) molecules per decode."""
        return self.verified / self.decoded if self.decoded else float("nan")

    @property
    def uniqueness(self) -> float:
        """Distinct verified molecules among all verified decodes."""
        return self.verified / self.in_window if self.in_window else float("nan")

    def shortfall(self) -> str | None:
        """One sentence when fewer than ``n`` molecules were found, else ``None``."""
        if len(self.frame) >= self.n:
            return None
        return (
            f"Only {len(self.frame)} of {self.n} molecules satisfy {self.windows} after "
            f"{self.decoded} decodes (hit rate {self.hit_rate:.4f}): the window is out of this "
            "model's reach within the budget; widen it or raise the budget."
        )


class Proposer(Protocol):
    """Where a method's latents come from (:class:`~molvae.guide.GuidedProposer`,
    :class:`CvaeProposer`)."""

    method: str
    known: list[str]  # molecules never to be written

    def most(self) -> int: ...  # most decodes in the next round

    def propose(
        self, size: int, gen: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]: ...  # 1..size latents, conditions or None

    def learn(self, frame: pd.DataFrame, z: torch.Tensor) -> None: ...  # new molecules, latents


class CvaeProposer:
    """A conditional VAE's proposals: z from the prior, the condition drawn inside the windows
    (:func:`molvae.cvae.draw_conditions`); it learns nothing between rounds."""

    method = "cvae"

    def __init__(
        self, vae: MolVAE, windows: Sequence[Window], prior: str, seed: int | None
    ) -> None:
        self.vae, self.windows, self.prior = vae, list(windows), prior
        self.known: list[str] = []
        self.cpu_gen = None if seed is None else torch.Generator().manual_seed(seed)
        self.picker: ComponentPicker | None = None  # a mixture's order over all rounds

    def most(self) -> int:
        return DECODE_BATCH

    def propose(self, size: int, gen: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        if self.picker is None and self.prior != "standard":
            self.picker = run_picker(self.vae.prior, gen)
        z = sample_latents(self.vae, size, self.prior, gen, picker=self.picker)  # (size, Z)
        return z, draw_conditions(self.vae, size, self.windows, self.cpu_gen)  # (size, C)

    def learn(self, frame: pd.DataFrame, z: torch.Tensor) -> None:
        pass


def resolve_method(vae: MolVAE, method: str | None, windows: Sequence[Window] = ()) -> str:
    """The conditional sampling method: ``method``, or by default ``cvae`` for a conditional
    VAE with a window on one of its condition properties, else ``guided``.

    Raises:
        UserError: An unknown method, or ``cvae`` for a model that is not a conditional VAE.
    """
    names = condition_names(vae)
    if method is None:
        return "cvae" if any(w.name in names for w in windows) else "guided"
    if method not in METHODS:
        raise UserError(f"Unknown method '{method}'; choose {' or '.join(METHODS)}.")
    if method == "cvae" and not names:
        raise UserError(
            "Method cvae needs a conditional VAE but this model was trained without "
            "--condition; use --method guided, or train one with --condition logp,qed."
        )
    return method


def sample_where(
    vae: MolVAE,
    n: int,
    where: Mapping[str, Bounds] | Sequence[str] | None = None,
    similar_to: str | None = None,
    min_similarity: float = MIN_SIMILARITY,
    budget: int | None = None,
    temperature: float = 0.0,
    seed: int | None = None,
    prior: str = "auto",
    progress: bool = False,
    method: str | None = None,
    guards: bool = False,
) -> Conditioned:
    """Sample ``n`` distinct molecules whose RDKit-computed properties lie inside ``where``.

    Args:
        vae: The model.
        n: Molecules wanted.
        where: Windows, ``{"logp": (2, 3), "qed": (0.6, None)}`` or ``["logp=2..3"]``.
        similar_to: A reference SMILES: molecules must also have Morgan-fingerprint Tanimoto
            similarity >= ``min_similarity`` to it.
        min_similarity: See ``similar_to``.
        budget: Most latent vectors decoded (default :data:`DECODES_PER_MOLECULE` ``* n``).
        temperature: Token sampling temperature; ``0`` (greedy) by default: diversity comes
            from the latents, and greedy decodes are strict about twice as often.
        seed: Random seed (``None``: not reproducible).
        prior: ``auto``, ``standard`` or ``fitted`` (see :func:`molvae.prior.sample_latents`).
        progress: Show a progress bar.
        method: ``cvae`` or ``guided`` (see the module docs); ``None``: see
            :func:`resolve_method`.
        guards: Write only molecules that also pass ``molvae optimize``'s drug-likeness
            guards (ring sizes 3-7, no reactive motifs, MOSES's filters, SA <= 4.5,
            QED >= 0.3; :func:`molvae.optimize.guards.drug_like_failure`).

    Raises:
        UserError: No window nor reference, a bad window, property, method or reference.
    """
    windows = resolve_windows(where, vae.property_names)
    if not windows and similar_to is None:
        raise UserError("Give at least one property window (--where) or --similar-to.")
    if n < 1:
        raise UserError(f"Ask for at least one molecule, not {n}.")
    if budget is not None and budget < 1:
        raise UserError(f"The decode budget must be at least 1, not {budget}.")
    method = resolve_method(vae, method, windows)
    verifier = Verifier(windows, similar_to, min_similarity, guards)
    proposer: Proposer
    if method == "cvae":
        proposer = CvaeProposer(vae, windows, prior, seed)
    else:
        proposer = GuidedProposer(vae, windows, verifier, similar_to, prior)
    budget = DECODES_PER_MOLECULE * n if budget is None else budget
    gen = None if seed is None else torch.Generator(vae.device).manual_seed(seed)
    return _sample_verified(vae, n, verifier, proposer, budget, temperature, gen, progress)


def _sample_verified(
    vae: MolVAE,
    n: int,
    verifier: Verifier,
    proposer: Proposer,
    budget: int,
    temperature: float,
    gen: torch.Generator | None,
    progress: bool,
) -> Conditioned:
    """The loop of :func:`sample_where`, whatever the method: propose, decode, keep strict
    decodes, dedupe, verify, until ``n`` are verified or ``budget`` decodes are spent."""
    tokens = vae.data_config.tokens
    checked: dict[str, bool] = dict.fromkeys(proposer.known, False)
    found: list[pd.DataFrame] = []
    hits = decoded = n_strict = in_window = 0
    with progress_bar(n, "Sampling in the window", progress) as bar:
        while hits < n and decoded < budget:
            rate = max(hits / decoded if decoded else 0.05, 1 / DECODES_PER_MOLECULE)
            size = min(int((n - hits) / rate * 1.1) + 1, budget - decoded, proposer.most())
            z, cond = proposer.propose(size, gen)
            texts = decode_texts(
                vae.model,
                vae.vocab,
                tokens,
                z,
                vae.max_len,
                temperature == 0,
                temperature,
                gen,
                cond=cond,
            )
            decoded += len(z)
            rows = [i for i, t in enumerate(texts) if is_strict(t, tokens)]
            smiles = [tokens_to_smiles(texts[i], tokens) for i in rows]
            n_strict += len(smiles)
            first: dict[str, int] = {}  # each new molecule and the latent it came from
            for i, s in zip(rows, smiles, strict=True):
                if s and s not in checked:
                    first.setdefault(s, i)
            if first:
                new = list(first)
                frame = verifier.check(new)
                checked.update(zip(new, frame["hit"], strict=True))
                proposer.learn(frame, z[list(first.values())])
                frame = frame[frame["hit"]].drop(columns="hit")
                found.append(frame)
                bar.advance(min(len(frame), n - hits))
                hits += len(frame)
            in_window += sum(bool(s and checked.get(s)) for s in smiles)
            bar.status(f"hit rate {hits / decoded:.3f} of {decoded} decodes")
    columns = ["smiles", *verifier.names] + (["similarity"] if verifier.ref_fp is not None else [])
    frame = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
    got = Conditioned(
        frame.head(n), n, hits, decoded, n_strict, in_window, verifier.describe(), proposer.method
    )
    stats = {"hit_rate": got.hit_rate, "decoded": decoded, "uniqueness": got.uniqueness}
    got.frame.attrs.update(stats, method=got.method)
    return got

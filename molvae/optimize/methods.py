"""One batch of molecules worth an oracle call, by each method that does not propose latents
(``screen``, ``ga``), and BO's last step: its decoded proposals, the library's molecules and
SELFIES edits of its best molecules ranked together by the acquisition.

Each function returns a :class:`Batch`: the molecules to score with their sources, and what
was turned away on the way (no oracle call spent), by reason.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from molvae.optimize.box import DataBox
from molvae.optimize.candidates import latents_of
from molvae.optimize.constraints import Constraints
from molvae.optimize.ga import POPULATION, offspring
from molvae.optimize.guards import OUTSIDE_DOMAIN
from molvae.optimize.library import Library
from molvae.optimize.proposals import ACQ_BATCH_LIMIT, select_batch
from molvae.optimize.retrain import rank_weights

#: Library molecules shortlisted per batch slot by their own acquisition value, before the
#: batch is chosen jointly with the decoded proposals (checking constraints on the whole
#: library every iteration would cost more than it could change).
SHORTLIST_PER_SLOT = 3
#: The sources of library molecules and of edits in the journal.
LIBRARY = "library"
EDIT = "edit"
#: The reason an edit the model cannot encode (a token it has never seen) is turned away.
UNREADABLE = "edit the model cannot read"
#: A scored molecule is a hit for its source when it enters the run's best this many so far.
HIT_RANK = 10


@dataclass
class Batch:
    """Molecules to score and what was turned away.

    Attributes:
        smiles: New molecules that pass the constraints.
        sources: Where each came from (``bo``, ``library``, ``ga`` ...).
        latents: `n x d` their latent points where known (else re-encoded when scored).
        reasons: Molecules turned away, by reason.
        turned_away: Molecules that broke a constraint, never to be proposed again.
    """

    smiles: list[str]
    sources: list[str]
    latents: torch.Tensor | None = None
    reasons: Counter = field(default_factory=Counter)
    turned_away: list[str] = field(default_factory=list)


def _screened(batch: Batch, smiles: list[str], constraints: Constraints) -> list[str]:
    """The molecules of ``smiles`` that pass ``constraints``; the others are recorded in
    ``batch`` as turned away."""
    keep = []
    for s, reason in zip(smiles, constraints.screen(smiles), strict=True):
        if reason is None:
            keep.append(s)
        else:
            batch.reasons[reason] += 1
            batch.turned_away.append(s)
    return keep


def screen_batch(
    library: Library, q: int, seen: set[str], constraints: Constraints, seed: int
) -> Batch:
    """The next ``q`` library molecules in the run's seeded random order that are new and pass
    the constraints (fewer when the library runs out)."""
    batch = Batch([], [])
    pending = [library.smiles[i] for i in library.order(seed) if library.smiles[i] not in seen]
    while pending and len(batch.smiles) < q:
        chunk, pending = pending[: q - len(batch.smiles)], pending[q - len(batch.smiles) :]
        batch.smiles += _screened(batch, chunk, constraints)
    batch.sources = ["screen"] * len(batch.smiles)
    return batch


def ga_batch(
    smiles: Sequence[str],
    values: np.ndarray,
    q: int,
    seen: set[str],
    constraints: Constraints,
    alphabet: Sequence[str],
    rng: np.random.Generator,
) -> Batch:
    """``q`` new children of the best :data:`~molvae.optimize.ga.POPULATION` scored molecules
    (fewer when the tries run out).

    Args:
        smiles: The scored molecules.
        values: `n` their values, higher better (``-inf``: failed).
        q: Children wanted.
        seen: Molecules scored or turned away before (not changed).
        constraints: What a child must pass.
        alphabet: The SELFIES tokens mutations may write.
        rng: The source of every random choice.
    """
    batch = Batch([], [])
    order = [i for i in np.argsort(-values, kind="stable") if np.isfinite(values[i])]
    parents = [smiles[i] for i in order[:POPULATION]]
    if not parents:
        return batch
    known = set(seen)

    def accept(child: str) -> bool:
        if child in known:
            return False
        known.add(child)
        reason = constraints.violation(child)
        if reason is not None:
            batch.reasons[reason] += 1
            batch.turned_away.append(child)
        return reason is None

    weights = rank_weights(values[order[:POPULATION]])
    children = offspring(parents, weights, alphabet, q, rng, accept)
    outside = constraints.outside(children)
    batch.smiles = [c for c, out in zip(children, outside, strict=True) if not out]
    batch.reasons[OUTSIDE_DOMAIN] += len(children) - len(batch.smiles)
    batch.turned_away += [c for c in children if c not in batch.smiles]
    batch.reasons = +batch.reasons  # drop zero counts
    batch.sources = ["ga"] * len(batch.smiles)
    return batch


def source_quotas(
    sources: Sequence[str], values: np.ndarray, offered: Sequence[str], q: int
) -> dict[str, int] | None:
    """BO's batch slots for each source on offer, by its record in this run (a portfolio of
    candidate generators, in the spirit of Hoffman et al. 2011's GP-Hedge).

    Each source gets one slot, and the rest are shared in proportion to ``1 + hits``, where a
    hit is a molecule of that source that entered the run's best :data:`HIT_RANK` when it was
    scored. Hits count over the whole run and never expire: a source that keeps finding good
    molecules takes a growing share, while one that stopped (a library with nothing better
    left) keeps the share of its early hits, shrinking only as the others' hits grow.

    Args:
        sources: The source of each scored molecule, in the order scored (starting
            molecules included; with the default 100 they fill the first ranks, and they are
            never on offer).
        values: Their values, higher better (``nan`` or ``-inf``: failed). With several
            objectives, the loop's ``row_values`` of the rows now, so an old molecule's hit
            is judged by today's scaling.
        offered: The sources with candidates this iteration.
        q: Slots in the batch.

    Returns:
        Slots per source, summing to ``q``; ``None`` (the acquisition alone chooses) when no
        slot is left to share after one each.
    """
    offered = list(dict.fromkeys(offered))
    if q <= len(offered):
        return None
    hits: Counter = Counter()
    best: list[float] = []  # a min-heap of the best HIT_RANK values so far
    for source, value in zip(sources, values, strict=True):
        if not np.isfinite(value) or (len(best) == HIT_RANK and value <= best[0]):
            continue
        hits[source] += 1
        (heapq.heapreplace if len(best) == HIT_RANK else heapq.heappush)(best, float(value))
    weights = np.array([1.0 + hits[s] for s in offered])
    share = (q - len(offered)) * weights / weights.sum()
    slots = np.floor(share).astype(int)
    for i in np.argsort(-(share - slots), kind="stable")[: q - len(offered) - slots.sum()]:
        slots[i] += 1  # largest remainders first
    return {s: 1 + int(n) for s, n in zip(offered, slots, strict=True)}


def ranked_together(
    batch: Batch,
    library: Library | None,
    edits: Batch | None,
    model,
    acq,
    box: DataBox,
    q: int,
    seen: set[str],
    constraints: Constraints,
    record: tuple[Sequence[str], np.ndarray] | None = None,
) -> Batch:
    """BO's batch: the best ``q`` of its decoded proposals, the library's unseen molecules
    and SELFIES edits of the best scored molecules, ranked together by the acquisition, each
    source held to its share of the batch (:func:`source_quotas`) while the others have
    candidates.

    Args:
        batch: The decoded proposals, new and screened, with their latents (source ``bo``).
        library: The library (encoded once), or ``None``.
        edits: Children of the best molecules (:func:`ga_batch`, screened), or ``None``;
            encoded here, source :data:`EDIT`.
        model: The VAE that encodes them.
        acq: The iteration's acquisition function (on unit-cube points).
        box: The data box mapping latents to the unit cube.
        q: Molecules wanted.
        seen: Molecules scored or turned away before.
        constraints: What a library molecule must pass.
        record: The run's scored sources and values, in order, that set the shares
            (``None``: no shares; the acquisition alone chooses).

    Returns:
        Up to ``q`` molecules, sources ``bo``, :data:`LIBRARY` or :data:`EDIT`, with latents.
    """
    smiles, sources = list(batch.smiles), list(batch.sources)
    mine = batch.latents if batch.latents is not None else torch.zeros(0, model.latent_dim)
    pools = [mine.double()]
    if library is not None:
        picked, latents = _library_shortlist(library, model, acq, box, q, seen, batch, constraints)
        smiles += picked
        sources += [LIBRARY] * len(picked)
        pools.append(latents)
    if edits is not None:  # children turned away are counted as the proposals' are
        batch.reasons.update(edits.reasons)
        batch.turned_away += edits.turned_away
    if edits is not None and edits.smiles:
        z = latents_of(model, edits.smiles).double()  # (e, d), NaN where unreadable
        finite = torch.isfinite(z).all(dim=1).tolist()
        ok = [i for i, s in enumerate(edits.smiles) if finite[i] and s not in smiles]
        unreadable = [s for s, f in zip(edits.smiles, finite, strict=True) if not f]
        if unreadable:
            batch.reasons[UNREADABLE] += len(unreadable)
            batch.turned_away += unreadable
        smiles += [edits.smiles[i] for i in ok]
        sources += [EDIT] * len(ok)
        pools.append(z[ok])
    pool = torch.cat(pools)
    if not len(pool):
        return batch
    quotas = source_quotas(*record, sources, q) if record is not None else None
    chosen = select_batch(acq, box.to_unit(pool), q, sources, quotas)
    batch.smiles = [smiles[i] for i in chosen]
    batch.sources = [sources[i] for i in chosen]
    batch.latents = pool[chosen].float()
    return batch


def _library_shortlist(
    library: Library,
    model,
    acq,
    box: DataBox,
    q: int,
    seen: set[str],
    batch: Batch,
    constraints: Constraints,
) -> tuple[list[str], torch.Tensor]:
    """The unseen library molecules with the highest acquisition values
    (:data:`SHORTLIST_PER_SLOT` per slot) that pass the constraints, and their latents."""
    latents = library.latents(model)
    taken = seen | set(batch.smiles)
    idx = [i for i in library.unseen(taken) if torch.isfinite(latents[i]).all()]
    if not idx:
        return [], torch.zeros(0, latents.shape[1], dtype=torch.float64)
    u = box.to_unit(latents[idx])
    with torch.no_grad():
        values = torch.cat(
            [
                acq(u[b : b + ACQ_BATCH_LIMIT].unsqueeze(1))
                for b in range(0, len(u), ACQ_BATCH_LIMIT)
            ]
        )
    best = torch.argsort(values, descending=True)[: SHORTLIST_PER_SLOT * q].tolist()
    shortlist = [library.smiles[idx[i]] for i in best]
    passing = set(_screened(batch, shortlist, constraints))
    picked = [idx[i] for i in best if library.smiles[idx[i]] in passing]
    return [library.smiles[i] for i in picked], latents[picked].double()

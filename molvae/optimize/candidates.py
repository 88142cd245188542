"""From candidate latents to molecules worth an oracle call, and back to latents.

Decoding retries stochastically when the greedy decode gives nothing, a molecule already
seen, or one that breaks a constraint or a guard: a neighbour decoded from the same latent
often passes. Molecules that break a rule (the model's domain checked once per batch) are
turned away (no budget spent) and counted by reason. Scored molecules are
re-encoded, so the GP learns where they really lie.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import torch

from molvae.api import MolVAE
from molvae.optimize.constraints import Constraints
from molvae.optimize.guards import OUTSIDE_DOMAIN

#: Stochastic decodes tried per candidate after the greedy one gave nothing new: a few cheap
#: retries often find a new neighbour; more rarely help and slow the iteration down.
DECODE_RETRIES = 5
#: Spreads the seeds of successive retry rounds (any odd prime works).
SEED_STRIDE = 97
#: Rejection reasons of candidates with no usable decode.
NO_DECODE, NO_STRICT_DECODE = "decodes to nothing", "no strict decode"
SEEN = "already evaluated"
#: Reasons that name no new molecule (counted once per candidate that ends with them).
_NOTHING_NEW = (NO_DECODE, NO_STRICT_DECODE, SEEN)


@dataclass
class Screened:
    """Decoded candidates sorted into those to score and those turned away.

    Attributes:
        smiles: New molecules that pass the constraints, to be scored.
        z: `k x d` the latents they were decoded from.
        turned_away: Molecules that break a constraint (never to be proposed again).
        reasons: Rejections by reason: each rule-breaking molecule once (a candidate can
            break rules several times, once per decode), and each candidate left with nothing
            new once, under its last reason.
    """

    smiles: list[str]
    z: torch.Tensor
    turned_away: list[str] = field(default_factory=list)
    reasons: Counter = field(default_factory=Counter)


def decode_new(
    model: MolVAE,
    z: torch.Tensor,
    seen: set[str],
    constraints: Constraints,
    seed: int,
    strict: bool = False,
) -> Screened:
    """Decode `q x d` candidates, keeping new molecules that pass ``constraints``.

    The greedy decodes come first; then, in up to :data:`DECODE_RETRIES` rounds, one stochastic
    decode of every candidate still without a molecule, all in one batch (a batch of decodes
    costs about as much as one).

    Args:
        model: The VAE that decodes.
        z: `q x d` candidate latents.
        seen: Molecules scored or turned away before; not changed.
        constraints: What a molecule must satisfy to be scored.
        seed: Base seed of the stochastic retries.
        strict: Count a SELFIES string that had to be repaired as no decode (retried, then
            turned away as ``no strict decode``), as a SMILES model's syntax errors always are.

    Returns:
        The sorted candidates, in the order of ``z``; one molecule decoded twice in the batch is
        scored once.
    """
    seen = set(seen)
    out = Screened([], z[:0])
    found: dict[int, str] = {}  # candidate -> its new molecule
    last: dict[int, str] = {}  # candidate -> why its latest decode was not kept
    pending = list(range(len(z)))
    for tries in range(DECODE_RETRIES + 1):
        if not pending:
            break
        rows = z[pending].float()
        if tries:
            rng_seed = seed + SEED_STRIDE * tries
            decodes = model.decode(rows, greedy=False, seed=rng_seed, strict=strict)
        else:
            decodes = model.decode(rows, strict=strict)
        still = []
        for i, smiles in zip(pending, decodes, strict=True):
            reason = _why_not(smiles, seen, constraints, strict)
            if reason is None:
                found[i] = smiles
                seen.add(smiles)
                continue
            if reason not in _NOTHING_NEW:
                # A new molecule that breaks a rule: turned away for good, then a retry.
                out.reasons[reason] += 1
                out.turned_away.append(smiles)
                seen.add(smiles)
            last[i] = reason
            still.append(i)
        pending = still
    for i in pending:  # a candidate that ends with nothing new is counted once
        if last[i] in _NOTHING_NEW:
            out.reasons[last[i]] += 1
    keep = sorted(found)
    smiles = [found[i] for i in keep]
    outside = constraints.outside(smiles)  # one anomaly-score pass for the batch
    out.reasons[OUTSIDE_DOMAIN] += sum(outside)
    out.turned_away += [s for s, o in zip(smiles, outside, strict=True) if o]
    out.reasons = +out.reasons  # drop zero counts
    out.smiles = [s for s, o in zip(smiles, outside, strict=True) if not o]
    out.z = z[[i for i, o in zip(keep, outside, strict=True) if not o]]
    return out


def _why_not(smiles: str, seen: set[str], constraints: Constraints, strict: bool) -> str | None:
    if not smiles:
        return NO_STRICT_DECODE if strict else NO_DECODE
    if smiles in seen:
        return SEEN
    return constraints.violation(smiles)


def encode_many(model: MolVAE, smiles: list[str]) -> torch.Tensor:
    """Posterior means of ``smiles`` (`n x d`, float32); ``nan`` rows where a molecule cannot
    be encoded."""
    z = torch.full((len(smiles), model.latent_dim), float("nan"))
    if not smiles:
        return z
    ds, _ = model.prepare(smiles)
    if len(ds):
        z[torch.from_numpy(ds.rows - 1)] = model.encode_dataset(ds)
    return z


def latents_of(
    model: MolVAE, smiles: list[str], fallback: torch.Tensor | None = None
) -> torch.Tensor:
    """Re-encoded latents of ``smiles`` (`n x d`, float32), taking the row of `n x d`
    ``fallback`` (the latents they were decoded from) where encoding fails."""
    z = encode_many(model, smiles)
    if fallback is not None:
        missing = torch.isnan(z).any(dim=1)
        z[missing] = fallback[missing].to(z.dtype)
    return z

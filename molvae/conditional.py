"""Conditional sampling: molecules inside property windows, guided by the latent property head
and verified by RDKit (``molvae sample --where``, ``MolVAE.sample(where=...)``).

Each round:

1. starts latents around known molecules inside the windows (the model's sample of training
   molecules at first, then each verified hit; :class:`molvae.guide.Pool`), the less used and
   the likelier under the prior first. While fewer than a handful are inside, it starts around
   those closest, and learns from every decode: a climb toward windows far from the data;
2. refines them by gradient steps on the head's predicted distance to the windows plus a
   light ``-log prior`` (:class:`molvae.guide.Guide`), then keeps those the head places inside;
3. decodes them greedily, keeps strict decodes (as :func:`molvae.sample.sample_molecules`
   does), drops molecules already seen, and verifies the rest with RDKit
   (:class:`molvae.windows.Verifier`): only computed values count, never predictions.

Windows on properties the head lacks (and similarity) are reached through the anchors alone.
Rounds repeat until ``n`` molecules are verified or the decode budget is spent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import pandas as pd
import torch

from molvae.data.chem import is_strict, tokens_to_smiles
from molvae.errors import UserError
from molvae.guide import FOUND_SPREAD, SEED_SPREAD, SIMILAR_SPREAD, Pool, build_guide
from molvae.progress import progress_bar
from molvae.sample import DECODE_BATCH, decode_texts
from molvae.windows import Bounds, Verifier, resolve_windows

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: The default decode budget per molecule asked for.
DECODES_PER_MOLECULE = 100
#: At least this fraction of each round's latents is decoded (those the head places closest),
#: so windows the head deems out of reach still spend the budget and end.
MIN_DECODE_FRACTION = 0.1
#: Most decodes per round: this many, or :data:`DECODES_PER_ANCHOR` per known molecule inside
#: the windows if more (at most :data:`molvae.sample.DECODE_BATCH`). Decodes around one anchor
#: repeat each other; in small rounds each round's hits become anchors for the next.
CLIMB_ROUND = 200
DECODES_PER_ANCHOR = 4
#: The default minimum Tanimoto similarity to ``similar_to``.
MIN_SIMILARITY = 0.4


@dataclass
class Conditioned:
    """What :func:`sample_where` found and what it took.

    Attributes:
        frame: The verified molecules: ``smiles``, each window's computed property (and
            ``similarity`` with a reference), at most ``n`` rows.
        n: Molecules asked for.
        verified: Distinct molecules found inside the windows (the last round may find more
            than ``n``; ``frame`` keeps the first ``n``).
        decoded: Latent vectors decoded.
        strict: Of those, decodes that were strict SELFIES.
        in_window: Strict decodes inside the windows, repeats counted.
        windows: The windows, as the user would write them.
    """

    frame: pd.DataFrame
    n: int
    verified: int
    decoded: int
    strict: int
    in_window: int
    windows: str

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
        prior: ``auto``, ``standard`` or ``fitted`` (see :func:`molvae.sample.sample_latents`).
        progress: Show a progress bar.

    Raises:
        UserError: No window nor reference, a bad window, property or reference molecule.
    """
    windows = resolve_windows(where, vae.property_names)
    if not windows and similar_to is None:
        raise UserError("Give at least one property window (--where) or --similar-to.")
    if n < 1:
        raise UserError(f"Ask for at least one molecule, not {n}.")
    if budget is not None and budget < 1:
        raise UserError(f"The decode budget must be at least 1, not {budget}.")
    verifier = Verifier(windows, similar_to, min_similarity)
    guide = build_guide(vae, windows, prior)
    budget = DECODES_PER_MOLECULE * n if budget is None else budget
    gen = None if seed is None else torch.Generator(vae.device).manual_seed(seed)
    tokens = vae.data_config.tokens
    # Seeds (never output): the reference, else the model's sample of training molecules.
    seeds = [similar_to] if similar_to else list(vae.train_sample)
    seed_spread, found_spread = (SIMILAR_SPREAD,) * 2 if similar_to else (SEED_SPREAD, FOUND_SPREAD)
    checked: dict[str, bool] = {}
    pool = Pool(guide)
    scales: dict[str, float] = {}
    if seeds:
        ds, _ = vae.prepare(seeds)
        frame = verifier.check(ds.smiles)
        scales = verifier.scales(frame)
        checked.update(dict.fromkeys(ds.smiles, False))
        pool.add(vae, ds.smiles, verifier.distance(frame, scales), seed_spread)
    found: list[pd.DataFrame] = []
    hits = decoded = n_strict = in_window = proposed = chosen = 0
    with progress_bar(n, "Sampling in the window", progress) as bar:
        while hits < n and decoded < budget:
            rate = max(hits / decoded if decoded else 0.05, 1 / DECODES_PER_MOLECULE)
            # Let the anchors multiply before many decodes start from the same few.
            most = min(max(CLIMB_ROUND, DECODES_PER_ANCHOR * pool.inside), DECODE_BATCH)
            size = min(int((n - hits) / rate * 1.1) + 1, budget - decoded, most)
            pass_rate = max(chosen / proposed if proposed else 0.5, MIN_DECODE_FRACTION)
            m = int(size / pass_rate) + 1
            start = guide.around(*pool.anchors(m, gen), gen) if len(pool.z) else guide.draw(m, gen)
            z = guide.refine(start)  # (m, Z)
            with torch.no_grad():
                dist = guide.distance(z, aimed=False)
            order = torch.argsort(dist)[:size]
            least = math.ceil(MIN_DECODE_FRACTION * len(z))  # >= 1: every round decodes
            keep = order[: max(int((dist == 0).sum()), least)]
            proposed, chosen = proposed + len(z), chosen + len(keep)
            texts = decode_texts(
                vae.model,
                vae.vocab,
                tokens,
                z[keep],
                vae.max_len,
                temperature == 0,
                temperature,
                gen,
            )
            decoded += len(keep)
            smiles = [tokens_to_smiles(t, tokens) for t in texts if is_strict(t, tokens)]
            n_strict += len(smiles)
            new = list(dict.fromkeys(s for s in smiles if s and s not in checked))
            if new:
                frame = verifier.check(new)
                checked.update(zip(new, frame["hit"], strict=True))
                scales = scales or verifier.scales(frame)
                useful = frame if pool.climbing else frame[frame["hit"]]
                distances = verifier.distance(useful, scales)
                pool.add(vae, list(useful["smiles"]), distances, found_spread)
                frame = frame[frame["hit"]].drop(columns="hit")
                found.append(frame)
                bar.advance(min(len(frame), n - hits))
                hits += len(frame)
            in_window += sum(bool(s and checked.get(s)) for s in smiles)
            bar.status(f"hit rate {hits / decoded:.3f} of {decoded} decodes")
    columns = ["smiles", *verifier.names] + (["similarity"] if similar_to else [])
    frame = pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=columns)
    return Conditioned(frame.head(n), n, hits, decoded, n_strict, in_window, verifier.describe())

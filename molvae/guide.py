"""Where conditional sampling's latent vectors come from (:mod:`molvae.conditional`).

:class:`Pool` holds known molecules as latent means, with their RDKit-computed distance to the
windows; proposals start around those inside the windows. Latent means of real molecules
decode to strict SELFIES far more often than draws from the prior (about 0.75 against 0.17
greedily for the bundled model), and the head predicts their properties far better there
(correlation 0.94 against 0.15 for logP), so anchoring proposals on molecules is what makes
the head's guidance pay. :class:`Guide` then refines each proposal by gradient steps on the
head's predicted distance to the windows, with the prior's density as a regulariser.
:class:`GuidedProposer` puts them together as the proposals of ``sample_where(method="guided")``.

Two things make the head's predictions worth following:
- A window on a property the head lacks (``tpsa``, ``mw``) gets an output ridge-fitted on the
  head's features over the model's training sample (:func:`molvae.heads.fit_outputs`). On the
  bundled model this lifted the TPSA 90-120 / logP 1-3 hit rate from 0.20 to 0.29.
- Decodes land away from what the head predicts at their latents, toward common molecules.
  :meth:`Guide.calibrate` fits that drift from every checked decode and corrects the
  predictions (logP 4-5: hit rate 0.26 -> 0.34; windows filled in one round are unchanged).
And a floor on the anchors' QED (:data:`molvae.pool.ANCHOR_QED_QUANTILE`) keeps the hits as
drug-like as unconditional samples in the same window.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from molvae.errors import UserError
from molvae.heads import ExtendedHead, fit_outputs, ridge_fit
from molvae.pool import ANCHOR_QED_QUANTILE, MIN_QED_SEEDS, Pool, qed_of
from molvae.prior import PRIORS
from molvae.sample import DECODE_BATCH
from molvae.windows import NOT_A_HIT, Verifier, Window

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: Gradient steps that refine each proposal, and their size in whitened latent units (the
#: prior's standard deviation is 1): a proposal moves at most ``STEPS * STEP_SIZE``.
STEPS = 20
STEP_SIZE = 0.05
#: Weight of the prior's negative log density against the head's distance to the windows
#: (standardised property units): a light pull that keeps refined latents in the prior's mass.
PRIOR_WEIGHT = 0.1
#: How far inside each bound the head is aimed, in standardised units (at most a quarter of
#: the window's width), to allow for the head's prediction error.
MARGIN = 0.25
#: Proposals start this far (whitened units) around the latent mean of a known molecule:
#: closer, greedy decodes repeat the molecule; farther, fewer are strict. Around a molecule
#: already found (and written) they start farther out, since a repeat of it is no new hit.
SEED_SPREAD = 0.4
FOUND_SPREAD = 0.7
#: The spread with a reference molecule: similarity to it falls off quickly around it.
SIMILAR_SPREAD = 0.25
#: At least this fraction of each round's latents is decoded (those the head places closest),
#: so windows the head deems out of reach still spend the budget and end.
MIN_DECODE_FRACTION = 0.1
#: Most decodes per round: this many, or :data:`DECODES_PER_ANCHOR` per known molecule inside
#: the windows if more (at most :data:`molvae.sample.DECODE_BATCH`). Decodes around one anchor
#: repeat each other; in small rounds each round's hits become anchors for the next.
CLIMB_ROUND = 200
DECODES_PER_ANCHOR = 4
#: Decodes :meth:`Guide.calibrate` waits for, and the ridge penalty of its fit.
MIN_CALIBRATION = 100
CALIBRATION_RIDGE = 0.1


@dataclass
class Guide:
    """Refines latents toward the windows the head predicts, in the whitened coordinates ``u``
    of the prior ``z = mean + scale_tril @ u``. ``index`` are the guided head outputs,
    ``lo``/``hi`` their windows and ``aim_lo``/``aim_hi`` the narrower aims, in standardised
    units (``-inf``/``inf`` where open)."""

    head: torch.nn.Module
    mean: torch.Tensor  # (Z,)
    scale_tril: torch.Tensor  # (Z, Z)
    index: list[int]
    names: list[str]  # (W,) the guided properties
    center: torch.Tensor  # (W,) the guided properties' standardisation
    scale: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor
    aim_lo: torch.Tensor
    aim_hi: torch.Tensor

    def __post_init__(self) -> None:
        self.correction: torch.Tensor | None = None  # (hidden + 1, W), see calibrate
        self.seen_x: list[torch.Tensor] = []
        self.seen_r: list[torch.Tensor] = []

    def predict(self, z: torch.Tensor) -> torch.Tensor:
        """`n x latent_dim` -> `n x W`: the head's standardised predictions of the guided
        properties, corrected by what decodes showed (:meth:`calibrate`)."""
        y = self.head(z)[:, self.index]
        if self.correction is not None:
            y = y + self.head.features(z) @ self.correction[:-1] + self.correction[-1]
        return y

    def calibrate(self, z: torch.Tensor, values: np.ndarray) -> None:
        """Learn where decodes land: ``values`` (`n x W`, property units, NaN where unknown) of
        the molecules decoded from ``z``. Decodes drift from what the head predicts at their
        latents (toward common molecules); once :data:`MIN_CALIBRATION` decodes are known, a
        ridge fit of the drift on the head's features corrects the predictions."""
        if not self.index or not len(z):
            return
        with torch.no_grad():
            pred = self.head(z)[:, self.index]  # (n, W)
            x = self.head.features(z)
        true = torch.tensor(values, dtype=torch.float32, device=z.device)
        resid = (true - self.center) / self.scale - pred
        ok = torch.isfinite(resid).all(dim=1)
        self.seen_x.append(x[ok].double().cpu())
        self.seen_r.append(resid[ok].double().cpu())
        x, r = torch.cat(self.seen_x), torch.cat(self.seen_r)
        if len(x) >= MIN_CALIBRATION:
            self.correction = ridge_fit(x, r, CALIBRATION_RIDGE).to(z.device, torch.float32)

    def distance(self, z: torch.Tensor, aimed: bool = True) -> torch.Tensor:
        """`n x latent_dim` -> `n`: summed distance of the head's calibrated predictions to the
        windows."""
        if not self.index:
            return torch.zeros(len(z), device=z.device)
        y = self.predict(z)  # (n, W)
        lo, hi = (self.aim_lo, self.aim_hi) if aimed else (self.lo, self.hi)
        return ((lo - y).clamp(min=0) + (y - hi).clamp(min=0)).sum(dim=1)

    def log_prior(self, z: torch.Tensor) -> torch.Tensor:
        """`n x latent_dim` -> `n`: the prior's log density, up to a constant."""
        return -0.5 * self.whiten(z).pow(2).sum(dim=1)

    def whiten(self, z: torch.Tensor) -> torch.Tensor:
        """`n x latent_dim` latents -> their whitened coordinates ``u``."""
        return torch.linalg.solve_triangular(self.scale_tril, (z - self.mean).T, upper=False).T

    def draw(self, n: int, gen: torch.Generator | None) -> torch.Tensor:
        """`n x latent_dim` latents from the prior."""
        u = torch.randn(n, len(self.mean), generator=gen, device=self.mean.device)  # (n, Z)
        return self.mean + u @ self.scale_tril.T

    def around(
        self, z: torch.Tensor, spread: torch.Tensor, gen: torch.Generator | None
    ) -> torch.Tensor:
        """`n x latent_dim` latents, row ``i`` ``spread[i]`` (whitened) around ``z[i]``."""
        u = torch.randn(z.shape, generator=gen, device=z.device)  # (n, Z)
        return z + spread.unsqueeze(1) * u @ self.scale_tril.T

    def refine(self, z: torch.Tensor) -> torch.Tensor:
        """:data:`STEPS` steps down ``distance + PRIOR_WEIGHT * -log prior``: the distance's
        gradient scaled to unit length (heads differ in scale), the prior's as it is."""
        if not self.index:
            return z
        u = self.whiten(z)  # (n, Z)
        with torch.enable_grad():
            for _ in range(STEPS):
                u.requires_grad_(True)
                zu = self.mean + u @ self.scale_tril.T
                (grad,) = torch.autograd.grad(self.distance(zu).sum(), u)
                unit = grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-12)  # 0 inside
                u = (u - STEP_SIZE * (unit + PRIOR_WEIGHT * u)).detach()
        return self.mean + u @ self.scale_tril.T


def build_guide(
    vae: MolVAE, windows: Sequence[Window], prior: str = "auto", fitted: dict | None = None
) -> Guide:
    """The :class:`Guide` for ``windows`` on ``vae``'s head and prior, and on ``fitted``
    outputs (:func:`molvae.heads.fit_outputs`) for properties the head lacks.

    Raises:
        UserError: An unknown prior, or ``prior="fitted"`` for a model without one.
    """
    if prior not in PRIORS:
        raise UserError(f"Unknown prior '{prior}'; choose {', '.join(PRIORS)}.")
    if prior == "fitted" and vae.prior is None:
        raise UserError("This model has no fitted prior; use --prior standard.")
    device, dim = vae.device, vae.latent_dim
    mean, tril = torch.zeros(dim, device=device), torch.eye(dim, device=device)
    if prior != "standard" and vae.prior is not None:
        mean = vae.prior.mean.to(device, torch.float32)
        tril = vae.prior.scale_tril.to(device, torch.float32)
    head, names = vae.model.head, list(vae.property_names)
    centers, scales = list(vae.standardiser.mean), list(vae.standardiser.std)
    fitted = {k: f for k, f in (fitted or {}).items() if k not in names}
    if fitted:
        head = ExtendedHead(head, list(fitted.values()))
        names += list(fitted)
        centers += [f.mean for f in fitted.values()]
        scales += [f.std for f in fitted.values()]
    guided = [w for w in windows if w.name in names]
    index = [names.index(w.name) for w in guided]
    center = torch.tensor([centers[i] for i in index], dtype=torch.float32)
    scale = torch.tensor([scales[i] for i in index], dtype=torch.float32)
    inf = float("inf")
    lo = (torch.tensor([-inf if w.lo is None else w.lo for w in guided]) - center) / scale
    hi = (torch.tensor([inf if w.hi is None else w.hi for w in guided]) - center) / scale
    margin = torch.clamp((hi - lo) / 4, max=MARGIN)  # inf - (-inf) = inf: full margin
    bounds = (center, scale, lo, hi, lo + margin, hi - margin)
    return Guide(head, mean, tril, index, [w.name for w in guided], *(t.to(device) for t in bounds))


class GuidedProposer:
    """Head-guided proposals for :func:`molvae.conditional.sample_where`.

    Each round starts latents around known molecules inside the windows (the model's sample of
    training molecules, or the reference of ``similar_to``, at first, then each verified hit;
    :class:`Pool`), the less used and the likelier under the prior first. While fewer than
    :data:`molvae.pool.MIN_ANCHORS` are inside, it starts around those closest and learns from every
    decode: a climb toward windows far from the data. :meth:`Guide.refine` then moves them
    toward the windows the head predicts, and those the head places inside are decoded.

    Attributes:
        known: Molecules never to be written (the seeds).
    """

    method = "guided"

    def __init__(
        self,
        vae: MolVAE,
        windows: Sequence[Window],
        verifier: Verifier,
        similar_to: str | None = None,
        prior: str = "auto",
    ) -> None:
        self.vae, self.verifier = vae, verifier
        # Windows on properties the head lacks (tpsa, mw, ...) are guided by outputs fitted on
        # the model's sample of training molecules.
        lacking = [w.name for w in windows if w.name not in vae.property_names]
        fitted = fit_outputs(vae, lacking, list(vae.train_sample)) if lacking else {}
        self.guide = build_guide(vae, windows, prior, fitted)
        self.pool = Pool(self.guide)
        spreads = (SIMILAR_SPREAD,) * 2 if similar_to else (SEED_SPREAD, FOUND_SPREAD)
        self.seed_spread, self.found_spread = spreads
        self.scales: dict[str, float] = {}
        self.known: list[str] = []
        self.proposed = self.chosen = 0
        self.qed_floor = -math.inf
        seeds = [similar_to] if similar_to else list(vae.train_sample)
        if seeds:
            ds, _ = vae.prepare(seeds)
            frame = verifier.check(ds.smiles)
            self.scales = verifier.scales(frame)
            self.known = list(ds.smiles)
            distances = verifier.distance(frame, self.scales)
            qed, hits = qed_of(frame), frame["hit"].to_numpy(dtype=bool)
            if hits.sum() >= MIN_QED_SEEDS:  # see ANCHOR_QED_QUANTILE
                self.qed_floor = float(np.quantile(qed[hits], ANCHOR_QED_QUANTILE))
                distances = np.where(hits & (qed < self.qed_floor), NOT_A_HIT, distances)
            self.pool.add(vae, ds.smiles, distances, self.seed_spread)

    def most(self) -> int:
        """Most decodes in the next round: the anchors multiply before many decodes start
        from the same few."""
        return min(max(CLIMB_ROUND, DECODES_PER_ANCHOR * self.pool.inside), DECODE_BATCH)

    def propose(self, size: int, gen: torch.Generator | None) -> tuple[torch.Tensor, None]:
        """At most ``size`` (at least one) refined latents to decode, `m x latent_dim`, and no
        condition."""
        pass_rate = max(self.chosen / self.proposed if self.proposed else 0.5, MIN_DECODE_FRACTION)
        m = int(size / pass_rate) + 1
        guide, pool = self.guide, self.pool
        start = guide.around(*pool.anchors(m, gen), gen) if len(pool.z) else guide.draw(m, gen)
        z = guide.refine(start)  # (m, Z)
        with torch.no_grad():
            dist = guide.distance(z, aimed=False)
        order = torch.argsort(dist)[:size]
        least = math.ceil(MIN_DECODE_FRACTION * len(z))  # >= 1: every round decodes
        keep = order[: max(int((dist == 0).sum()), least)]
        self.proposed, self.chosen = self.proposed + len(z), self.chosen + len(keep)
        return z[keep], None

    def learn(self, frame: pd.DataFrame, z: torch.Tensor) -> None:
        """Remember newly checked molecules (a :meth:`Verifier.check` frame, decoded from the
        latents ``z``) as anchors: the hits with QED above the floor
        (:data:`molvae.pool.ANCHOR_QED_QUANTILE`), or every one while climbing."""
        self.guide.calibrate(z, frame[self.guide.names].to_numpy(dtype=float))
        self.scales = self.scales or self.verifier.scales(frame)
        useful = frame
        if not self.pool.climbing:
            hits = frame[frame["hit"]]
            useful = hits[qed_of(hits) >= self.qed_floor]
        distances = self.verifier.distance(useful, self.scales)
        self.pool.add(self.vae, list(useful["smiles"]), distances, self.found_spread)

"""The optimisation loop: propose, screen, score, journal, update the trust region.

Each iteration makes one batch by the run's method: decoded latent proposals (``bo`` ranks
them with library molecules and SELFIES edits of its best), library molecules (``screen``) or
SELFIES children (``ga``). Duplicates and constraint or guard breakers are turned away (no
budget spent); the rest are scored by the real oracle and journalled with their re-encoded
latents (the journal is the one copy of the scored data); the data box grows to hold them and
the trust region follows its centre or restarts elsewhere.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from dataclasses import asdict

import numpy as np
import pandas as pd
import torch

from molvae.api import MolVAE
from molvae.config import OptimizeConfig
from molvae.errors import UserError
from molvae.optimize import journal as files
from molvae.optimize.box import DataBox
from molvae.optimize.candidates import decode_new, encode_many, latents_of
from molvae.optimize.constraints import Constraints
from molvae.optimize.ga import alphabet_of
from molvae.optimize.journal import GIVEN, START, Journal, LoopState, oracle_calls
from molvae.optimize.library import Library
from molvae.optimize.methods import Batch, ga_batch, ranked_together, screen_batch
from molvae.optimize.objectives import Objective, head_estimate, head_gain
from molvae.optimize.pareto import hypervolume, reference_point, row_values
from molvae.optimize.proposals import acquisition, propose_bo, propose_gradient, propose_random
from molvae.optimize.retrain import retrain_due, retrain_search
from molvae.optimize.start import starting_molecules
from molvae.optimize.surrogate import fit_surrogate, hyperparameters
from molvae.optimize.trust_region import TrustRegion, follow, recentre
from molvae.progress import progress_bar

#: Iterations in a row that find no new molecule to score before the run stops. Each one
#: doubles the trust region, and every few move it elsewhere (``trust_region.EMPTY_RESTART``);
#: the rest give the stochastic decodes their chances before concluding that the decoder only
#: returns known or forbidden molecules.
STALL_LIMIT = 20
#: Starting molecules are scored in chunks of this many, the state saved after each, so a
#: killed run loses at most one chunk of oracle calls.
INIT_CHUNK = 50
#: Spacing of the per-run seed streams: iteration ``i`` of seed ``s`` uses ``s * 100003 + i``
#: (a prime larger than any run's iteration count, so no two runs share a stream).
SEED_STRIDE = 100_003


class Search:
    """The state of one run while it iterates: the model (fine-tuned copies replace it), the
    journal, the loop state, the library and the GP warm start.

    Args:
        model: The VAE whose latent space is searched.
        objectives: The oracle(s), checked by the caller.
        cfg: Settings.
        journal: The run's opened journal; the other files go beside it.
        init: Starting molecules (see :func:`~molvae.optimize.start.starting_molecules`).
        library: Real molecules for ``bo`` and ``screen`` (``None``: none).
    """

    def __init__(
        self,
        model: MolVAE,
        objectives: list[Objective],
        cfg: OptimizeConfig,
        journal: Journal,
        init: str | os.PathLike | pd.DataFrame | None = None,
        library: Library | None = None,
    ) -> None:
        self.model, self.objectives, self.cfg = model, objectives, cfg
        self.journal, self.init, self.library = journal, init, library
        self.out = journal.path.parent
        self.score_cols = journal.score_cols
        self.constraints = Constraints(cfg, model)
        name = ",".join(o.name for o in objectives)
        region = TrustRegion(model.latent_dim, cfg.batch_size)
        self.state = LoopState(name, asdict(cfg), trust_region=region)
        self.warm: dict | None = None  # the last GP's hyperparameters, the next fit's start
        self.moved: torch.Tensor | None = None  # re-encoded latents after a fine-tuning
        self.timings = {"gp_fit_s": 0.0, "acq_s": 0.0}

    # -- start and resume ------------------------------------------------------------------

    def start(self, resume: bool) -> None:
        """Take up a saved run (with ``resume``), score the starting molecules (also those cut
        short by a kill) and fix the data box, the trust region's centre and the one
        hypervolume reference point of the run.

        Raises:
            UserError: A resumed run's settings differ, or fewer than two starting molecules
                could be scored.
        """
        if resume:
            self._resume()
        if not self.state.init_done:
            self._score_start()
            self.state.init_done = True
        if self.state.box is None:
            rows = self.journal.read()
            x, y = self._data(rows)
            if len(x) < 2:
                raise UserError(
                    "Fewer than two starting molecules could be scored; give an --init file "
                    "with valid molecules or check the objective."
                )
            self.state.box = DataBox.around(x)
            self.state.ref_point = reference_point(y.numpy()).tolist()
            best = rows["smiles"].iloc[int(np.argmax(row_values(self._scores(rows))))]
            self.state.trust_region = recentre(self.state.trust_region, best)
            self.state.centres.append(best)
        self._save()

    def _resume(self) -> None:
        saved, warm = files.load_state(self.out)
        changed = saved.changed_settings(self.state.objective, self.state.config) if saved else []
        if changed:
            raise UserError(
                f"{self.out} holds a run with different {', '.join(changed)}; resume with the "
                "same settings, or use a new --out folder."
            )
        self.journal.check_columns()
        if saved is None:  # killed before the first save: the journal alone is enough
            return
        saved.config = self.state.config
        saved.trust_region = saved.trust_region or self.state.trust_region
        self.state, self.warm = saved, warm
        if saved.retrains:  # the fine-tuned model, and where it puts the older molecules
            self.model = files.load_model(self.out, str(self.model.device))
            rows = self.journal.read().iloc[: saved.retrained_rows]
            self.moved = encode_many(self.model, rows["smiles"].astype(str).tolist()).double()

    def _score_start(self) -> None:
        cfg = self.cfg
        start = starting_molecules(
            self.model, self.init, self.score_cols, cfg.n_init, cfg.seed, self.constraints.screen
        )
        self._count(start.rejected)
        seen = set(self.journal.read()["smiles"])
        known = np.isfinite(start.given).all(axis=1)
        have = [i for i, s in enumerate(start.smiles) if known[i] and s not in seen]
        if have:
            smiles = [start.smiles[i] for i in have]
            z = encode_many(self.model, smiles)
            self.journal.append(0, GIVEN, smiles, start.given[have], z)
        todo = [s for s, k in zip(start.smiles, known, strict=True) if not k and s not in seen]
        for begin in range(0, len(todo), INIT_CHUNK):
            self._score(0, Batch(todo[begin : begin + INIT_CHUNK], [START] * INIT_CHUNK))
            self._save()

    # -- the loop --------------------------------------------------------------------------

    def loop(self, progress: bool = True) -> bool:
        """Iterate until the budget is spent; ``True`` if it stopped early, stalled (see
        :data:`STALL_LIMIT`)."""
        cfg = self.cfg
        rows = self.journal.read()
        with progress_bar(cfg.budget, f"Optimising ({cfg.method})", progress) as bar:
            bar.advance(oracle_calls(rows))
            while oracle_calls(rows) < cfg.budget and self.state.empty < STALL_LIMIT:
                it = self.state.iteration + 1
                seed = cfg.seed * SEED_STRIDE + it
                scored = self._step(it, seed, rows)
                rows = self.journal.read()
                self._follow(rows, scored)
                bar.advance(scored)
                self.state.iteration = it
                if retrain_due(self.cfg, self.state, rows):
                    retrain_search(self, rows, seed)
                self._save()
                bar.status(self._status(rows))
        return self.state.empty >= STALL_LIMIT

    def _follow(self, rows: pd.DataFrame, scored: int) -> None:
        """After an iteration: grow the data box to hold every scored latent and move the trust
        region (see :func:`~molvae.optimize.trust_region.follow`)."""
        state = self.state
        state.box = state.box.grow(self._data(rows)[0])
        state.empty = 0 if scored else state.empty + 1
        values = torch.from_numpy(row_values(self._scores(rows)))
        smiles = rows["smiles"].astype(str).tolist()
        u = state.box.to_unit(self._latents(rows))
        region = follow(state.trust_region, smiles, values, u, scored, state.empty, state.centres)
        if region.center is not None and region.center != state.trust_region.center:
            state.centres.append(region.center)
        state.trust_region = region

    def _step(self, it: int, seed: int, rows: pd.DataFrame) -> int:
        """Make, screen and score one batch; returns the oracle calls made."""
        torch.manual_seed(seed)
        cfg = self.cfg
        q = min(cfg.batch_size, cfg.budget - oracle_calls(rows))
        seen = set(rows["smiles"]) | set(self.state.turned_away)
        if cfg.method == "screen":
            batch = screen_batch(self.library, q, seen, self.constraints, cfg.seed)
        elif cfg.method == "ga":
            batch = self._children(seed, rows, q, seen)
        else:
            batch = self._latent_batch(seed, rows, q, seen)
        self._count(batch.reasons)
        self.state.turned_away.extend(batch.turned_away)
        return self._score(it, batch)

    def _latent_batch(self, seed: int, rows: pd.DataFrame, q: int, seen: set[str]) -> Batch:
        """Decoded latent proposals by the run's method (``bo``: ranked by the acquisition with
        library molecules and SELFIES edits of the best)."""
        cfg, box = self.cfg, self.state.box
        x, y = self._data(rows)
        gen = torch.Generator().manual_seed(seed)
        acq = None
        if cfg.method == "random":
            z = box.from_unit(propose_random(q, x.shape[1], gen))
        elif cfg.method == "gradient":
            gain = head_gain(self.model, self.objectives[0], standardised=True)
            z = propose_gradient(gain, x, y[:, 0], q, gen)
        else:
            u, center = box.to_unit(x), self._centre(rows)
            t0 = time.perf_counter()
            prior = head_estimate(self.model, self.objectives, box) if cfg.head_prior else None
            gp = fit_surrogate(u, y, cfg, self.warm, center, prior)
            self.warm = hyperparameters(gp)
            t1 = time.perf_counter()
            ref = torch.tensor(self.state.ref_point, dtype=torch.float64)
            z = box.from_unit(propose_bo(self.state.trust_region, gp, u, y, q, cfg, ref, center))
            acq = acquisition(gp, y, ref)
            self.timings = {"gp_fit_s": t1 - t0, "acq_s": time.perf_counter() - t1}
        decoded = decode_new(self.model, z, seen, self.constraints, seed, cfg.strict)
        latents = latents_of(self.model, decoded.smiles, decoded.z)
        sources = [cfg.method] * len(decoded.smiles)
        batch = Batch(decoded.smiles, sources, latents, decoded.reasons, decoded.turned_away)
        if acq is not None:
            taken = seen | set(batch.smiles) | set(batch.turned_away)
            edits = self._children(seed, rows, cfg.edits * q, taken) if cfg.edits else None
            args = (self.model, acq, box, q, seen, self.constraints)
            record = (rows["source"].tolist(), row_values(self._scores(rows)))
            batch = ranked_together(batch, self.library, edits, *args, record)
        return batch

    def _children(self, seed: int, rows: pd.DataFrame, q: int, seen: set[str]) -> Batch:
        """``q`` SELFIES children of the best scored molecules (:func:`ga_batch`)."""
        smiles, values = rows["smiles"].astype(str).tolist(), row_values(self._scores(rows))
        alphabet, rng = alphabet_of(self.model.vocab.to_list()), np.random.default_rng(seed)
        return ga_batch(smiles, values, q, seen, self.constraints, alphabet, rng)

    def _centre(self, rows: pd.DataFrame) -> torch.Tensor | None:
        """`d` the trust region's centre in the unit cube (``None``: the best point)."""
        here = torch.from_numpy(rows["smiles"].to_numpy() == self.state.trust_region.center)
        z = self._latents(rows)[here][:1]  # (1, d), or (0, d) when not scored
        return self.state.box.to_unit(z[0]) if len(z) and torch.isfinite(z).all() else None

    def _score(self, it: int, batch: Batch) -> int:
        """Score the batch's molecules (as many as the budget allows) and journal them with
        their latents (re-encoded where the batch has none)."""
        rows = self.journal.read()
        n = min(len(batch.smiles), self.cfg.budget - oracle_calls(rows))
        smiles = batch.smiles[:n]
        if not smiles:
            return 0
        known = batch.latents is not None
        latents = batch.latents[:n] if known else latents_of(self.model, smiles)
        scores = np.column_stack([objective(smiles) for objective in self.objectives])
        self.journal.append(it, batch.sources[:n], smiles, scores, latents)
        return n

    def _scores(self, rows: pd.DataFrame) -> np.ndarray:
        return rows[self.score_cols].to_numpy(dtype=float)

    def _latents(self, rows: pd.DataFrame) -> torch.Tensor:
        """`n x d` the journal rows' latents (those re-encoded after a fine-tuning replaced)."""
        z = files.journal_latents(rows, self.model.latent_dim)
        if self.moved is not None:
            z[: len(self.moved)] = self.moved
        return z

    def _data(self, rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """The GP's `n x d` latents and `n x m` scores, derived from the journal."""
        return files.training_data(rows, self.score_cols, self._latents(rows))

    def _status(self, rows: pd.DataFrame) -> str:
        """The best score (with several objectives, the front's hypervolume) and timings."""
        _, y = self._data(rows)
        multi = y.shape[1] > 1
        best = hypervolume(y.numpy(), np.asarray(self.state.ref_point)) if multi else y.max()
        gp, acq = self.timings["gp_fit_s"], self.timings["acq_s"]
        label = "hypervolume" if multi else "best"
        return f"{label} {float(best):.3f} | GP {gp:.1f}s acq {acq:.1f}s"

    def _count(self, reasons: Mapping[str, int]) -> None:
        for reason, n in reasons.items():
            self.state.rejected[reason] = self.state.rejected.get(reason, 0) + n

    def _save(self) -> None:
        files.save_state(self.out, self.state, self.warm)

"""The optimisation loop: propose, decode and screen, score, journal, update the trust region.

Each iteration proposes latent points (:mod:`~molvae.optimize.proposals`), decodes them and
turns away duplicates and constraint breakers (:mod:`~molvae.optimize.candidates`, no budget
spent), scores the rest with the real oracle, appends them with their re-encoded latents to
the journal (:mod:`~molvae.optimize.journal`, the one copy of the scored data; the GP's
tensors are derived from it) and updates the trust region
(:mod:`~molvae.optimize.trust_region`).
"""

from __future__ import annotations

import copy
import os
import time
from collections.abc import Callable, Mapping
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
from molvae.optimize.journal import GIVEN, Journal, LoopState, oracle_calls
from molvae.optimize.objectives import Objective
from molvae.optimize.pareto import balanced, hypervolume, reference_point
from molvae.optimize.proposals import propose_bo, propose_gradient, propose_random
from molvae.optimize.retrain import finetune, rank_weights
from molvae.optimize.start import starting_molecules
from molvae.optimize.surrogate import fit_surrogate, hyperparameters
from molvae.optimize.trust_region import TrustRegion, expand, improves, restart, update
from molvae.progress import progress_bar

#: Iterations in a row that find no new molecule to score before the run stops. Each one
#: doubles the trust region, which covers the whole box after two; the rest give the
#: stochastic decodes their chances before concluding that the decoder only returns known
#: or forbidden molecules.
STALL_LIMIT = 20
#: Starting molecules are scored in chunks of this many, the state saved after each, so a
#: killed run loses at most one chunk of oracle calls.
INIT_CHUNK = 50
#: Spacing of the per-run seed streams: iteration ``i`` of seed ``s`` uses ``s * 100003 + i``
#: (a prime larger than any run's iteration count, so no two runs share a stream).
SEED_STRIDE = 100_003


class Search:
    """The state of one run while it iterates: the model (fine-tuned copies replace it), the
    journal, the loop state and the GP warm start.

    Args:
        model: The VAE whose latent space is searched.
        objectives: The oracle(s), checked by the caller.
        cfg: Settings.
        journal: The run's opened journal; the other files go beside it.
        init: Starting molecules (see :func:`~molvae.optimize.start.starting_molecules`).
    """

    def __init__(
        self,
        model: MolVAE,
        objectives: list[Objective],
        cfg: OptimizeConfig,
        journal: Journal,
        init: str | os.PathLike | pd.DataFrame | None = None,
    ) -> None:
        self.model, self.objectives, self.cfg = model, objectives, cfg
        self.journal, self.init = journal, init
        self.out = journal.path.parent
        self.score_cols = journal.score_cols
        self.constraints = Constraints(cfg)
        name = ",".join(o.name for o in objectives)
        region = TrustRegion(model.latent_dim, cfg.batch_size)
        self.state = LoopState(name, asdict(cfg), trust_region=region)
        self.warm: dict | None = None  # the last GP's hyperparameters, the next fit's start
        self.moved: torch.Tensor | None = None  # re-encoded latents after a fine-tuning
        self.timings = {"gp_fit_s": 0.0, "acq_s": 0.0}

    # -- start and resume ------------------------------------------------------------------

    def start(self, resume: bool) -> None:
        """Take up a saved run (with ``resume``), score the starting molecules (also those cut
        short by a kill) and fix the data box and the hypervolume reference point.

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
            x, y = self._data(self.journal.read())
            if len(x) < 2:
                raise UserError(
                    "Fewer than two starting molecules could be scored; give an --init file "
                    "with valid molecules or check the objective."
                )
            self.state.box = DataBox.around(x)
            self.state.ref_point = reference_point(y.numpy()).tolist()
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
        start = starting_molecules(self.model, self.init, self.score_cols, cfg.n_init, cfg.seed)
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
            self._score(0, "init", todo[begin : begin + INIT_CHUNK])
            self._save()

    # -- the loop --------------------------------------------------------------------------

    def loop(self, progress: bool = True) -> bool:
        """Iterate until the budget is spent; ``True`` if it stopped early, stalled (see
        :data:`STALL_LIMIT`)."""
        cfg = self.cfg
        stalled = 0
        rows = self.journal.read()
        with progress_bar(cfg.budget, f"Optimising ({cfg.method})", progress) as bar:
            bar.advance(oracle_calls(rows))
            while oracle_calls(rows) < cfg.budget and stalled < STALL_LIMIT:
                it = self.state.iteration + 1
                seed = cfg.seed * SEED_STRIDE + it
                before = self._best(rows)
                scored = self._step(it, seed, rows)
                rows = self.journal.read()
                region = self.state.trust_region
                if scored:
                    region = update(region, improves(before, self._best(rows)))
                    region = restart(region) if region.restart_triggered else region
                else:  # nothing new here: look further afield
                    region = expand(region)
                self.state.trust_region = region
                stalled = 0 if scored else stalled + 1
                bar.advance(scored)
                self.state.iteration = it
                if self._retrain_due(rows):
                    self._retrain(rows, seed)
                self._save()
                bar.status(self._status(rows))
        return stalled >= STALL_LIMIT

    def _step(self, it: int, seed: int, rows: pd.DataFrame) -> int:
        """Propose, decode, screen and score one batch; returns the oracle calls made."""
        torch.manual_seed(seed)
        gen = torch.Generator().manual_seed(seed)
        q = min(self.cfg.batch_size, self.cfg.budget - oracle_calls(rows))
        x, y = self._data(rows)
        seen = set(rows["smiles"]) | set(self.state.turned_away)
        z = self._propose(x, y, q, gen)
        batch = decode_new(self.model, z, seen, self.constraints, seed, self.cfg.strict)
        self._count(batch.reasons)
        self.state.turned_away.extend(batch.turned_away)
        return self._score(it, self.cfg.method, batch.smiles, batch.z)

    def _propose(self, x: torch.Tensor, y: torch.Tensor, q: int, gen) -> torch.Tensor:
        """`q x d` candidate latents by the run's method from `n x d` latents ``x`` and their
        `n x m` scores ``y``."""
        cfg = self.cfg
        if cfg.method == "random":
            return propose_random(q, x.shape[1], gen)
        if cfg.method == "gradient":
            return propose_gradient(self._head_gain(), x, y[:, 0], q, gen)
        box = self.state.box
        u = box.to_unit(x)
        t0 = time.perf_counter()
        gp = fit_surrogate(u, y, cfg, self.warm)
        self.warm = hyperparameters(gp)
        t1 = time.perf_counter()
        ref = torch.tensor(self.state.ref_point, dtype=torch.float64)
        cand = propose_bo(self.state.trust_region, gp, u, y, q, cfg, ref)
        self.timings = {"gp_fit_s": t1 - t0, "acq_s": time.perf_counter() - t1}
        return box.from_unit(cand)

    def _head_gain(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """The property head's estimate of the (single) objective, `n x d` to `n`."""
        objective = self.objectives[0]
        column = self.model.property_names.index(objective.property_name)
        head, device = self.model.model.head, self.model.device
        return lambda z: objective.sign * head(z.to(device))[:, column].cpu()

    def _score(self, it: int, method: str, smiles: list[str], z=None) -> int:
        """Score ``smiles`` (as many as the budget allows) and journal them with their
        re-encoded latents (else the `n x d` latents ``z`` they came from)."""
        rows = self.journal.read()
        smiles = smiles[: self.cfg.budget - oracle_calls(rows)]
        if not smiles:
            return 0
        latents = latents_of(self.model, smiles, None if z is None else z[: len(smiles)])
        scores = np.column_stack([objective(smiles) for objective in self.objectives])
        self.journal.append(it, method, smiles, scores, latents)
        return len(smiles)

    # -- weighted retraining ---------------------------------------------------------------

    def _retrain_due(self, rows: pd.DataFrame) -> bool:
        every = self.cfg.retrain_every
        since = oracle_calls(rows) - oracle_calls(rows.iloc[: self.state.retrained_rows])
        return bool(every) and since >= every

    def _retrain(self, rows: pd.DataFrame, seed: int) -> None:
        """Fine-tune a copy of the VAE on the rank-weighted scored molecules, save it as
        ``model.pt`` and move every scored molecule to its new latent point (new data box,
        cold GP fit)."""
        y = rows[self.score_cols].to_numpy(dtype=float)
        ok = np.isfinite(y).all(axis=1)
        smiles = rows.loc[ok, "smiles"].astype(str).tolist()
        if len(smiles) < 2:
            return
        weights = rank_weights(balanced(torch.from_numpy(y[ok])).numpy())
        if self.state.retrains == 0:  # never change the caller's model
            self.model = copy.deepcopy(self.model)
        finetune(self.model, smiles, weights, self.cfg.retrain_steps, seed)
        files.save_model(self.out, self.model)
        self.moved = encode_many(self.model, rows["smiles"].astype(str).tolist()).double()
        self.state.box = DataBox.around(self._data(rows)[0])
        self.warm = None
        self.state.retrained_rows = len(rows)
        self.state.retrains += 1

    # -- bookkeeping -----------------------------------------------------------------------

    def _data(self, rows: pd.DataFrame) -> tuple[torch.Tensor, torch.Tensor]:
        """The GP's `n x d` latents and `n x m` scores, derived from the journal."""
        z = files.journal_latents(rows, self.model.latent_dim)
        if self.moved is not None:
            z[: len(self.moved)] = self.moved
        return files.training_data(rows, self.score_cols, z)

    def _best(self, rows: pd.DataFrame) -> float:
        """The best score, or with several objectives the hypervolume of the front."""
        _, y = self._data(rows)
        if y.shape[1] == 1:
            return float(y.max())
        return hypervolume(y.numpy(), np.asarray(self.state.ref_point))

    def _status(self, rows: pd.DataFrame) -> str:
        label = "best" if len(self.score_cols) == 1 else "hypervolume"
        gp, acq = self.timings["gp_fit_s"], self.timings["acq_s"]
        return f"{label} {self._best(rows):.3f} | GP {gp:.1f}s acq {acq:.1f}s"

    def _count(self, reasons: Mapping[str, int]) -> None:
        for reason, n in reasons.items():
            self.state.rejected[reason] = self.state.rejected.get(reason, 0) + n

    def _save(self) -> None:
        files.save_state(self.out, self.state, self.warm)

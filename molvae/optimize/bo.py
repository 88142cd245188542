"""Bayesian optimisation in the latent space (BoTorch), with random and gradient baselines.

Each iteration proposes latent points, decodes them to molecules, skips anything already
evaluated (no budget spent), applies the constraints, scores the rest with the real oracle,
appends them to the journal and re-encodes what was actually evaluated as GP training data.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from molvae.api import MolVAE
from molvae.config import METHODS, OptimizeConfig
from molvae.data.chem import to_smiles
from molvae.data.tables import read_table
from molvae.errors import UserError
from molvae.files import atomic_write
from molvae.optimize.constraints import Constraints
from molvae.optimize.journal import GIVEN, Journal, oracle_calls, score_columns
from molvae.optimize.objectives import Objective
from molvae.optimize.pareto import balanced, hypervolume, reference_point
from molvae.optimize.proposals import propose_bo, propose_gradient, propose_random
from molvae.optimize.surrogate import TrustRegion
from molvae.progress import console, progress_bar

# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class _State:
    """What ``state.json`` holds so that ``--resume`` continues the same run."""

    objective: str = ""
    config: dict | None = None
    iteration: int = 0
    init_done: bool = False
    lo: list[float] | None = None  # the data box mapping latents to the unit cube
    hi: list[float] | None = None
    ref_point: list[float] | None = None  # hypervolume origin, with several objectives
    retrained_at: int = 0  # oracle calls at the last fine-tuning (model.pt holds the model)
    retrains: int = 0
    tr: dict | None = None
    rejected: dict[str, int] = field(default_factory=dict)


class Optimizer:
    """One optimisation run writing ``journal.csv``, ``state.json`` and the reports to ``out``.

    Args:
        model: The VAE whose latent space is searched.
        objectives: The oracle(s); several make a multi-objective run (qLogNEHVI, a Pareto
            front in ``top.csv``).
        cfg: Settings.
        out: Output folder.
        init: A SMILES table of starting molecules (a ``score`` column, or one named after
            the objective, supplies their scores); ``None`` uses the model's training sample.
        progress: Show a progress bar.
    """

    def __init__(
        self,
        model: MolVAE,
        objectives: Objective | list[Objective],
        cfg: OptimizeConfig,
        out: str | os.PathLike,
        init: str | os.PathLike | pd.DataFrame | None = None,
        progress: bool = True,
    ) -> None:
        if cfg.method not in METHODS:
            raise UserError(f"Unknown method '{cfg.method}'; use one of {', '.join(METHODS)}.")
        objectives = objectives if isinstance(objectives, list) else [objectives]
        names = [o.name for o in objectives]
        if len(set(names)) != len(names):
            raise UserError(f"Objectives must differ; got {', '.join(names)}.")
        if cfg.method == "gradient":
            if len(objectives) > 1:
                raise UserError("--method gradient takes a single --target; use bo or random.")
            if objectives[0].property_name not in model.property_names:
                raise UserError(
                    f"--method gradient climbs the property head, but this model does not "
                    f"predict '{names[0]}' (it predicts "
                    f"{', '.join(model.property_names) or 'nothing'})."
                )
        self.model, self.objectives, self.cfg = model, objectives, cfg
        self.name = ",".join(names)
        self.score_cols = score_columns(names)
        self.out = Path(out)
        self.init = init
        self.progress = progress
        self.constraints = Constraints(cfg)
        self.d = model.latent_dim
        self.x = torch.zeros(0, self.d, dtype=torch.float64)  # latents of scored molecules
        self.y = torch.zeros(0, len(objectives), dtype=torch.float64)  # (n, m) scores
        self.seen: set[str] = set()
        self.lo = self.hi = None  # the data box that maps latents to the unit cube
        self.warm: dict | None = None
        self.timings = {"gp_fit_s": 0.0, "acq_s": 0.0}
        self.tr = TrustRegion(self.d, cfg.batch_size)
        self.state = _State()
        self.used = 0  # oracle calls so far (rows of the journal not given with the input)

    # -- bookkeeping ---------------------------------------------------------------------------

    def _save_state(self) -> None:
        self.state.tr = asdict(self.tr)
        text = json.dumps(asdict(self.state))
        if self.warm is not None:  # the GP's hyperparameters, the next fit's warm start
            warm = self.warm
            atomic_write(self.out / "gp_state.pt", lambda tmp: torch.save(warm, tmp))
        atomic_write(self.out / "state.json", lambda tmp: tmp.write_text(text))

    def _add(self, smiles: list[str], scores: np.ndarray, fallback: torch.Tensor | None) -> None:
        """Add scored molecules (`n x m` scores) to the GP data, re-encoded (else placed at
        ``fallback``); a molecule with any failed score is not used."""
        self.seen.update(smiles)
        ok = np.isfinite(scores).all(axis=1)
        if not ok.any():
            return
        keep = [s for s, k in zip(smiles, ok, strict=True) if k]
        z = encode_many(self.model, keep)
        if fallback is not None:
            fb = fallback[torch.from_numpy(ok)]
            missing = torch.isnan(z).any(dim=1)
            z[missing] = fb[missing].to(z.dtype)
        good = ~torch.isnan(z).any(dim=1)
        self.x = torch.cat([self.x, z[good].double()])
        self.y = torch.cat([self.y, torch.from_numpy(scores[ok]).double()[good]])

    def _evaluate(self, iteration: int, method: str, smiles: list[str], z=None) -> np.ndarray:
        room = self.cfg.budget - self.used
        smiles = smiles[:room]
        if not smiles:
            return np.zeros(0)
        scores = np.column_stack([objective(smiles) for objective in self.objectives])
        self.journal.append(iteration, method, smiles, scores)
        self.used += len(smiles)
        self._add(smiles, scores, None if z is None else z[: len(smiles)])
        return scores

    # -- starting points -----------------------------------------------------------------------

    def _initial_molecules(self) -> tuple[list[str], np.ndarray]:
        """Canonical, distinct starting molecules and their given `n x m` scores (``nan``:
        none)."""
        rng = np.random.default_rng(self.cfg.seed)
        if self.init is None:
            pool = list(self.model.train_sample)
            if not pool:
                pool = [s for s in self.model.sample(self.cfg.n_init, seed=self.cfg.seed) if s]
            given = np.full((len(pool), len(self.objectives)), np.nan)
        else:
            table = read_table(self.init)
            frame = table.frame
            pool = frame[table.smiles_col].astype(str).tolist()
            lower = {c.lower(): c for c in frame.columns}
            cols = [lower.get(c.lower()) for c in self.score_cols]
            given = np.full((len(pool), len(cols)), np.nan)
            if all(cols):  # every objective's score came with the input
                given = frame[cols].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
        smiles, scores = [], []
        for i in rng.permutation(len(pool)):
            canon = to_smiles(pool[i])
            if canon is None:
                self._reject("invalid starting molecule")
            elif canon in smiles:
                self._reject("duplicate starting molecule")
            else:
                smiles.append(canon)
                scores.append(given[i])
            if len(smiles) == self.cfg.n_init:
                break
        return smiles, np.asarray(scores, dtype=float).reshape(len(smiles), len(self.objectives))

    def _reject(self, reason: str) -> None:
        self.state.rejected[reason] = self.state.rejected.get(reason, 0) + 1

    def _resume(self, rows: pd.DataFrame) -> None:
        saved = _State(**json.loads((self.out / "state.json").read_text()))
        mine = {"objective": self.name, "config": asdict(self.cfg)}
        changed = [k for k, v in mine["config"].items() if saved.config.get(k) != v]
        if saved.objective != mine["objective"]:
            changed.insert(0, "objective")
        changed = [k for k in changed if k != "budget"]  # a larger budget may extend a run
        if changed:
            raise UserError(
                f"{self.out} holds a run with different {', '.join(changed)}; resume with the "
                "same settings, or use a new --out folder."
            )
        self.state = saved
        self.state.config = mine["config"]
        if saved.retrains and (self.out / "model.pt").exists():  # the fine-tuned model
            self.model = MolVAE.load(self.out / "model.pt", device=str(self.model.device))
        self.tr = TrustRegion(**saved.tr) if saved.tr else self.tr
        gp_state = self.out / "gp_state.pt"
        if gp_state.exists():  # continue from the same GP hyperparameters, not a cold fit
            self.warm = torch.load(gp_state, weights_only=True)
        smiles = rows["smiles"].astype(str).tolist()
        self._add(smiles, rows[self.score_cols].to_numpy(dtype=float), None)
        self.used = oracle_calls(rows)

    def _start(self, resume: bool) -> None:
        journal_rows = self.journal.read() if resume else None
        if journal_rows is not None and (self.out / "state.json").exists():
            self._resume(journal_rows)
        else:
            self.state = _State(objective=self.name, config=asdict(self.cfg))
        if not self.state.init_done:  # also finishes starting evaluations cut short by a kill
            smiles, given = self._initial_molecules()
            known = np.isfinite(given).all(axis=1)
            have = [s for s, k in zip(smiles, known, strict=True) if k and s not in self.seen]
            if have:
                scores = given[[smiles.index(s) for s in have]]
                self.journal.append(0, GIVEN, have, scores)
                self._add(have, scores, None)
            todo = [s for s, k in zip(smiles, known, strict=True) if not k and s not in self.seen]
            for start in range(0, len(todo), 50):
                self._evaluate(0, "init", todo[start : start + 50])
                self._save_state()
            self.state.init_done = True
        if self.state.lo is None:
            if len(self.x) < 2:
                raise UserError(
                    "Fewer than two starting molecules could be scored; give an --init file "
                    "with valid molecules or check the objective."
                )
            self._set_box()
            self.state.ref_point = reference_point(self.y.numpy()).tolist()
        self.lo = torch.tensor(self.state.lo, dtype=torch.float64)
        self.hi = torch.tensor(self.state.hi, dtype=torch.float64)
        self._save_state()

    def _set_box(self) -> None:
        """The data box (the scored latents' range plus 10 % each side) that maps latents to
        the unit cube, kept in the state so a resumed run uses the same one."""
        lo, hi = self.x.min(0).values, self.x.max(0).values
        span = (hi - lo).clamp(min=1e-3)
        self.state.lo, self.state.hi = (lo - 0.1 * span).tolist(), (hi + 0.1 * span).tolist()

    # -- proposals -----------------------------------------------------------------------------

    def _to_unit(self, z: torch.Tensor) -> torch.Tensor:
        return ((z - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)

    def _from_unit(self, u: torch.Tensor) -> torch.Tensor:
        return self.lo + u * (self.hi - self.lo)

    def _propose(self, q: int, gen: torch.Generator) -> torch.Tensor:
        cfg = self.cfg
        if cfg.method == "random":
            return propose_random(q, self.d, gen)
        if cfg.method == "gradient":
            objective = self.objectives[0]
            column = self.model.property_names.index(objective.property_name)
            head = self.model.model.head
            return propose_gradient(head, column, objective.sign, self.x, self.y[:, 0], q, gen)
        ref = torch.tensor(self.state.ref_point, dtype=torch.float64)
        cand, self.warm, self.timings = propose_bo(
            self._to_unit(self.x), self.y, q, cfg, self.tr, self.warm, ref
        )
        return self._from_unit(cand)

    def _retrain(self, seed: int) -> None:
        """Weighted retraining: fine-tune a copy of the VAE on the scored molecules, save it
        as ``model.pt``, and move every scored molecule to its new latent point."""
        import copy

        from molvae.optimize.retrain import finetune, rank_weights

        rows = self.journal.read()
        y = rows[self.score_cols].to_numpy(dtype=float)
        ok = np.isfinite(y).all(axis=1)
        smiles = rows.loc[ok, "smiles"].astype(str).tolist()
        if len(smiles) < 2:
            return
        weights = rank_weights(balanced(torch.from_numpy(y[ok])).numpy())
        if self.state.retrains == 0:  # never change the caller's model
            self.model = copy.deepcopy(self.model)
        finetune(self.model, smiles, weights, self.cfg.retrain_steps, seed)
        self.model.save(self.out / "model.pt")
        # The latent space moved: re-encode, new data box, cold GP fit.
        self.x = torch.zeros(0, self.d, dtype=torch.float64)
        self.y = torch.zeros(0, len(self.objectives), dtype=torch.float64)
        self._add(smiles, y[ok], None)
        self._set_box()
        self.lo = torch.tensor(self.state.lo, dtype=torch.float64)
        self.hi = torch.tensor(self.state.hi, dtype=torch.float64)
        self.warm = None
        self.state.retrained_at, self.state.retrains = self.used, self.state.retrains + 1

    def _progress_value(self) -> float:
        """The best score, or with several objectives the hypervolume of the front."""
        if self.y.shape[1] == 1:
            return float(self.y.max())
        return hypervolume(self.y.numpy(), np.asarray(self.state.ref_point))

    def _decode_new(self, z: torch.Tensor, gen_seed: int) -> tuple[list[str], torch.Tensor]:
        """Decode candidates greedily, retrying stochastic decodes for known molecules; keep
        the new ones that pass the constraints (the others are counted by reason)."""
        out, keep = [], []
        greedy = self.model.decode(z.float())
        for i, s in enumerate(greedy):
            tries = 0
            while (not s or s in self.seen) and tries < 5:
                tries += 1
                one = z[i : i + 1].float()
                s = self.model.decode(one, greedy=False, seed=gen_seed + 97 * i + tries)[0]
            if not s:
                self._reject("decodes to nothing")
                continue
            if s in self.seen:
                self._reject("already evaluated")
                continue
            self.seen.add(s)  # never proposed for evaluation again
            reason = self.constraints.violation(s)
            if reason is not None:
                self._reject(reason)
                continue
            out.append(s)
            keep.append(i)
        return out, z[keep] if keep else z[:0]

    # -- run -----------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> pd.DataFrame:
        """Optimise until the budget is spent; returns the journal.

        Raises:
            UserError: ``out`` holds another run (and ``resume`` is off), or a resumed run's
                settings differ, or the run was interrupted (exit code 130; resume it).
        """
        journal_path = self.out / "journal.csv"
        if not resume and journal_path.exists() and journal_path.stat().st_size > 100:
            raise UserError(
                f"{self.out} already holds an optimisation run; continue it with --resume or "
                "choose a new --out folder."
            )
        self.out.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(journal_path, resume=resume, score_cols=self.score_cols)
        try:
            self._start(resume)
            stalled = self._loop()
        except KeyboardInterrupt:
            raise UserError(
                f"Interrupted after {self.used} oracle calls, all kept in {journal_path}; "
                "run the same command with --resume to continue.",
                exit_code=130,
            ) from None
        if stalled:
            console.print(
                "Stopped early: 20 iterations in a row proposed no new molecule that passed the "
                f"constraints (rejected so far: {self.state.rejected or 'none'})."
            )
        elif self.state.rejected and self.progress:
            console.print(f"Candidates not evaluated, by reason: {self.state.rejected}")
        journal = self.journal.read()
        from molvae.optimize.report import write_outputs

        write_outputs(
            journal, self.out, [o.name for o in self.objectives], self.cfg, self.state.rejected
        )
        return journal

    def _loop(self) -> bool:
        """Iterate until the budget is spent; ``True`` if it stopped early, stalled."""
        cfg = self.cfg
        stalled = 0
        with progress_bar(cfg.budget, f"Optimising ({cfg.method})", self.progress) as bar:
            bar.advance(self.used)
            while self.used < cfg.budget and stalled < 20:
                it = self.state.iteration + 1
                seed = cfg.seed * 100_003 + it
                torch.manual_seed(seed)
                gen = torch.Generator().manual_seed(seed)
                q = min(cfg.batch_size, cfg.budget - self.used)
                best_before = self._progress_value()
                smiles, z = self._decode_new(self._propose(q, gen), seed)
                before = self.used
                self._evaluate(it, cfg.method, smiles, z)
                bar.advance(self.used - before)
                if self.used == before:  # nothing new: look further afield
                    stalled += 1
                    self.tr.expand()
                else:
                    stalled = 0
                    best = self._progress_value()
                    self.tr.update(best > best_before + 1e-3 * abs(best_before))
                self.state.iteration = it
                if cfg.retrain_every and self.used - self.state.retrained_at >= cfg.retrain_every:
                    self._retrain(seed)
                self._save_state()
                label = "best" if self.y.shape[1] == 1 else "hypervolume"
                bar.status(
                    f"{label} {self._progress_value():.3f} | GP {self.timings['gp_fit_s']:.1f}s "
                    f"acq {self.timings['acq_s']:.1f}s"
                )
        return stalled >= 20


def encode_many(model: MolVAE, smiles: list[str]) -> torch.Tensor:
    """Posterior means of ``smiles`` (`n x d`); ``nan`` rows where a molecule cannot be encoded."""
    z = torch.full((len(smiles), model.latent_dim), float("nan"))
    if not smiles:
        return z
    ds, _ = model.prepare(smiles)
    if len(ds):
        z[torch.from_numpy(ds.rows - 1)] = model.encode_dataset(ds)
    return z


def optimize(
    objective: str | Objective | list,
    model: MolVAE | None = None,
    cfg: OptimizeConfig | None = None,
    out: str | os.PathLike = "runs/optimize",
    init: str | os.PathLike | pd.DataFrame | None = None,
    resume: bool = False,
    progress: bool = True,
) -> pd.DataFrame:
    """Search ``model``'s latent space for molecules that score well under ``objective``.

    Args:
        objective: A target (``logp``, ``qed``, ``sa``, ``plogp``, ``mw=350``, ``tpsa=90``),
            ``file.py:function``, or an :class:`Objective`/callable taking a list of SMILES;
            a list of them optimises all at once (qLogNEHVI, Pareto front in ``top.csv``).
        model: The VAE (default: the bundled model).
        cfg: Budget, method and constraints.
        out: Folder for ``journal.csv``, ``top.csv``, ``best_so_far.png``, ``report.html``.
        init: Starting molecules (a SMILES table, optionally with scores).
        resume: Continue from ``out/journal.csv``: nothing is evaluated twice.
        progress: Show a progress bar.

    Returns:
        The journal of every oracle call.
    """
    from molvae.optimize.objectives import from_spec

    model = model or MolVAE.pretrained()
    specs = objective if isinstance(objective, list | tuple) else [objective]
    objectives = [from_spec(spec) for spec in specs]
    runner = Optimizer(model, objectives, cfg or OptimizeConfig(), out, init, progress)
    return runner.run(resume=resume)

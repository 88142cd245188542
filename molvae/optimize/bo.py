"""Bayesian optimisation in the latent space (BoTorch), with random and gradient baselines.

Each iteration proposes latent points, decodes them to molecules, skips anything already
evaluated (no budget spent), applies the constraints, scores the rest with the real oracle,
appends them to the journal and re-encodes what was actually evaluated as GP training data.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from molvae.api import MolVAE
from molvae.chem import to_smiles
from molvae.config import METHODS, OptimizeConfig
from molvae.data import read_table
from molvae.errors import UserError
from molvae.files import atomic_write
from molvae.optimize.constraints import Constraints
from molvae.optimize.journal import GIVEN, Journal, oracle_calls
from molvae.optimize.objectives import Objective
from molvae.optimize.surrogate import TrustRegion, fit_gp, gp_subset, lengthscales
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
    tr: dict | None = None
    rejected: dict[str, int] = field(default_factory=dict)


class Optimizer:
    """One optimisation run writing ``journal.csv``, ``state.json`` and the reports to ``out``.

    Args:
        model: The VAE whose latent space is searched.
        objective: The oracle.
        cfg: Settings.
        out: Output folder.
        init: A SMILES table of starting molecules (a ``score`` column, or one named after
            the objective, supplies their scores); ``None`` uses the model's training sample.
        progress: Show a progress bar.
    """

    def __init__(
        self,
        model: MolVAE,
        objective: Objective,
        cfg: OptimizeConfig,
        out: str | os.PathLike,
        init: str | os.PathLike | pd.DataFrame | None = None,
        progress: bool = True,
    ) -> None:
        if cfg.method not in METHODS:
            raise UserError(f"Unknown method '{cfg.method}'; use one of {', '.join(METHODS)}.")
        if cfg.method == "gradient" and objective.property_name not in model.property_names:
            raise UserError(
                f"--method gradient climbs the property head, but this model does not predict "
                f"'{objective.name}' (it predicts {', '.join(model.property_names) or 'nothing'})."
            )
        self.model, self.objective, self.cfg = model, objective, cfg
        self.out = Path(out)
        self.init = init
        self.progress = progress
        self.constraints = Constraints(cfg)
        self.d = model.latent_dim
        self.x = torch.zeros(0, self.d, dtype=torch.float64)  # latents of scored molecules
        self.y = torch.zeros(0, dtype=torch.float64)
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
        atomic_write(self.out / "state.json", lambda tmp: tmp.write_text(text))

    def _add(self, smiles: list[str], scores: np.ndarray, fallback: torch.Tensor | None) -> None:
        """Add scored molecules to the GP data, re-encoded (else placed at ``fallback``)."""
        self.seen.update(smiles)
        ok = np.isfinite(scores)
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
        scores = self.objective(smiles)
        self.journal.append(iteration, method, smiles, scores)
        self.used += len(smiles)
        self._add(smiles, scores, None if z is None else z[: len(smiles)])
        return scores

    # -- starting points -----------------------------------------------------------------------

    def _initial_molecules(self) -> tuple[list[str], np.ndarray]:
        """Canonical, distinct starting molecules and their given scores (``nan``: none)."""
        rng = np.random.default_rng(self.cfg.seed)
        if self.init is None:
            pool = list(self.model.ckpt.get("train_sample") or [])
            if not pool:
                pool = [s for s in self.model.sample(self.cfg.n_init, seed=self.cfg.seed) if s]
            given = np.full(len(pool), np.nan)
        else:
            table = read_table(self.init)
            frame = table.frame
            pool = frame[table.smiles_col].astype(str).tolist()
            col = next((c for c in frame.columns if c.lower() == "score"), None)
            given = (
                pd.to_numeric(frame[col], errors="coerce").to_numpy(dtype=float)
                if col
                else np.full(len(pool), np.nan)
            )
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
        return smiles, np.asarray(scores, dtype=float)

    def _reject(self, reason: str) -> None:
        self.state.rejected[reason] = self.state.rejected.get(reason, 0) + 1

    def _resume(self, rows: pd.DataFrame) -> None:
        saved = _State(**json.loads((self.out / "state.json").read_text()))
        mine = {"objective": self.objective.name, "config": asdict(self.cfg)}
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
        self.tr = TrustRegion(**saved.tr) if saved.tr else self.tr
        smiles = rows["smiles"].astype(str).tolist()
        self._add(smiles, rows["score"].to_numpy(dtype=float), None)
        self.used = oracle_calls(rows)

    def _start(self, resume: bool) -> None:
        journal_rows = self.journal.read() if resume else None
        if journal_rows is not None and (self.out / "state.json").exists():
            self._resume(journal_rows)
        else:
            self.state = _State(objective=self.objective.name, config=asdict(self.cfg))
        if not self.state.init_done:  # also finishes starting evaluations cut short by a kill
            smiles, given = self._initial_molecules()
            known = np.array([np.isfinite(v) for v in given], dtype=bool)
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
            span = (self.x.max(0).values - self.x.min(0).values).clamp(min=1e-3)
            self.state.lo = (self.x.min(0).values - 0.1 * span).tolist()
            self.state.hi = (self.x.max(0).values + 0.1 * span).tolist()
        self.lo = torch.tensor(self.state.lo, dtype=torch.float64)
        self.hi = torch.tensor(self.state.hi, dtype=torch.float64)
        self._save_state()

    # -- proposals -----------------------------------------------------------------------------

    def _to_unit(self, z: torch.Tensor) -> torch.Tensor:
        return ((z - self.lo) / (self.hi - self.lo)).clamp(0.0, 1.0)

    def _from_unit(self, u: torch.Tensor) -> torch.Tensor:
        return self.lo + u * (self.hi - self.lo)

    def _propose_bo(self, q: int) -> torch.Tensor:
        from botorch.acquisition.logei import qLogExpectedImprovement
        from botorch.optim import optimize_acqf

        u = self._to_unit(self.x)
        y = self.y
        center = u[torch.argmax(y)]
        idx = gp_subset(u, y, center, self.cfg.max_gp_points)
        t0 = time.perf_counter()
        gp = fit_gp(u[idx], y[idx], self.cfg.gp_maxiter, self.warm)
        self.warm = {k: v.detach().clone() for k, v in gp.state_dict().items()}
        self.timings["gp_fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.cfg.trust_region:
            bounds = self.tr.box(center, lengthscales(gp, self.d))
        else:
            bounds = torch.stack([torch.zeros(self.d), torch.ones(self.d)]).double()
        acq = qLogExpectedImprovement(gp, best_f=y[idx].max())
        cand, _ = optimize_acqf(
            acq,
            bounds=bounds,
            q=q,
            num_restarts=self.cfg.num_restarts,
            raw_samples=self.cfg.raw_samples,
            options={"maxiter": 100, "batch_limit": 64},
        )
        self.timings["acq_s"] = time.perf_counter() - t0
        return self._from_unit(cand.detach())

    def _propose_random(self, q: int, gen: torch.Generator) -> torch.Tensor:
        return torch.randn(q, self.d, generator=gen, dtype=torch.float64)

    def _propose_gradient(self, q: int, gen: torch.Generator) -> torch.Tensor:
        """Gradient ascent on the property head from the best points found so far."""
        j = self.model.property_names.index(self.objective.property_name)
        top = torch.argsort(self.y, descending=True)[:q]
        start = self.x[top].float()
        start = start + 0.1 * torch.randn(start.shape, generator=gen)  # distinct climbs
        z = start.clone().to(self.model.device)
        head = self.model.model.head
        for _ in range(50):  # plain gradient steps on z alone: the model is left untouched
            z.requires_grad_(True)
            gain = self.objective.sign * head(z)[:, j]
            # Stay where the decoder has seen data: a prior penalty on |z|.
            (grad,) = torch.autograd.grad((gain - 0.01 * z.pow(2).sum(dim=1)).sum(), z)
            z = (z + 0.05 * grad / grad.norm(dim=1, keepdim=True).clamp(min=1e-8)).detach()
        return z.cpu().double()

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
        self.journal = Journal(journal_path, resume=resume)
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

        write_outputs(journal, self.out, self.objective.name, self.cfg, self.state.rejected)
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
                best_before = float(self.y.max())
                if cfg.method == "bo":
                    z = self._propose_bo(q)
                elif cfg.method == "random":
                    z = self._propose_random(q, gen)
                else:
                    z = self._propose_gradient(q, gen)
                smiles, z = self._decode_new(z, seed)
                before = self.used
                self._evaluate(it, cfg.method, smiles, z)
                bar.advance(self.used - before)
                if self.used == before:  # nothing new: look further afield
                    stalled += 1
                    self.tr.expand()
                else:
                    stalled = 0
                    self.tr.update(float(self.y.max()) > best_before + 1e-3 * abs(best_before))
                self.state.iteration = it
                self._save_state()
                bar.status(
                    f"best {float(self.y.max()):.3f} | GP {self.timings['gp_fit_s']:.1f}s "
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
    objective: str | Objective,
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
            ``file.py:function``, or an :class:`Objective`/callable taking a list of SMILES.
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
    runner = Optimizer(model, from_spec(objective), cfg or OptimizeConfig(), out, init, progress)
    return runner.run(resume=resume)

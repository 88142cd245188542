"""Bayesian optimisation in the latent space (BoTorch), with random and gradient baselines.

Each iteration proposes latent points, decodes them to molecules, skips anything already
evaluated (no budget spent), applies the constraints, scores the rest with the real oracle,
appends them to the journal and re-encodes what was actually evaluated as GP training data.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from molvae.api import MolVAE
from molvae.chem import fingerprint, to_mol
from molvae.config import METHODS, OptimizeConfig
from molvae.data import read_table
from molvae.errors import UserError
from molvae.optimize.journal import Journal
from molvae.optimize.objectives import Objective
from molvae.progress import console, progress_bar

GIVEN = "given"  # journal method of initial molecules whose scores came with the input


# ---------------------------------------------------------------------------------------------
# Constraints


class Constraints:
    """Which decoded molecules may be sent to the oracle."""

    def __init__(self, cfg: OptimizeConfig) -> None:
        self.cfg = cfg
        self.ref_fp = None
        if cfg.similar_to:
            self.ref_fp = fingerprint(cfg.similar_to)
            if self.ref_fp is None:
                raise UserError(f"--similar-to '{cfg.similar_to}' is not a valid SMILES.")
        self._pains = None

    def violation(self, smiles: str) -> str | None:
        """Why ``smiles`` may not be evaluated, or ``None`` if it may."""
        from rdkit import DataStructs

        from molvae.chem import PROPERTIES

        cfg = self.cfg
        mol = to_mol(smiles)
        if mol is None:
            return "invalid"
        if cfg.max_heavy_atoms is not None and mol.GetNumHeavyAtoms() > cfg.max_heavy_atoms:
            return "too many heavy atoms"
        if cfg.min_qed is not None and PROPERTIES["qed"](mol) < cfg.min_qed:
            return "QED too low"
        if cfg.max_sa is not None and PROPERTIES["sa"](mol) > cfg.max_sa:
            return "SA too high"
        if self.ref_fp is not None:
            sim = DataStructs.TanimotoSimilarity(self.ref_fp, fingerprint(mol))
            if sim < cfg.min_similarity:
                return "not similar enough"
        if cfg.pains:
            if self._pains is None:
                from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

                params = FilterCatalogParams()
                params.AddCatalog(FilterCatalogParams.FilterCatalogs.PAINS)
                self._pains = FilterCatalog(params)
            if self._pains.HasMatch(mol):
                return "PAINS alert"
        return None


# ---------------------------------------------------------------------------------------------
# Trust region (TuRBO, Eriksson et al. 2019)


@dataclass
class TrustRegion:
    """A box around the best point that grows after successes and shrinks after failures."""

    dim: int
    batch_size: int
    length: float = 0.8
    length_min: float = 0.5**7
    length_max: float = 1.6
    successes: int = 0
    failures: int = 0
    restarts: int = 0

    @property
    def failure_tolerance(self) -> int:
        return math.ceil(max(4.0 / self.batch_size, self.dim / self.batch_size))

    def update(self, improved: bool) -> None:
        if improved:
            self.successes, self.failures = self.successes + 1, 0
        else:
            self.successes, self.failures = 0, self.failures + 1
        if self.successes >= 3:
            self.length, self.successes = min(2.0 * self.length, self.length_max), 0
        elif self.failures >= self.failure_tolerance:
            self.length, self.failures = self.length / 2.0, 0
        if self.length < self.length_min:  # collapsed: start again, wide
            self.length, self.restarts = 0.8, self.restarts + 1

    def box(self, center: torch.Tensor, lengthscales: torch.Tensor) -> torch.Tensor:
        """`2 x d` bounds in the unit cube, stretched along the GP's long lengthscales."""
        w = lengthscales / lengthscales.mean()
        w = w / w.prod().pow(1.0 / len(w))
        lo = (center - w * self.length / 2).clamp(0.0, 1.0)
        hi = (center + w * self.length / 2).clamp(0.0, 1.0)
        return torch.stack([lo, hi])


# ---------------------------------------------------------------------------------------------
# The GP surrogate


def _gp_subset(x: torch.Tensor, y: torch.Tensor, center: torch.Tensor, limit: int) -> torch.Tensor:
    """Indices of at most ``limit`` points: the best third, then the nearest to ``center``."""
    if len(x) <= limit:
        return torch.arange(len(x))
    best = torch.argsort(y, descending=True)[: limit // 3]
    rest = torch.ones(len(x), dtype=torch.bool)
    rest[best] = False
    others = torch.nonzero(rest).squeeze(1)
    near = others[torch.argsort((x[others] - center).norm(dim=1))[: limit - len(best)]]
    return torch.cat([best, near])


def fit_gp(x: torch.Tensor, y: torch.Tensor, maxiter: int, warm: dict | None = None):
    """A ``SingleTaskGP`` on unit-cube inputs and standardised outputs.

    Args:
        x: `n x d` inputs in [0, 1]^d (float64).
        y: `n` scores.
        maxiter: Cap on the hyperparameter optimiser's iterations.
        warm: Hyperparameters of the previous fit, to start from.
    """
    from botorch.fit import fit_gpytorch_mll
    from botorch.models import SingleTaskGP
    from botorch.models.transforms import Standardize
    from gpytorch.mlls import ExactMarginalLogLikelihood

    gp = SingleTaskGP(x, y.unsqueeze(-1), outcome_transform=Standardize(m=1))
    if warm is not None:
        hyper = {k: v for k, v in warm.items() if "outcome_transform" not in k}
        gp.load_state_dict(hyper, strict=False)
    mll = ExactMarginalLogLikelihood(gp.likelihood, gp)
    # A failed fit keeps the starting hyperparameters; BO goes on.
    with contextlib.suppress(Exception):
        fit_gpytorch_mll(mll, optimizer_kwargs={"options": {"maxiter": maxiter}})
    return gp


def _lengthscales(gp, dim: int) -> torch.Tensor:
    ls = getattr(gp.covar_module, "lengthscale", None)
    if ls is None and hasattr(gp.covar_module, "base_kernel"):
        ls = gp.covar_module.base_kernel.lengthscale
    return ls.detach().reshape(-1) if ls is not None else torch.ones(dim, dtype=torch.float64)


# ---------------------------------------------------------------------------------------------
# The loop


@dataclass
class _State:
    iteration: int = 0
    used: int = 0
    tr: dict | None = None


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

    # -- bookkeeping ---------------------------------------------------------------------------

    def _save_state(self) -> None:
        self.state.tr = asdict(self.tr)
        tmp = self.out / ".state.json.tmp"
        tmp.write_text(json.dumps(asdict(self.state)))
        os.replace(tmp, self.out / "state.json")

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
        room = self.cfg.budget - self.state.used
        smiles = smiles[:room]
        if not smiles:
            return np.zeros(0)
        scores = self.objective(smiles)
        self.journal.append(iteration, method, smiles, scores)
        self.state.used += len(smiles)
        self._add(smiles, scores, None if z is None else z[: len(smiles)])
        return scores

    # -- starting points -----------------------------------------------------------------------

    def _initial_molecules(self) -> tuple[list[str], np.ndarray | None]:
        rng = np.random.default_rng(self.cfg.seed)
        if self.init is None:
            pool = list(self.model.ckpt.get("train_sample") or [])
            if not pool:
                pool = [s for s in self.model.sample(self.cfg.n_init, seed=self.cfg.seed) if s]
            pick = rng.permutation(len(pool))[: self.cfg.n_init]
            return [pool[i] for i in sorted(pick)], None
        table = read_table(self.init)
        frame = table.frame
        smiles = frame[table.smiles_col].astype(str).tolist()
        col = next(
            (c for c in frame.columns if c.lower() in {"score", self.objective.name.lower()}), None
        )
        scores = pd.to_numeric(frame[col], errors="coerce").to_numpy() if col else None
        pick = sorted(rng.permutation(len(smiles))[: self.cfg.n_init])
        return [smiles[i] for i in pick], None if scores is None else scores[pick]

    def _start(self, journal_rows: pd.DataFrame | None) -> None:
        if journal_rows is not None and len(journal_rows):
            smiles = journal_rows["smiles"].astype(str).tolist()
            scores = journal_rows["score"].to_numpy(dtype=float)
            self._add(smiles, scores, None)
            self.seen.update(smiles)
            self.state.used = int((journal_rows["method"] != GIVEN).sum())
            self.state.iteration = int(journal_rows["iteration"].max())
            state_file = self.out / "state.json"
            if state_file.exists():
                saved = json.loads(state_file.read_text())
                self.tr = TrustRegion(**saved["tr"]) if saved.get("tr") else self.tr
        else:
            smiles, given = self._initial_molecules()
            canon = [_canonical(s) for s in smiles]
            pairs = [(c, i) for i, c in enumerate(canon) if c]
            unique = list(dict.fromkeys(c for c, _ in pairs))
            if given is not None:
                first = {c: i for c, i in reversed(pairs)}
                scores = np.array([given[first[c]] for c in unique], dtype=float)
                self.journal.append(0, GIVEN, unique, scores)
                self._add(unique, scores, None)
            else:
                for start in range(0, len(unique), 50):
                    self._evaluate(0, "init", unique[start : start + 50])
        if len(self.x) < 2:
            raise UserError(
                "Fewer than two starting molecules could be scored; give an --init file with "
                "valid molecules or check the objective."
            )
        span = (self.x.max(0).values - self.x.min(0).values).clamp(min=1e-3)
        self.lo = self.x.min(0).values - 0.1 * span
        self.hi = self.x.max(0).values + 0.1 * span
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
        idx = _gp_subset(u, y, center, self.cfg.max_gp_points)
        t0 = time.perf_counter()
        gp = fit_gp(u[idx], y[idx], self.cfg.gp_maxiter, self.warm)
        self.warm = {k: v.detach().clone() for k, v in gp.state_dict().items()}
        self.timings["gp_fit_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.cfg.trust_region:
            bounds = self.tr.box(center, _lengthscales(gp, self.d))
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
        z = start.clone().to(self.model.device).requires_grad_(True)
        opt = torch.optim.Adam([z], lr=0.05)
        head = self.model.model.head
        for _ in range(50):
            opt.zero_grad()
            gain = self.objective.sign * head(z)[:, j]
            # Stay where the decoder has seen data: a prior penalty on |z|.
            loss = -(gain - 0.01 * z.pow(2).sum(dim=1)).sum()
            loss.backward()
            opt.step()
        return z.detach().cpu().double()

    def _decode_new(self, z: torch.Tensor, gen_seed: int) -> tuple[list[str], torch.Tensor]:
        """Decode candidates greedily; retry a few stochastic decodes for known molecules."""
        out, keep = [], []
        batch_seen: set[str] = set()
        greedy = self.model.decode(z.float())
        for i, s in enumerate(greedy):
            tries = 0
            while (not s or s in self.seen or s in batch_seen) and tries < 3:
                tries += 1
                s = self.model.decode(
                    z[i : i + 1].float(), greedy=False, seed=gen_seed + 97 * i + tries
                )[0]
            if not s or s in self.seen or s in batch_seen:
                continue
            if self.constraints.violation(s) is not None:
                batch_seen.add(s)
                continue
            batch_seen.add(s)
            out.append(s)
            keep.append(i)
        return out, z[keep] if keep else z[:0]

    # -- run -----------------------------------------------------------------------------------

    def run(self, resume: bool = False) -> pd.DataFrame:
        """Optimise until the budget is spent; returns the journal."""
        self.out.mkdir(parents=True, exist_ok=True)
        self.journal = Journal(self.out / "journal.csv", resume=resume)
        rows = self.journal.read() if resume else None
        self._start(rows)
        cfg = self.cfg
        stalled = 0
        with progress_bar(cfg.budget, f"Optimising ({cfg.method})", self.progress) as bar:
            bar.advance(self.state.used)
            while self.state.used < cfg.budget and stalled < 20:
                it = self.state.iteration + 1
                seed = cfg.seed * 100_003 + it
                torch.manual_seed(seed)
                gen = torch.Generator().manual_seed(seed)
                q = min(cfg.batch_size, cfg.budget - self.state.used)
                best_before = float(self.y.max())
                if cfg.method == "bo":
                    z = self._propose_bo(q)
                elif cfg.method == "random":
                    z = self._propose_random(q, gen)
                else:
                    z = self._propose_gradient(q, gen)
                smiles, z = self._decode_new(z, seed)
                before = self.state.used
                self._evaluate(it, cfg.method, smiles, z)
                bar.advance(self.state.used - before)
                stalled = stalled + 1 if self.state.used == before else 0
                self.tr.update(float(self.y.max()) > best_before + 1e-3 * abs(best_before))
                self.state.iteration = it
                self._save_state()
                bar.status(
                    f"best {float(self.y.max()):.3f} | GP {self.timings['gp_fit_s']:.1f}s "
                    f"acq {self.timings['acq_s']:.1f}s"
                )
        if stalled >= 20:
            console.print("Stopped early: 20 iterations in a row proposed only known molecules.")
        journal = self.journal.read()
        from molvae.optimize.report import write_outputs

        write_outputs(journal, self.out, self.objective.name, cfg, self.model)
        return journal


def encode_many(model: MolVAE, smiles: list[str]) -> torch.Tensor:
    """Posterior means of ``smiles`` (`n x d`); ``nan`` rows where a molecule cannot be encoded."""
    z = torch.full((len(smiles), model.latent_dim), float("nan"))
    if not smiles:
        return z
    ds, _ = model.prepare(smiles)
    if len(ds):
        z[torch.from_numpy(ds.rows - 1)] = model.encode_dataset(ds)
    return z


def _canonical(smiles: str) -> str | None:
    from molvae.chem import to_smiles

    return to_smiles(smiles) if isinstance(smiles, str) else None


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

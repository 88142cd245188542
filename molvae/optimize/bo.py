"""Latent-space optimisation: Bayesian optimisation (BoTorch) that ranks decoded proposals and
library molecules together, with the baselines it must beat in the same harness and budget
(``screen``, ``ga``, ``random``, ``gradient``). This module is the entry point;
:mod:`~molvae.optimize.loop` runs the iterations.
"""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd

from molvae.api import MolVAE
from molvae.config import METHODS, OptimizeConfig
from molvae.errors import UserError
from molvae.optimize.journal import Journal, oracle_calls, score_columns
from molvae.optimize.library import Library, load_library
from molvae.optimize.loop import STALL_LIMIT, Search
from molvae.optimize.objectives import Objective, from_spec, head_estimate
from molvae.progress import console


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

    Raises:
        UserError: An unknown method, repeated objectives, ``gradient`` without a property
            head for the (single) objective, ``screen`` without a library, or an unreadable
            library file.
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
        objectives = objectives if isinstance(objectives, list) else [objectives]
        library = load_library(model, cfg.library)
        _check_setup(model, objectives, cfg, library)
        self.model, self.objectives, self.cfg, self.library = model, objectives, cfg, library
        self.out = Path(out)
        self.init, self.progress = init, progress

    def run(self, resume: bool = False) -> pd.DataFrame:
        """Optimise until the budget is spent; returns the journal.

        Raises:
            UserError: ``out`` holds another run (and ``resume`` is off), or a resumed run's
                settings differ, or the run was interrupted (exit code 130; resume it).
        """
        names = [o.name for o in self.objectives]
        path = self.out / "journal.csv"
        journal = Journal(path, score_columns(names), self.model.latent_dim).open(resume)
        search = Search(self.model, self.objectives, self.cfg, journal, self.init, self.library)
        try:
            search.start(resume)
            stalled = search.loop(self.progress)
        except KeyboardInterrupt:
            raise UserError(
                f"Interrupted after {oracle_calls(journal.read())} oracle calls, all kept in "
                f"{path}; run the same command with --resume to continue.",
                exit_code=130,
            ) from None
        rejected = search.state.rejected
        if stalled:
            console.print(
                f"Stopped early: {STALL_LIMIT} iterations in a row proposed no new molecule "
                f"that passed the constraints (rejected so far: {rejected or 'none'})."
            )
        elif rejected and self.progress:
            console.print(f"Molecules not sent to the oracle, by reason: {rejected}")
        # Imported here only because matplotlib is slow to import and `import molvae` should
        # not pay for it; there is no cycle.
        from molvae.optimize.report import write_outputs

        rows = journal.read()
        ref = search.state.ref_point
        write_outputs(rows, self.out, names, self.cfg, rejected, ref)
        return rows


def _check_setup(
    model: MolVAE, objectives: list[Objective], cfg: OptimizeConfig, library: Library | None
) -> None:
    """Refuse settings the loop cannot run, with a sentence saying why."""
    names = [o.name for o in objectives]
    if cfg.method not in METHODS:
        raise UserError(f"Unknown method '{cfg.method}'; use one of {', '.join(METHODS)}.")
    if len(set(names)) != len(names):
        raise UserError(f"Objectives must differ; got {', '.join(names)}.")
    if cfg.method == "screen" and library is None:
        raise UserError(
            "--method screen scores library molecules, but this model stores no training "
            "sample; give one with --library FILE."
        )
    if cfg.method != "gradient":
        return
    if len(objectives) > 1:
        raise UserError("--method gradient takes a single --target; use bo or random.")
    if head_estimate(model, objectives) is None:
        raise UserError(
            f"--method gradient climbs the property head, but this model does not predict "
            f"'{names[0]}' (it predicts {', '.join(model.property_names) or 'nothing'})."
        )


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
    model = model or MolVAE.pretrained()
    specs = objective if isinstance(objective, list | tuple) else [objective]
    objectives = [from_spec(spec) for spec in specs]
    runner = Optimizer(model, objectives, cfg or OptimizeConfig(), out, init, progress)
    return runner.run(resume=resume)

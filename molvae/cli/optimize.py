"""``molvae optimize``: search the latent space for better molecules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from molvae.cli.common import load_model
from molvae.config import OptimizeConfig
from molvae.errors import UserError
from molvae.progress import console

_OPT = OptimizeConfig()


def optimize(
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="logp, qed, sa (minimised), plogp, mw=350 or tpsa=90; repeat it for a "
            "multi-objective run (Pareto front)."
        ),
    ] = None,
    objective: Annotated[
        list[str] | None,
        typer.Option(help="Custom oracle: my_scores.py:score or pkg.module:score (repeatable)."),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model file (default: bundled).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/optimize"
    ),
    budget: Annotated[int, typer.Option(help="Oracle calls to spend.")] = _OPT.budget,
    batch_size: Annotated[int, typer.Option(help="Candidates per iteration.")] = _OPT.batch_size,
    method: Annotated[
        str, typer.Option(help="bo, screen (the library), ga (SELFIES GA), random or gradient.")
    ] = _OPT.method,
    library: Annotated[
        Path | None,
        typer.Option(help="Real molecules for bo and screen (default: the training sample)."),
    ] = None,
    init: Annotated[
        Path | None, typer.Option(help="Starting molecules (optional score column).")
    ] = None,
    n_init: Annotated[int, typer.Option(help="Starting molecules to use.")] = _OPT.n_init,
    global_box: Annotated[
        bool, typer.Option("--global", help="Search the whole data box, no trust region.")
    ] = False,
    max_heavy_atoms: Annotated[
        int, typer.Option(help="Largest molecule allowed.")
    ] = _OPT.max_heavy_atoms,
    min_qed: Annotated[float | None, typer.Option(help="Smallest QED allowed.")] = None,
    max_sa: Annotated[float | None, typer.Option(help="Largest SA score allowed.")] = None,
    similar_to: Annotated[str | None, typer.Option(help="Stay similar to this SMILES.")] = None,
    min_similarity: Annotated[
        float, typer.Option(help="Tanimoto to --similar-to.")
    ] = _OPT.min_similarity,
    pains: Annotated[bool, typer.Option(help="Reject PAINS alerts.")] = _OPT.pains,
    guards: Annotated[
        bool,
        typer.Option(
            help="Reject what no chemist would make: MOSES filters, rings of 3-7 atoms, "
            "peroxides, azo, polyenes, dienes, vinyl halides, enamines, imines, long alkyl "
            "chains, SA > 4.5, QED < 0.3, out of domain."
        ),
    ] = _OPT.guards,
    strict: Annotated[
        bool, typer.Option(help="Turn away candidates whose SELFIES had to be repaired.")
    ] = _OPT.strict,
    edits: Annotated[
        int,
        typer.Option(
            help="SELFIES edits of the best molecules that bo ranks beside its proposals, per "
            "batch slot (0: none)."
        ),
    ] = _OPT.edits,
    head_prior: Annotated[
        bool,
        typer.Option(
            help="bo with one target the property head predicts: the head's estimate is the "
            "GP's prior mean."
        ),
    ] = _OPT.head_prior,
    retrain_every: Annotated[
        int, typer.Option(help="Fine-tune the VAE on rank-weighted results every N calls.")
    ] = _OPT.retrain_every,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/journal.csv.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = _OPT.seed,
) -> None:
    """Find better molecules by Bayesian optimisation in the latent space.

    Every candidate is decoded, checked by RDKit and scored by the real oracle.
    """
    from molvae.optimize.bo import optimize as run_optimize
    from molvae.optimize.journal import oracle_calls

    specs = [*(target or []), *(objective or [])]
    if not specs:
        raise UserError("Give what to optimise: --target (e.g. --target logp) or --objective.")
    cfg = OptimizeConfig(
        budget=budget,
        batch_size=batch_size,
        method=method,
        n_init=n_init,
        trust_region=not global_box,
        max_heavy_atoms=max_heavy_atoms,
        min_qed=min_qed,
        max_sa=max_sa,
        similar_to=similar_to,
        min_similarity=min_similarity,
        pains=pains,
        guards=guards,
        library=str(library) if library else None,
        strict=strict,
        edits=edits,
        head_prior=head_prior,
        retrain_every=retrain_every,
        seed=seed,
    )
    journal = run_optimize(
        specs, model=load_model(model), cfg=cfg, out=out, init=init, resume=resume
    )
    if len(specs) == 1:
        best = journal.sort_values("score", ascending=False).iloc[0]
        found = f"best {best['score']:.3f}: {best['smiles']}"
        files = "top.csv"
    else:
        found = f"{len(pd.read_csv(out / 'top.csv'))} molecules on the Pareto front"
        files = "top.csv (the Pareto front), pareto.png"
    console.print(
        f"{oracle_calls(journal)} oracle calls; {found}\n"
        f"Outputs: {out}/journal.csv, {files}, best_so_far.png, report.html"
    )

"""``molvae evaluate``: MOSES metrics, reconstruction, property accuracy."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from molvae.cli.common import ModelArg, default_of, load_model
from molvae.evaluate import evaluate as run_evaluation
from molvae.evaluate import print_table
from molvae.progress import console


def evaluate(
    test: Annotated[
        Path,
        typer.Option(
            help="Reference (test) SMILES table, e.g. data/moses_test_1k.csv of the molvae "
            "repository or MOSES's test.csv."
        ),
    ],
    model: ModelArg = None,
    train: Annotated[
        Path | None, typer.Option(help="Training table for Novelty (default: the model's own).")
    ] = None,
    n: Annotated[int, typer.Option("-n", help="Molecules to sample.")] = default_of(
        run_evaluation, "n"
    ),
    n_recon: Annotated[int, typer.Option(help="Test molecules to reconstruct.")] = default_of(
        run_evaluation, "n_recon"
    ),
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = default_of(run_evaluation, "seed"),
    fcd: Annotated[bool, typer.Option(help="Compute FCD/Test (needs fcd_torch).")] = default_of(
        run_evaluation, "use_fcd"
    ),
    output: Annotated[Path | None, typer.Option("-o", "--output", help="JSON to write.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache folder.")] = None,
    prior: Annotated[str, typer.Option(help="auto, standard (N(0, I)) or fitted.")] = default_of(
        run_evaluation, "prior"
    ),
) -> None:
    """MOSES metrics (valid, unique@k, FCD/Test, SNN/Test, Frag/Test, Scaf/Test, IntDiv,
    Filters, Novelty), reconstruction, active units and property accuracy."""
    result = run_evaluation(
        load_model(model),
        test=test,
        train=train,
        n=n,
        n_recon=n_recon,
        seed=seed,
        use_fcd=fcd,
        cache=str(cache_dir) if cache_dir else None,
        prior=prior,
    )
    print_table(result)
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Results -> {output}")

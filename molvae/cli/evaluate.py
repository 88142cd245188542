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
        Path | None,
        typer.Option(
            help="Training table for Novelty (default: MOSES's train.csv.gz when --test is "
            "MOSES's test file beside it, else the model's own training set)."
        ),
    ] = None,
    test_scaffolds: Annotated[
        Path | None,
        typer.Option(
            help="Scaffold test set (MOSES's test_scaffolds.csv.gz) for the /TestSF keys."
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option(help="Sample strict (unrepaired) SELFIES, or valid SMILES, only.")
    ] = default_of(run_evaluation, "strict"),
    consistent: Annotated[
        bool | None,
        typer.Option(
            help="Sample only molecules the model reconstructs (sample --consistent; default: "
            "as sample does).",
            show_default=False,
        ),
    ] = default_of(run_evaluation, "consistent"),
    keep_references: Annotated[
        bool,
        typer.Option(
            help="Also keep samples that are one of the prior's reference molecules (as "
            "sample --keep-references)."
        ),
    ] = default_of(run_evaluation, "keep_references"),
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
    """MOSES metrics as MOSES computes them, strict rate, reconstruction, property accuracy.

    Keys: valid, strict (and consistent, reference_copies), unique@k, FCD/SNN/Frag/Scaf against
    Test (and TestSF), IntDiv, IntDiv2, Filters, logP, SA, QED, weight, Novelty, recon_exact,
    active_units, r2_*.
    """
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
        test_scaffolds=test_scaffolds,
        strict=strict,
        consistent=consistent,
        keep_references=keep_references,
    )
    print_table(result)
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Results -> {output}")

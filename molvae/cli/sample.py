"""``molvae sample``: molecules from the prior."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from molvae.cli.common import ModelArg, default_of, load_model
from molvae.progress import console
from molvae.sample import sample_molecules


def sample(
    model: ModelArg = None,
    n: Annotated[int, typer.Option("-n", help="Number of molecules.")] = 1000,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV to write (default: stdout).")
    ] = None,
    temperature: Annotated[
        float, typer.Option(help="Sampling temperature (0: greedy).")
    ] = default_of(sample_molecules, "temperature"),
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    prior: Annotated[str, typer.Option(help="auto, standard (N(0, I)) or fitted.")] = default_of(
        sample_molecules, "prior"
    ),
    strict: Annotated[
        bool,
        typer.Option(
            help="Keep only molecules whose SELFIES needed no repair, or for a SMILES model "
            "valid SMILES (draws until n)."
        ),
    ] = default_of(sample_molecules, "strict"),
) -> None:
    """Sample molecules from the prior; prints valid / strict / unique / novel fractions."""
    from molvae.metrics import fraction_unique, fraction_valid, novelty

    vae = load_model(model)
    sampled = sample_molecules(vae, n, temperature, seed, prior, strict, progress=True)
    smiles = sampled.smiles
    frame = pd.DataFrame({"smiles": [s or "" for s in smiles]})
    if output is not None:
        frame.to_csv(output, index=False)
    else:
        sys.stdout.write("\n".join(frame["smiles"]) + "\n")
    nov = novelty(smiles, vae.in_training_set) if vae.train_hashes is not None else float("nan")
    console.print(
        f"{len(smiles)} sampled{f' -> {output}' if output else ''}: "
        f"valid {fraction_valid(smiles):.3f}, strict (raw) {sampled.strict_rate:.3f} "
        f"of {sampled.drawn} decodes, unique {fraction_unique(smiles):.3f}, "
        f"novel {nov:.3f} (vs. the training set)"
    )
    if len(smiles) < n:
        keep = "invalid SMILES" if vae.data_config.tokens == "smiles" else "repaired SELFIES"
        console.print(
            f"Only {len(smiles)} of {n} molecules were strict after {sampled.drawn} decodes; "
            f"use --no-strict to keep {keep} too, or train the model longer."
        )

"""``molvae sample``: molecules from the prior."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from molvae.cli.common import ModelArg, load_model
from molvae.progress import console


def sample(
    model: ModelArg = None,
    n: Annotated[int, typer.Option("-n", help="Number of molecules.")] = 1000,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV to write (default: stdout).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    prior: Annotated[str, typer.Option(help="auto, standard (N(0, I)) or fitted.")] = "auto",
) -> None:
    """Sample molecules from the prior; prints valid / unique / novel fractions."""
    from molvae.metrics import fraction_unique, fraction_valid, novelty

    vae = load_model(model)
    smiles = vae.sample(n, temperature=temperature, seed=seed, progress=True, prior=prior)
    frame = pd.DataFrame({"smiles": [s or "" for s in smiles]})
    if output is not None:
        frame.to_csv(output, index=False)
    else:
        sys.stdout.write("\n".join(frame["smiles"]) + "\n")
    nov = novelty(smiles, vae.in_training_set) if vae.train_hashes is not None else float("nan")
    console.print(
        f"{n} sampled{f' -> {output}' if output else ''}: valid {fraction_valid(smiles):.3f}, "
        f"unique {fraction_unique(smiles):.3f}, novel {nov:.3f} (vs. the training set)"
    )

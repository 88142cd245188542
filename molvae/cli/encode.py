"""``molvae encode``: molecules to latent means."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.cli.common import load_model, model_and_input
from molvae.progress import console


def encode(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model file and SMILES table.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of latent vectors.")] = Path(
        "latent.csv"
    ),
) -> None:
    """Encode molecules to latent means (one row per usable input row, z0..zN columns)."""
    model, data = model_and_input(args)
    rejects_path = output.with_name(output.stem + "_rejects.csv")
    frame, rejects = load_model(model).encode_table(data, rejects_path, progress=True)
    frame.to_csv(output, index=False)
    console.print(
        f"{len(frame)} molecules encoded -> {output}; {len(rejects)} rejected -> {rejects_path}"
    )

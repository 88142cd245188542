"""``molvae decode``: latent vectors to molecules."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.cli.common import load_model, model_and_input
from molvae.progress import console


def decode(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] Z_CSV: columns z0..zN.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of SMILES.")] = Path(
        "decoded.csv"
    ),
) -> None:
    """Decode latent vectors (a CSV with columns z0, z1, ...) greedily to SMILES."""
    model, data = model_and_input(args)
    frame = load_model(model).decode_table(data)
    frame.to_csv(output, index=False)
    console.print(f"{len(frame)} latent vectors decoded -> {output}")

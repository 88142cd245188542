"""``molvae reconstruct``: encode then decode; the exact-match rate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.cli.common import load_model, model_and_input
from molvae.progress import console


def reconstruct(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model and SMILES table.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Per-molecule CSV.")] = None,
) -> None:
    """Encode then greedily decode molecules; prints the exact-match reconstruction rate."""
    model, data = model_and_input(args)
    frame, rejects = load_model(model).reconstruct_table(data, progress=True)
    if output is not None:
        frame.to_csv(output, index=False)
    exact = frame["exact"]
    console.print(
        f"exact-match reconstruction: {exact.mean():.3f} ({int(exact.sum())}/{len(exact)}); "
        f"{len(rejects)} rows rejected"
    )

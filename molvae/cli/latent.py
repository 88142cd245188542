"""The latent-space commands: ``interpolate``, ``neighbors`` and ``map``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.cli.common import load_model, model_and_input, show
from molvae.progress import console


def interpolate(
    a: Annotated[str, typer.Argument(help="Start molecule (SMILES).")],
    b: Annotated[str, typer.Argument(help="End molecule (SMILES).")],
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.")] = 10,
    method: Annotated[str, typer.Option(help="slerp or linear.")] = "slerp",
    model: Annotated[Path | None, typer.Option(help="Model file (default: bundled).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="CSV to write.")] = None,
    image: Annotated[Path | None, typer.Option(help="PNG strip of the molecules.")] = None,
) -> None:
    """Decode evenly spaced points on the latent path between two molecules."""
    frame = load_model(model).interpolate(a, b, steps=steps, method=method)
    show(frame, output, image, [f"t={t:.2f}" for t in frame["t"]])


def neighbors(
    smiles: Annotated[str, typer.Argument(help="The query molecule (SMILES).")],
    n: Annotated[int, typer.Option("-n", help="Neighbours to return.")] = 20,
    radius: Annotated[float, typer.Option(help="Latent perturbation (prior std is 1).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    model: Annotated[Path | None, typer.Option(help="Model file (default: bundled).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="CSV to write.")] = None,
    image: Annotated[Path | None, typer.Option(help="PNG grid of the molecules.")] = None,
) -> None:
    """Distinct molecules decoded around a molecule's latent point, most similar first."""
    frame = load_model(model).neighbors(smiles, n=n, radius=radius, seed=seed)
    show(frame, output, image, [f"{s:.2f}" for s in frame["similarity"]])


def map_(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model and SMILES table.")],
    color: Annotated[
        str | None, typer.Option(help="A column of the table or logp, qed, sa, mw, tpsa, plogp.")
    ] = "logp",
    method: Annotated[str, typer.Option(help="pca or tsne.")] = "pca",
    output: Annotated[Path, typer.Option("-o", "--output", help="Image to write.")] = Path(
        "map.png"
    ),
) -> None:
    """Draw a 2-D map (PCA or t-SNE) of the molecules' latent means, coloured by a property."""
    from molvae import plots

    model, data = model_and_input(args)
    frame, rejects = load_model(model).latent_map(data, color=color, method=method, progress=True)
    plots.save(plots.latent_map(frame, color), output)
    frame.to_csv(output.with_suffix(".csv"), index=False)
    console.print(
        f"{len(frame)} molecules mapped -> {output} (coordinates: {output.with_suffix('.csv')}); "
        f"{len(rejects)} rows rejected"
    )

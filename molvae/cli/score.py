"""``molvae score``: anomaly scores with an out-of-domain flag."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.anomaly import DEFAULT_QUANTILE, DEFAULT_SAMPLES
from molvae.cli.common import load_model, model_and_input
from molvae.errors import UserError
from molvae.progress import console


def score(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model and SMILES table.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Per-molecule CSV.")] = Path(
        "scores.csv"
    ),
    reference: Annotated[
        Path | None,
        typer.Option(help="In-domain molecules that set the threshold (default: the model's)."),
    ] = None,
    quantile: Annotated[float, typer.Option(help="Reference quantile used as threshold.")] = (
        DEFAULT_QUANTILE
    ),
    samples: Annotated[int, typer.Option(help="Posterior samples per molecule.")] = DEFAULT_SAMPLES,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Anomaly scores (negative ELBO, reconstruction log-probability) with an out-of-domain flag."""
    model, data = model_and_input(args)
    vae = load_model(model)
    threshold = None
    if reference is not None:
        threshold = vae.calibrate(reference, quantile)
    elif vae.anomaly_threshold is None:
        raise UserError(
            "This model has no stored anomaly threshold; pass --reference with molecules like "
            "its training data (e.g. a sample of the training file)."
        )
    frame, rejects = vae.score(data, n_samples=samples, threshold=threshold, seed=seed)
    frame.to_csv(output, index=False)
    rejects_path = output.with_name(output.stem + "_rejects.csv")
    rejects.to_csv(rejects_path, index=False)
    threshold = vae.anomaly_threshold
    console.print(
        f"{len(frame)} molecules scored -> {output}; {int(frame['flag'].sum())} flagged "
        f"(neg_elbo > {threshold:.2f}); {len(rejects)} rows rejected -> {rejects_path}"
    )

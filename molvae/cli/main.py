"""The ``molvae`` command line: the Typer app, one command per module of this package.

Each command parses its options, builds a config and calls one library function; defaults come
from the library (``molvae.config`` and the functions' own defaults), never restated here.
"""

from __future__ import annotations

import sys

import typer

from molvae.cli import (
    decode,
    encode,
    evaluate,
    export,
    info,
    latent,
    optimize,
    reconstruct,
    sample,
    score,
    train,
)
from molvae.errors import UserError
from molvae.progress import console

app = typer.Typer(
    help="Molecular design with SELFIES variational autoencoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
for command in (
    train.train,
    sample.sample,
    encode.encode,
    decode.decode,
    reconstruct.reconstruct,
    evaluate.evaluate,
    optimize.optimize,
    latent.interpolate,
    latent.neighbors,
    score.score,
    export.export,
    info.info,
):
    app.command()(command)
app.command(name="map")(latent.map_)


def main() -> None:
    """Entry point: run the app; user errors print one sentence and set the exit code."""
    try:
        app()
    except UserError as err:
        console.print(f"[bold red]Error:[/] {err}")
        sys.exit(err.exit_code)

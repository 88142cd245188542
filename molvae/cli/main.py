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
for name, command in (  # the order `molvae --help` lists them in
    ("train", train.train),
    ("sample", sample.sample),
    ("encode", encode.encode),
    ("decode", decode.decode),
    ("reconstruct", reconstruct.reconstruct),
    ("evaluate", evaluate.evaluate),
    ("optimize", optimize.optimize),
    ("interpolate", latent.interpolate),
    ("neighbors", latent.neighbors),
    ("map", latent.map_),
    ("score", score.score),
    ("export", export.export),
    ("info", info.info),
):
    app.command(name=name)(command)


def main() -> None:
    """Entry point: run the app; user errors print one sentence and set the exit code."""
    try:
        app()
    except UserError as err:
        console.print(f"[bold red]Error:[/] {err}")
        sys.exit(err.exit_code)

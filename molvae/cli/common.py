"""What the commands share: the model argument, loading a model, splitting lists, showing a
table of molecules, and reading defaults from the library so the CLI never restates them."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from molvae.errors import UserError
from molvae.progress import console

ModelArg = Annotated[
    Path | None, typer.Argument(help="A model file (.pt) written by `molvae train`.")
]


def default_of(func: Callable[..., Any], name: str) -> Any:
    """The default value of ``func``'s parameter ``name`` (a CLI default taken from the
    library, never restated)."""
    return inspect.signature(func).parameters[name].default


def load_model(model: Path | None):
    """The model in ``model``, or the bundled one."""
    from molvae.api import MolVAE

    return MolVAE.load(model) if model is not None else MolVAE.pretrained()


def split_list(text: str | None) -> list[str]:
    """``"a, b,c"`` -> ``["a", "b", "c"]``."""
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


def model_and_input(args: list[Path]) -> tuple[Path | None, Path]:
    if len(args) == 1:
        return None, args[0]
    if len(args) == 2:
        return args[0], args[1]
    raise UserError("Give an input file, optionally preceded by a model file: [MODEL] INPUT.")


def show(frame: pd.DataFrame, output: Path | None, image: Path | None, legends) -> None:
    from molvae.plots import molecule_grid

    console.print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if output is not None:
        frame.to_csv(output, index=False)
        console.print(f"Table -> {output}")
    if image is not None:
        molecule_grid(list(frame["smiles"]), legends).save(image)
        console.print(f"Drawing -> {image}")

"""``molvae train``: train a VAE on a SMILES table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.cli.common import split_list
from molvae.config import DataConfig, TrainConfig, load_preset, replace
from molvae.errors import UserError
from molvae.progress import console

_DATA, _TRAIN = DataConfig(), TrainConfig()


def train(
    data: Annotated[Path, typer.Argument(help="SMILES table: .csv, .tsv or .smi, optionally .gz.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("runs/molvae"),
    preset: Annotated[
        str | None,
        typer.Option(
            help="tiny, small (the default), moses, finetune (the default with --init), or a "
            ".toml file."
        ),
    ] = None,
    properties: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated targets: CSV columns and/or logp, qed, sa, mw, tpsa, plogp."
        ),
    ] = None,
    condition: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated properties to condition the encoder and decoder on (a "
            "conditional VAE for sample --where), e.g. logp,qed; added to --properties."
        ),
    ] = None,
    smiles_col: Annotated[str | None, typer.Option(help="The SMILES column.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the preset's epochs.")] = None,
    max_minutes: Annotated[
        float | None,
        typer.Option(
            help="End training within this many minutes (data loading not counted); the "
            "learning-rate and KL schedules span the steps that fit."
        ),
    ] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the batch size.")] = None,
    beta: Annotated[
        float | None,
        typer.Option(help="Final KL weight (the finetune preset: the --init model's own)."),
    ] = None,
    max_molecules: Annotated[
        int | None, typer.Option(help="Use a random sample of N rows.")
    ] = None,
    max_tokens: Annotated[
        int, typer.Option(help="Reject molecules with more tokens.")
    ] = _DATA.max_tokens,
    tokens: Annotated[
        str | None,
        typer.Option(
            help="selfies (every decode is a molecule; the default) or smiles (the reference "
            "arm; a decode RDKit cannot parse counts as invalid)."
        ),
    ] = None,
    init: Annotated[
        str | None,
        typer.Option(
            help="Fine-tune this trained model (a .pt file, or 'bundled') instead of starting "
            "from random weights; it keeps its sizes, tokens and clean-up, and the preset "
            "gives the training settings (the finetune preset: at the model's own beta)."
        ),
    ] = None,
    val_fraction: Annotated[float, typer.Option(help="Held-out fraction.")] = _DATA.val_fraction,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    force: Annotated[
        bool,
        typer.Option(help="With --resume: accept changed epochs, learning rate, β or annealing."),
    ] = False,
    seed: Annotated[int, typer.Option(help="Seed for the split and training.")] = _DATA.seed,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = _TRAIN.device,
    jobs: Annotated[int, typer.Option(help="Tokenising processes (0: all cores).")] = _DATA.n_jobs,
    cache_dir: Annotated[Path | None, typer.Option(help="Tokenised-data cache.")] = None,
) -> None:
    """Train a VAE on a SMILES file; writes best.pt, last.pt, metrics.csv and rejects.csv."""
    from molvae.train import finetune
    from molvae.train.run import load_init
    from molvae.train.run import train as train_model

    if init is not None and tokens is not None:
        raise UserError(
            "--tokens cannot be combined with --init: a fine-tuned model keeps its own "
            "tokens; drop --tokens."
        )
    finetune.check_out(init, out)
    start = load_init(init)  # loaded once: a fine-tune's default β is the model's own
    p = load_preset(finetune.preset_name(preset, init))
    data_cfg = DataConfig(
        smiles_col=smiles_col,
        properties=split_list(properties),
        max_molecules=max_molecules,
        max_tokens=max_tokens,
        tokens=tokens or _DATA.tokens,
        val_fraction=val_fraction,
        seed=seed,
        n_jobs=jobs,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    train_cfg = replace(
        finetune.train_settings(preset, start),
        epochs=epochs,
        batch_size=batch_size,
        beta=beta,
        seed=seed,
        device=device,
        max_minutes=max_minutes,
    )
    model_cfg = None  # a fine-tune keeps its model's sizes; train() refuses a --condition
    if init is None or condition is not None:
        model_cfg = replace(p.model, condition=tuple(dict.fromkeys(split_list(condition))) or None)
    model = train_model(
        data,
        out=out,
        preset=preset,
        data_config=data_cfg,
        model_config=model_cfg,
        train_config=train_cfg,
        resume=resume,
        force=force,
        progress=True,
        init=start,
    )
    console.print(f"Best model: {out / 'best.pt'}  ({model!r})")

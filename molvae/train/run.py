"""From a SMILES table to a trained model: clean and cache the data, split it, train, return
the best :class:`~molvae.api.MolVAE` (``molvae.train`` is :func:`train`)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from molvae.api import MolVAE
from molvae.config import DataConfig, ModelConfig, TrainConfig, load_preset
from molvae.data.load import load_dataset
from molvae.data.properties import PROPERTIES
from molvae.errors import UserError
from molvae.progress import console
from molvae.train import distributed, finetune
from molvae.train.trainer import Trainer


def train(
    data: str | os.PathLike | pd.DataFrame,
    out: str | os.PathLike = "runs/molvae",
    preset: str | None = None,
    data_config: DataConfig | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    on_step: Callable[[Trainer], None] | None = None,
    force: bool = False,
    init: str | os.PathLike | MolVAE | None = None,
) -> MolVAE:
    """Train a VAE on a SMILES table and return the best model.

    Args:
        data: A ``.csv``/``.tsv``/``.smi`` file (optionally gzipped) or a DataFrame.
        out: Folder for ``best.pt``, ``last.pt``, ``metrics.csv`` and ``rejects.csv``.
        preset: Model and training defaults (``tiny``, ``small``, ``moses``, ``finetune`` or
            a TOML path); ``model_config``/``train_config`` override it when given. ``None``:
            ``small``, or ``finetune`` at the trained model's own β with ``init``. To change
            a few settings of a fine-tune, start from ``finetune.train_settings(None, init)``.
        data_config: Clean-up options and properties. The condition of a conditional VAE
            (``model_config.condition``) is added to the properties when RDKit computes it.
        resume: Continue from ``out/last.pt`` if it exists.
        force: On resume, accept changed schedule settings (epochs, learning rate, β,
            annealing) instead of refusing them.
        progress: Show progress bars and summaries.
        on_step: Called with the trainer after each step.
        init: Fine-tune this trained model (a file, ``"bundled"``, or a :class:`MolVAE`)
            rather than start from random weights (:mod:`molvae.train.finetune`): its sizes
            and condition are kept (the preset's model is not used), so are its tokens and
            clean-up (``data_config``'s are replaced), and its properties unless
            ``data_config`` names some; molecules with a token it lacks are rejected.

    Raises:
        UserError: Bad data or settings, ``model_config`` given with ``init``, or ``init``
            inside ``out``.
    """
    if init is not None and model_config is not None:
        raise UserError(
            "A fine-tuned model keeps the sizes and condition of the model it starts from; "
            "leave out the model settings (or --condition) when giving a model to fine-tune."
        )
    finetune.check_out(init, out)
    start = load_init(init)
    p = load_preset(finetune.preset_name(preset, start))
    model_config = start.model_config if start is not None else model_config or p.model
    data_config = data_config or DataConfig()
    if start is not None:
        data_config = finetune.data_settings(start, data_config)
    data_config = with_condition(data_config, model_config)
    out = Path(out)
    dist = distributed.setup()  # a no-op outside torchrun
    # Rank 0 cleans and caches the data first; the others then read the cache. An error on
    # rank 0 is raised on every rank, so none is left waiting.
    error = None
    if dist.is_main:
        try:
            ds = load_dataset(
                data, data_config, rejects_path=out / "rejects.csv", progress=progress
            )
            if start is not None:
                ds = finetune.in_model_vocab(ds, start, out / "rejects.csv", progress)
        except UserError as err:
            error = str(err)
    error = distributed.agree(error)
    if error is not None:
        raise UserError(error)
    if not dist.is_main:
        ds = load_dataset(data, data_config, progress=False)
        ds = finetune.in_model_vocab(ds, start) if start is not None else ds
    train_ds, val_ds = ds.split(data_config.val_fraction, data_config.seed)
    trainer = Trainer(
        train_ds,
        val_ds,
        model_config,
        train_config or finetune.train_settings(preset, start),
        out,
        data_cfg=data_config,
        progress=progress,
        init=start,
    )
    if resume and not trainer.resume(force=force) and progress and dist.is_main:
        console.print(f"No {out / 'last.pt'} to resume from; starting a new run.")
    best = trainer.fit(on_step=on_step)
    if dist.enabled:  # after an error torchrun ends the other ranks; a barrier would hang
        distributed.teardown()
    return MolVAE.load(best)


def load_init(init: str | os.PathLike | MolVAE | None) -> MolVAE | None:
    """The model to fine-tune: ``None``, a loaded model, ``"bundled"`` or a model file.

    Raises:
        UserError: The file is missing or is not a molvae model.
    """
    if init is None or isinstance(init, MolVAE):
        return init  # loaded on the CPU: only its weights are copied, onto the run's device
    return MolVAE.pretrained("cpu") if str(init) == "bundled" else MolVAE.load(init, "cpu")


def with_condition(data_config: DataConfig, model_config: ModelConfig) -> DataConfig:
    """``data_config`` with the RDKit-computed properties of a CVAE's condition added to its
    properties (a condition is always a training property: the head predicts it).

    Raises:
        UserError: A condition is neither a property already nor one RDKit computes.
    """
    missing = [c for c in dict.fromkeys(model_config.condition) if c not in data_config.properties]
    for name in missing:
        if name not in PROPERTIES:
            raise UserError(
                f"Cannot condition on '{name}': it is neither one of RDKit's properties "
                f"({', '.join(PROPERTIES)}) nor in --properties; to condition on a column of "
                "your table, name it in --properties too."
            )
    return dataclasses.replace(data_config, properties=[*data_config.properties, *missing])

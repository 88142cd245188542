"""One self-describing checkpoint file: configs, vocabulary, weights, property statistics,
optimizer state and library versions. Written atomically; read with ``weights_only=True`` so a
file from a stranger cannot run code.

This module owns the file (its format marker, the ``train_state`` that resuming needs, the
resume checks); :class:`molvae.api.MolVAE` owns the model's part of it
(:meth:`~molvae.api.MolVAE.to_checkpoint` / :meth:`~molvae.api.MolVAE.from_checkpoint`).
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Any

import torch

from molvae.config import to_dict
from molvae.errors import UserError
from molvae.files import atomic_write
from molvae.state import ModelState

FORMAT = "molvae-checkpoint"
FORMAT_VERSION = 1
#: Settings that fix which molecules ``batch_pos`` points at: never changed on resume.
BATCH_ORDER_FIELDS = ("batch_size", "bucket_size", "seed")
#: Settings that shape the learning-rate, KL and scheduled-sampling schedules: changed on
#: resume only with ``force``.
SCHEDULE_FIELDS = (
    "epochs",
    "lr",
    "lr_final_fraction",
    "beta",
    "kl_schedule",
    "kl_warmup",
    "kl_cycles",
    "sched_sampling",
    "gumbel_tau_start",
    "gumbel_tau_end",
)


def save(
    path: str | os.PathLike, payload: dict[str, Any], train_state: dict[str, Any] | None = None
) -> None:
    """Write ``payload`` (from :meth:`MolVAE.to_checkpoint`) to ``path`` atomically.

    Args:
        path: The file.
        payload: The model's part of the checkpoint.
        train_state: What resuming needs (optimiser, position, RNG), or ``None``.
    """
    full = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    if train_state is not None:
        full["train_state"] = train_state
    atomic_write(path, lambda tmp: torch.save(full, tmp))


def load(path: str | os.PathLike) -> dict[str, Any]:
    """Read a checkpoint without executing any code stored in it.

    Raises:
        UserError: The file is missing, is not a molvae checkpoint, or holds pickled code.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"Model file {path} does not exist; pass the path of a .pt checkpoint.")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        if "global" not in str(err).lower():
            raise UserError(f"{path} is not a readable molvae checkpoint; is it damaged?") from err
        raise UserError(
            f"Refusing to load {path}: it holds pickled Python objects that could run code; "
            "only molvae checkpoints (plain tensors and values) can be loaded."
        ) from err
    except Exception as err:
        raise UserError(f"{path} is not a readable molvae checkpoint ({err}).") from err
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise UserError(f"{path} is not a molvae checkpoint; train one with `molvae train`.")
    if ckpt.get("format_version", 0) > FORMAT_VERSION:
        raise UserError(f"{path} was written by a newer molvae; upgrade molvae to read it.")
    return ckpt


def capture(opt: torch.optim.Optimizer, device: torch.device, **position: Any) -> dict[str, Any]:
    """The training state resuming needs: optimiser, RNG and ``position`` (step, epoch, ...)."""
    cuda = device.type == "cuda"
    return {
        "optimizer": opt.state_dict(),
        **position,
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if cuda else None,
    }


def restore(
    path: Path,
    current: ModelState,
    opt: torch.optim.Optimizer,
    device: torch.device,
    force: bool = False,
) -> dict[str, Any]:
    """Load a run's ``last.pt`` into ``current.model`` and ``opt`` and restore the RNG.

    Args:
        path: The ``last.pt``.
        current: The run being resumed, as set up now (checked against the file).
        opt: Its optimiser.
        device: Its device.
        force: Accept changed schedule settings.

    Returns:
        The stored position (``step``, ``epoch``, ``batch_pos``, ``best_val``) and ``history``.

    Raises:
        UserError: See :func:`check_resume`; or the file holds no training state.
    """
    ckpt = load(path)
    if "train_state" not in ckpt:
        raise UserError(f"{path} holds no training state; resume only from a run's last.pt.")
    prev = ModelState.from_checkpoint(ckpt, device="cpu")
    check_resume(path, prev, current, force=force)
    current.model.load_state_dict(prev.model.state_dict())
    ts = ckpt["train_state"]
    opt.load_state_dict(ts["optimizer"])
    torch.set_rng_state(ts["rng"])
    if device.type == "cuda" and ts.get("cuda_rng") is not None:
        torch.cuda.set_rng_state(ts["cuda_rng"], device)
    return {**ts, "history": list(prev.history)}


def check_resume(path: Path, prev: ModelState, new: ModelState, force: bool = False) -> None:
    """Refuse to resume ``prev`` (read from ``path``) as a run set up like ``new``.

    Raises:
        UserError: Other data, model, properties, batch order or validation split; or, unless
            ``force``, other schedule settings (:data:`SCHEDULE_FIELDS`).
    """
    if prev.data_config.tokens != new.data_config.tokens:
        raise UserError(
            f"{path} is a {prev.data_config.tokens.upper()} model; resume it with --tokens "
            f"{prev.data_config.tokens}, or use a new --out folder."
        )
    if prev.vocab != new.vocab:
        raise UserError(
            f"{path} was trained on a different dataset (its vocabulary differs); "
            "resume with the same data and options, or use a new --out folder."
        )
    old_model, new_model = to_dict(prev.model_config), to_dict(new.model_config)
    differ = [k for k, v in new_model.items() if old_model[k] != v]
    if prev.property_names != new.property_names:
        differ.append("properties")
    old, now = to_dict(prev.train_config), to_dict(new.train_config)
    differ += [k for k in BATCH_ORDER_FIELDS if old[k] != now[k]]
    if prev.data_config.val_fraction != new.data_config.val_fraction:
        differ.append("val_fraction")
    if differ:
        raise UserError(
            f"{path} was trained with different {', '.join(differ)}; resume with the "
            "settings it was started with (and the same --init, for a fine-tune), or use a "
            "new --out folder."
        )
    changed = [f"{k} {old[k]} -> {now[k]}" for k in SCHEDULE_FIELDS if old[k] != now[k]]
    if changed and not force:
        raise UserError(
            f"{path} was started with other schedule settings ({'; '.join(changed)}), which "
            "would bend its learning-rate and KL schedules mid-run; resume with the original "
            "values, or pass --force to continue with the new ones."
        )

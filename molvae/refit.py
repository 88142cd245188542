"""A new property head on a trained model: retrained on frozen latent means, the encoder and
decoder left exactly as they were.

Training jointly shapes the latent space, but the head it leaves behind is small and was fitted
beside the reconstruction loss. Refitting a wider head on the frozen encoder's means of many
molecules reads the same latent space better (bundled model: R² QED 0.77 -> 0.90 on MOSES test,
with all 1.58 M MOSES training molecules; see ``BENCHMARKS.md``, "A wider head on the frozen
encoder"). With few molecules a refit can be worse than the trained head: the new head is kept
only if it predicts held-out molecules better. Samples and reconstructions do not change, so the
sampling prior and anomaly threshold stay valid. A conditional VAE decodes with its head's
predictions, so its head is not refitted here. :meth:`molvae.api.MolVAE.refit_head` and
``molvae export --refit-head`` call :func:`refit_head`.
"""

from __future__ import annotations

import copy
import dataclasses
import math
import os
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from molvae import metrics, tabular
from molvae.data.properties import PROPERTIES
from molvae.data.tables import find_column, read_table
from molvae.errors import UserError
from molvae.heads import MIN_MOLECULES
from molvae.model.property_head import PropertyHead
from molvae.progress import progress_bar

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: Most molecules held out: half choose the epoch, half measure the heads.
MAX_HOLDOUT = 10_000
#: Fewest optimiser steps, whatever the number of molecules (more epochs for small data).
MIN_STEPS = 2_000


def refit_head(
    vae: MolVAE,
    data: Any,
    hidden: int | None = None,
    epochs: int = 20,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, Any]:
    """Train a new property head on ``data``'s molecules; see :func:`fit_head`.

    The head predicts the same properties (RDKit-computed, or columns of ``data``) in the same
    standardised units; only its width may change.

    Args:
        data: Molecules: a table file, a DataFrame or a list of SMILES; many (100 k or more)
            for a head better than the jointly trained one.
        hidden: Hidden units per layer (``None``: the model's own width).

    Raises:
        UserError: The model has no head or is conditional, a property the head predicts has
            fewer than :data:`molvae.heads.MIN_MOLECULES` values in ``data``, or ``hidden`` or
            ``epochs`` is below 1.
    """
    if not vae.property_names:
        raise UserError("This model has no property head to refit; retrain with --properties.")
    if vae.model.condition:
        raise UserError(
            "A conditional model decodes with its head's predictions, so refitting the head "
            "would change its molecules; retrain it instead."
        )
    data = _with_columns(vae.property_names, data)
    ds, _ = tabular.prepare(vae, data, properties=vae.property_names, progress=progress)
    for name, known in zip(vae.property_names, np.isfinite(ds.properties).sum(0), strict=True):
        if known < MIN_MOLECULES:
            raise UserError(
                f"Only {known} molecules have a value of '{name}', which the head predicts; "
                f"give at least {MIN_MOLECULES} molecules with one."
            )
    return fit_head(vae, vae.encode_dataset(ds), ds.properties, hidden, epochs, seed, progress)


def _with_columns(names: list[str], data: Any) -> Any:
    """``data`` (a table file read once into a DataFrame when its columns are needed); raises if
    a property the head predicts is neither RDKit-computed nor one of its columns."""
    wanted = [name for name in names if name.lower() not in PROPERTIES]
    if not wanted:
        return data
    if isinstance(data, str | os.PathLike):
        data = read_table(data).frame
    columns = data.columns if isinstance(data, pd.DataFrame) else []
    for name in wanted:
        if find_column(columns, name) is None:
            raise UserError(
                f"The head predicts '{name}', which the refit molecules lack; give a table "
                f"with a '{name}' column."
            )
    return data


def fit_head(
    vae: MolVAE,
    mu: torch.Tensor,
    values: np.ndarray,
    hidden: int | None = None,
    epochs: int = 20,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 512,
) -> dict[str, Any]:
    """Train a new head on latent means ``mu`` (`n x latent_dim`) and property ``values`` (`n x
    n_props` in the properties' units, ``nan`` where unknown); keep it if it is better.

    A seeded random tenth of the molecules (at most :data:`MAX_HOLDOUT`) is held out. AdamW
    with a one-cycle learning rate trains on the rest for ``epochs`` (at least
    :data:`MIN_STEPS` steps); the epoch with the lowest error on half the held-out molecules is
    chosen. The other half measures both heads: the new one replaces the model's only if its
    error there is lower.

    Returns:
        ``before`` and ``after``: R² per property of the old and new heads on the measuring
        half; ``kept``: ``"new"`` or ``"old"``.
    """
    if epochs < 1 or (hidden is not None and hidden < 1):
        raise UserError("The head's width and the number of epochs must be at least 1.")
    n = len(mu)
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_out = min(MAX_HOLDOUT, max(2, n // 10))
    val, test, train = order[: n_out // 2], order[n_out // 2 : n_out], order[n_out:]
    y = torch.as_tensor(vae.standardiser.transform(values), dtype=torch.float32)
    known = torch.isfinite(y)
    y, x = torch.nan_to_num(y), mu.detach().float().cpu()
    width = hidden or vae.model_config.prop_hidden
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        head = PropertyHead(vae.latent_dim, width, y.shape[1])
        head = _train(head, x, y, known, train, val, epochs, batch_size, seed, progress)
    old = copy.deepcopy(vae.model.head).cpu().eval()
    held_x, held_y = x[test], values[test.numpy()]
    scores: dict[str, Any] = {"before": _r2(vae, old, held_x, held_y)}
    scores["after"] = _r2(vae, head, held_x, held_y)
    with torch.no_grad():
        better = _loss(head, x, y, known, test) < _loss(old, x, y, known, test)
    scores["kept"] = "new" if better else "old"
    if better:
        vae.model.head = head.to(vae.device)
        vae.model_config = dataclasses.replace(vae.model_config, prop_hidden=width)
        r2 = {f"r2_{k}": v for k, v in scores["after"].items()}
        vae.head_fit = {"molecules": float(len(train)), **r2}
    return scores


def _loss(net: torch.nn.Module, x, y, known, rows: torch.Tensor) -> torch.Tensor:
    """Mean squared error of ``net`` on ``rows``, over the known values only."""
    err = (net(x[rows]) - y[rows]) ** 2 * known[rows]
    return err.sum() / known[rows].sum().clamp(min=1)


def _train(head, x, y, known, train, val, epochs, batch_size, seed, progress) -> PropertyHead:
    """Fit ``head`` on the ``train`` rows; return it at its best epoch on the ``val`` rows."""
    per_epoch = max(1, math.ceil(len(train) / batch_size))
    epochs = max(epochs, math.ceil(MIN_STEPS / per_epoch))
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=epochs * per_epoch)
    gen = torch.Generator().manual_seed(seed + 1)
    best, best_state = float("inf"), copy.deepcopy(head.state_dict())
    with progress_bar(epochs * per_epoch, "Refitting the property head", progress) as bar:
        for _ in range(epochs):
            head.train()
            perm = train[torch.randperm(len(train), generator=gen)]
            for i in range(per_epoch):
                loss = _loss(head, x, y, known, perm[i * batch_size : (i + 1) * batch_size])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.advance()
            head.eval()
            with torch.no_grad():
                held = _loss(head, x, y, known, val).item()
            bar.status(f"held-out MSE {held:.4f}")
            if held < best:
                best, best_state = held, copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    return head.eval()


def _r2(vae: MolVAE, head: torch.nn.Module, mu: torch.Tensor, values: np.ndarray) -> dict:
    """R² per property of ``head``'s predictions for ``mu`` against ``values`` (nan ignored)."""
    pred = vae.head_values(mu, head.eval())
    acc = metrics.property_accuracy(pred, values, vae.property_names)
    return {name: acc.get(f"r2_{name}", float("nan")) for name in vae.property_names}

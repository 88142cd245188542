"""A new property head on a trained model: retrained on frozen latent means, the encoder and
decoder left exactly as they were.

Training jointly shapes the latent space, but the head it leaves behind is small and was fitted
beside the reconstruction loss. Refitting a wider head on the frozen encoder's means of many
molecules reads the same latent space better (bundled model: R² QED 0.76 -> 0.84 on MOSES test;
see ``BENCHMARKS.md``, "A wider head on the frozen encoder"). Samples and reconstructions do not
change, so the sampling prior and anomaly threshold stay valid. A conditional VAE decodes with
its head's predictions, so its head is not refitted here. :meth:`molvae.api.MolVAE.refit_head`
and ``molvae export --refit-head`` call :func:`refit_head`.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from molvae import metrics, tabular
from molvae.errors import UserError
from molvae.heads import MIN_MOLECULES
from molvae.model.property_head import PropertyHead
from molvae.progress import progress_bar

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: Most molecules held out to choose the epoch and measure the new head.
MAX_HOLDOUT = 10_000


def refit_head(
    vae: MolVAE,
    data: Any,
    hidden: int | None = None,
    epochs: int = 20,
    seed: int = 0,
    progress: bool = True,
) -> dict[str, dict[str, float]]:
    """Replace ``vae``'s property head by one trained on ``data``'s molecules.

    The head predicts the same properties (RDKit-computed, or columns of ``data``) in the same
    standardised units; only its width may change. See :func:`fit_head`.

    Args:
        data: Molecules: a table file, a DataFrame or a list of SMILES; many (100 k or more)
            for a head better than the jointly trained one.
        hidden: Hidden units per layer (``None``: the model's own width).

    Returns:
        ``{"before": {prop: R²}, "after": {prop: R²}}`` on the held-out molecules.

    Raises:
        UserError: The model has no head or is conditional, or fewer than
            :data:`molvae.heads.MIN_MOLECULES` molecules are usable.
    """
    if not vae.property_names:
        raise UserError("This model has no property head to refit; retrain with --properties.")
    if vae.model.condition:
        raise UserError(
            "A conditional model decodes with its head's predictions, so refitting the head "
            "would change its molecules; retrain it instead."
        )
    ds, _ = tabular.prepare(vae, data, properties=vae.property_names, progress=progress)
    if len(ds) < MIN_MOLECULES:
        raise UserError(
            f"Only {len(ds)} molecules are usable; give at least {MIN_MOLECULES} to refit the head."
        )
    mu = vae.encode_dataset(ds)
    return fit_head(vae, mu, ds.properties, hidden, epochs, seed, progress)


def fit_head(
    vae: MolVAE,
    mu: torch.Tensor,
    values: np.ndarray,
    hidden: int | None = None,
    epochs: int = 20,
    seed: int = 0,
    progress: bool = True,
    batch_size: int = 512,
) -> dict[str, dict[str, float]]:
    """Train a new head on latent means ``mu`` (`n x latent_dim`) and property ``values`` (`n x
    n_props` in the properties' units, ``nan`` where unknown) and put it in ``vae``.

    A seeded random tenth of the molecules (at most :data:`MAX_HOLDOUT`) is held out; AdamW
    with a one-cycle learning rate trains on the rest, and the epoch with the lowest held-out
    error is kept. Returns the old and new heads' held-out R² per property.
    """
    gen = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    n = len(mu)
    order = torch.randperm(n, generator=gen)
    n_out = min(MAX_HOLDOUT, max(1, n // 10))
    test, train = order[:n_out], order[n_out:]
    y = torch.as_tensor(vae.standardiser.transform(values), dtype=torch.float32)
    known = torch.isfinite(y)
    y = torch.nan_to_num(y)
    x = mu.float().cpu()
    width = hidden or vae.model_config.prop_hidden
    old = vae.model.head.cpu()
    head = PropertyHead(vae.latent_dim, width, len(vae.property_names))
    steps = max(1, len(train) // batch_size) * epochs
    opt = torch.optim.AdamW(head.parameters(), lr=1e-3, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=2e-3, total_steps=steps)

    def loss_of(net: torch.nn.Module, rows: torch.Tensor) -> torch.Tensor:
        err = (net(x[rows]) - y[rows]) ** 2 * known[rows]
        return err.sum() / known[rows].sum().clamp(min=1)

    best, best_state = float("inf"), None
    with progress_bar(steps, "Refitting the property head", progress) as bar:
        for _ in range(epochs):
            head.train()
            perm = train[torch.randperm(len(train), generator=gen)]
            for i in range(max(1, len(train) // batch_size)):
                loss = loss_of(head, perm[i * batch_size : (i + 1) * batch_size])
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                bar.advance()
            head.eval()
            with torch.no_grad():
                held = loss_of(head, test).item()
            bar.status(f"held-out MSE {held:.4f}")
            if held < best:
                best, best_state = held, copy.deepcopy(head.state_dict())
    head.load_state_dict(best_state)
    held_x, held_y = x[test], values[test.numpy()]
    scores = {"before": _r2(vae, old, held_x, held_y), "after": _r2(vae, head, held_x, held_y)}
    vae.model.head = head.to(vae.device)
    vae.model_config = dataclasses.replace(vae.model_config, prop_hidden=width)
    vae.head_fit = {"molecules": float(n), **{f"r2_{k}": v for k, v in scores["after"].items()}}
    return scores


@torch.no_grad()
def _r2(vae: MolVAE, head: torch.nn.Module, mu: torch.Tensor, values: np.ndarray) -> dict:
    """R² per property of ``head``'s predictions for ``mu`` against ``values`` (nan ignored)."""
    head.eval()
    pred = vae.standardiser.inverse(head(mu).numpy())
    acc = metrics.property_accuracy(pred, values, vae.property_names)
    return {name: acc.get(f"r2_{name}", float("nan")) for name in vae.property_names}

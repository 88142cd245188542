"""A new property on a trained model without retraining it: one more output of the property
head, fitted by ridge regression on the head's last hidden layer.

The encoder, the decoder and the head's other outputs stay exactly as they were, so samples,
reconstructions and earlier predictions do not change. The new output reads the same features
the trained outputs read; it is as good as those features are for the new property (for a
property close to the trained ones, e.g. penalised logP beside logP and SA, nearly as good as
a trained output). :meth:`molvae.api.MolVAE.add_property` and ``molvae export
--add-property`` call :func:`add_property`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from torch import nn

from molvae import tabular
from molvae.errors import UserError

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: Fewest molecules with a value that a new output is fitted on.
MIN_MOLECULES = 50


@torch.no_grad()
def head_features(vae: MolVAE, mu: torch.Tensor) -> torch.Tensor:
    """The head's last hidden layer for latent means: `n x latent_dim` -> `n x hidden`."""
    return vae.model.head.features(mu.to(vae.device)).cpu().double()


def ridge_fit(x: torch.Tensor, y: torch.Tensor, ridge: float) -> torch.Tensor:
    """Weights and bias minimising ``|x w + b - y|^2 + ridge * n * |w|^2``: `n x h`, `n` (or
    `n x k`) -> `h + 1` (or `(h + 1) x k`), the bias last, not penalised."""
    n, h = x.shape
    design = torch.cat([x, torch.ones(n, 1, dtype=x.dtype)], dim=1)  # (n, h + 1)
    penalty = torch.eye(h + 1, dtype=x.dtype) * ridge * n
    penalty[h, h] = 0.0
    return torch.linalg.solve(design.T @ design + penalty, design.T @ y)


def r2_score(y: np.ndarray, pred: np.ndarray) -> float:
    """Coefficient of determination of predictions ``pred`` for values ``y``."""
    return float(1.0 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2))


def add_property(
    vae: MolVAE,
    name: str,
    data: Any,
    ridge: float = 1e-3,
    holdout: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """Add ``name`` to what ``vae``'s property head predicts, fitted on ``data``.

    The fit is measured first on a seeded random ``holdout`` share of the molecules (fitted on
    the rest), then refitted on all of them.

    Args:
        name: An RDKit-computed property (``plogp``, ``tpsa``, ...) or a numeric column of
            ``data``.
        data: Molecules: a table file, a DataFrame or a list of SMILES (for computed
            properties); ideally not the model's training molecules.
        ridge: L2 penalty per molecule on the standardised weights.
        holdout: Share of molecules held out to measure the fit.

    Returns:
        ``r2`` and ``mae`` on the held-out molecules (in the property's units) and ``n``, the
        molecules with a value.

    Raises:
        UserError: The model predicts ``name`` already, it has no property head, or fewer
            than :data:`MIN_MOLECULES` molecules have a value.
    """
    if name in vae.property_names:
        raise UserError(f"The model predicts '{name}' already; pick another name.")
    if not vae.property_names:
        raise UserError("This model has no property head to extend; retrain with --properties.")
    ds, _ = tabular.prepare(vae, data, properties=[name])
    y_all = ds.properties[:, 0]
    keep = np.flatnonzero(np.isfinite(y_all))
    if len(keep) < MIN_MOLECULES:
        raise UserError(
            f"Only {len(keep)} molecules have a value of '{name}'; give at least "
            f"{MIN_MOLECULES} molecules with one."
        )
    x = head_features(vae, vae.encode_dataset(ds.subset(keep)))
    y = torch.as_tensor(y_all[keep], dtype=torch.float64)
    order = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    n_test = int(round(holdout * len(y)))
    test, train = order[:n_test], order[n_test:]
    score = {"n": float(len(y)), "r2": float("nan"), "mae": float("nan")}
    if n_test >= 2:
        pred = fit_output(x[train], y[train], ridge).predict(x[test]).numpy()
        score["r2"] = r2_score(y[test].numpy(), pred)
        score["mae"] = float(np.abs(y[test].numpy() - pred).mean())
    fit = fit_output(x, y, ridge)
    _append_output(vae, fit.w, name, fit.mean, fit.std)
    return score


@dataclass
class FittedOutput:
    """One property fitted on the head's features: standardised weights ``w`` (bias last) and
    the property's ``mean`` and ``std``."""

    w: torch.Tensor  # (hidden + 1,)
    mean: float
    std: float

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Head features `n x hidden` -> `n` values in the property's units."""
        return (x @ self.w[:-1].to(x) + self.w[-1].to(x)) * self.std + self.mean


def fit_output(x: torch.Tensor, y: torch.Tensor, ridge: float = 1e-3) -> FittedOutput:
    """Ridge-fit values ``y`` (`n`, standardised for the fit) on head features ``x``."""
    mean, std = float(y.mean()), float(y.std()) or 1.0
    return FittedOutput(ridge_fit(x, (y - mean) / std, ridge), mean, std)


def fit_outputs(vae: MolVAE, names: list[str], data: Any, ridge: float = 1e-3) -> dict:
    """``{name: FittedOutput}`` for each of ``names`` (RDKit-computed properties or columns of
    ``data``) with at least :data:`MIN_MOLECULES` values among ``data``'s molecules; the model
    is left alone (see :class:`ExtendedHead`)."""
    if not names or not vae.property_names:
        return {}
    ds, _ = tabular.prepare(vae, data, properties=names)
    x = head_features(vae, vae.encode_dataset(ds))
    fits = {}
    for j, name in enumerate(names):
        y = torch.as_tensor(ds.properties[:, j], dtype=torch.float64)
        keep = torch.isfinite(y)
        if int(keep.sum()) >= MIN_MOLECULES:
            fits[name] = fit_output(x[keep], y[keep], ridge)
    return fits


class ExtendedHead(nn.Module):
    """A property head with more outputs fitted on its last hidden layer, leaving the model
    alone: standardised predictions of the head's own outputs, then the fitted ones."""

    def __init__(self, head: nn.Module, fits: list[FittedOutput]) -> None:
        super().__init__()
        self.head = head
        weights = [f.w.to(head.net[-1].weight) for f in fits]
        self.register_buffer("w", torch.stack(weights, dim=1))  # (hidden + 1, k)

    def forward(self, mu: torch.Tensor) -> torch.Tensor:
        """`batch x latent_dim` -> `batch x (n_props + k)` standardised predictions."""
        hidden = self.features(mu)  # (batch, hidden)
        return torch.cat([self.head.net[-1](hidden), hidden @ self.w[:-1] + self.w[-1]], dim=1)

    def features(self, mu: torch.Tensor) -> torch.Tensor:
        """The wrapped head's last hidden layer."""
        return self.head.features(mu)


def _append_output(vae: MolVAE, w: torch.Tensor, name: str, mean: float, std: float) -> None:
    """Grow the head's last layer by one output with weights ``w[:-1]`` and bias ``w[-1]``."""
    head = vae.model.head
    old = head.net[-1]
    new = nn.Linear(old.in_features, old.out_features + 1).to(old.weight.device)
    with torch.no_grad():
        new.weight[:-1] = old.weight
        new.bias[:-1] = old.bias
        new.weight[-1] = w[:-1].to(new.weight)
        new.bias[-1] = w[-1].to(new.bias)
    head.net[-1] = new
    head.n_props += 1
    vae.property_names = [*vae.property_names, name]
    s = vae.standardiser
    s.mean, s.std = np.append(s.mean, mean), np.append(s.std, std)

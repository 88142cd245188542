"""Weighted retraining (Tripp, Daxberger and Hernández-Lobato 2020): during optimisation,
fine-tune the VAE on the molecules scored so far, weighted by rank, so the latent space gives
more room to the good region and BO can move through it.

Each molecule's weight is ``1 / (k N + rank)`` (rank 0 the best, ``N`` molecules, ``k``
small): the top few dominate, the rest keep the model from forgetting.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from molvae.config import OptimizeConfig
from molvae.data.dataset import make_batch
from molvae.optimize import journal as files
from molvae.optimize.box import DataBox
from molvae.optimize.candidates import encode_many
from molvae.optimize.journal import LoopState, oracle_calls
from molvae.optimize.pareto import balanced
from molvae.train.step import train_step

if TYPE_CHECKING:
    from molvae.api import MolVAE
    from molvae.optimize.loop import Search

#: Molecules per fine-tuning step: a few hundred are scored in a run, so batches stay small.
RETRAIN_BATCH = 32


def rank_weights(scores: np.ndarray, k: float = 1e-3) -> np.ndarray:
    """Normalised rank weights ``1 / (k N + rank)`` of `n` scores (higher is better)."""
    scores = np.asarray(scores, dtype=float)
    ranks = np.empty(len(scores))
    ranks[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    w = 1.0 / (k * len(scores) + ranks)
    return w / w.sum()


def finetune(
    vae: MolVAE,
    smiles: list[str],
    weights: np.ndarray,
    steps: int,
    seed: int,
    batch_size: int = RETRAIN_BATCH,
) -> float:
    """Fine-tune ``vae`` in place: the trainer's own step, each molecule's loss weighted.

    The loss is the model's training loss with its own :class:`~molvae.config.TrainConfig`
    (β, free bits, property weight, gradient clip), at the learning rate its schedule ended
    on (``lr * lr_final_fraction``), so the head stays aligned with the moved latent space.
    Batches are drawn uniformly; ``weights`` weight each molecule's loss within a batch.

    Returns:
        The mean loss over the last 10 steps.
    """
    ds, _ = vae.prepare(smiles)
    if len(ds) == 0 or steps < 1:
        return float("nan")
    keep = ds.rows - 1  # prepare keeps input order; rows count from 1
    w = torch.as_tensor(weights[keep] / weights[keep].sum(), dtype=torch.float32)
    ids, lengths = ds.to_padded(vae.vocab)
    targets = _property_targets(vae, ds.smiles)
    cfg = vae.train_config
    gen = torch.Generator().manual_seed(seed)
    net = vae.model
    net.train()
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    losses = []
    for _ in range(steps):
        idx = torch.randint(len(ds), (batch_size,), generator=gen)
        batch = make_batch(ids, lengths, idx, vae.device, props=targets, weights=w)
        stats = train_step(
            net, opt, batch, cfg, lr=cfg.lr * cfg.lr_final_fraction, beta=cfg.beta, progress=1.0
        )
        losses.append(stats["loss"])
    net.eval()
    vae.head_fit = None  # a refitted head's held-out R² no longer describes the moved model
    return float(np.mean(losses[-10:]))


def _property_targets(vae: MolVAE, smiles: list[str]) -> torch.Tensor | None:
    """Standardised RDKit properties the head predicts (`n x n_props`, ``nan`` for the
    others, e.g. columns of the original training file, which the loss then ignores)."""
    if not vae.property_names:
        return None
    return torch.as_tensor(vae.known_properties(smiles), dtype=torch.float32)


def retrain_due(cfg: OptimizeConfig, state: LoopState, rows: pd.DataFrame) -> bool:
    """Whether ``cfg.retrain_every`` oracle calls were made since the last fine-tuning."""
    since = oracle_calls(rows) - oracle_calls(rows.iloc[: state.retrained_rows])
    return bool(cfg.retrain_every) and since >= cfg.retrain_every


def retrain_search(search: Search, rows: pd.DataFrame, seed: int) -> None:
    """Fine-tune a copy of the run's VAE on the rank-weighted scored molecules, save it as
    ``model.pt`` and move every scored molecule to its new latent point (new data box, cold
    GP fit)."""
    y = rows[search.score_cols].to_numpy(dtype=float)
    ok = np.isfinite(y).all(axis=1)
    smiles = rows.loc[ok, "smiles"].astype(str).tolist()
    if len(smiles) < 2:
        return
    weights = rank_weights(balanced(torch.from_numpy(y[ok])).numpy())
    state = search.state
    if state.retrains == 0:  # never change the caller's model
        search.model = copy.deepcopy(search.model)
    finetune(search.model, smiles, weights, search.cfg.retrain_steps, seed)
    files.save_model(search.out, search.model)
    search.moved = encode_many(search.model, rows["smiles"].astype(str).tolist()).double()
    if search.library is not None:
        search.library.forget()
    state.box = DataBox.around(search._data(rows)[0])
    search.warm = None
    state.retrained_rows = len(rows)
    state.retrains += 1

"""Validation metrics of a VAE on held-out molecules (decoding from the posterior mean)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from molvae.config import DataConfig
from molvae.data.dataset import MolDataset, Standardiser, make_batch
from molvae.data.tokens import Vocab
from molvae.files import atomic_write
from molvae.metrics import active_units, property_accuracy
from molvae.model import VAE
from molvae.sample import ids_to_smiles

#: Validation checks greedy reconstruction on a seeded random sample of this many molecules.
EXACT_MATCH_LIMIT = 2000


@torch.no_grad()
def validate(
    model: VAE,
    ds: MolDataset,
    std: Standardiser,
    batch_size: int,
    device: torch.device | str,
    exact_limit: int = EXACT_MATCH_LIMIT,
    seed: int = 0,
    vocab: Vocab | None = None,
    tokens: str = DataConfig.tokens,
) -> dict[str, float]:
    """Validation metrics, decoding from the posterior mean (deterministic).

    Args:
        model: The VAE.
        ds: Validation molecules.
        std: Property statistics of the training split.
        batch_size: Molecules per forward pass.
        device: Where the model lives.
        exact_limit: Greedy reconstruction is checked on a random sample of this many.
        seed: Seed of that sample.
        vocab: The model's vocabulary, when it is not the dataset's own.
        tokens: The model's representation, ``selfies`` or ``smiles`` (``DataConfig.tokens``).

    Returns:
        ``recon_loss``, ``kl_loss`` (unweighted), ``token_acc``, ``exact_match`` (greedy decode
        from mu gives the same canonical SMILES), ``token_match`` (... the same tokens),
        ``active_units`` (dimensions whose E[z|x] varies by more than 0.01 over the data) and,
        per property, ``r2_<name>`` and ``mae_<name>`` in the property's own units.
    """
    was_training = model.training
    model.eval()
    vocab = vocab or ds.vocab
    ids, lengths = ds.to_padded(vocab)
    props = None  # a conditional VAE reads its condition from the true properties
    if model.condition:
        props = torch.from_numpy(std.transform(ds.properties).astype(np.float32))
    n = len(ds)
    order = np.argsort(lengths.numpy(), kind="stable")  # similar lengths share a batch
    pick = np.random.default_rng(seed).permutation(n)[:exact_limit]
    checked = np.zeros(n, dtype=bool)
    checked[pick] = True
    recon = kl = correct = total_tok = 0.0
    same_smiles = same_tokens = 0
    mus, preds = [], []
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        batch = make_batch(ids, lengths, idx, device, props=props)
        out = model(batch, sample_z=False)
        recon += float(out.recon_loss) * len(idx)
        kl += float(out.kl_loss) * len(idx)
        mask = batch.ids != Vocab.pad_id  # (B, T)
        correct += float(((out.logits.argmax(-1) == batch.ids) & mask).sum())
        total_tok += float(mask.sum())
        rows = np.flatnonzero(checked[idx])
        if len(rows):
            pick = torch.from_numpy(rows).to(out.mu.device)
            given = {} if out.cond is None else {"cond": out.cond[pick]}  # a CVAE's own condition
            gen = model.generate(out.mu[pick], max_len=batch.ids.shape[1], greedy=True, **given)
            want, keep = batch.ids[rows], mask[rows]
            same_tokens += int(((gen == want) | ~keep).all(dim=1).sum())
            decoded = ids_to_smiles(gen.cpu(), vocab, tokens)
            same_smiles += sum(ds.smiles[idx[r]] == s for r, s in zip(rows, decoded, strict=True))
        mus.append(out.mu.float().cpu())
        if out.props is not None:
            preds.append(out.props.float().cpu())
    mu = torch.cat(mus)  # (N, Z), in length order
    n_checked = max(int(checked.sum()), 1)
    metrics = {
        "recon_loss": recon / n,
        "kl_loss": kl / n,
        "token_acc": correct / max(total_tok, 1),
        "exact_match": same_smiles / n_checked,
        "token_match": same_tokens / n_checked,
        "active_units": active_units(mu),
    }
    if preds:
        pred = std.inverse(torch.cat(preds).numpy())
        metrics.update(property_accuracy(pred, ds.properties[order], ds.property_names))
    model.train(was_training)
    return metrics


def write_history(path: Path, history: list[dict[str, Any]]) -> None:
    """Rewrite ``metrics.csv`` from the whole history (a resumed run never duplicates a row)."""
    frame = pd.DataFrame(history)
    atomic_write(path, lambda tmp: frame.to_csv(tmp, index=False))


def summary(metrics: dict[str, Any]) -> str:
    """One line of validation metrics: ``recon_loss 21.503, kl_loss 8.120, ...``."""
    return ", ".join(
        f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
    )

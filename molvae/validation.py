"""Validation metrics of a VAE on held-out molecules (decoding from the posterior mean)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from molvae.data import MolDataset
from molvae.metrics import active_units, property_accuracy
from molvae.model import VAE
from molvae.tokens import Vocab

if TYPE_CHECKING:
    from molvae.trainer import Standardiser

#: Validation computes exact-match reconstruction on at most this many molecules.
EXACT_MATCH_LIMIT = 2000


def make_batch(ids, lengths, props, idx, device):
    idx_t = torch.from_numpy(idx)
    lens = lengths[idx_t]
    width = int(lens.max())
    b_ids = ids[idx_t, :width].to(device, non_blocking=True)  # (B, T)
    b_props = props[idx_t].to(device) if props is not None else None
    return b_ids, lens.to(device), b_props


@torch.no_grad()
def validate(
    model: VAE,
    ds: MolDataset,
    std: Standardiser,
    batch_size: int,
    device: torch.device,
    exact_limit: int = EXACT_MATCH_LIMIT,
) -> dict[str, float]:
    """Validation metrics, decoding from the posterior mean (deterministic).

    Returns:
        ``recon_loss``, ``kl_loss`` (unweighted), ``token_acc``, ``exact_match`` (greedy decode
        from mu on up to ``exact_limit`` molecules), ``active_units`` (dimensions whose
        E[z|x] varies by more than 0.01 over the data) and, per property, ``r2_<name>`` and
        ``mae_<name>`` in the property's own units.
    """
    was_training = model.training
    model.eval()
    ids, lengths = ds.to_padded()
    n = len(ds)
    order = np.argsort(lengths.numpy(), kind="stable")
    recon = kl = correct = total_tok = 0.0
    exact = n_exact = 0
    mus, preds = [], []
    for start in range(0, n, batch_size):
        idx = order[start : start + batch_size]
        b_ids, b_len, _ = make_batch(ids, lengths, None, idx, device)
        out = model(b_ids, b_len, sample_z=False)
        recon += float(out.recon_loss) * len(idx)
        kl += float(out.kl_dims.sum()) * len(idx)
        mask = b_ids != Vocab.pad_id
        hit = (out.logits.argmax(-1) == b_ids) & mask  # (B, T)
        correct += float(hit.sum())
        total_tok += float(mask.sum())
        if n_exact < exact_limit:
            take = min(len(idx), exact_limit - n_exact)
            gen = model.generate(out.mu[:take], max_len=b_ids.shape[1], greedy=True)  # (b, T)
            same = ((gen == b_ids[:take]) | ~mask[:take]).all(dim=1)
            exact += int(same.sum())
            n_exact += take
        mus.append(out.mu.float().cpu())
        if out.props is not None:
            preds.append(out.props.float().cpu())
    mu = torch.cat(mus)  # (N, Z), in length order
    metrics = {
        "recon_loss": recon / n,
        "kl_loss": kl / n,
        "token_acc": correct / max(total_tok, 1),
        "exact_match": exact / max(n_exact, 1),
        "active_units": active_units(mu),
    }
    if preds:
        pred = std.inverse(torch.cat(preds).numpy())
        metrics.update(property_accuracy(pred, ds.properties[order], ds.property_names))
    model.train(was_training)
    return metrics

"""``molvae evaluate``: MOSES metrics of a model's samples, plus reconstruction, active units
and property-head accuracy on a test set. Reference statistics are cached on disk."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections import Counter
from pathlib import Path

import numpy as np
import torch

from molvae import metrics
from molvae.api import MolVAE
from molvae.config import DataConfig
from molvae.data.cache import cache_dir
from molvae.data.load import load_dataset
from molvae.data.properties import PROPERTIES
from molvae.files import atomic_write
from molvae.progress import console

#: Bump when the reference statistics change meaning, so old caches are not reused.
REF_VERSION = 1


def _ref_cache_path(smiles: list[str], cfg: DataConfig, with_fcd: bool) -> Path:
    h = hashlib.sha256("\n".join(smiles).encode())
    h.update(f"{REF_VERSION}:{with_fcd}".encode())
    return cache_dir(cfg) / f"ref-{h.hexdigest()[:24]}.npz"


def reference_stats(smiles: list[str], cfg: DataConfig, fcd=None) -> metrics.ReferenceStats:
    """Statistics of a reference set, read from the cache or computed and cached."""
    path = _ref_cache_path(smiles, cfg, fcd is not None)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            fps = np.unpackbits(z["fps"], axis=1)[:, : metrics.FP_BITS]
            fcd_stats = {"mu": z["fcd_mu"], "sigma": z["fcd_sigma"]} if "fcd_mu" in z else None
        return metrics.ReferenceStats(
            fps, Counter(meta["fragments"]), Counter(meta["scaffolds"]), fcd_stats
        )
    console.print(f"Computing reference statistics for {len(smiles)} molecules (cached after).")
    stats = metrics.ReferenceStats.compute(smiles, fcd)
    arrays = {
        "fps": np.packbits(stats.fps, axis=1),
        "meta": np.frombuffer(
            json.dumps({"fragments": stats.fragments, "scaffolds": stats.scaffolds}).encode(),
            dtype=np.uint8,
        ),
    }
    if stats.fcd is not None:
        arrays["fcd_mu"] = np.asarray(stats.fcd["mu"])
        arrays["fcd_sigma"] = np.asarray(stats.fcd["sigma"])
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))
    return stats


@torch.no_grad()
def evaluate(
    model: MolVAE,
    test: str | os.PathLike,
    train: str | os.PathLike | None = None,
    n: int = 30000,
    n_recon: int = 2000,
    seed: int = 0,
    use_fcd: bool = True,
    cache: str | None = None,
    progress: bool = True,
    prior: str = "auto",
) -> dict[str, float]:
    """Evaluate a model the MOSES way.

    Args:
        model: The model.
        test: The reference (test) SMILES table.
        train: The training table for ``Novelty``; ``None`` uses the hashes stored in the
            checkpoint.
        n: Molecules to sample.
        n_recon: Test molecules used for reconstruction, active units and property accuracy.
        seed: Sampling seed.
        use_fcd: Compute ``FCD/Test`` (needs the ``fcd_torch`` package).
        cache: Cache folder for tokenised sets and reference statistics.
        prior: The latent distribution sampled from (see :meth:`MolVAE.sample`).

    Returns:
        The MOSES keys, plus ``recon_exact``, ``active_units`` and ``r2_<prop>``/``mae_<prop>``.
    """
    computed = [p for p in model.property_names if p in PROPERTIES]
    cfg = dataclasses.replace(
        model.data_config, smiles_col=None, properties=computed, cache_dir=cache, max_molecules=None
    )
    test_ds = load_dataset(test, cfg, progress=progress)
    fcd = metrics.fcd_model() if use_fcd else None
    if use_fcd and fcd is None:
        console.print("fcd_torch is not installed: FCD/Test skipped (pip install molvae[fcd]).")
    ref = reference_stats(test_ds.smiles, cfg, fcd)

    in_train = model.in_training_set
    if train is not None:
        train_cfg = dataclasses.replace(cfg, properties=[])
        in_train = set(load_dataset(train, train_cfg, progress=progress).smiles)
    generated = model.sample(n, seed=seed, progress=progress, prior=prior)
    result = metrics.moses_metrics(generated, ref, in_train, fcd)

    rng = np.random.default_rng(seed)
    sub = test_ds.subset(np.sort(rng.permutation(len(test_ds))[:n_recon]))
    sub, unknown = sub.split_by_vocab(model.vocab)
    if len(unknown):
        console.print(f"{len(unknown)} test molecules have tokens the model never saw; skipped.")
    mu = model.encode_dataset(sub)
    decoded = model.decode(mu)
    result["recon_exact"] = float(
        np.mean([a == b for a, b in zip(sub.smiles, decoded, strict=True)])
    )
    result["active_units"] = metrics.active_units(mu)
    if computed and model.model.head is not None:
        pred = model.standardiser.inverse(model.model.head(mu.to(model.device)).cpu().numpy())
        cols = [model.property_names.index(name) for name in computed]
        result.update(metrics.property_accuracy(pred[:, cols], sub.properties, computed))
    return result


def print_table(result: dict[str, float]) -> None:
    """Print the results as a two-column table."""
    from rich.table import Table

    table = Table("metric", "value")
    for k, v in result.items():
        table.add_row(k, f"{v:.4f}" if isinstance(v, float) else str(v))
    console.print(table)

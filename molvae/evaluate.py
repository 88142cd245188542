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
import pandas as pd
import torch

from molvae import metrics
from molvae.api import MolVAE
from molvae.config import DataConfig
from molvae.data.cache import cache_dir
from molvae.data.load import load_dataset
from molvae.data.properties import PROPERTIES
from molvae.data.tables import read_table
from molvae.files import atomic_write
from molvae.progress import console
from molvae.sample import sample_molecules
from molvae.similarity import FP_BITS
from molvae.structure import ring_stats

#: Bump when the reference statistics change meaning, so old caches are not reused.
#: 2: MOSES's exact Frag/Filters/IntDiv2 definitions and the Wasserstein property values.
REF_VERSION = 2


def _cache_path(kind: str, smiles: list[str], cfg: DataConfig, *flags: object) -> Path:
    h = hashlib.sha256("\n".join(smiles).encode())
    h.update(f"{REF_VERSION}:{flags}".encode())
    return cache_dir(cfg) / f"{kind}-{h.hexdigest()[:24]}.npz"


def reference_stats(
    smiles: list[str], cfg: DataConfig, fcd=None, with_distributions: bool = True
) -> metrics.ReferenceStats:
    """Statistics of a reference set, read from the cache or computed and cached."""
    path = _cache_path("ref", smiles, cfg, fcd is not None, with_distributions)
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(z["meta"].tobytes().decode())
            fps = np.unpackbits(z["fps"], axis=1)[:, :FP_BITS]
            fcd_stats = {"mu": z["fcd_mu"], "sigma": z["fcd_sigma"]} if "fcd_mu" in z else None
            dists = {k: z[f"dist_{k}"] for k in metrics.DISTRIBUTIONS if f"dist_{k}" in z}
        return metrics.ReferenceStats(
            fps, Counter(meta["fragments"]), Counter(meta["scaffolds"]), dists, fcd_stats
        )
    console.print(f"Computing reference statistics for {len(smiles)} molecules (cached after).")
    stats = metrics.ReferenceStats.compute(smiles, fcd, with_distributions)
    arrays = {
        "fps": np.packbits(stats.fps, axis=1),
        "meta": np.frombuffer(
            json.dumps({"fragments": stats.fragments, "scaffolds": stats.scaffolds}).encode(),
            dtype=np.uint8,
        ),
        **{f"dist_{k}": v for k, v in stats.distributions.items()},
    }
    if stats.fcd is not None:
        arrays["fcd_mu"] = np.asarray(stats.fcd["mu"])
        arrays["fcd_sigma"] = np.asarray(stats.fcd["sigma"])
    atomic_write(path, lambda tmp: np.savez(tmp, **arrays))
    return stats


def training_set(path: str | os.PathLike, cfg: DataConfig) -> set[str]:
    """The canonical SMILES of a training table, for ``Novelty`` (canonicalised once, cached)."""
    table = read_table(path)
    raw = table.frame[table.smiles_col].astype(str).tolist()
    cached = _cache_path("train", raw, cfg)
    if cached.exists():
        with np.load(cached, allow_pickle=False) as z:
            return set(z["smiles"].tobytes().decode().split("\n"))
    console.print(f"Canonicalising {len(raw)} training molecules for Novelty (cached after).")
    smiles = set(metrics.canonical_valid(raw))
    text = np.frombuffer("\n".join(sorted(smiles)).encode(), dtype=np.uint8)
    atomic_write(cached, lambda tmp: np.savez(tmp, smiles=text))
    return smiles


def default_train(test: str | os.PathLike | pd.DataFrame) -> Path | None:
    """MOSES's ``train.csv.gz`` when ``test`` is MOSES's test file beside it, else ``None``."""
    if not isinstance(test, str | os.PathLike):
        return None
    test = Path(test)
    beside = test.parent / "train.csv.gz"
    return beside if test.name.startswith("test") and beside.exists() else None


@torch.no_grad()
def evaluate(
    model: MolVAE,
    test: str | os.PathLike | pd.DataFrame,
    train: str | os.PathLike | None = None,
    n: int = 30000,
    n_recon: int = 2000,
    seed: int = 0,
    use_fcd: bool = True,
    cache: str | None = None,
    progress: bool = True,
    prior: str = "auto",
    test_scaffolds: str | os.PathLike | None = None,
    strict: bool = True,
    consistent: bool | None = None,
    keep_references: bool = False,
) -> dict[str, float]:
    """Evaluate a model the MOSES way.

    Args:
        model: The model.
        test: The reference (test) SMILES table.
        train: The training table for ``Novelty``; ``None`` uses MOSES's ``train.csv.gz`` when
            ``test`` is MOSES's test file beside it, else the hashes stored in the checkpoint
            (the model's own training set).
        n: Molecules to sample.
        n_recon: Test molecules used for reconstruction, active units and property accuracy.
        seed: Sampling seed.
        use_fcd: Compute ``FCD/Test`` (needs the ``fcd_torch`` package).
        cache: Cache folder for tokenised sets and reference statistics.
        prior: The latent distribution sampled from (see :meth:`MolVAE.sample`).
        test_scaffolds: The scaffold test set (e.g. MOSES's ``test_scaffolds.csv.gz``) for the
            ``/TestSF`` keys; skipped if ``None``.
        strict: Sample strict SELFIES (for a SMILES model, valid SMILES) only (see
            :func:`molvae.sample.sample_molecules`); ``strict`` in the result is the raw
            fraction of decodes that were strict (for a SMILES model, the valid rate).
        consistent: Sample self-consistent molecules only (``molvae sample --consistent``;
            ``None``: the model's default); ``consistent`` in the result is then the fraction
            of strict decodes that were.
        keep_references: Keep samples that are one of the mixture prior's reference
            molecules (``sample --keep-references``); by default they are left out, and
            ``reference_copies`` in the result is the fraction of screened decodes that were.

    Returns:
        The MOSES keys (see :func:`molvae.metrics.moses_metrics`), ``strict`` (and
        ``consistent``, ``reference_copies`` when sampling measured them), plus ``recon_exact``,
        ``active_units`` and ``r2_<prop>``/``mae_<prop>``.
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
    ref_sf = None
    if test_scaffolds is not None:
        table = read_table(test_scaffolds)
        sf_smiles = table.frame[table.smiles_col].astype(str).tolist()
        ref_sf = reference_stats(sf_smiles, cfg, fcd, with_distributions=False)

    train = train if train is not None else default_train(test)
    if train is not None:
        console.print(f"Novelty against {train}.")
        in_train = training_set(train, cfg)
    else:
        console.print("Novelty against the model's own training set.")
        in_train = model.in_training_set
    sampled = sample_molecules(
        model,
        n,
        seed=seed,
        prior=prior,
        strict=strict,
        progress=progress,
        consistent=consistent,
        keep_references=keep_references,
    )
    result = metrics.moses_metrics(sampled.smiles, ref, in_train, fcd, ref_scaffolds=ref_sf)
    result = {"valid": result.pop("valid"), "strict": sampled.strict_rate, **result}
    if sampled.consistent is not None:
        result["consistent"] = sampled.consistent_rate
    if sampled.screened:
        result["reference_copies"] = sampled.reference_rate
    result.update(ring_stats(sampled.smiles))

    sub = test_ds.sample(n_recon, seed)
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
        pred = model.head_values(mu)
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

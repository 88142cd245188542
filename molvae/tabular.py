"""A model on whole tables: clean and tokenise them the way the model was trained, encode
them, decode a table of latent vectors, reconstruct them. :class:`molvae.api.MolVAE`'s
``prepare``, ``encode_table``, ``decode_table`` and ``reconstruct_table`` call these."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from molvae import cvae
from molvae.data.dataset import MolDataset, make_batch
from molvae.data.load import load_dataset
from molvae.data.tables import read_table
from molvae.errors import UserError

if TYPE_CHECKING:
    from molvae.api import MolVAE


def prepare(
    vae: MolVAE,
    data: Any,
    rejects_path: str | os.PathLike | None = None,
    progress: bool = False,
    properties: Sequence[str] = (),
) -> tuple[MolDataset, pd.DataFrame]:
    """Clean and tokenise molecules the way this model was trained.

    Args:
        data: A list of SMILES, a DataFrame or a table file.
        rejects_path: Where to write the rejected rows.
        properties: Properties to read or compute for each molecule (``ds.properties``):
            RDKit-computed names or columns of the table.

    Returns:
        The usable molecules and a DataFrame of rejected rows (``row``, ``input``,
        ``reason``), including molecules with tokens this model has never seen.
    """
    if isinstance(data, str | os.PathLike) and not Path(data).exists():
        raise UserError(f"File {data} does not exist; check the path.")
    if not isinstance(data, str | os.PathLike | pd.DataFrame):
        data = pd.DataFrame({"smiles": list(data)})
    # The model's clean-up and limits; the new table's own SMILES column and targets.
    cfg = dataclasses.replace(
        vae.data_config, smiles_col=None, properties=list(properties), max_molecules=None
    )
    ds = load_dataset(
        data, cfg, progress=progress, use_cache=False, drop_duplicates=False, allow_empty=True
    )
    ds = ds.in_vocab(vae.vocab)
    rejects = ds.rejects
    if rejects_path is not None:
        rejects.to_csv(rejects_path, index=False)
    return ds, rejects


def encode_table(
    vae: MolVAE, data: Any, rejects_path: str | os.PathLike | None = None, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Latent means of a table's molecules: ``row``, ``smiles``, ``z0`` ... ``z{d-1}``.

    Returns:
        The latent table (one row per usable input row) and the rejected rows.
    """
    ds, rejects = prepare(vae, data, rejects_path=rejects_path, progress=progress)
    z = vae.encode_dataset(ds).numpy()
    frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
    frame.insert(0, "smiles", ds.smiles)
    frame.insert(0, "row", ds.rows)
    return frame, rejects


def decode_table(vae: MolVAE, path: str | os.PathLike) -> pd.DataFrame:
    """Greedy decodes of a CSV of latent vectors (columns ``z0`` ... ``z{d-1}``).

    Raises:
        UserError: The file is missing or its latent columns do not fit this model.
    """
    path = Path(path)
    if not path.exists():
        raise UserError(f"File {path} does not exist; check the path.")
    frame = pd.read_csv(path)
    cols = sorted(
        (c for c in frame.columns if c.startswith("z") and c[1:].isdigit()),
        key=lambda c: int(c[1:]),
    )
    if len(cols) != vae.latent_dim:
        raise UserError(
            f"{path} has {len(cols)} latent columns (z0, z1, ...) but the model needs "
            f"{vae.latent_dim}; encode with the same model."
        )
    smiles = vae.decode(frame[cols].to_numpy(dtype=np.float32))
    return pd.DataFrame({"smiles": [s or "" for s in smiles]})


def reconstruct_table(
    vae: MolVAE, data: Any, progress: bool = False
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Encode then greedily decode each usable molecule.

    Returns:
        ``smiles``, ``decoded`` and ``exact`` (decoded == input, canonically) per molecule,
        and the rejected rows.
    """
    ds, rejects = prepare(vae, data, progress=progress)
    decoded = vae.decode(vae.encode_dataset(ds), condition=cvae.condition_of(vae, ds.smiles))
    exact = [a == b for a, b in zip(ds.smiles, decoded, strict=True)]
    return pd.DataFrame({"smiles": ds.smiles, "decoded": decoded, "exact": exact}), rejects


def unseen_molecules(vae: MolVAE, path: str | os.PathLike, n: int, seed: int = 0) -> list[str]:
    """Up to ``n`` random SMILES of the table ``path`` that ``vae`` was not trained on (for a
    held-out reference: the sampling prior, the anomaly threshold)."""
    table = read_table(path)
    column = table.frame[table.smiles_col].astype(str)
    smiles = column.sample(n=min(10 * n, len(column)), random_state=seed).tolist()
    seen = vae.in_training_set(smiles)
    return [s for s, s_seen in zip(smiles, seen, strict=True) if not s_seen][:n]


@torch.no_grad()
def encode_posterior(
    vae: MolVAE, ds: MolDataset, batch_size: int = 1000
) -> tuple[torch.Tensor, torch.Tensor]:
    """Posterior means and standard deviations of a prepared dataset: `n x latent_dim` each,
    on the CPU. A conditional VAE's encoder reads each molecule's RDKit-computed condition
    properties; others count as unknown."""
    ids, lengths = ds.to_padded(vae.vocab)
    props = cvae.encoder_condition(vae, ds.smiles)
    mus, sigmas = [], []
    for start in range(0, len(ds), batch_size):
        batch = make_batch(ids, lengths, slice(start, start + batch_size), vae.device, props=props)
        mu, logvar = vae.model.encode(batch.ids, batch.lengths, batch.props)  # (B, Z) each
        mus.append(mu.cpu())
        sigmas.append((0.5 * logvar).exp().cpu())
    if not mus:
        return torch.zeros(0, vae.latent_dim), torch.zeros(0, vae.latent_dim)
    return torch.cat(mus), torch.cat(sigmas)

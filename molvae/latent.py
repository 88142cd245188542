"""Walking the latent space: interpolation between molecules, neighbours of a molecule and a 2-D
map of a set of molecules. The :class:`~molvae.api.MolVAE` methods of the same names call these."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from molvae.data.chem import fingerprint
from molvae.data.properties import PROPERTIES, compute_properties
from molvae.data.tables import read_table
from molvae.errors import UserError

if TYPE_CHECKING:
    from molvae.api import MolVAE

INTERPOLATIONS = ("slerp", "linear")
PROJECTIONS = ("pca", "tsne")


def tanimoto_to(reference: str, smiles: Sequence[str | None]) -> list[float]:
    """Tanimoto similarity (Morgan r=2) of each molecule to ``reference`` (nan if None)."""
    from rdkit import DataStructs

    ref = fingerprint(reference)
    out = []
    for s in smiles:
        fp = fingerprint(s) if s else None
        out.append(
            float("nan") if fp is None or ref is None else DataStructs.TanimotoSimilarity(ref, fp)
        )
    return out


def interpolation_path(
    z_a: torch.Tensor, z_b: torch.Tensor, steps: int, method: str = "slerp"
) -> torch.Tensor:
    """Points from ``z_a`` to ``z_b`` (both ends included): `steps x latent_dim`.

    ``slerp`` follows the great circle between the two directions while the norm changes
    linearly (White 2016, "Sampling generative networks"): under a Gaussian prior, the middle of
    a straight line is unusually close to the origin and decodes to atypical molecules.
    ``linear`` is the straight line.
    """
    if method not in INTERPOLATIONS:
        raise UserError(
            f"Unknown interpolation '{method}'; choose one of {', '.join(INTERPOLATIONS)}."
        )
    if steps < 2:
        raise UserError(f"--steps must be at least 2 (both ends), got {steps}.")
    t = torch.linspace(0.0, 1.0, steps).unsqueeze(1)  # (S, 1)
    if method == "linear":
        return (1 - t) * z_a + t * z_b
    na, nb = z_a.norm(), z_b.norm()
    ua, ub = z_a / na.clamp(min=1e-8), z_b / nb.clamp(min=1e-8)
    omega = torch.arccos((ua * ub).sum().clamp(-1.0, 1.0))
    if float(omega) < 1e-4:  # (almost) the same direction: slerp is the straight line
        return (1 - t) * z_a + t * z_b
    so = torch.sin(omega)
    direction = (torch.sin((1 - t) * omega) * ua + torch.sin(t * omega) * ub) / so  # (S, Z)
    return direction * ((1 - t) * na + t * nb)


def interpolate(
    vae: MolVAE, a: str, b: str, steps: int = 10, method: str = "slerp"
) -> pd.DataFrame:
    """Decode ``steps`` evenly spaced points between the latent means of molecules ``a`` and ``b``.

    Returns:
        ``step``, ``t``, ``smiles`` (greedy decode), ``similarity_to_a``, ``similarity_to_b``.
    """
    ends = vae.prepare([a, b])[0]
    if len(ends) < 2:
        vae.encode([a, b])  # raises the UserError that names the unusable molecule
    z = vae.encode_dataset(ends)
    path = interpolation_path(z[0], z[1], steps, method)
    smiles = vae.decode(path)
    ca, cb = ends.smiles
    return pd.DataFrame(
        {
            "step": np.arange(steps),
            "t": np.linspace(0.0, 1.0, steps),
            "smiles": smiles,
            "similarity_to_a": tanimoto_to(ca, smiles),
            "similarity_to_b": tanimoto_to(cb, smiles),
        }
    )


def neighbors(
    vae: MolVAE,
    smiles: str,
    n: int = 20,
    radius: float = 1.0,
    tries: int | None = None,
    seed: int | None = 0,
) -> pd.DataFrame:
    """Distinct molecules decoded near a molecule's latent mean, most similar first.

    Draws ``tries`` points ``mu + radius * eps`` with ``eps ~ N(0, I)``, decodes each greedily,
    drops repeats and the query itself, and ranks the rest by Tanimoto similarity to the query.

    Args:
        vae: The model.
        smiles: The query molecule.
        n: Most neighbours to return.
        radius: Standard deviation of the perturbation in latent units (the prior's is 1).
        tries: Points to decode; default ``10 * n``.
        seed: Random seed (``None``: not reproducible).

    Returns:
        ``rank``, ``smiles``, ``similarity``, ``distance`` (latent distance of the first point
        that decoded to it); fewer than ``n`` rows when the neighbourhood holds fewer molecules.
    """
    if n < 1 or radius <= 0:
        raise UserError(f"Need n >= 1 and radius > 0, got n={n}, radius={radius}.")
    tries = tries or 10 * n
    query = vae.prepare([smiles])[0]
    if len(query) == 0:
        vae.encode([smiles])  # raises the UserError that says why
    mu = vae.encode_dataset(query)[0]
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    eps = torch.randn(tries, mu.numel(), generator=gen)
    points = mu + radius * eps
    decoded = vae.decode(points)
    seen = {query.smiles[0]}
    rows = []
    for s, dist in zip(decoded, eps.norm(dim=1).mul(radius).tolist(), strict=True):
        if s and s not in seen:
            seen.add(s)
            rows.append((s, dist))
    frame = pd.DataFrame(rows, columns=["smiles", "distance"])
    frame.insert(1, "similarity", tanimoto_to(query.smiles[0], frame["smiles"]))
    frame = frame.sort_values(["similarity", "distance"], ascending=[False, True]).head(n)
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def project(z: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """Project `n x latent_dim` points to `n x 2` with PCA or t-SNE (scikit-learn)."""
    if method not in PROJECTIONS:
        raise UserError(f"Unknown projection '{method}'; choose one of {', '.join(PROJECTIONS)}.")
    if len(z) < 3:
        raise UserError(f"A map needs at least 3 usable molecules, got {len(z)}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=seed).fit_transform(z)
    from sklearn.manifold import TSNE

    perplexity = float(min(30, max(2, (len(z) - 1) // 3)))
    return TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(
        z
    )


def latent_map(
    vae: MolVAE,
    data,
    color: str | None = "logp",
    method: str = "pca",
    seed: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """2-D coordinates of a table's molecules, with the value to colour each point by.

    Args:
        vae: The model.
        data: A list of SMILES, a DataFrame or a table file.
        color: A column of the table, or a property RDKit computes (``logp``, ``qed``, ...);
            ``None`` for no colour.
        method: ``pca`` or ``tsne``.

    Returns:
        ``row``, ``smiles``, ``x``, ``y`` (and the ``color`` column), and the rejected rows.
    """
    frame, rejects = vae.encode_table(data, progress=progress)
    z = frame[[c for c in frame.columns if c.startswith("z")]].to_numpy()
    xy = project(z, method, seed)
    out = pd.DataFrame(
        {"row": frame["row"], "smiles": frame["smiles"], "x": xy[:, 0], "y": xy[:, 1]}
    )
    if color:
        out[color] = _color_values(data, frame, color)
    return out, rejects


def _color_values(data, frame: pd.DataFrame, color: str) -> np.ndarray:
    """The ``color`` column of the input table for the encoded rows, else the RDKit property."""
    if not isinstance(data, list | tuple):
        table = read_table(data)
        if color in table.frame.columns:
            pos = pd.Index(table.rows).get_indexer(frame["row"].to_numpy())  # row -> position
            values = pd.to_numeric(table.frame[color].iloc[pos], errors="coerce")
            return values.to_numpy(dtype=float)
    if color not in PROPERTIES:
        raise UserError(
            f"Cannot colour by '{color}': it is neither a column of the table nor one of "
            f"{', '.join(PROPERTIES)}."
        )
    return np.array([compute_properties(s, [color])[0] for s in frame["smiles"]])

"""Figures and molecule drawings, for the CLI (saved as PNG) and for notebooks (shown inline).

Every function returns a matplotlib :class:`~matplotlib.figure.Figure` built without pyplot,
so nothing here changes the global backend: a notebook displays the figure, the CLI saves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from molvae.data.chem import to_mol


def save(fig: Figure, path: str | Path, dpi: int = 120) -> None:
    """Write a figure to ``path`` (the format follows the suffix: .png, .svg, .pdf)."""
    fig.savefig(path, dpi=dpi, bbox_inches="tight")


def best_so_far(curves: dict[str, pd.DataFrame], ylabel: str) -> Figure:
    """Best score found against oracle calls, one line per run (``evaluations``, ``best``)."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    for label, curve in curves.items():
        ax.plot(curve["evaluations"], curve["best"], label=label)
    ax.set_xlabel("oracle calls")
    ax.set_ylabel(f"best {ylabel}")
    ax.grid(alpha=0.3)
    if len(curves) > 1:
        ax.legend()
    fig.tight_layout()
    return fig


def latent_map(frame: pd.DataFrame, color: str | None = None, title: str = "") -> Figure:
    """Scatter of a :func:`molvae.latent.latent_map` frame (``x``, ``y``), coloured by ``color``."""
    fig = Figure(figsize=(6, 5))
    ax = fig.subplots()
    if color is not None and color in frame:
        values = frame[color].to_numpy(dtype=float)
        pts = ax.scatter(frame["x"], frame["y"], c=values, s=6, cmap="viridis", alpha=0.8)
        fig.colorbar(pts, ax=ax, label=color)
    else:
        ax.scatter(frame["x"], frame["y"], s=6, alpha=0.8)
    ax.set_xlabel("component 1")
    ax.set_ylabel("component 2")
    ax.set_title(title or f"latent space of {len(frame)} molecules")
    fig.tight_layout()
    return fig


def pareto_front(frame: pd.DataFrame, x: str, y: str, front: np.ndarray, title: str = "") -> Figure:
    """All evaluated points of a two-objective run, with the Pareto-optimal ones joined."""
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.scatter(frame[x], frame[y], s=8, alpha=0.4, label="evaluated")
    best = frame[front].sort_values(x)
    ax.plot(best[x], best[y], "o-", color="C3", label="Pareto front")
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.grid(alpha=0.3)
    ax.legend()
    if title:
        ax.set_title(title)
    fig.tight_layout()
    return fig


def window_scatter(
    series: dict[str, pd.DataFrame],
    x: str,
    y: str,
    box: dict[str, tuple[float | None, float | None]],
    title: str = "",
    ax=None,
) -> Figure | None:
    """Molecules of each series (a frame with columns ``x`` and ``y``) as a 2-D property scatter,
    the first series in grey behind the others, with the target window ``box`` drawn
    (``{"logp": (2, 3), "qed": (0.6, None)}``; an open side or an unbounded axis runs to the
    plot's edge). Draws into ``ax`` if given (returns ``None``), else into a new figure."""
    from matplotlib.patches import Rectangle

    fig = None
    if ax is None:
        fig = Figure(figsize=(5, 4.5))
        ax = fig.subplots()
    for i, (label, frame) in enumerate(series.items()):
        style = {"color": "0.7", "s": 5} if i == 0 else {"color": f"C{i - 1}", "s": 9}
        ax.scatter(frame[x], frame[y], alpha=0.7, label=f"{label} ({len(frame)})", **style)
    (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
    bx, by = box.get(x, (None, None)), box.get(y, (None, None))
    lo_x, hi_x = (x0 if bx[0] is None else bx[0]), (x1 if bx[1] is None else bx[1])
    lo_y, hi_y = (y0 if by[0] is None else by[0]), (y1 if by[1] is None else by[1])
    ax.add_patch(
        Rectangle((lo_x, lo_y), hi_x - lo_x, hi_y - lo_y, fill=False, ec="k", ls="--", lw=1.2)
    )
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="best")
    if fig is not None:
        fig.tight_layout()
    return fig


def molecule_grid(
    smiles: Sequence[str | None],
    legends: Sequence[str] | None = None,
    per_row: int = 5,
    size: tuple[int, int] = (220, 180),
):
    """RDKit drawing of molecules in a grid (a PIL image; empty cells for ``None``)."""
    from rdkit.Chem import Draw

    mols = [to_mol(s) if s else None for s in smiles]
    return Draw.MolsToGridImage(
        mols,
        molsPerRow=per_row,
        subImgSize=size,
        legends=list(legends) if legends is not None else None,
    )

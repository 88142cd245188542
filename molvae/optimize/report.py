"""What an optimisation run leaves behind: ``top.csv``, ``best_so_far.png`` and
``report.html`` (top molecules drawn by RDKit, their scores and the progress plot)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import plots
from molvae.config import OptimizeConfig
from molvae.data.chem import fingerprint, to_mol
from molvae.optimize.journal import GIVEN, oracle_calls, score_columns, without_latents
from molvae.optimize.pareto import hypervolume_so_far, pareto_mask, reference_point


def top_molecules(
    journal: pd.DataFrame, k: int, reference: str | None, score_cols: list[str] | None = None
) -> pd.DataFrame:
    """The ``k`` best distinct scored molecules, with Tanimoto similarity to ``reference``.

    With several score columns "best" means the Pareto front (all of it, however long),
    sorted by the first objective.
    """
    from rdkit import DataStructs

    cols = score_cols or ["score"]
    ok = np.isfinite(journal[cols].to_numpy(dtype=float)).all(axis=1)
    scored = without_latents(journal[ok]).drop_duplicates("smiles")
    if len(cols) > 1:
        top = scored[pareto_mask(scored[cols].to_numpy(dtype=float))]
        top = top.sort_values(cols[0], ascending=False).copy()
    else:
        top = scored.sort_values("score", ascending=False).head(k).copy()
    ref_fp = fingerprint(reference) if reference else None
    if ref_fp is not None:
        top["similarity_to_start"] = [
            DataStructs.TanimotoSimilarity(ref_fp, fingerprint(s)) for s in top["smiles"]
        ]
    top.insert(0, "rank", np.arange(1, len(top) + 1))
    return top


def best_so_far(
    journal: pd.DataFrame, score_cols: list[str] | None = None, ref_point=None
) -> pd.DataFrame:
    """Best score after each oracle call (rows given with the input are not calls); with
    several score columns, the hypervolume of the Pareto front so far, from the run's
    ``ref_point`` (the loop's; ``None``: one derived from the whole journal)."""
    calls = journal[journal["source"] != GIVEN].reset_index(drop=True)
    cols = score_cols or ["score"]
    if len(cols) > 1:
        y = journal[cols].to_numpy(dtype=float)
        ref = reference_point(y) if ref_point is None else np.asarray(ref_point, dtype=float)
        given = journal.loc[journal["source"] == GIVEN, cols].to_numpy(dtype=float)
        curve = hypervolume_so_far(calls[cols].to_numpy(dtype=float), ref, given)
        return pd.DataFrame({"evaluations": np.arange(1, len(calls) + 1), "best": curve})
    scores = calls["score"].to_numpy(dtype=float)
    start = journal.loc[journal["source"] == GIVEN, "score"].max()
    running = np.fmax.accumulate(np.where(np.isfinite(scores), scores, -np.inf))
    if np.isfinite(start):
        running = np.maximum(running, start)
    return pd.DataFrame({"evaluations": np.arange(1, len(calls) + 1), "best": running})


def _svg(smiles: str) -> str:
    from rdkit.Chem.Draw import rdMolDraw2D

    mol = to_mol(smiles)
    if mol is None:
        return ""
    drawer = rdMolDraw2D.MolDraw2DSVG(220, 160)
    drawer.DrawMolecule(mol)
    drawer.FinishDrawing()
    return drawer.GetDrawingText().replace("<?xml version='1.0' encoding='iso-8859-1'?>", "")


def write_outputs(
    journal: pd.DataFrame,
    out: Path,
    names: list[str],
    cfg: OptimizeConfig,
    rejected: dict[str, int] | None = None,
    ref_point: list[float] | None = None,
) -> None:
    """Write ``top.csv``, ``best_so_far.png`` and ``report.html`` into ``out`` (and, with
    several objectives, ``pareto.png`` of the first two); ``ref_point`` is the run's
    hypervolume reference point."""
    cols = score_columns(names)
    multi = len(cols) > 1
    initial = journal[journal["iteration"] == 0]
    finite = initial[np.isfinite(initial[cols[0]].to_numpy(dtype=float))]
    reference = cfg.similar_to or (
        finite.sort_values(cols[0]).iloc[-1]["smiles"] if len(finite) else None
    )
    top = top_molecules(journal, cfg.top_k, reference, cols)
    top.to_csv(out / "top.csv", index=False)
    curve = best_so_far(journal, cols, ref_point)
    label = "hypervolume" if multi else names[0]
    plots.save(plots.best_so_far({cfg.method: curve}, label), out / "best_so_far.png")
    images = [_png(out / "best_so_far.png", "best so far")]
    if multi:
        front = pareto_mask(journal[cols].to_numpy(dtype=float))
        fig = plots.pareto_front(journal, cols[0], cols[1], front, "scores (higher is better)")
        plots.save(fig, out / "pareto.png")
        images.append(_png(out / "pareto.png", "Pareto front"))
    cards = []
    for _, row in top.iterrows():
        sim = (
            f"<br>similarity to start {row['similarity_to_start']:.2f}"
            if "similarity_to_start" in row
            else ""
        )
        scores = " · ".join(
            f"{html.escape(n)} = {row[c]:.3f}" for n, c in zip(names, cols, strict=True)
        )
        cards.append(
            f"<div class='card'>{_svg(row['smiles'])}<div><b>#{row['rank']}</b> "
            f"{scores}{sim} · {html.escape(str(row['source']))}<br>"
            f"<code>{html.escape(row['smiles'])}</code><br>QED {row['qed']:.2f} · SA "
            f"{row['sa']:.2f} · logP {row['logp']:.2f} · {int(row['heavy_atoms'])} heavy atoms"
            "</div></div>"
        )
    title = html.escape(", ".join(names))
    if multi:
        summary = f"{len(top)} molecules on the Pareto front; final hypervolume "
        summary += f"{curve['best'].iloc[-1]:.3f}" if len(curve) else "-"
        heading = "Pareto front (no molecule is better in every objective)"
    else:
        best = top["score"].max() if len(top) else float("nan")
        summary = f"best score {best:.3f}"
        heading = f"Top {len(top)} molecules"
    start_text = html.escape(reference) if reference else "-"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>molvae optimisation: {title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: 8px; width: 240px; font-size: 12px; }}
code {{ word-break: break-all; }}
</style></head><body>
<h1>Optimising {title} ({html.escape(cfg.method)})</h1>
<p>{oracle_calls(journal)} oracle calls of a budget of {cfg.budget}; {summary}; start molecule
<code>{start_text}</code>.</p>
<p>Molecules by source: {html.escape(_counts(journal["source"].value_counts()))}.</p>
<p>Molecules not sent to the oracle (no call spent), by reason:
{html.escape(_counts(rejected or {}))}.</p>
{"".join(images)}
<h2>{heading}</h2>
<div class="grid">{"".join(cards)}</div>
</body></html>
"""
    (out / "report.html").write_text(page)


def _counts(counts) -> str:
    """``reason: n`` pairs, largest first."""
    pairs = sorted(dict(counts).items(), key=lambda kv: -kv[1])
    return ", ".join(f"{k}: {v}" for k, v in pairs) or "none"


def _png(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img src="data:image/png;base64,{data}" alt="{alt}">'

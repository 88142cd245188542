"""What an optimisation run leaves behind: ``top.csv``, ``best_so_far.png`` and
``report.html`` (top molecules drawn by RDKit, their scores and the progress plot)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import numpy as np
import pandas as pd

from molvae import plots
from molvae.chem import fingerprint, to_mol
from molvae.config import OptimizeConfig
from molvae.optimize.journal import GIVEN, oracle_calls


def top_molecules(journal: pd.DataFrame, k: int, reference: str | None) -> pd.DataFrame:
    """The ``k`` best distinct scored molecules, with Tanimoto similarity to ``reference``."""
    from rdkit import DataStructs

    scored = journal[np.isfinite(journal["score"].to_numpy(dtype=float))]
    top = scored.sort_values("score", ascending=False).drop_duplicates("smiles").head(k).copy()
    ref_fp = fingerprint(reference) if reference else None
    if ref_fp is not None:
        top["similarity_to_start"] = [
            DataStructs.TanimotoSimilarity(ref_fp, fingerprint(s)) for s in top["smiles"]
        ]
    top.insert(0, "rank", np.arange(1, len(top) + 1))
    return top


def best_so_far(journal: pd.DataFrame) -> pd.DataFrame:
    """Best score after each oracle call (rows given with the input are not calls)."""
    calls = journal[journal["method"] != GIVEN].reset_index(drop=True)
    scores = calls["score"].to_numpy(dtype=float)
    start = journal.loc[journal["method"] == GIVEN, "score"].max()
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
    name: str,
    cfg: OptimizeConfig,
    rejected: dict[str, int] | None = None,
) -> None:
    """Write ``top.csv``, ``best_so_far.png`` and ``report.html`` into ``out``."""
    initial = journal[journal["iteration"] == 0]
    finite = initial[np.isfinite(initial["score"].to_numpy(dtype=float))]
    reference = cfg.similar_to or (
        finite.sort_values("score").iloc[-1]["smiles"] if len(finite) else None
    )
    top = top_molecules(journal, cfg.top_k, reference)
    top.to_csv(out / "top.csv", index=False)
    curve = best_so_far(journal)
    plots.save(plots.best_so_far({cfg.method: curve}, name), out / "best_so_far.png")
    png = base64.b64encode((out / "best_so_far.png").read_bytes()).decode()
    cards = []
    for _, row in top.iterrows():
        sim = (
            f"<br>similarity to start {row['similarity_to_start']:.2f}"
            if "similarity_to_start" in row
            else ""
        )
        cards.append(
            f"<div class='card'>{_svg(row['smiles'])}<div><b>#{row['rank']}</b> "
            f"{html.escape(name)} = {row['score']:.3f}{sim}<br>"
            f"<code>{html.escape(row['smiles'])}</code><br>QED {row['qed']:.2f} · SA "
            f"{row['sa']:.2f} · logP {row['logp']:.2f} · {int(row['heavy_atoms'])} heavy atoms"
            "</div></div>"
        )
    start_text = html.escape(reference) if reference else "-"
    page = f"""<!doctype html>
<html><head><meta charset="utf-8"><title>molvae optimisation: {html.escape(name)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; }}
.grid {{ display: flex; flex-wrap: wrap; gap: 12px; }}
.card {{ border: 1px solid #ccc; border-radius: 6px; padding: 8px; width: 240px; font-size: 12px; }}
code {{ word-break: break-all; }}
</style></head><body>
<h1>Optimising {html.escape(name)} ({html.escape(cfg.method)})</h1>
<p>{oracle_calls(journal)} oracle calls of a budget of {cfg.budget};
best score {top["score"].max() if len(top) else float("nan"):.3f}; start molecule
<code>{start_text}</code>.</p>
<p>Candidates not sent to the oracle, by reason: {html.escape(str(rejected or "none"))}.</p>
<img src="data:image/png;base64,{png}" alt="best so far">
<h2>Top {len(top)} molecules</h2>
<div class="grid">{"".join(cards)}</div>
</body></html>
"""
    (out / "report.html").write_text(page)

"""The notebooks run top to bottom at toy size (MOLVAE_SMOKE=1), as in CI."""

import os
from pathlib import Path

import nbformat
import pytest

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("[0-9]*.ipynb"))


def test_all_six_notebooks_are_here():
    names = [p.stem for p in NOTEBOOKS]
    assert names == [
        "01_quickstart",
        "02_latent_space",
        "03_optimize",
        "04_beta_tradeoff",
        "05_anomaly",
        "06_conditional",
    ]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_in_smoke_mode(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    book = nbformat.read(path, as_version=4)
    # The committed outputs come from full runs and show rendered images.
    images = [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if "image/png" in o.get("data", {})
    ]
    assert images, f"{path.name} is committed without rendered figures"
    monkeypatch.setenv("MOLVAE_SMOKE", "1")
    monkeypatch.setenv("MOLVAE_CACHE", str(tmp_path / "cache"))
    # Run in a copy of notebooks/ so the runs/ folder the notebook writes lands in tmp_path.
    work = tmp_path / "notebooks"
    work.mkdir()
    (tmp_path / "data").symlink_to(path.parents[1] / "data")
    client = NotebookClient(
        book, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(work)}}
    )
    client.execute(env=dict(os.environ))
    errors = [
        o
        for c in book.cells
        if c.cell_type == "code"
        for o in c.get("outputs", [])
        if o.get("output_type") == "error"
    ]
    assert not errors

"""From a SMILES table to a cleaned, tokenised, cached dataset, with a rejects report.

``load_dataset`` reads a ``.csv``/``.tsv``/``.smi`` file (optionally gzipped) or a DataFrame,
cleans every SMILES with RDKit, tokenises it (SELFIES or SMILES, ``DataConfig.tokens``) in
parallel processes, computes the requested properties, drops duplicates and caches the result
on disk keyed by the input's content, the clean-up options and the tokens (see
:mod:`molvae.data.cache`). Every row that is not used is counted by reason and listed in a
rejects CSV.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from molvae.config import DataConfig
from molvae.data import chem
from molvae.data.cache import cache_file, read_cache, write_cache
from molvae.data.dataset import MolDataset
from molvae.data.properties import PROPERTIES, compute_properties
from molvae.data.tables import Table, find_column, read_table
from molvae.data.tokens import Vocab
from molvae.errors import UserError
from molvae.progress import console, progress_bar

#: Molecules per clean-up task: large enough that process start-up is a small cost, small
#: enough that the progress bar moves.
_CHUNK = 4000


def _clean_chunk(args: tuple) -> tuple:
    """Worker: clean and tokenise a chunk; ids are local to the chunk's own token list."""
    smiles, opts, computed = args
    local: dict[str, int] = {}
    canon, reasons, ids, lengths, props = [], [], [], [], []
    for s in smiles:
        result = chem.clean(s, opts)
        canon.append(result.smiles)
        reasons.append(result.reason)
        ids.extend(local.setdefault(t, len(local)) for t in result.tokens)
        lengths.append(len(result.tokens))
        if not result.ok:
            props.append([math.nan] * len(computed))
        else:
            props.append(compute_properties(result.smiles, computed) if computed else [])
    return (
        canon,
        reasons,
        np.asarray(ids, dtype=np.int32),
        np.asarray(lengths, dtype=np.int64),
        list(local),
        np.asarray(props, dtype=np.float64).reshape(len(smiles), len(computed)),
    )


def _n_workers(n_jobs: int, n_rows: int) -> int:
    if n_rows < 2 * _CHUNK:
        return 1
    return n_jobs if n_jobs > 0 else (os.cpu_count() or 1)


def _run_clean(smiles: list, opts: chem.CleanOptions, computed: list[str], n_jobs: int, show: bool):
    chunks = [(smiles[i : i + _CHUNK], opts, computed) for i in range(0, len(smiles), _CHUNK)]
    workers = _n_workers(n_jobs, len(smiles))
    with progress_bar(len(smiles), "Cleaning + tokenising", show) as bar:
        if workers == 1:
            for chunk in chunks:
                yield _clean_chunk(chunk)
                bar.advance(len(chunk[0]))
        else:
            # fork where it exists: workers start at once and a user's script needs no
            # `if __name__ == "__main__"` guard (the workers run RDKit only, never torch).
            methods = multiprocessing.get_all_start_methods()
            ctx = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
            with ctx.Pool(workers) as pool:
                for result in pool.imap(_clean_chunk, chunks):
                    yield result
                    bar.advance(len(result[0]))


def load_dataset(
    source: str | os.PathLike | pd.DataFrame,
    cfg: DataConfig | None = None,
    rejects_path: str | os.PathLike | None = None,
    progress: bool = True,
    use_cache: bool = True,
    drop_duplicates: bool = True,
    allow_empty: bool = False,
) -> MolDataset:
    """Read, clean, tokenise and (optionally) cache a SMILES table.

    Args:
        source: A table file (see :func:`read_table`) or a DataFrame.
        cfg: Clean-up options, property names and cache location.
        rejects_path: Where to write the rejects CSV (``row``, ``input``, ``reason``);
            ``None`` writes none.
        progress: Show a progress bar and print the summary.
        use_cache: Read and write the on-disk cache.
        drop_duplicates: Reject repeats of a molecule (off when encoding a table row by row).
        allow_empty: Return an empty dataset instead of raising when no row is usable.

    Raises:
        UserError: The input cannot be read, a property is unknown, or no row is usable
            (exit code 2).
    """
    cfg = cfg or DataConfig()
    table = read_table(source, cfg.smiles_col)
    path = None if isinstance(source, pd.DataFrame) else Path(source)
    frame, rows = table.frame, table.rows
    if cfg.max_molecules is not None and len(frame) > cfg.max_molecules:
        # A seeded random sample, kept in file order: files are often sorted (MOSES's
        # train.csv is), so the first N rows would not represent the whole.
        pick = np.sort(
            np.random.default_rng(cfg.seed).choice(len(frame), cfg.max_molecules, replace=False)
        )
        frame, rows = frame.iloc[pick].reset_index(drop=True), rows[pick]
    csv_props, computed = _resolve_properties(cfg.properties, frame, table)

    cached = cache_file(table, path, cfg, drop_duplicates)
    dataset = read_cache(cached) if use_cache else None
    if dataset is None:
        dataset = _build(
            frame, table.smiles_col, rows, cfg, csv_props, computed, progress, drop_duplicates
        )
        # Columns in the order the user named them (``_build`` groups file columns first).
        wanted = _requested_order(cfg.properties, dataset.property_names)
        dataset.properties = dataset.properties[:, wanted]
        dataset.property_names = [dataset.property_names[j] for j in wanted]
        if use_cache:
            write_cache(cached, dataset)
    dataset.source = table.source
    if progress:
        report(dataset, rejects_path)
    if rejects_path is not None:
        Path(rejects_path).parent.mkdir(parents=True, exist_ok=True)
        dataset.rejects.to_csv(rejects_path, index=False)
    if len(dataset) == 0 and not allow_empty:
        where = f" (reasons in {rejects_path})" if rejects_path else ""
        raise UserError(
            f"No usable molecules in {table.source}: all {dataset.n_input} rows were rejected"
            f"{where}; check the SMILES column and the clean-up limits.",
            exit_code=2,
        )
    return dataset


def _requested_order(requested: Sequence[str], names: list[str]) -> list[int]:
    return [names.index(find_column(names, r)) for r in requested]


def _resolve_properties(names: Sequence[str], frame: pd.DataFrame, table: Table):
    csv_props, computed = [], []
    for name in names:
        column = find_column(frame.columns, name)
        if column is not None:
            csv_props.append(column)
        elif name.lower() in PROPERTIES:
            computed.append(name.lower())
        else:
            raise UserError(
                f"Property '{name}' is neither a column of {table.source} "
                f"({', '.join(map(str, frame.columns))}) nor one molvae computes "
                f"({', '.join(PROPERTIES)}); fix the name in --properties."
            )
    return csv_props, computed


def _build(
    frame, smiles_col, rows, cfg, csv_props, computed, progress, drop_duplicates
) -> MolDataset:
    opts = chem.CleanOptions.from_config(cfg)
    raw = frame[smiles_col].tolist()
    n = len(raw)
    canon: list[str | None] = []
    reasons: list[str] = []
    id_parts, len_parts, comp_parts = [], [], []
    global_vocab: dict[str, int] = {}
    for c, r, ids, lengths, local, props in _run_clean(raw, opts, computed, cfg.n_jobs, progress):
        table = np.array([global_vocab.setdefault(t, len(global_vocab)) for t in local] or [0])
        canon.extend(c)
        reasons.extend(r)
        id_parts.append(table[ids] if len(ids) else ids)
        len_parts.append(lengths)
        comp_parts.append(props)
    lengths = np.concatenate(len_parts) if len_parts else np.zeros(0, np.int64)
    flat = np.concatenate(id_parts) if id_parts else np.zeros(0, np.int64)
    comp = np.concatenate(comp_parts) if comp_parts else np.zeros((0, len(computed)))

    # Properties read from the file: empty cells are missing, anything non-numeric is bad.
    values = np.full((n, len(csv_props)), np.nan)
    for j, col in enumerate(csv_props):
        # A DataFrame marks missing values with NaN/None, a file with an empty cell.
        cells = frame[col].astype(str).str.strip().where(frame[col].notna(), "")
        numeric = pd.to_numeric(cells, errors="coerce").to_numpy(dtype=float)
        bad = ((cells != "") & ~np.isfinite(numeric)) | np.isinf(numeric)
        values[:, j] = np.where(bad, np.nan, numeric)
        for i in np.flatnonzero(bad):
            if not reasons[i]:
                reasons[i] = chem.BAD_PROPERTY
    for i in np.flatnonzero(~np.isfinite(comp).all(axis=1)) if computed else []:
        if not reasons[i]:
            reasons[i] = chem.BAD_PROPERTY
    props = np.concatenate([values, comp], axis=1).astype(np.float32)

    seen: set[str] = set()
    for i, s in enumerate(canon):
        if reasons[i] or not drop_duplicates:
            continue
        if s in seen:
            reasons[i] = chem.DUPLICATE
        else:
            seen.add(s)

    keep = np.array([not r for r in reasons], dtype=bool)
    starts = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=starts[1:])
    keep_tokens = np.repeat(keep, lengths)
    # Renumber tokens into a sorted vocabulary so ids do not depend on row order.
    vocab = Vocab(global_vocab)
    remap = np.array([vocab.stoi[t] for t in global_vocab] or [0], dtype=np.int16)
    tokens = remap[flat[keep_tokens]] if len(flat) else np.zeros(0, np.int16)
    kept_len = lengths[keep]
    offsets = np.zeros(int(keep.sum()) + 1, dtype=np.int64)
    np.cumsum(kept_len, out=offsets[1:])
    bad = np.flatnonzero(~keep)
    rejects = pd.DataFrame(
        {
            "row": rows[bad].astype(np.int64),
            "input": [raw[i] for i in bad],
            "reason": [reasons[i] for i in bad],
        }
    )
    return MolDataset(
        smiles=[s for s, k in zip(canon, keep, strict=True) if k],
        tokens=tokens,
        offsets=offsets,
        vocab=vocab,
        properties=props[keep],
        property_names=[*csv_props, *computed],
        rows=rows[keep].astype(np.int64),
        rejects=rejects,
        n_input=n,
    )


def report(ds: MolDataset, rejects_path: str | os.PathLike | None = None) -> None:
    """Print how many rows were used and why the others were not."""
    cached = " (from cache)" if ds.from_cache else ""
    console.print(
        f"[bold]{ds.source}[/]: {ds.n_input} rows, {len(ds)} molecules used, "
        f"{len(ds.rejects)} rejected{cached}."
    )
    for reason, count in ds.reject_counts().items():
        console.print(f"  {count:>8}  {reason}")
    if len(ds.rejects) and rejects_path is not None:
        console.print(f"  Rejected rows and reasons: {rejects_path}")

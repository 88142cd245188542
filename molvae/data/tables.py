"""Reading SMILES tables: ``.csv``, ``.tsv`` and ``.smi`` files (optionally gzipped) or a
DataFrame, with the delimiter, header and SMILES column found automatically; every problem
with the file is one clear sentence."""

from __future__ import annotations

import gzip
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from molvae.data import chem
from molvae.errors import UserError

_SMILES_EXTS = (".smi", ".smiles")


@dataclass
class Table:
    """A raw input table: SMILES cells, their spreadsheet row numbers, all columns as text."""

    frame: pd.DataFrame
    smiles_col: str
    rows: np.ndarray  # spreadsheet row of each record (the header, if any, is row 1)
    source: str


def _open_text(path: Path) -> io.TextIOBase:
    raw = gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")  # noqa: SIM115
    return io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")


def _check_readable(path: Path) -> str:
    """First few KB of the file as text; clear errors for missing, empty or binary files."""
    if not path.exists():
        raise UserError(f"File {path} does not exist; check the path.")
    if path.is_dir():
        raise UserError(f"{path} is a folder; pass a .csv, .tsv or .smi file.")
    try:
        opener = gzip.open if path.name.endswith(".gz") else open
        with opener(path, "rb") as fh:
            head = fh.read(65536)
    except (OSError, EOFError) as err:
        raise UserError(f"Cannot read {path} ({err}); is it a valid (gzipped) text file?") from err
    if not head.strip():
        raise UserError(
            f"{path} is empty; give a file with a SMILES column and one row per molecule."
        )
    if b"\x00" in head:
        raise UserError(f"{path} looks like a binary file; give a text .csv, .tsv or .smi file.")
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        # The last character may be cut in half by the 64 KB window.
        if err.start < len(head) - 4:
            raise UserError(
                f"{path} is not UTF-8 text (bad byte at offset {err.start}); "
                "re-save it as UTF-8 and try again."
            ) from err
        text = head[: err.start].decode("utf-8-sig")
    return text


def _sniff_delimiter(first_line: str) -> str | None:
    counts = {d: first_line.count(d) for d in (",", "\t", ";", "|")}
    best = max(counts, key=counts.get)
    return best if counts[best] else None


def _looks_like_smiles(text: str) -> bool:
    return chem.to_mol(text) is not None and text.lower() not in {"smiles", "smi"}


def read_table(source: str | os.PathLike | pd.DataFrame, smiles_col: str | None = None) -> Table:
    """Read a SMILES table, finding the delimiter and the SMILES column.

    Args:
        source: A ``.csv``, ``.tsv``, ``.smi`` (whitespace separated, header optional) file,
            any of them gzipped, or a DataFrame.
        smiles_col: The SMILES column; ``None`` picks the column called ``smiles`` (any case),
            or the only column.

    Raises:
        UserError: The file is missing, empty, binary, not UTF-8, or has no SMILES column.
    """
    if isinstance(source, pd.DataFrame):
        frame = source.reset_index(drop=True).copy()
        frame.columns = [str(c) for c in frame.columns]
        col = _find_smiles_col(frame, smiles_col, "the DataFrame")
        return Table(frame, col, np.arange(len(frame)) + 1, "DataFrame")

    path = Path(source)
    head = _check_readable(path)
    first_line = head.splitlines()[0] if head.splitlines() else ""
    stem = path.name.removesuffix(".gz").lower()
    try:
        if stem.endswith(_SMILES_EXTS):
            frame, has_header = _read_smi(path, first_line)
        else:
            delim = _sniff_delimiter(first_line)
            if stem.endswith(".tsv") and "\t" in first_line:
                delim = "\t"  # even when a column name holds more commas than tabs
            has_header = True
            if delim is None:  # one column: a header only if it is not itself a SMILES
                has_header = not _looks_like_smiles(first_line.strip())
            with _open_text(path) as fh:
                frame = pd.read_csv(
                    fh,
                    sep=delim or "\x1f",  # one column: a separator that never occurs
                    header=0 if has_header else None,
                    dtype=str,
                    keep_default_na=False,
                    skip_blank_lines=False,
                    engine="c",
                )
            if not has_header:
                frame.columns = ["smiles"]
    except UnicodeDecodeError as err:
        raise UserError(f"{path} is not UTF-8 text; re-save it as UTF-8 and try again.") from err
    except pd.errors.ParserError as err:
        msg = str(err).strip().splitlines()[-1]
        raise UserError(f"Cannot parse {path} as a table ({msg}); check its delimiter.") from err
    frame.columns = [str(c).strip() for c in frame.columns]
    col = _find_smiles_col(frame, smiles_col, str(path))
    # Trailing blank lines are not rows anyone meant; blank lines in between are.
    while len(frame) and all(str(v).strip() == "" for v in frame.iloc[-1]):
        frame = frame.iloc[:-1]
    rows = np.arange(len(frame)) + (2 if has_header else 1)
    return Table(frame.reset_index(drop=True), col, rows, str(path))


def _read_smi(path: Path, first_line: str) -> tuple[pd.DataFrame, bool]:
    first = first_line.split()[0] if first_line.split() else ""
    has_header = first.lower() in {"smiles", "smi"}
    smiles, names = [], []
    with _open_text(path) as fh:
        for i, line in enumerate(fh):
            if i == 0 and has_header:
                continue
            parts = line.strip().split(maxsplit=1)
            smiles.append(parts[0] if parts else "")
            names.append(parts[1] if len(parts) > 1 else "")
    return pd.DataFrame({"smiles": smiles, "name": names}), has_header


def find_column(columns: Iterable[object], name: str) -> str | None:
    """The column called ``name``: an exact match first, else one that differs only in case.

    Returns:
        The column's own spelling, or ``None`` when there is none.
    """
    cols = [str(c) for c in columns]
    if name in cols:
        return name
    return next((c for c in cols if c.lower() == name.lower()), None)


def _find_smiles_col(frame: pd.DataFrame, wanted: str | None, where: str) -> str:
    cols = [str(c) for c in frame.columns]
    if wanted is not None:
        found = find_column(cols, wanted)
        if found is not None:
            return found
        raise UserError(f"Column '{wanted}' is not in {where}; its columns are: {', '.join(cols)}.")
    for c in cols:
        if c.lower() in {"smiles", "smi", "canonical_smiles"}:
            return c
    if len(cols) == 1:
        return cols[0]
    raise UserError(
        f"No SMILES column found in {where}; its columns are: {', '.join(cols)}. "
        "Name the right one with --smiles-col."
    )

"""Time to clean, tokenise and cache a SMILES table (:func:`molvae.data.load.load_dataset`).

Two calls on the same file with the same options and a fresh, empty cache folder:

* ``cold``: read the table, clean every SMILES with RDKit and encode it as SELFIES in
  ``--jobs`` processes, drop duplicates, write the cache;
* ``warm``: read the table and hash the file again, then load the cached arrays
  (``from_cache`` must be true).

The default is the full MOSES training set (1,584,663 SMILES). The temporary cache folder is
deleted at the end.

Targets (2 CPU cores, full MOSES train, see BENCHMARKS.md): cold <= 600 s, warm <= 10 s.

Usage::

    python benchmarks/tokenize_benchmark.py                         # full MOSES train
    python benchmarks/tokenize_benchmark.py --max-molecules 20000   # a quick check
    python benchmarks/tokenize_benchmark.py --data my.csv --jobs 2

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import _common

from molvae.config import DataConfig
from molvae.data.dataset import MolDataset
from molvae.data.load import _n_workers, load_dataset

COLD_TARGET_S = 600.0
WARM_TARGET_S = 10.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--data", type=Path, default=_common.MOSES_TRAIN, help="SMILES table.")
    parser.add_argument(
        "--max-molecules",
        type=int,
        default=None,
        help="Use the first N rows; none means every row.",
    )
    parser.add_argument("--jobs", type=int, default=0, help="Tokenising processes (0: all).")
    parser.add_argument(
        "--properties", default="", help="Comma-separated properties to compute (e.g. logp)."
    )
    parser.add_argument("--tmp-dir", default=None, help="Where to make the temporary cache folder.")
    parser.add_argument("--progress", action="store_true", help="Show progress bars (stderr).")
    return parser.parse_args(argv)


def timed_load(path: Path, cfg: DataConfig, progress: bool) -> tuple[MolDataset, float]:
    t0 = time.perf_counter()
    ds = load_dataset(path, cfg, progress=progress)
    return ds, time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    env = _common.environment()
    with tempfile.TemporaryDirectory(prefix="molvae-cache-", dir=args.tmp_dir) as cache:
        cfg = DataConfig(
            properties=[p.strip() for p in args.properties.split(",") if p.strip()],
            max_molecules=args.max_molecules,
            n_jobs=args.jobs,
            cache_dir=cache,
        )
        _common.log(f"cold load of {args.data} (cache {cache})")
        cold, cold_s = timed_load(args.data, cfg, args.progress)
        _common.log(f"cold: {cold_s:.1f}s; warm load")
        warm, warm_s = timed_load(args.data, cfg, args.progress)
        _common.log(f"warm: {warm_s:.2f}s")
        cache_mb = sum(f.stat().st_size for f in Path(cache).iterdir()) / 1e6
    same = warm.smiles == cold.smiles and (warm.tokens == cold.tokens).all()
    _common.emit(
        {
            "benchmark": "tokenize",
            "data": str(args.data),
            "max_molecules": args.max_molecules,
            "cold_s": round(cold_s, 2),
            "warm_s": round(warm_s, 3),
            "cold_rows_per_s": round(cold.n_input / cold_s, 1),
            "n_input": cold.n_input,
            "n_used": len(cold),
            "n_rejected": len(cold.rejects),
            "reject_reasons": cold.reject_counts(),
            "vocab_size": len(cold.vocab),
            "n_jobs": args.jobs,
            "workers": _n_workers(args.jobs, cold.n_input),
            "cold_from_cache": cold.from_cache,
            "warm_from_cache": warm.from_cache,
            "warm_matches_cold": bool(same),
            "cache_mb": round(cache_mb, 2),
            "targets_s": {"cold": COLD_TARGET_S, "warm": WARM_TARGET_S},
            # the targets are for the full MOSES train set; a subset only gives a rate
            "meets_targets": (
                {"cold": cold_s <= COLD_TARGET_S, "warm": warm_s <= WARM_TARGET_S}
                if args.max_molecules is None
                else None
            ),
            "environment": env,
        }
    )


if __name__ == "__main__":
    main()

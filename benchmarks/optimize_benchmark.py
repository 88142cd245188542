"""Latent-space optimisation benchmark: BO against the random and gradient baselines.

For each objective (default ``plogp`` with at most 38 heavy atoms, and ``qed``), method
(``bo``, ``random``, ``gradient``) and seed, run ``molvae.optimize`` with the same budget of
oracle calls and report top-1 and top-3 scores and the number of evaluations needed to reach the
best. Targets (issue: plogp top-1 >= 8, QED top-1 >= 0.948, BO ahead of random by >= 2 plogp).
Prints one JSON object to stdout; progress goes to stderr.

    python benchmarks/optimize_benchmark.py --budget 500 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, log  # noqa: E402

from molvae import MolVAE  # noqa: E402
from molvae.config import OptimizeConfig  # noqa: E402
from molvae.optimize.bo import optimize  # noqa: E402
from molvae.optimize.journal import GIVEN  # noqa: E402


def summarise(journal) -> dict:
    calls = journal[journal["method"] != GIVEN].reset_index(drop=True)
    scores = calls["score"].to_numpy(dtype=float)
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    top = np.sort(finite)[::-1]
    best = float(top[0])
    return {
        "top1": best,
        "top3_mean": float(np.mean(top[:3])),
        "evaluations_to_best": int(np.argmax(finite >= best) + 1),
        "best_smiles": str(calls.loc[int(np.argmax(finite)), "smiles"]),
        "n_calls": len(calls),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model file (default: bundled).")
    parser.add_argument("--objectives", nargs="+", default=["plogp", "qed"])
    parser.add_argument("--methods", nargs="+", default=["bo", "random", "gradient"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=10)
    args = parser.parse_args()

    model = MolVAE.load(args.model) if args.model else MolVAE.pretrained()
    results: dict = {}
    for objective in args.objectives:
        for method in args.methods:
            runs = []
            for seed in args.seeds:
                cfg = OptimizeConfig(
                    budget=args.budget, batch_size=args.batch_size, method=method, seed=seed
                )
                log(f"{objective} / {method} / seed {seed}")
                t0 = time.perf_counter()
                with tempfile.TemporaryDirectory() as tmp:
                    journal = optimize(objective, model, cfg, tmp, progress=False)
                run = summarise(journal)
                run["seconds"] = round(time.perf_counter() - t0, 1)
                runs.append(run)
                log(f"  top-1 {run['top1']:.3f} in {run['seconds']} s")
            results.setdefault(objective, {})[method] = {
                "mean_top1": float(np.mean([r["top1"] for r in runs])),
                "best_top1": float(np.max([r["top1"] for r in runs])),
                "mean_top3": float(np.mean([r["top3_mean"] for r in runs])),
                "mean_evaluations_to_best": float(
                    np.mean([r["evaluations_to_best"] for r in runs])
                ),
                "runs": runs,
            }
    print(
        json.dumps(
            {
                "benchmark": "optimize",
                "budget": args.budget,
                "batch_size": args.batch_size,
                "seeds": args.seeds,
                "results": results,
                "environment": environment(),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

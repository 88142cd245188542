"""Optimisation benchmark: BO against screening, a SELFIES GA, random and gradient baselines,
all in the same harness with the same budget of oracle calls (issue #11).

Objectives: ``plogp`` (at most 38 heavy atoms, guards off, as the published plogp tables),
``qed`` and GuacaMol goal-directed objectives written from their published definitions
(``molvae.optimize.benchmarks``: rediscovery, similarity, isomer, MPO and median-molecule
tasks). For each objective, method and seed it runs ``molvae.optimize`` and reports top-1,
the mean of the top 10 and the calls needed to reach the best; over seeds, their mean and the
best top-1. Prints one JSON object to stdout; progress goes to stderr.

    python benchmarks/optimize_benchmark.py --budget 500 --seeds 0 1 2   # the full run
    python benchmarks/optimize_benchmark.py --budget 60 --n-init 20 --seeds 0 \\
        --objectives plogp qed osimertinib_mpo --timing-entries 0       # a quick check
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import environment, log  # noqa: E402

from molvae import MolVAE  # noqa: E402
from molvae.config import OptimizeConfig  # noqa: E402
from molvae.optimize.benchmarks import objectives, score  # noqa: E402
from molvae.optimize.bo import optimize  # noqa: E402
from molvae.optimize.journal import GIVEN  # noqa: E402
from molvae.optimize.objectives import Objective, builtin  # noqa: E402

METHODS = ["bo", "screen", "ga", "random", "gradient"]
#: Objectives whose property the bundled model's head predicts (the gradient baseline climbs
#: the head, so it runs on these only); they use the built-in oracles of the same values.
HEAD_OBJECTIVES = {"plogp", "qed"}
#: Objectives run without guards: plogp is compared with published tables, which have none.
UNGUARDED = {"plogp"}


def oracle(name: str) -> Objective:
    """The objective ``name`` as an oracle."""
    return builtin(name) if name in HEAD_OBJECTIVES else Objective(name, score(name))


def summarise(journal) -> dict:
    """Top-1, the mean of the top 10, and the calls needed to reach the best, of one run."""
    calls = journal[journal["source"] != GIVEN].reset_index(drop=True)
    scores = calls["score"].to_numpy(dtype=float)
    finite = np.where(np.isfinite(scores), scores, -np.inf)
    top = np.sort(finite)[::-1]
    best = float(top[0])
    return {
        "top1": best,
        "top10_mean": float(np.mean(top[:10])),
        "calls_to_best": int(np.argmax(finite >= best) + 1),
        "best_smiles": str(calls.loc[int(np.argmax(finite)), "smiles"]),
        "best_source": str(calls.loc[int(np.argmax(finite)), "source"]),
        "n_calls": len(calls),
        "calls_by_source": {str(k): int(v) for k, v in calls["source"].value_counts().items()},
    }


def iteration_time(model: MolVAE, entries: int, objective: str, iterations: int = 3) -> dict:
    """Seconds per BO iteration once the journal holds ``entries`` scored molecules.

    The journal is filled with MOSES molecules whose scores come with the input (so filling it
    costs no BO iterations); then a few BO iterations run, fitting the GP on the capped subset.
    """
    from molvae.optimize.objectives import from_spec

    data = Path(__file__).resolve().parents[1] / "data"
    pool = pd.concat([pd.read_csv(data / f) for f in ("moses_train_2k.csv", "moses_test_1k.csv")])
    smiles = pool["SMILES"].drop_duplicates().head(entries).tolist()
    scores = from_spec(objective)(smiles)
    with tempfile.TemporaryDirectory() as tmp:
        init = Path(tmp) / "init.csv"
        pd.DataFrame({"SMILES": smiles, "score": scores}).to_csv(init, index=False)
        cfg = OptimizeConfig(budget=10 * iterations, batch_size=10, n_init=entries, seed=0)
        t0 = time.perf_counter()
        journal = optimize(objective, model, cfg, Path(tmp) / "run", init=init, progress=False)
        total = time.perf_counter() - t0
    stamps = journal.groupby("iteration")["time"].max().sort_index().to_numpy()
    per_iteration = np.diff(stamps)  # from one batch written to the next
    return {
        "journal_entries": int(len(journal)),
        "seconds_per_iteration": [round(float(x), 2) for x in per_iteration],
        "mean_seconds_per_iteration": round(float(np.mean(per_iteration)), 2),
        "total_seconds": round(total, 1),
    }


def run_one(model, objective: str, method: str, seed: int, args) -> dict:
    """One run's summary (or why it was skipped)."""
    if method == "gradient" and objective not in HEAD_OBJECTIVES:
        return {"skipped": "the property head does not predict this objective"}
    cfg = OptimizeConfig(
        budget=args.budget,
        batch_size=args.batch_size,
        method=method,
        n_init=args.n_init,
        seed=seed,
        guards=args.guards and objective not in UNGUARDED,
    )
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        journal = optimize(oracle(objective), model, cfg, tmp, progress=False)
        rejected = json.loads((Path(tmp) / "state.json").read_text())["rejected"]
    run = summarise(journal)
    run["seconds"] = round(time.perf_counter() - t0, 1)
    run["rejected"] = rejected
    return run


def over_seeds(runs: list[dict]) -> dict:
    """Mean and best top-1, mean top-10 and mean calls-to-best over seeds."""
    done = [r for r in runs if "top1" in r]
    if not done:
        return {"skipped": runs[0].get("skipped"), "runs": runs}
    return {
        "mean_top1": float(np.mean([r["top1"] for r in done])),
        "best_top1": float(np.max([r["top1"] for r in done])),
        "min_top1": float(np.min([r["top1"] for r in done])),
        "mean_top10": float(np.mean([r["top10_mean"] for r in done])),
        "mean_calls_to_best": float(np.mean([r["calls_to_best"] for r in done])),
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="Model file (default: bundled).")
    parser.add_argument("--objectives", nargs="+", default=list(objectives()))
    parser.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--budget", type=int, default=500)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument(
        "--n-init", type=int, default=100, help="Starting molecules (part of the budget)."
    )
    parser.add_argument(
        "--guards",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Guards on for every objective but plogp (default).",
    )
    parser.add_argument(
        "--timing-entries", type=int, default=1000, help="Journal size for the timing (0: skip)."
    )
    args = parser.parse_args()
    unknown = sorted(set(args.objectives) - set(objectives()))
    if unknown:
        parser.error(f"unknown objective(s) {', '.join(unknown)}; known: {', '.join(objectives())}")

    env = environment()
    model = MolVAE.load(args.model) if args.model else MolVAE.pretrained()
    results: dict = {}
    for objective in args.objectives:
        for method in args.methods:
            runs = []
            for seed in args.seeds:
                log(f"{objective} / {method} / seed {seed}")
                run = run_one(model, objective, method, seed, args)
                runs.append(run)
                if "top1" in run:
                    log(f"  top-1 {run['top1']:.3f} after {run['calls_to_best']} calls, "
                        f"{run['seconds']} s")  # fmt: skip
            results.setdefault(objective, {})[method] = over_seeds(runs)
    timing = None
    if args.timing_entries:
        log(f"iteration time with {args.timing_entries} journal entries")
        timing = iteration_time(model, args.timing_entries, "qed")
        log(f"  {timing['mean_seconds_per_iteration']} s per iteration")
    print(
        json.dumps(
            {
                "benchmark": "optimize",
                "budget": args.budget,
                "batch_size": args.batch_size,
                "n_init": args.n_init,
                "seeds": args.seeds,
                "guards": args.guards,
                "results": results,
                "iteration_timing": timing,
                "environment": env,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

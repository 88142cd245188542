"""Training throughput (molecules/s) of the ``small`` and ``moses`` presets on MOSES molecules.

What is timed is the real optimisation step, :meth:`molvae.train.trainer.Trainer._train_step`:
batch gather, encoder, decoder with word dropout and Gumbel-Softmax scheduled sampling, KL +
property loss, backward, gradient clipping and Adam, on the length-bucketed batches that
:func:`molvae.data.dataset.epoch_batches` gives ``fit``. Validation, checkpoints and progress bars
are not timed. Each preset is timed at two points of its schedule:

* ``start`` (step 0): scheduled sampling 0, so the decoder runs once per step;
* ``end`` (last step): scheduled sampling at the preset's maximum, which adds a no-grad
  decoder pass and a Gumbel-Softmax per step.

``linear_ramp`` makes scheduled sampling non-zero from step 1 on, and its cost does not depend
on its value, so the ``end`` number is the speed of every step but the first: it is the one
reported as ``molecules_per_s`` and compared with the target.

Targets (2 CPU cores, see BENCHMARKS.md): ``small`` >= 400 molecules/s, ``moses`` >= 60.

Usage::

    python benchmarks/train_throughput.py                      # both presets, 20 timed steps
    python benchmarks/train_throughput.py --preset small --steps 10 --warmup 2
    python benchmarks/train_throughput.py --preset moses --phase end --threads 2

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import _common
import numpy as np

from molvae.config import DataConfig, load_preset, preset_names
from molvae.data.dataset import MolDataset, epoch_batches
from molvae.data.load import load_dataset
from molvae.train.schedules import linear_ramp
from molvae.train.trainer import Trainer

#: Molecules/s each preset should reach on 2 CPU cores.
TARGETS = {"small": 400.0, "moses": 60.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--preset",
        action="append",
        choices=preset_names(),
        help="Preset to time; repeat for several. None given: small and moses.",
    )
    parser.add_argument(
        "--data", type=Path, default=_common.MOSES_TRAIN, help="SMILES table to train on."
    )
    parser.add_argument(
        "--max-molecules", type=int, default=20_000, help="Use the first N rows of --data."
    )
    parser.add_argument(
        "--properties",
        default="",
        help="Comma-separated property targets (e.g. logp); none by default, as `molvae train`.",
    )
    parser.add_argument("--steps", type=int, default=20, help="Timed steps per phase.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed steps before each phase.")
    parser.add_argument(
        "--phase",
        choices=("start", "end", "both"),
        default="both",
        help="Point of the schedule to time: scheduled sampling 0 (start) or at its maximum.",
    )
    parser.add_argument("--threads", type=int, default=0, help="Torch threads (0: default).")
    parser.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto.")
    parser.add_argument("--jobs", type=int, default=0, help="Tokenising processes (0: all).")
    parser.add_argument(
        "--cache-dir", default=None, help="Tokenised-data cache (default: molvae's own)."
    )
    args = parser.parse_args(argv)
    args.preset = args.preset or ["small", "moses"]
    if args.steps < 1 or args.warmup < 0:
        parser.error("--steps must be >= 1 and --warmup >= 0")
    return args


def batch_stream(trainer: Trainer, n: int) -> list[np.ndarray]:
    """The first ``n`` batches ``fit`` would train on (continuing into later epochs)."""
    cfg = trainer.cfg
    lengths = trainer.lengths.numpy()
    batches: list[np.ndarray] = []
    epoch = 0
    while len(batches) < n:
        batches.extend(epoch_batches(lengths, cfg.batch_size, cfg.bucket_size, cfg.seed, epoch))
        epoch += 1
    return batches[:n]


def time_phase(
    trainer: Trainer, step: int, batches: list[np.ndarray], warmup: int
) -> dict[str, Any]:
    """Run ``warmup`` untimed then the remaining batches timed, all as schedule step ``step``."""
    cfg = trainer.cfg
    trainer.step = step  # fixes the lr, beta, scheduled-sampling and tau the steps use
    trainer.model.train()
    for idx in batches[:warmup]:
        trainer._train_step(idx)
    timed = batches[warmup:]
    step_s = []
    _common.synchronize(trainer.device)
    for idx in timed:
        t0 = time.perf_counter()
        trainer._train_step(idx)
        _common.synchronize(trainer.device)
        step_s.append(time.perf_counter() - t0)
    n_mol = sum(len(idx) for idx in timed)
    lengths = trainer.lengths.numpy()
    widths = [int(lengths[idx].max()) for idx in timed]
    seconds = float(sum(step_s))
    return {
        "schedule_step": step,
        "sched_sampling": linear_ramp(step, trainer.total_steps, 0.0, cfg.sched_sampling),
        "molecules_per_s": round(n_mol / seconds, 1),
        "molecules": n_mol,
        "seconds": round(seconds, 3),
        "step_s_median": round(float(np.median(step_s)), 4),
        "step_s_min": round(float(np.min(step_s)), 4),
        "step_s_max": round(float(np.max(step_s)), 4),
        # decoder targets per molecule: SELFIES tokens + <eos>, and the padded batch width
        "mean_tokens_per_molecule": round(float(np.mean(lengths[np.concatenate(timed)])), 2),
        "mean_padded_tokens_per_molecule": round(
            float(np.average(widths, weights=[len(i) for i in timed])), 2
        ),
    }


def bench_preset(
    name: str, train_ds: MolDataset, val_ds: MolDataset, data_cfg: DataConfig, args
) -> dict[str, Any]:
    preset = load_preset(name)
    train_cfg = replace(preset.train, device=args.device, num_threads=args.threads)
    with tempfile.TemporaryDirectory(prefix="molvae-bench-") as out:
        trainer = Trainer(
            train_ds, val_ds, preset.model, train_cfg, out, data_cfg=data_cfg, progress=False
        )
        n_params = sum(p.numel() for p in trainer.model.parameters())
        batches = batch_stream(trainer, args.warmup + args.steps)
        phases = {}
        points = {"start": 0, "end": trainer.total_steps}
        for phase in ("start", "end") if args.phase == "both" else (args.phase,):
            _common.log(f"{name}: timing phase '{phase}' ({args.warmup} + {args.steps} steps)")
            phases[phase] = time_phase(trainer, points[phase], batches, args.warmup)
            _common.log(f"{name} {phase}: {phases[phase]['molecules_per_s']} molecules/s")
    headline = phases.get("end") or phases["start"]
    target = TARGETS.get(name)
    return {
        "molecules_per_s": headline["molecules_per_s"],
        "batch_size": train_cfg.batch_size,
        "steps": args.steps,
        "warmup_steps": args.warmup,
        "mean_tokens_per_molecule": headline["mean_tokens_per_molecule"],
        "target_molecules_per_s": target,
        "meets_target": None if target is None else headline["molecules_per_s"] >= target,
        "parameters": n_params,
        "total_steps_per_run": trainer.total_steps,
        "device": str(trainer.device),
        "phases": phases,
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _common.set_threads(args.threads)
    env = _common.environment()
    data_cfg = DataConfig(
        properties=[p.strip() for p in args.properties.split(",") if p.strip()],
        max_molecules=args.max_molecules,
        n_jobs=args.jobs,
        cache_dir=args.cache_dir,
    )
    _common.log(f"loading {args.data} (first {args.max_molecules} rows)")
    t0 = time.perf_counter()
    ds = load_dataset(args.data, data_cfg, progress=False)
    load_s = time.perf_counter() - t0
    train_ds, val_ds = ds.split(data_cfg.val_fraction, data_cfg.seed)
    _common.log(f"{len(ds)} molecules ({len(train_ds)} train) in {load_s:.1f}s")

    result: dict[str, Any] = {
        "benchmark": "train_throughput",
        "data": str(args.data),
        "max_molecules": args.max_molecules,
        "n_molecules": len(ds),
        "n_train": len(train_ds),
        "dataset_mean_selfies_tokens": round(float(train_ds.lengths.mean()), 2),
        "properties": data_cfg.properties,
        "data_from_cache": ds.from_cache,
        "load_s": round(load_s, 2),
        "device": args.device,
        "environment": env,
        "presets": {},
    }
    for name in args.preset:
        result["presets"][name] = bench_preset(name, train_ds, val_ds, data_cfg, args)
        result["device"] = result["presets"][name]["device"]
    _common.emit(result)


if __name__ == "__main__":
    main()

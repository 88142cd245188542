"""The learning curve of a fine-tune (``molvae train --init``) on a model's own training data.

Rebuilds the trained model's training and validation split (its own data settings and seed),
takes a seeded random ``--train-molecules`` of the training split as one epoch and
``--val-molecules`` of the validation split, validates the starting model on them (epoch 0),
then fine-tunes with the preset's training settings, validating after every epoch. Resumable:
run the same command with ``--resume`` after an interruption.

Usage (issue #9's CPU arm: the bundled model at β 0.15)::

    python benchmarks/finetune_curve.py --init bundled \\
        --preset benchmarks/presets/finetune_beta015.toml --out runs/ft015 \\
        --train-molecules 100000 --val-molecules 10000 --max-minutes 75

The bundled model was trained on 1,000,000 rows of MOSES train (``--data``, its default);
``--cache-dir`` points at a tokenised cache of them. Prints one JSON object on stdout: each
epoch's validation metrics and the molecule-passes of the fine-tune.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

import _common

from molvae.config import load_preset
from molvae.data.load import load_dataset
from molvae.train import finetune
from molvae.train.run import load_init
from molvae.train.trainer import MIN_VAL_BATCH, Trainer
from molvae.train.validation import validate


def subset(ds, n: int, seed: int):
    """A seeded random ``n`` of ``ds`` (all of it when ``n`` is 0)."""
    return ds.sample(n, seed) if n else ds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--init", default="bundled", help="Model to fine-tune (file or bundled).")
    parser.add_argument("--preset", required=True, help="Training settings (.toml).")
    parser.add_argument("--data", default=str(_common.MOSES_TRAIN), help="Its training table.")
    parser.add_argument("--cache-dir", default=None, help="Tokenised-data cache folder.")
    parser.add_argument("--out", required=True, help="Run folder (best.pt, last.pt, metrics).")
    parser.add_argument("--train-molecules", type=int, default=100_000, help="One epoch.")
    parser.add_argument("--val-molecules", type=int, default=10_000, help="Validation set.")
    parser.add_argument("--max-minutes", type=float, default=None, help="Time budget.")
    parser.add_argument("--resume", action="store_true", help="Continue from OUT/last.pt.")
    parser.add_argument("--threads", type=int, default=0, help="Torch threads (0: default).")
    args = parser.parse_args()
    _common.set_threads(args.threads)

    init = load_init(args.init)
    data_cfg = dataclasses.replace(init.data_config, cache_dir=args.cache_dir)
    _common.log(f"loading {args.data} as the model's training data")
    ds = finetune.in_model_vocab(load_dataset(args.data, data_cfg, progress=False), init)
    train_ds, val_ds = ds.split(data_cfg.val_fraction, data_cfg.seed)
    train_ds = subset(train_ds, args.train_molecules, data_cfg.seed)
    val_ds = subset(val_ds, args.val_molecules, data_cfg.seed)
    train_cfg = load_preset(args.preset).train
    if args.max_minutes:
        train_cfg = dataclasses.replace(train_cfg, max_minutes=args.max_minutes)
    trainer = Trainer(
        train_ds, val_ds, init.model_config, train_cfg, args.out, data_cfg=data_cfg, init=init
    )
    start_file = Path(args.out) / "start.json"
    if not (args.resume and trainer.resume()):
        _common.log("validating the starting model (epoch 0)")
        start = validate(
            trainer.model,
            val_ds,
            trainer.std,
            batch_size=max(train_cfg.batch_size, MIN_VAL_BATCH),
            device=trainer.device,
            seed=train_cfg.seed,
            tokens=data_cfg.tokens,
        )
        start_file.parent.mkdir(parents=True, exist_ok=True)
        start_file.write_text(json.dumps(start))
        _common.log(f"epoch 0: {start}")
    trainer.fit()
    per_step = len(train_ds) / trainer.n_batches  # molecules per step, on average
    curve = [{**row, "passes": round(row["step"] * per_step)} for row in trainer.history]
    _common.emit(
        {
            "benchmark": "finetune_curve",
            "init": str(args.init),
            "preset": args.preset,
            "train_molecules": len(train_ds),
            "val_molecules": len(val_ds),
            "start": json.loads(start_file.read_text()),
            "curve": curve,
        }
    )


if __name__ == "__main__":
    main()

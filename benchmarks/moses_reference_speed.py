"""Training speed (molecules/s) of the MOSES reference VAE, for the side-by-side comparison
with ``train_throughput.py --preset moses`` (issue #9: "correct the speed claim").

The reference trainer is molsets 0.3.1 with its default VAE configuration (GRU encoder 256,
3-layer GRU decoder 512, latent 128, batch 512, SMILES characters). What is timed is the body
of its ``VAETrainer._train_epoch`` step: forward, ``kl_w_start * kl + recon``, backward,
gradient clipping, Adam. The batches come from its own data loader (its collate function
turns strings into tensors inside the timed loop, as in its training). molsets 0.3.1 does
not import on a current stack, so two shims stand in for what is gone; training uses neither:

* ``rdkit.six`` (removed from RDKit), imported by its SA-score module;
* ``moses.metrics``, whose import calls ``DataFrame.append`` (removed in pandas 2).

Run it in its own environment, never molvae's (molsets pins old packages)::

    python -m venv /tmp/moses-venv
    /tmp/moses-venv/bin/pip install torch==2.13.0 pandas rdkit tqdm matplotlib scipy
    /tmp/moses-venv/bin/pip install --no-deps molsets fcd_torch
    OMP_NUM_THREADS=1 /tmp/moses-venv/bin/python benchmarks/moses_reference_speed.py --threads 1

Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import types
from pathlib import Path

import numpy as np
import pandas as pd
import torch

MOSES_TRAIN = Path(__file__).resolve().parents[2] / "shared" / "data" / "moses" / "train.csv.gz"


def shim_removed_modules() -> None:
    """Stand-ins for the modules molsets 0.3.1 imports that no longer import."""
    six = types.ModuleType("rdkit.six")
    six.iteritems = lambda d: iter(d.items())
    sys.modules["rdkit.six"] = six
    metrics = types.ModuleType("moses.metrics")
    metrics.get_all_metrics = None
    sys.modules["moses.metrics"] = metrics


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=MOSES_TRAIN)
    parser.add_argument("--max-molecules", type=int, default=20_000)
    parser.add_argument("--steps", type=int, default=20, help="Timed steps.")
    parser.add_argument("--warmup", type=int, default=3, help="Untimed steps first.")
    parser.add_argument("--threads", type=int, default=0, help="Torch threads (0: default).")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    shim_removed_modules()
    from moses.vae import VAE, VAETrainer, vae_parser

    config = vae_parser().parse_args([])
    config.device = "cpu"
    smiles = pd.read_csv(args.data, nrows=args.max_molecules)["SMILES"].tolist()
    trainer = VAETrainer(config)
    model = VAE(trainer.get_vocabulary(smiles), config).to("cpu")
    loader = trainer.get_dataloader(model, smiles, shuffle=True)
    optimizer = torch.optim.Adam(trainer.get_optim_params(model), lr=config.lr_start)
    model.train()
    step_s, molecules = [], 0
    batches = iter(loader)
    for i in range(args.warmup + args.steps):
        t0 = time.perf_counter()
        batch = next(batches)
        kl_loss, recon_loss = model(batch)
        loss = config.kl_w_start * kl_loss + recon_loss
        optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainer.get_optim_params(model), config.clip_grad)
        optimizer.step()
        if i >= args.warmup:
            step_s.append(time.perf_counter() - t0)
            molecules += len(batch)
    seconds = float(sum(step_s))
    print(
        json.dumps(
            {
                "benchmark": "moses_reference_speed",
                "trainer": "molsets 0.3.1 VAE, default config",
                "molecules_per_s": round(molecules / seconds, 1),
                "molecules": molecules,
                "seconds": round(seconds, 1),
                "step_s_median": round(float(np.median(step_s)), 3),
                "steps": args.steps,
                "warmup_steps": args.warmup,
                "batch_size": config.n_batch,
                "parameters": sum(p.numel() for p in model.parameters()),
                "threads": torch.get_num_threads(),
                "config": {
                    k: getattr(config, k)
                    for k in ("q_cell", "q_d_h", "q_n_layers", "d_d_h", "d_n_layers", "d_z")
                },
                "environment": {
                    "torch": torch.__version__,
                    "python": platform.python_version(),
                    "cpu_count": os.cpu_count(),
                    "loadavg": list(os.getloadavg()),
                },
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()

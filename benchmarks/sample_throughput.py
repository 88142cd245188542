"""Sampling throughput (molecules/s) of a trained model: prior sample, decode, canonicalise.

What is timed is :meth:`molvae.MolVAE.sample`: z drawn from N(0, I), token-by-token GRU
decoding at ``--temperature`` in batches of 1,000, SELFIES -> SMILES and RDKit
canonicalisation. A short untimed warm-up comes first. A second, separately timed pass over
the same number of molecules splits the time into the network (``generate``) and the
chemistry (SELFIES decode + canonical SMILES), so a slow total can be traced.

The model is ``--model`` if given; otherwise ``runs/t/best.pt`` in the repository if it exists;
otherwise the bundled model (``MolVAE.pretrained()``) if installed; otherwise a ``small``-preset
model trained here for one epoch on the first 5,000 MOSES molecules (quality is then poor, but
the speed is that of a ``small`` model). ``model_source`` in the output says which.

Target (2 CPU cores, ``small`` model, see BENCHMARKS.md): >= 2,000 molecules/s.

Usage::

    python benchmarks/sample_throughput.py                          # 10,000 molecules
    python benchmarks/sample_throughput.py --model runs/mine/best.pt --n 20000 --threads 2

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
import torch

import molvae
from molvae import DataConfig, MolVAE, UserError, load_preset
from molvae.metrics import fraction_unique, fraction_valid
from molvae.prior import consistent_by_default
from molvae.sample import DECODE_BATCH as BATCH
from molvae.sample import ids_to_smiles

TARGET = 2000.0
DEFAULT_MODEL = _common.REPO_ROOT / "runs" / "t" / "best.pt"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--model",
        type=Path,
        default=None,
        help=f"Checkpoint to sample from. None given: {DEFAULT_MODEL} if present, else the "
        "bundled model, else a 1-epoch small model trained on 5,000 molecules.",
    )
    parser.add_argument("--n", type=int, default=10_000, help="Molecules to sample (timed).")
    parser.add_argument("--warmup", type=int, default=500, help="Untimed molecules first.")
    parser.add_argument("--temperature", type=float, default=1.0, help="Sampling temperature.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of z and the token draws.")
    parser.add_argument(
        "--consistent",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="Self-consistent sampling (default: the model's own default).",
    )
    parser.add_argument("--threads", type=int, default=0, help="Torch threads (0: default).")
    parser.add_argument("--device", default="cpu", help="cpu, cuda[:N] or auto.")
    parser.add_argument(
        "--no-breakdown",
        action="store_true",
        help="Skip the second pass that times the network and the chemistry apart.",
    )
    parser.add_argument(
        "--data",
        type=Path,
        default=_common.MOSES_TRAIN,
        help="Training data for the fallback model (used only when no model is found).",
    )
    args = parser.parse_args(argv)
    if args.n < 1 or args.warmup < 0:
        parser.error("--n must be >= 1 and --warmup >= 0")
    return args


def find_model(args: argparse.Namespace) -> tuple[MolVAE, str]:
    """The model to time and where it came from."""
    if args.model is not None:
        return MolVAE.load(args.model, device=args.device), str(args.model)
    if DEFAULT_MODEL.exists():
        return MolVAE.load(DEFAULT_MODEL, device=args.device), str(DEFAULT_MODEL)
    try:
        return MolVAE.pretrained(device=args.device), "pretrained"
    except UserError:
        pass
    _common.log("no model found: training a 1-epoch small model on 5,000 molecules")
    preset = load_preset("small")
    with tempfile.TemporaryDirectory(prefix="molvae-bench-") as out:  # the model stays in memory
        model = molvae.train(
            args.data,
            out=out,
            preset="small",
            data_config=DataConfig(max_molecules=5000),
            train_config=replace(preset.train, epochs=1, device=args.device),
            progress=False,
        )
    return model, "trained here: small preset, 1 epoch, first 5,000 molecules of --data"


def breakdown(vae: MolVAE, n: int, temperature: float, seed: int) -> dict[str, float]:
    """Time the same work as ``MolVAE.sample``, network and chemistry apart."""
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(n, vae.latent_dim, generator=gen)
    vae.model.eval()
    net_s = chem_s = 0.0
    n_tokens = 0
    for start in range(0, n, BATCH):
        t0 = time.perf_counter()
        ids = vae.model.generate(
            z[start : start + BATCH].to(vae.device), vae.max_len, temperature, generator=gen
        ).cpu()
        t1 = time.perf_counter()
        ids_to_smiles(ids, vae.vocab, vae.data_config.tokens)
        chem_s += time.perf_counter() - t1
        net_s += t1 - t0
        n_tokens += int((ids != vae.vocab.eos_id).sum())
    return {
        "generate_s": round(net_s, 3),
        "generate_molecules_per_s": round(n / net_s, 1),
        "selfies_to_smiles_s": round(chem_s, 3),
        "selfies_to_smiles_molecules_per_s": round(n / chem_s, 1),
        "mean_tokens_per_molecule": round(n_tokens / n, 2),
    }


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _common.set_threads(args.threads)
    env = _common.environment()
    vae, source = find_model(args)
    _common.log(f"model: {source} ({vae!r})")
    consistent = consistent_by_default(vae) if args.consistent is None else args.consistent
    if args.warmup:
        vae.sample(args.warmup, args.temperature, args.seed + 1, consistent=consistent)
    _common.log(f"sampling {args.n} molecules")
    t0 = time.perf_counter()
    smiles = vae.sample(args.n, args.temperature, args.seed, consistent=consistent)
    seconds = time.perf_counter() - t0
    rate = args.n / seconds
    _common.log(f"{rate:.0f} molecules/s")
    result: dict[str, Any] = {
        "benchmark": "sample_throughput",
        "model_source": source,
        "model_config": vae.model_config.__dict__,
        "vocab_size": len(vae.vocab),
        "max_len": vae.max_len,
        "n": args.n,
        "temperature": args.temperature,
        "consistent": consistent,
        "seconds": round(seconds, 3),
        "molecules_per_s": round(rate, 1),
        "target_molecules_per_s": TARGET,
        "meets_target": rate >= TARGET,
        "valid": round(fraction_valid(smiles), 4),
        "unique": round(fraction_unique(smiles), 4),
        "threads": torch.get_num_threads(),
        "device": str(vae.device),
        "environment": env,
    }
    if not args.no_breakdown:
        _common.log("timing network and chemistry apart")
        result["breakdown"] = breakdown(vae, args.n, args.temperature, args.seed)
    _common.emit(result)


if __name__ == "__main__":
    main()

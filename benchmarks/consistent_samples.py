"""Self-consistent sampling (``molvae sample --consistent``) against plain sampling, issue #9.

The bundled model's (or ``--model``'s) prior at ``--spread`` draws about ``--mult * --n``
molecules (strict, as ``molvae sample`` does). Those the model reconstructs
(:func:`molvae.roundtrip.self_consistent`) form the second arm. Both arms, at most ``--n``
molecules each, are scored with the MOSES metrics (golden-tested) against MOSES test, Novelty
against all of MOSES train, and the ring statistics.

Usage::

    python benchmarks/consistent_samples.py --n 10000 --spread 2.0 --mult 3.5

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses

import _common

from molvae import MolVAE, metrics
from molvae.data.load import load_dataset
from molvae.evaluate import reference_stats, training_set
from molvae.roundtrip import self_consistent
from molvae.sample import sample_molecules
from molvae.structure import ring_stats

MOSES = _common.REPO_ROOT.parent / "shared" / "data" / "moses"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="Molecules scored per arm.")
    parser.add_argument("--spread", type=float, default=None, help="Mixture prior spread.")
    parser.add_argument("--mult", type=float, default=3.5, help="Draws per molecule wanted.")
    parser.add_argument("--temperature", type=float, default=1.0, help="Token temperature.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--cache", default=None, help="Cache folder for reference statistics.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (0: default).")
    parser.add_argument("--model", default=None, help="Model file (default: bundled).")
    args = parser.parse_args()
    _common.set_threads(args.threads)
    vae = MolVAE.load(args.model, device="cpu") if args.model else MolVAE.pretrained(device="cpu")
    if args.spread is not None:
        vae.prior.respread(args.spread)
    cfg = dataclasses.replace(
        vae.data_config, smiles_col=None, properties=[], cache_dir=args.cache, max_molecules=None
    )
    _common.log("reference statistics")
    test = load_dataset(str(MOSES / "test.csv.gz"), cfg, progress=False)
    fcd = metrics.fcd_model()
    ref = reference_stats(test.smiles, cfg, fcd)
    in_train = training_set(str(MOSES / "train.csv.gz"), cfg)
    _common.log(f"sampling {int(args.n * args.mult)} at spread {vae.prior.spread}")
    n_draws = int(args.n * args.mult)
    drawn = sample_molecules(vae, n_draws, args.temperature, args.seed, consistent=False).smiles
    ok = self_consistent(vae, drawn)
    kept = [s for s, good in zip(drawn, ok, strict=True) if good]
    arms = {"all": drawn[: args.n], "consistent": kept[: args.n]}
    result = {"spread": vae.prior.spread, "temperature": args.temperature, "drawn": len(drawn)}
    result["consistent_rate"] = sum(ok) / len(ok)
    for name, smiles in arms.items():
        _common.log(f"scoring {name} ({len(smiles)} molecules)")
        scores = metrics.moses_metrics(smiles, ref, in_train, fcd)
        result[name] = {"n": len(smiles), **scores, **ring_stats(smiles)}
    env = _common.environment()
    _common.emit({"benchmark": "consistent_samples", **result, "environment": env})


if __name__ == "__main__":
    main()

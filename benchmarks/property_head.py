"""Property-head accuracy of one or more models on the same random MOSES test molecules.

For each model: R² and MAE of its head's predictions from the latent means of ``--n`` random
MOSES test molecules (seeded, the same molecules for every model), against the RDKit values.
Issue #9's targets are R² logP >= 0.95, QED >= 0.85, SA >= 0.90.

Usage::

    python benchmarks/property_head.py --n 20000 bundled refitted.pt

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses

import _common

from molvae import MolVAE, metrics
from molvae.data.load import load_dataset

MOSES_TEST = _common.REPO_ROOT.parent / "shared" / "data" / "moses" / "test.csv.gz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="Model files; 'bundled' for the bundled one.")
    parser.add_argument("--n", type=int, default=20_000, help="Test molecules.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed of the subset.")
    parser.add_argument("--test", default=str(MOSES_TEST), help="Test molecules.")
    parser.add_argument("--cache", default=None, help="Cache folder for the tokenised set.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (0: default).")
    args = parser.parse_args()
    _common.set_threads(args.threads)
    result = {"n": args.n, "seed": args.seed, "models": {}}
    for path in args.models:
        vae = MolVAE.pretrained("cpu") if path == "bundled" else MolVAE.load(path, "cpu")
        names = vae.property_names
        cfg = dataclasses.replace(
            vae.data_config,
            smiles_col=None,
            properties=names,
            cache_dir=args.cache,
            max_molecules=None,
        )
        _common.log(f"{path}: test molecules")
        test = load_dataset(args.test, cfg, progress=False)
        sub = test.sample(args.n, args.seed)
        _common.log(f"{path}: encoding {len(sub)}")
        pred = vae.head_values(vae.encode_dataset(sub))
        scores = metrics.property_accuracy(pred, sub.properties, names)
        result["models"][path] = {"prop_hidden": vae.model_config.prop_hidden, **scores}
    _common.emit({"benchmark": "property_head", **result, "environment": _common.environment()})


if __name__ == "__main__":
    main()

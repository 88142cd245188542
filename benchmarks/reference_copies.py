"""Samples that copy a reference molecule, kept or left out (issue #9, Lever 7).

A mixture prior draws z around the posterior of one of its reference molecules (MOSES training
molecules the model never trained on), and at a small spread many draws decode back to that
molecule. ``molvae sample`` leaves such copies out by default (``--keep-references`` keeps
them). This script draws ``--draw`` self-consistent molecules with the copies kept, at
``--spread``, from the bundled model (or ``--model``, whose prior must record its references:
``molvae export --reference``), and scores two arms: the first ``--n`` of them, and the first
``--n`` that are no reference molecule (what ``molvae sample`` returns). MOSES metrics
(golden-tested) against MOSES test, Novelty against all of MOSES train, ring statistics.

Usage::

    python benchmarks/reference_copies.py --spread 1.3 --draw 18000 --n 10000

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse

import _common

from molvae import MolVAE, metrics
from molvae.errors import UserError
from molvae.sample import sample_molecules
from molvae.structure import ring_stats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--spread", type=float, required=True, help="Mixture prior spread.")
    parser.add_argument("--draw", type=int, required=True, help="Self-consistent draws.")
    parser.add_argument("--n", type=int, default=10_000, help="Molecules scored per arm.")
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--cache", default=None, help="Cache folder for reference statistics.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (0: default).")
    parser.add_argument("--model", default=None, help="Model file (default: bundled).")
    args = parser.parse_args()
    _common.set_threads(args.threads)
    vae = MolVAE.load(args.model, device="cpu") if args.model else MolVAE.pretrained(device="cpu")
    if vae.prior is None or vae.prior.reference_hashes is None:
        raise UserError("This benchmark needs a mixture prior that records its references.")
    vae.prior.respread(args.spread)
    ref, in_train, fcd = _common.moses_scoring(vae, args.cache)
    _common.log(f"sampling {args.draw} at spread {args.spread}")
    got = sample_molecules(vae, args.draw, seed=args.seed, consistent=True, keep_references=True)
    smiles = got.smiles
    copies = vae.prior.is_reference(smiles)
    result = {
        "spread": args.spread,
        "drawn": got.drawn,
        "kept": len(smiles),
        "consistent_rate": got.consistent_rate,
        "reference_rate": sum(copies) / max(len(smiles), 1),
        "in_train_rate": sum(s in in_train for s in smiles) / max(len(smiles), 1),
    }
    arms = {
        "references_kept": smiles[: args.n],
        "references_left_out": [s for s, c in zip(smiles, copies, strict=True) if not c][: args.n],
    }
    for name, arm in arms.items():
        _common.log(f"scoring {name} ({len(arm)} molecules)")
        scores = metrics.moses_metrics(arm, ref, in_train, fcd)
        result[name] = {"n": len(arm), **scores, **ring_stats(arm)}
    _common.emit({"benchmark": "reference_copies", **result, "environment": _common.environment()})


if __name__ == "__main__":
    main()

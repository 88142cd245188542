"""Score trained models the way issue #9's acceptance does, for the recipe study.

For each model: fit the latent prior (``--fit gaussian`` or ``mixture``) on held-out MOSES
training molecules (not in the model's own training set), sample ``--n`` molecules with
``molvae sample``'s defaults (strict, fitted prior, T = 1), and score them with
:func:`molvae.evaluate.evaluate` against MOSES test: the MOSES metrics (equal to the official
code), the raw strict rate, ring statistics, greedy reconstruction of ``--n-recon`` random test
molecules and the property-head R². Each result also names the molecule-passes the model was
trained for (steps x batch size), so a learning curve can be drawn from several checkpoints.

Usage::

    python benchmarks/recipe_study.py runs/a/best.pt runs/b/best.pt --n 10000 --fit mixture

Prints one JSON object (a list of results under ``results``) on stdout; progress on stderr.
"""

from __future__ import annotations

import argparse

import _common

from molvae import MolVAE
from molvae.evaluate import evaluate
from molvae.tabular import unseen_molecules

MOSES = _common.REPO_ROOT.parent / "shared" / "data" / "moses"


def score(path: str, args: argparse.Namespace) -> dict:
    model = MolVAE.load(path)
    _common.log(f"{path}: fitting the prior on {args.n_prior} held-out molecules")
    model.fit_prior(unseen_molecules(model, MOSES / "train.csv.gz", args.n_prior), args.fit)
    last = model.history[-1] if model.history else {}
    passes = int(last.get("step", 0)) * model.train_config.batch_size
    _common.log(f"{path}: evaluating ({args.n} samples)")
    result = evaluate(
        model,
        str(MOSES / "test.csv.gz"),
        n=args.n,
        n_recon=args.n_recon,
        seed=args.seed,
        cache=args.cache,
        progress=False,
        prior=args.prior,
    )
    return {
        "model": path,
        "passes": passes,
        "epochs": last.get("epoch"),
        "grammar": model.model_config.grammar,
        "n": args.n,
        "prior": args.prior,
        "fit": args.fit,
        **result,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="checkpoints (best.pt, last.pt or exports)")
    parser.add_argument("--n", type=int, default=10000, help="molecules sampled per model")
    parser.add_argument("--n-recon", type=int, default=2000, help="test molecules reconstructed")
    parser.add_argument("--n-prior", type=int, default=5000, help="held-out molecules, prior")
    parser.add_argument("--prior", default="auto", help="auto (fitted), standard or fitted")
    parser.add_argument("--fit", default="gaussian", help="prior fitted: gaussian or mixture")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache", default=None, help="cache folder (reference statistics)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    _common.set_threads(args.threads)
    results = [score(p, args) for p in args.models]
    _common.emit({"benchmark": "recipe_study", "results": results})


if __name__ == "__main__":
    main()

"""Self-consistent sampling (``molvae sample --consistent``) against plain sampling, issue #9.

The bundled model's (or ``--model``'s) prior at ``--spread`` draws about ``--mult * --n``
molecules (strict, as ``molvae sample`` does). Those the model reconstructs
(:func:`molvae.roundtrip.self_consistent`) form the second arm. Both arms, at most ``--n``
molecules each, are scored with the MOSES metrics (golden-tested) against MOSES test, Novelty
against all of MOSES train, and the ring statistics.

Two variations of the prior (session 16): ``--references N`` refits the mixture over N MOSES
training molecules the model did not train on (its spreads kept), and ``--active-spread``
widens only the latent dimensions the model uses: those whose posterior standard deviation,
averaged over the references, is below :data:`molvae.mixture.POOL_SIGMA`; the others are
drawn at the standard deviations the prior stores (spread 1; pooled ones since session 19).

Usage::

    python benchmarks/consistent_samples.py --n 10000 --spread 2.0 --mult 3.5

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse

import _common
import torch

from molvae import MolVAE, metrics
from molvae.errors import UserError
from molvae.mixture import unused_dims
from molvae.roundtrip import self_consistent
from molvae.sample import sample_molecules
from molvae.structure import ring_stats
from molvae.tabular import unseen_molecules


def prepare_prior(
    vae: MolVAE, references: int | None, spread: float | None, active_spread: bool
) -> dict[str, int]:
    """Set up ``vae``'s mixture prior for the run, in this order: refit it over
    ``references`` MOSES training molecules the model did not train on (its spreads kept),
    set ``spread`` (plain and consistent), then with ``active_spread`` widen only the
    dimensions the model uses (see :func:`molvae.mixture.unused_dims`; the others' standard
    deviations are divided by the spread, so they are drawn at the prior's own). Returns what
    changed, for the output.

    Raises:
        UserError: The model's prior is no mixture.
    """
    if vae.prior is None or vae.prior.kind != "mixture":
        raise UserError("This benchmark needs a model with a mixture prior (molvae export).")
    out = {}
    if references is not None:
        _common.log(f"refitting the mixture over {references} references")
        old = vae.prior
        reference = unseen_molecules(vae, _common.MOSES_TRAIN, references)
        vae.fit_prior(reference, "mixture", old.spread, old.consistent_spread, references)
        out["references"] = len(vae.prior.components)
        if out["references"] < references:
            _common.log(f"only {out['references']} references were usable")
    if spread is not None:
        vae.prior.respread(spread)
    if active_spread:
        scales = vae.prior.component_scales
        unused = unused_dims(scales)
        vae.prior.component_scales = torch.where(unused, scales / vae.prior.spread, scales)
        out["dims_at_spread_1"] = int(unused.sum())
    return out


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
    parser.add_argument("--references", type=int, default=None, help="Refit over N molecules.")
    parser.add_argument(
        "--active-spread", action="store_true", help="Widen only the dimensions in use."
    )
    args = parser.parse_args()
    _common.set_threads(args.threads)
    vae = MolVAE.load(args.model, device="cpu") if args.model else MolVAE.pretrained(device="cpu")
    result = prepare_prior(vae, args.references, args.spread, args.active_spread)
    ref, in_train, fcd = _common.moses_scoring(vae, args.cache)
    _common.log(f"sampling {int(args.n * args.mult)} at spread {vae.prior.spread}")
    n_draws = int(args.n * args.mult)
    drawn = sample_molecules(
        vae, n_draws, args.temperature, args.seed, consistent=False, keep_references=True
    ).smiles  # as measured before reference copies were left out (reference_copies.py)
    ok = self_consistent(vae, drawn)
    kept = [s for s, good in zip(drawn, ok, strict=True) if good]
    arms = {"all": drawn[: args.n], "consistent": kept[: args.n]}
    result |= {"spread": vae.prior.spread, "temperature": args.temperature, "drawn": len(drawn)}
    result["consistent_rate"] = sum(ok) / len(ok)
    for name, smiles in arms.items():
        _common.log(f"scoring {name} ({len(smiles)} molecules)")
        scores = metrics.moses_metrics(smiles, ref, in_train, fcd)
        result[name] = {"n": len(smiles), **scores, **ring_stats(smiles)}
    env = _common.environment()
    _common.emit({"benchmark": "consistent_samples", **result, "environment": env})


if __name__ == "__main__":
    main()

"""Conditional sampling (``molvae sample --where``) against unconditional sampling, issue #12.

On the bundled model (``MolVAE.pretrained()``), for each window of issue #12 (logP 1-2,
logP 4-5, QED >= 0.8, TPSA 90-120 with logP 1-3):

- **hit rate**: distinct molecules verified inside the window (RDKit) per decode. The
  unconditional rate comes from one shared run of ``--baseline`` decodes at temperature 1 from
  the fitted prior, strict SELFIES only (what ``molvae sample`` does); the same at temperature
  0 (greedy, as conditional sampling decodes) is reported beside it;
- **uniqueness**: distinct verified molecules / verified decodes (repeats counted);
- **median QED** of the verified molecules against unconditional molecules inside the window;
- **seconds per 1,000 verified** (the whole ``sample_where`` call: seeds, refinement,
  decoding, verification), and the fraction of verified molecules not in the training set.

Targets (issue #12, 2 CPU cores): hit-rate ratio >= 5, uniqueness >= 0.95, median QED not
below unconditional, <= 120 s per 1,000 verified.

With ``--cvae MODEL.pt`` (a conditional VAE, ``molvae train --condition logp,qed``), the same
windows are also sampled on it twice: ``cvae`` (its decoder told the windows) and ``guided``
(head guidance on the same model), each against the CVAE's own unconditional decodes (z from
its prior, conditions from its training values); ``comparison`` lists the hit rates side by
side. ``--model`` replaces the bundled model of the guided arm.

Usage::

    python benchmarks/conditional_benchmark.py --n 1000          # the issue's setting
    python benchmarks/conditional_benchmark.py --n 200 --baseline 10000
    python benchmarks/conditional_benchmark.py --n 1000 --cvae runs/cvae/best.pt
    python benchmarks/conditional_benchmark.py --n 1000 --guards   # drug-like hits, both arms

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import _common
import numpy as np
import torch

from molvae import MolVAE
from molvae import guide as guide_module
from molvae.cli.common import default_of
from molvae.conditional import sample_where
from molvae.cvae import draw_conditions
from molvae.data.chem import is_strict, to_mol, tokens_to_smiles
from molvae.data.properties import compute_properties
from molvae.optimize.guards import drug_like_failure
from molvae.prior import sample_latents
from molvae.sample import decode_texts
from molvae.windows import Verifier, resolve_windows

WINDOWS = {
    "logP 1-2": ["logp=1..2"],
    "logP 4-5": ["logp=4..5"],
    "QED >= 0.8": ["qed>=0.8"],
    "TPSA 90-120, logP 1-3": ["tpsa=90..120", "logp=1..3"],
}
TARGETS = {"hit_rate_ratio": 5.0, "uniqueness": 0.95, "seconds_per_1000": 120.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--n", type=int, default=1000, help="Verified molecules per window.")
    parser.add_argument(
        "--baseline", type=int, default=20_000, help="Unconditional decodes (each temperature)."
    )
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--threads", type=int, default=2, help="Torch threads (0: default).")
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help="Head-refinement steps (default: molvae.guide.STEPS; 0 turns refinement off).",
    )
    parser.add_argument(
        "--model", default=None, help="Model of the guided arm (default: the bundled one)."
    )
    parser.add_argument(
        "--cvae", default=None, help="A conditional VAE to compare (method cvae and guided)."
    )
    parser.add_argument(
        "--guards",
        action=argparse.BooleanOptionalAction,
        default=default_of(sample_where, "guards"),
        help="Count only molecules passing the drug-likeness guards, in both arms.",
    )
    return parser.parse_args(argv)


def unconditional(
    vae: MolVAE, n: int, temperature: float, seed: int, guards: bool = False
) -> dict[str, Any]:
    """Distinct strict molecules of ``n`` prior decodes, with their logp, qed and tpsa (a
    CVAE's conditions drawn from its training values), and with ``guards`` whether each passes
    the drug-likeness guards."""
    gen = torch.Generator(vae.device).manual_seed(seed)
    z = sample_latents(vae, n, generator=gen)
    cond = None
    if vae.model.condition:
        cond = draw_conditions(vae, n, (), torch.Generator().manual_seed(seed))
    tokens = vae.data_config.tokens
    texts = decode_texts(
        vae.model, vae.vocab, tokens, z, vae.max_len, temperature == 0, temperature, gen, cond=cond
    )
    smiles = list(dict.fromkeys(tokens_to_smiles(t, tokens) for t in texts if is_strict(t, tokens)))
    smiles = [s for s in smiles if s]
    props = np.array([compute_properties(s, ["logp", "qed", "tpsa"]) for s in smiles])
    base = {"smiles": smiles, "props": props, "decoded": n}
    if guards:
        base["drug_like"] = np.array([drug_like_failure(to_mol(s)) is None for s in smiles])
    return base


def in_window(base: dict[str, Any], specs: list[str], guards: bool) -> np.ndarray:
    """Which of the unconditional molecules are inside the windows (and, with ``guards``,
    pass the drug-likeness guards)."""
    inside = base["drug_like"].copy() if guards else np.ones(len(base["smiles"]), dtype=bool)
    for w in resolve_windows(specs):
        inside &= w.contains(base["props"][:, ["logp", "qed", "tpsa"].index(w.name)])
    return inside


def window_row(
    vae: MolVAE,
    specs: list[str],
    base: dict[float, Any],
    n: int,
    seed: int,
    method: str,
    guards: bool = False,
) -> dict[str, Any]:
    """One arm on one window: ``sample_where`` timed, checked and set against ``base``."""
    t0 = time.perf_counter()
    got = sample_where(vae, n, specs, seed=seed, method=method, guards=guards)
    seconds = time.perf_counter() - t0
    smiles = list(got.frame["smiles"])
    qed = [compute_properties(s, ["qed"])[0] for s in smiles]
    assert Verifier(resolve_windows(specs), guards=guards).check(smiles)["hit"].all()
    inside = in_window(base[1.0], specs, guards)
    rate_t1 = int(inside.sum()) / base[1.0]["decoded"]
    rate_t0 = int(in_window(base[0.0], specs, guards).sum()) / base[0.0]["decoded"]
    base_qed = base[1.0]["props"][inside, 1]
    row = {
        "verified": len(smiles),
        "decoded": got.decoded,
        "hit_rate": round(got.hit_rate, 4),
        "unconditional_hit_rate": round(rate_t1, 5),
        "hit_rate_ratio": round(got.hit_rate / rate_t1, 2) if rate_t1 else None,
        "unconditional_greedy_hit_rate": round(rate_t0, 5),
        "hit_rate_ratio_vs_greedy": round(got.hit_rate / rate_t0, 2) if rate_t0 else None,
        "uniqueness": round(got.uniqueness, 4),
        "median_qed": round(statistics.median(qed), 4) if qed else None,
        "unconditional_in_window": int(inside.sum()),
        "unconditional_median_qed": round(float(np.median(base_qed)), 4) if len(base_qed) else None,
        "novel": round(float(1 - vae.in_training_set(smiles).mean()), 4) if smiles else None,
        "seconds": round(seconds, 2),
        "seconds_per_1000": round(seconds / len(smiles) * 1000, 1) if smiles else None,
    }
    row["meets"] = {
        "hit_rate_ratio": (row["hit_rate_ratio"] or 0) >= TARGETS["hit_rate_ratio"],
        "uniqueness": row["uniqueness"] >= TARGETS["uniqueness"],
        "median_qed": None
        if row["unconditional_median_qed"] is None or row["median_qed"] is None
        else row["median_qed"] >= row["unconditional_median_qed"],
        "seconds_per_1000": (row["seconds_per_1000"] or 1e9) <= TARGETS["seconds_per_1000"],
    }
    return row


def baseline(vae: MolVAE, args: argparse.Namespace, name: str) -> dict[float, Any]:
    """Unconditional decodes of ``vae`` at temperature 1 and 0."""
    _common.log(f"{name} unconditional: {args.baseline} decodes at temperature 1 and at 0")
    return {t: unconditional(vae, args.baseline, t, args.seed + 1, args.guards) for t in (1.0, 0.0)}


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    _common.set_threads(args.threads)
    env = _common.environment()
    if args.steps is not None:
        guide_module.STEPS = args.steps
    vae = MolVAE.load(args.model, device="cpu") if args.model else MolVAE.pretrained(device="cpu")
    base = baseline(vae, args, "guided model")
    rows: dict[str, Any] = {}
    for label, specs in WINDOWS.items():
        _common.log(f"{label}: sampling {args.n}")
        rows[label] = window_row(vae, specs, base, args.n, args.seed, "guided", args.guards)
        _common.log(f"{label}: {rows[label]}")
    result = {
        "benchmark": "conditional",
        "model_source": args.model or "pretrained",
        "n": args.n,
        "baseline_decodes": args.baseline,
        "unconditional_strict_distinct": {str(t): len(b["smiles"]) for t, b in base.items()},
        "refine_steps": guide_module.STEPS,
        "guards": args.guards,
        "targets": TARGETS,
        "windows": rows,
    }
    if args.cvae:
        result["cvae"] = compare_cvae(args, rows)
    _common.emit({**result, "threads": torch.get_num_threads(), "environment": env})


def compare_cvae(args: argparse.Namespace, guided: dict[str, Any]) -> dict[str, Any]:
    """Both methods on the CVAE ``args.cvae``, per window, and the hit rates side by side."""
    vae = MolVAE.load(args.cvae, device="cpu")
    condition = [vae.property_names[i] for i in vae.model.condition]
    base = baseline(vae, args, "cvae model")
    rows: dict[str, Any] = {}
    for label, specs in WINDOWS.items():
        rows[label] = {}
        for method in ("cvae", "guided"):
            _common.log(f"{label}: {method} on the CVAE, sampling {args.n}")
            rows[label][method] = window_row(
                vae, specs, base, args.n, args.seed, method, args.guards
            )
            _common.log(f"{label}: {method} {rows[label][method]}")
    comparison = {
        label: {
            "guided_model": guided[label]["hit_rate"],
            "cvae_model_guided": rows[label]["guided"]["hit_rate"],
            "cvae_model_cvae": rows[label]["cvae"]["hit_rate"],
        }
        for label in WINDOWS
    }
    return {
        "model_source": args.cvae,
        "condition": condition,
        "unconditional_strict_distinct": {str(t): len(b["smiles"]) for t, b in base.items()},
        "windows": rows,
        "comparison_hit_rate": comparison,
    }


if __name__ == "__main__":
    main()

"""What the bundled model decodes far from its data: penalised logP of decodes of fitted-prior
draws scaled about the prior's mean (issue #11: why BO's plogp stays far from 8).

For each scale, ``--n`` draws ``z = mean + scale * (draw - mean)`` are decoded greedily; the
molecules with at most 38 heavy atoms are scored with plogp. Scale 1 is the prior itself.

Usage::

    python benchmarks/far_latents.py --n 1000 --scales 1 2 3 5

Prints one JSON object on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse

import _common
import numpy as np
import torch

from molvae import MolVAE
from molvae.data.chem import is_strict, to_mol, tokens_to_smiles
from molvae.data.properties import compute_properties
from molvae.prior import sample_latents
from molvae.sample import decode_texts

MAX_HEAVY_ATOMS = 38


def scaled_decodes(vae: MolVAE, n: int, scale: float, seed: int) -> dict:
    """plogp of the greedy decodes of ``n`` fitted-prior draws scaled by ``scale``."""
    gen = torch.Generator().manual_seed(seed)
    mean = vae.prior.mean.float()
    z = mean + scale * (sample_latents(vae, n, "fitted", gen) - mean)  # (n, Z)
    tokens = vae.data_config.tokens
    texts = decode_texts(vae.model, vae.vocab, tokens, z, vae.max_len, True, 0.0, gen)
    smiles = [tokens_to_smiles(t, tokens) for t in texts]
    mols = [(s, to_mol(s)) for s in smiles if s]
    kept = [(s, m) for s, m in mols if m is not None and m.GetNumHeavyAtoms() <= MAX_HEAVY_ATOMS]
    plogp = np.array([compute_properties(m, ["plogp"])[0] for _, m in kept], dtype=float)
    best = int(np.nanargmax(plogp))
    return {
        "scale": scale,
        "strict": float(np.mean([is_strict(t, tokens) for t in texts])),
        "scored": len(kept),
        "plogp_max": round(float(plogp[best]), 3),
        "plogp_q99": round(float(np.nanquantile(plogp, 0.99)), 3),
        "plogp_median": round(float(np.nanmedian(plogp)), 3),
        "best_smiles": kept[best][0],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=1000, help="Draws per scale.")
    parser.add_argument("--scales", type=float, nargs="+", default=[1.0, 2.0, 3.0, 5.0])
    parser.add_argument("--seed", type=int, default=0, help="Random seed.")
    parser.add_argument("--threads", type=int, default=1, help="Torch threads (0: default).")
    args = parser.parse_args()
    _common.set_threads(args.threads)
    vae = MolVAE.pretrained(device="cpu")
    rows = []
    for scale in args.scales:
        _common.log(f"scale {scale}")
        rows.append(scaled_decodes(vae, args.n, scale, args.seed))
    env = _common.environment()
    _common.emit({"benchmark": "far_latents", "n": args.n, "rows": rows, "environment": env})


if __name__ == "__main__":
    main()

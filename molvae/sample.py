"""Decoding latent vectors to molecules: sampling from the prior, greedy decoding, batching."""

from __future__ import annotations

import torch

from molvae.chem import from_selfies
from molvae.model import VAE
from molvae.progress import progress_bar
from molvae.tokens import Vocab


def ids_to_smiles(ids: torch.Tensor, vocab: Vocab) -> list[str | None]:
    """Canonical SMILES of each row of `batch x time` ids (``None`` if a row decodes to nothing)."""
    return [from_selfies(vocab.decode(row)) for row in ids.tolist()]


@torch.no_grad()
def decode_latents(
    model: VAE,
    vocab: Vocab,
    z: torch.Tensor,
    max_len: int,
    greedy: bool = True,
    temperature: float = 1.0,
    batch_size: int = 1000,
    generator: torch.Generator | None = None,
    progress: bool = False,
) -> list[str | None]:
    """Decode `n x latent_dim` latent vectors to canonical SMILES, in batches.

    Args:
        model: The VAE.
        vocab: Its vocabulary.
        z: Latent vectors.
        max_len: Most SELFIES tokens per molecule.
        greedy: Most likely token at each step; else sample at ``temperature``.
        temperature: Sampling temperature.
        batch_size: Molecules decoded at once.
        generator: Random generator (CPU) for reproducible sampling.
        progress: Show a progress bar.
    """
    model.eval()
    device = next(model.parameters()).device
    out: list[str | None] = []
    first = torch.from_numpy(vocab.atom_mask())
    with progress_bar(len(z), "Decoding", progress) as bar:
        for start in range(0, len(z), batch_size):
            zb = z[start : start + batch_size].to(device)
            ids = model.generate(
                zb,
                max_len,
                temperature=temperature,
                greedy=greedy,
                generator=generator,
                first_tokens=first,
            )
            out.extend(ids_to_smiles(ids.cpu(), vocab))
            bar.advance(len(zb))
    return out

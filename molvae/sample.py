"""Decoding latent vectors to molecules: the latent priors (standard and fitted), sampling,
greedy decoding, batching."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from molvae.data.chem import from_selfies
from molvae.data.tokens import Vocab
from molvae.errors import UserError
from molvae.model import VAE
from molvae.progress import progress_bar
from molvae.state import LatentPrior

if TYPE_CHECKING:
    from molvae.api import MolVAE

PRIORS = ("auto", "standard", "fitted")
#: Added to the fitted prior's covariance diagonal so its Cholesky factor exists even when
#: some latent dimensions barely vary (collapsed dimensions).
PRIOR_JITTER = 1e-4


def sample_latents(
    vae: MolVAE, n: int, prior: str = "auto", generator: torch.Generator | None = None
) -> torch.Tensor:
    """``n`` latent vectors from the model's prior: `n x latent_dim`, on its device.

    Args:
        vae: The model.
        n: How many.
        prior: ``standard`` (N(0, I)), ``fitted`` (:func:`fit_prior`'s Gaussian) or ``auto``
            (fitted when the model has one).
        generator: Random generator on the model's device.

    Raises:
        UserError: An unknown prior, or ``fitted`` for a model without one.
    """
    if prior not in PRIORS:
        raise UserError(f"Unknown prior '{prior}'; choose auto, standard or fitted.")
    if prior == "fitted" and vae.prior is None:
        raise UserError(
            "This model has no fitted prior; use --prior standard, or store one with "
            "`molvae export MODEL -o OUT --reference molecules.csv`."
        )
    z = torch.randn(n, vae.latent_dim, generator=generator, device=vae.device)
    if prior != "standard" and vae.prior is not None:
        mean = vae.prior.mean.to(vae.device, torch.float32)
        tril = vae.prior.scale_tril.to(vae.device, torch.float32)
        z = mean + z @ tril.T  # (n, Z)
    return z


def fit_prior(vae: MolVAE, data: Any) -> LatentPrior:
    """A full-covariance Gaussian fitted to the latent means of ``data`` (molecules like the
    training set).

    Raises:
        UserError: Fewer usable molecules than twice the latent size.
    """
    ds, _ = vae.prepare(data)
    if len(ds) < 2 * vae.latent_dim:
        raise UserError(
            f"Fitting a prior needs at least {2 * vae.latent_dim} usable molecules, got {len(ds)}."
        )
    mu = vae.encode_dataset(ds).double()  # (n, Z)
    cov = torch.cov(mu.T) + PRIOR_JITTER * torch.eye(vae.latent_dim, dtype=torch.float64)
    return LatentPrior(mu.mean(dim=0).float(), torch.linalg.cholesky(cov).float())


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
        temperature: Sampling temperature; ``0`` means greedy.
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

"""Out-of-domain scores: how unlikely a molecule is under the model's training distribution.

Two per-molecule scores, both estimated with ``K`` samples ``z_k ~ q(z|x)``:

- ``neg_elbo``: ``mean_k[-log p(x|z_k)] + KL(q(z|x) || N(0, I))``, an upper bound on
  ``-log p(x)``; higher is more unusual.
- ``recon_logprob``: ``log mean_k p(x|z_k)``, the log reconstruction probability
  (An & Cho 2015); lower is more unusual.

A molecule is flagged when its ``neg_elbo`` is above a threshold taken from a reference set of
molecules like the training data (by default its 99th percentile). Molecules the model cannot
represent at all (an element, a token or a length it never saw) are the clearest outliers:
they get ``neg_elbo = inf`` and are flagged, with the reason in ``note``. Rows that are not
molecules (empty, unparseable) are rejects, reported and not scored.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import torch

from molvae import cvae
from molvae.data import chem
from molvae.data.dataset import Batch, MolDataset, make_batch
from molvae.errors import UserError
from molvae.model import VAE

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: The reference quantile used as threshold: flags about 1 % of in-domain molecules.
DEFAULT_QUANTILE = 0.99
#: Posterior samples per molecule: enough for a stable estimate at a small cost.
DEFAULT_SAMPLES = 8
#: A reference set smaller than this gives a meaningless quantile.
MIN_REFERENCE = 20
#: Most reference molecules scored for the threshold (a seeded random subset of larger sets):
#: 100 lie above the 99th percentile, and scoring 30,000 would take many minutes on a CPU.
MAX_CALIBRATION = 10_000

# Reasons that mean "a molecule, but not one this model can represent": scored as outliers.
UNREPRESENTABLE = (
    chem.UNSUPPORTED_ELEMENT,
    chem.UNSUPPORTED_SELFIES,
    chem.UNSUPPORTED_SMILES,
    chem.TOO_LONG,
    chem.UNKNOWN_TOKEN,
)


@torch.no_grad()
def elbo_terms(
    model: VAE,
    batch: Batch,
    n_samples: int,
    generator: torch.Generator | None = None,
    at_mean: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-molecule reconstruction NLL for each of ``n_samples`` posterior samples, and the KL.

    Both come from the model's own loss (``VAE.forward`` with ``reduction="none"``).

    Args:
        model: The VAE (put in eval mode).
        batch: The molecules.
        n_samples: Posterior samples per molecule.
        generator: Random generator for the samples.
        at_mean: Decode once from z = mu instead (deterministic; ``n_samples`` is ignored):
            then the NLL is the validation ``recon_loss`` of each molecule.

    Returns:
        ``nll`` of shape `batch x n_samples` (`batch x 1` with ``at_mean``; nats) and ``kl``
        of shape `batch` (nats).
    """
    model.eval()
    nll, kl = [], None
    for _ in range(1 if at_mean else n_samples):
        out = model(batch, reduction="none", sample_z=not at_mean, generator=generator)
        nll.append(out.recon_loss)  # (B,)
        kl = out.kl_loss  # (B,), the same for every sample
    return torch.stack(nll, dim=1), kl  # (B, K), (B,)


def score_dataset(
    vae: MolVAE,
    ds: MolDataset,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
    batch_size: int = 500,
) -> pd.DataFrame:
    """``neg_elbo`` and ``recon_logprob`` of each molecule of a prepared dataset."""
    if n_samples < 1:
        raise UserError(f"--samples must be at least 1, got {n_samples}.")
    ids, lengths = ds.to_padded(vae.vocab)
    gen = torch.Generator(device=vae.device).manual_seed(seed)
    props = cvae.encoder_condition(vae, ds.smiles)  # a CVAE reads each molecule's properties
    neg_elbo, recon = [], []
    for start in range(0, len(ds), batch_size):
        rows = slice(start, start + batch_size)
        batch = make_batch(ids, lengths, rows, vae.device, props=props)
        nll, kl = elbo_terms(vae.model, batch, n_samples, gen)
        neg_elbo.append((nll.mean(dim=1) + kl).cpu())
        recon.append((torch.logsumexp(-nll, dim=1) - math.log(n_samples)).cpu())
    cat = (lambda xs: torch.cat(xs).double().numpy()) if neg_elbo else (lambda xs: np.zeros(0))
    return pd.DataFrame(
        {"smiles": ds.smiles, "neg_elbo": cat(neg_elbo), "recon_logprob": cat(recon)}
    )


def score(
    vae: MolVAE,
    data: Any,
    n_samples: int = DEFAULT_SAMPLES,
    threshold: float | None = None,
    seed: int = 0,
    progress: bool = False,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Anomaly scores of a table's molecules.

    Args:
        vae: The model.
        data: A list of SMILES, a DataFrame or a table file.
        n_samples: Posterior samples per molecule.
        threshold: Flag molecules with ``neg_elbo`` above this; ``None`` uses the model's stored
            reference threshold (see :func:`calibrate`), else flags nothing but the
            unrepresentable.
        seed: Random seed of the posterior samples.

    Returns:
        One row per input molecule (``row``, ``smiles``, ``neg_elbo``, ``recon_logprob``,
        ``flag``, ``note``) in input order, and the rejected (non-molecule) rows.
    """
    ds, rejects = vae.prepare(data, progress=progress)
    scored = score_dataset(vae, ds, n_samples, seed)
    scored.insert(0, "row", ds.rows)
    scored["note"] = ""
    outside = rejects[rejects["reason"].isin(UNREPRESENTABLE)]
    unscored = pd.DataFrame(
        {
            "row": outside["row"].to_numpy(),
            "smiles": outside["input"].to_numpy(),
            "neg_elbo": np.inf,
            "recon_logprob": -np.inf,
            "note": outside["reason"].to_numpy(),
        }
    )
    frame = pd.concat([scored, unscored], ignore_index=True) if len(unscored) else scored
    frame = frame.sort_values("row", kind="stable").reset_index(drop=True)
    if threshold is None:
        threshold = vae.anomaly_threshold
    frame["flag"] = frame["neg_elbo"] > (np.inf if threshold is None else threshold)
    frame["flag"] |= frame["note"] != ""
    rejects = rejects[~rejects["reason"].isin(UNREPRESENTABLE)].reset_index(drop=True)
    return frame[["row", "smiles", "neg_elbo", "recon_logprob", "flag", "note"]], rejects


def calibrate(
    vae: MolVAE,
    reference: Any,
    quantile: float = DEFAULT_QUANTILE,
    n_samples: int = DEFAULT_SAMPLES,
    seed: int = 0,
) -> float:
    """Set (and return) the model's anomaly threshold: a quantile of ``neg_elbo`` on reference
    molecules, e.g. held-out molecules from the training distribution (a seeded random
    :data:`MAX_CALIBRATION` of them when there are more). :meth:`MolVAE.save` stores it with
    the model.
    """
    if not 0 < quantile < 1:
        raise UserError(f"The quantile must lie between 0 and 1, got {quantile}.")
    ds, _ = vae.prepare(reference)
    if len(ds) < MIN_REFERENCE:
        raise UserError(
            f"A reference set needs at least {MIN_REFERENCE} usable molecules, got {len(ds)}."
        )
    scores = score_dataset(vae, ds.sample(MAX_CALIBRATION, seed), n_samples, seed)["neg_elbo"]
    scores = scores.to_numpy()
    threshold = float(np.quantile(scores, quantile))
    vae.anomaly_threshold, vae.anomaly_quantile = threshold, quantile
    return threshold

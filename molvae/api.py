"""The Python API: :class:`MolVAE`, a trained model you can encode, decode and sample with.

Train one with :func:`molvae.train`."""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from molvae import anomaly, cvae, heads, latent, refit, tabular
from molvae.conditional import MIN_SIMILARITY, resolve_method, sample_where
from molvae.data.dataset import MolDataset
from molvae.errors import UserError
from molvae.prior import MAX_COMPONENTS, fit_prior
from molvae.sample import decode_latents, sample_molecules
from molvae.state import ModelState
from molvae.train import checkpoint

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class MolVAE(ModelState):
    """A trained VAE (on SELFIES or SMILES tokens) with its vocabulary, clean-up options and
    property statistics.

    Load one with :meth:`load` (or :meth:`pretrained`); train one with :func:`molvae.train`.
    Its typed fields and their checkpoint form are defined by :class:`molvae.state.ModelState`.
    """

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> MolVAE:
        """Load a checkpoint written by ``molvae train`` (safely: ``weights_only=True``)."""
        return cls.from_checkpoint(checkpoint.load(path), device=device)

    @classmethod
    def pretrained(cls, device: str = "auto") -> MolVAE:
        """The model bundled with molvae (trained on MOSES)."""
        path = PRETRAINED_DIR / "molvae_moses.pt"
        if not path.exists():
            raise UserError("This installation has no bundled model; pass one from `molvae train`.")
        return cls.load(path, device=device)

    def save(self, path: str | os.PathLike, half: bool = False) -> None:
        """Write the model (without optimizer state, with the last validation only) to ``path``.

        Args:
            path: Output file.
            half: Store floating-point weights as float16 (half the size; loading converts
                them back to float32).
        """
        ckpt = self.to_checkpoint(half=half)
        ckpt["history"] = ckpt["history"][-1:]
        checkpoint.save(path, ckpt)

    # -- encoding ------------------------------------------------------------------------------

    def prepare(
        self, data: Any, rejects_path: str | os.PathLike | None = None, progress: bool = False
    ) -> tuple[MolDataset, pd.DataFrame]:
        """Clean and tokenise molecules the way this model was trained; see
        :func:`molvae.tabular.prepare`."""
        return tabular.prepare(self, data, rejects_path=rejects_path, progress=progress)

    def encode_dataset(self, ds: MolDataset, batch_size: int = 1000) -> torch.Tensor:
        """Posterior means of a prepared dataset, `n x latent_dim`; see :meth:`encode_posterior`."""
        return self.encode_posterior(ds, batch_size)[0]

    def encode_posterior(self, ds: MolDataset, batch_size: int = 1000) -> tuple[Any, Any]:
        """Posterior means and standard deviations of a prepared dataset, `n x latent_dim`
        tensors on the CPU; see :func:`molvae.tabular.encode_posterior`."""
        return tabular.encode_posterior(self, ds, batch_size)

    def encode(self, smiles: str | list[str]) -> torch.Tensor:
        """Posterior means E[z|x] of molecules: `n x latent_dim`.

        Raises:
            UserError: A SMILES cannot be used (the message names it and says why).
        """
        smiles = [smiles] if isinstance(smiles, str) else list(smiles)
        ds, _ = self._prepare_all(smiles)
        return self.encode_dataset(ds)

    def _prepare_all(self, smiles: list[str]) -> tuple[MolDataset, pd.DataFrame]:
        ds, rejects = self.prepare(smiles)
        if len(rejects):
            first = rejects.iloc[0]
            raise UserError(
                f"Cannot encode '{first['input']}' (input {int(first['row'])}): "
                f"{first['reason']}; remove or fix it and try again."
            )
        return ds, rejects

    def encode_table(
        self, data: Any, rejects_path: str | os.PathLike | None = None, progress: bool = False
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Latent means of a table's molecules; see :func:`molvae.tabular.encode_table`."""
        return tabular.encode_table(self, data, rejects_path=rejects_path, progress=progress)

    def decode_table(self, path: str | os.PathLike) -> pd.DataFrame:
        """Greedy decodes of a CSV of latent vectors; see :func:`molvae.tabular.decode_table`."""
        return tabular.decode_table(self, path)

    def reconstruct_table(
        self, data: Any, progress: bool = False
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Encode then greedily decode each usable molecule; see
        :func:`molvae.tabular.reconstruct_table`."""
        return tabular.reconstruct_table(self, data, progress=progress)

    # -- decoding ------------------------------------------------------------------------------

    def decode(
        self,
        z: torch.Tensor | np.ndarray,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = None,
        strict: bool = False,
        condition: np.ndarray | torch.Tensor | None = None,
    ) -> list[str | None]:
        """Decode latent vectors (`n x latent_dim`) to canonical SMILES (``None`` where the
        decode is no molecule: empty, an invalid SMILES, or with ``strict`` a SELFIES string
        that SELFIES had to repair).

        Args:
            condition: A conditional VAE's `n x n_cond` condition values, in the properties'
                units (``None`` or ``nan``: the property head's prediction from z).
        """
        z = torch.as_tensor(z).detach().to("cpu", torch.float32)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.shape[-1] != self.latent_dim:
            raise UserError(
                f"Latent vectors have {z.shape[-1]} values but this model's latent space has "
                f"{self.latent_dim}; encode with the same model."
            )
        cond = cvae.standardise(self, condition, len(z))
        model = (self.model, self.vocab, self.data_config.tokens)
        gen = self._generator(seed)
        return decode_latents(
            *model, z, self.max_len, greedy, temperature, gen, strict=strict, cond=cond
        )

    def sample(
        self,
        n: int,
        temperature: float | None = None,
        seed: int | None = None,
        progress: bool = False,
        prior: str = "auto",
        strict: bool = True,
        where: Mapping[str, tuple[float | None, float | None]] | Sequence[str] | None = None,
        similar_to: str | None = None,
        min_similarity: float = MIN_SIMILARITY,
        budget: int | None = None,
        method: str | None = None,
        guards: bool = False,
        consistent: bool | None = None,
        keep_references: bool = False,
    ) -> list[str | None] | pd.DataFrame:
        """Sample ``n`` molecules: z from the prior, tokens drawn at ``temperature`` (``0``:
        the most likely token at each step; default 1, or 0 with ``where``/``similar_to``).

        Args:
            prior: ``standard`` draws z from N(0, I), the VAE's prior. ``fitted`` draws it from
                the prior fitted to real molecules (see :meth:`fit_prior`; a Gaussian over their
                latent means or their aggregate posterior): with a small β the posteriors do not
                fill N(0, I), and z from its empty regions decodes to atypical molecules (Ghosh
                et al. 2020, ex-post density estimation).
                ``auto`` uses ``fitted`` when the model has one, else ``standard``.
            strict: Keep drawing until ``n`` molecules decode from strict (unrepaired) SELFIES,
                or valid SMILES for a SMILES model (:func:`molvae.sample.sample_molecules`).
                ``False``: every decode (``None``: no molecule); conditional sampling is strict.
            where: Property windows, e.g. ``{"logp": (2, 3), "qed": (0.6, None)}`` (``None``
                leaves a side open) or ``["logp=2..3", "qed>=0.6"]``: sample conditionally
                and return only molecules whose RDKit-computed properties are inside (see
                :func:`molvae.conditional.sample_where`). A conditional VAE samples
                unconditionally with conditions drawn from its training molecules' values.
            similar_to: A SMILES: also require Tanimoto similarity >= ``min_similarity`` to it.
            budget: Most decodes for conditional sampling (default 100 per molecule).
            method: ``cvae`` (a conditional VAE's decoder is told the windows) or ``guided``
                (by the property head); default: :func:`molvae.conditional.resolve_method`.
            guards: Conditionally, only molecules passing ``optimize``'s guards (see there).
            consistent: Unconditionally, only molecules it reconstructs (:mod:`molvae.roundtrip`;
                ``None``: if its prior stores a spread for that, as the bundled model's does).
            keep_references: Also keep molecules that are one of a mixture prior's reference
                molecules (see :func:`molvae.sample.sample_molecules`).

        Returns:
            Unconditionally, ``n`` SMILES. Conditionally, a DataFrame of at most ``n`` verified
            molecules with their computed properties (and ``similarity``); ``frame.attrs``
            holds ``hit_rate`` (verified / decoded), ``decoded`` and ``uniqueness``. A warning
            says so when fewer than ``n`` were found within the budget.
        """
        if where is None and similar_to is None:
            if method is not None:
                resolve_method(self, method)  # a wrong method is an error even without windows
            temp = 1.0 if temperature is None else temperature
            args = (n, temp, seed, prior, strict, progress, consistent, keep_references)
            return sample_molecules(self, *args).smiles
        temp = 0.0 if temperature is None else temperature
        args = (where, similar_to, min_similarity, budget, temp, seed, prior, progress, method)
        got = sample_where(self, n, *args, guards=guards)
        frame = got.frame  # its attrs hold the hit rate, decodes, uniqueness and method
        if got.shortfall():
            warnings.warn(got.shortfall(), stacklevel=2)
        return frame

    def _generator(self, seed: int | None) -> torch.Generator | None:
        """A seeded generator on the model's device (CUDA sampling needs a CUDA generator)."""
        return None if seed is None else torch.Generator(device=self.device).manual_seed(seed)

    def reconstruct(self, smiles: list[str]) -> list[str | None]:
        """Greedy decode of each molecule's posterior mean (a conditional VAE's with the
        molecule's own condition)."""
        ds, _ = self._prepare_all([smiles] if isinstance(smiles, str) else list(smiles))
        return self.decode(self.encode_dataset(ds), condition=cvae.condition_of(self, ds.smiles))

    # -- latent space (molvae.latent) and anomaly scores (molvae.anomaly) -----------------------

    def interpolate(self, a: str, b: str, steps: int = 10, method: str = "slerp") -> pd.DataFrame:
        """Molecules along a path from ``a`` to ``b`` in latent space; see
        :func:`molvae.latent.interpolate`."""
        return latent.interpolate(self, a, b, steps, method)

    def neighbors(
        self, smiles: str, n: int = 20, radius: float = 1.0, seed: int | None = 0
    ) -> pd.DataFrame:
        """Distinct molecules decoded around ``smiles``, most similar first; see
        :func:`molvae.latent.neighbors`."""
        return latent.neighbors(self, smiles, n=n, radius=radius, seed=seed)

    def latent_map(
        self, data: Any, color: str | None = "logp", method: str = "pca", progress: bool = False
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """2-D PCA or t-SNE coordinates of a table's molecules; see
        :func:`molvae.latent.latent_map`."""
        return latent.latent_map(self, data, color=color, method=method, progress=progress)

    def score(
        self,
        data: Any,
        n_samples: int = anomaly.DEFAULT_SAMPLES,
        threshold: float | None = None,
        seed: int = 0,
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per-molecule anomaly scores and flags; see :func:`molvae.anomaly.score`."""
        return anomaly.score(self, data, n_samples=n_samples, threshold=threshold, seed=seed)

    def fit_prior(
        self,
        data: Any,
        kind: str = "gaussian",
        spread: float = 1.0,
        consistent_spread: float | None = None,
        max_components: int = MAX_COMPONENTS,
    ) -> None:
        """Fit the sampling prior to ``data`` (held-out molecules like the training set) and
        keep it, for ``sample(prior="fitted")``: a Gaussian over their latent means, or with
        ``kind="mixture"`` their aggregate posterior of at most ``max_components`` molecules
        (with ``consistent_spread``, sampled self-consistently by default); see
        :func:`molvae.prior.fit_prior`."""
        self.prior = fit_prior(self, data, kind, spread, consistent_spread, max_components)

    def calibrate(self, reference: Any, quantile: float = anomaly.DEFAULT_QUANTILE) -> float:
        """Set the anomaly threshold from reference molecules (:func:`molvae.anomaly.calibrate`)."""
        return anomaly.calibrate(self, reference, quantile)

    def add_property(self, name: str, data: Any, ridge: float = 1e-3) -> dict[str, float]:
        """Predict ``name`` too, without retraining: see :func:`molvae.heads.add_property`."""
        return heads.add_property(self, name, data, ridge=ridge)

    def refit_head(self, data: Any, **options: Any) -> dict:
        """Retrain the property head on frozen latents: see :func:`molvae.refit.refit_head`."""
        return refit.refit_head(self, data, **{"progress": False, **options})

    # -- properties ----------------------------------------------------------------------------

    def predict(self, smiles: str | list[str]) -> pd.DataFrame:
        """Property-head predictions (in the properties' own units), one row per molecule."""
        if not self.property_names:
            raise UserError("This model was trained without properties; retrain with --properties.")
        smiles = [smiles] if isinstance(smiles, str) else list(smiles)
        frame = pd.DataFrame(self.head_values(self.encode(smiles)), columns=self.property_names)
        frame.insert(0, "smiles", smiles)
        return frame

    def __repr__(self) -> str:
        c = self.model_config
        return (
            f"MolVAE(latent_dim={c.latent_dim}, vocab={len(self.vocab)}, "
            f"properties={self.property_names}, device={self.device})"
        )

"""The Python API: :class:`MolVAE` (a trained model you can encode, decode and sample with) and
:func:`train`."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch

from molvae import anomaly, checkpoint, distributed, latent
from molvae.config import (
    DataConfig,
    ModelConfig,
    TrainConfig,
    from_dict,
    load_preset,
)
from molvae.data import MolDataset, load_dataset
from molvae.errors import UserError
from molvae.model import VAE, build_vae
from molvae.sample import decode_latents
from molvae.tokens import Vocab
from molvae.trainer import Standardiser, Trainer, pick_device

PRETRAINED_DIR = Path(__file__).parent / "pretrained"


class MolVAE:
    """A trained SELFIES VAE with its vocabulary, clean-up options and property statistics.

    Load one with :meth:`load` (or :meth:`pretrained`); train one with :func:`molvae.train`.
    """

    def __init__(self, ckpt: dict[str, Any], device: str = "auto") -> None:
        self.ckpt = ckpt
        self.model_config = from_dict(ModelConfig, ckpt["model_config"])
        self.data_config = from_dict(DataConfig, ckpt["data_config"])
        self.vocab = Vocab.from_list(ckpt["vocab"])
        self.property_names: list[str] = list(ckpt["property_names"])
        self.standardiser = Standardiser(
            np.asarray(ckpt["property_mean"], dtype=np.float64),
            np.asarray(ckpt["property_std"], dtype=np.float64),
        )
        # Most decoding steps: the longest training molecule's tokens plus <eos>.
        self.max_len = int(ckpt.get("max_len", self.data_config.max_tokens + 1))
        self.device = pick_device(device)
        self.model: VAE = build_vae(self.model_config, len(self.vocab), len(self.property_names))
        state = {k: v.float() for k, v in ckpt["state_dict"].items()}
        self.model.load_state_dict(state)
        self.model.to(self.device).eval()
        self.train_hashes: torch.Tensor | None = ckpt.get("train_hashes")

    # -- loading -------------------------------------------------------------------------------

    @classmethod
    def load(cls, path: str | os.PathLike, device: str = "auto") -> MolVAE:
        """Load a checkpoint written by ``molvae train`` (safely: ``weights_only=True``)."""
        return cls(checkpoint.load(path), device=device)

    @classmethod
    def pretrained(cls, device: str = "auto") -> MolVAE:
        """The model bundled with molvae (trained on MOSES)."""
        path = PRETRAINED_DIR / "molvae_moses.pt"
        if not path.exists():
            raise UserError(
                "This installation has no bundled model; pass a model file trained with "
                "`molvae train`."
            )
        return cls.load(path, device=device)

    def save(self, path: str | os.PathLike, half: bool = False) -> None:
        """Write the model (without optimizer state or history) to ``path``.

        Args:
            path: Output file.
            half: Store floating-point weights as float16 (half the size; loading converts
                them back to float32).
        """
        drop = {"train_state", "history"}
        payload = {k: v for k, v in self.ckpt.items() if k not in drop}
        payload["history"] = self.ckpt.get("history", [])[-1:]
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        payload["state_dict"] = state
        checkpoint.save(path, payload)

    @property
    def latent_dim(self) -> int:
        return self.model_config.latent_dim

    # -- encoding ------------------------------------------------------------------------------

    def prepare(self, data: Any, rejects_path: str | os.PathLike | None = None, progress=False):
        """Clean and tokenise molecules the way this model was trained.

        Args:
            data: A list of SMILES, a DataFrame or a table file.
            rejects_path: Where to write the rejected rows.

        Returns:
            The usable molecules and a DataFrame of rejected rows (``row``, ``input``,
            ``reason``), including molecules with tokens this model has never seen.
        """
        if isinstance(data, str | os.PathLike) and not Path(data).exists():
            raise UserError(f"File {data} does not exist; check the path.")
        if not isinstance(data, str | os.PathLike | pd.DataFrame):
            data = pd.DataFrame({"smiles": list(data)})
        # The model's clean-up and limits; the new table's own SMILES column, no targets.
        cfg = dataclasses.replace(
            self.data_config, smiles_col=None, properties=[], max_molecules=None
        )
        ds = load_dataset(
            data, cfg, progress=progress, use_cache=False, drop_duplicates=False, allow_empty=True
        )
        rejects = ds.rejects
        ds, unknown = ds.split_by_vocab(self.vocab)
        rejects = pd.concat([rejects, unknown], ignore_index=True).sort_values("row")
        if rejects_path is not None:
            rejects.to_csv(rejects_path, index=False)
        return ds, rejects

    @torch.no_grad()
    def encode_dataset(self, ds: MolDataset, batch_size: int = 1000) -> torch.Tensor:
        """Posterior means of a prepared dataset: `n x latent_dim`."""
        ids, lengths = ds.to_padded(self.vocab)
        mus = []
        for start in range(0, len(ds), batch_size):
            b = ids[start : start + batch_size].to(self.device)
            b_len = lengths[start : start + batch_size]
            b = b[:, : int(b_len.max())]
            mu, _ = self.model.encoder(b, b_len.to(self.device))
            mus.append(mu.cpu())
        return torch.cat(mus) if mus else torch.zeros(0, self.latent_dim)

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
        """Latent means of a table's molecules: ``row``, ``smiles``, ``z0`` ... ``z{d-1}``.

        Returns:
            The latent table (one row per usable input row) and the rejected rows.
        """
        ds, rejects = self.prepare(data, rejects_path=rejects_path, progress=progress)
        z = self.encode_dataset(ds).numpy()
        frame = pd.DataFrame(z, columns=[f"z{i}" for i in range(z.shape[1])])
        frame.insert(0, "smiles", ds.smiles)
        frame.insert(0, "row", ds.rows)
        return frame, rejects

    def decode_table(self, path: str | os.PathLike) -> pd.DataFrame:
        """Greedy decodes of a CSV of latent vectors (columns ``z0`` ... ``z{d-1}``).

        Raises:
            UserError: The file is missing or its latent columns do not fit this model.
        """
        path = Path(path)
        if not path.exists():
            raise UserError(f"File {path} does not exist; check the path.")
        frame = pd.read_csv(path)
        cols = sorted(
            (c for c in frame.columns if c.startswith("z") and c[1:].isdigit()),
            key=lambda c: int(c[1:]),
        )
        if len(cols) != self.latent_dim:
            raise UserError(
                f"{path} has {len(cols)} latent columns (z0, z1, ...) but the model needs "
                f"{self.latent_dim}; encode with the same model."
            )
        smiles = self.decode(frame[cols].to_numpy(dtype=np.float32))
        return pd.DataFrame({"smiles": [s or "" for s in smiles]})

    def reconstruct_table(
        self, data: Any, progress: bool = False
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Encode then greedily decode each usable molecule.

        Returns:
            ``smiles``, ``decoded`` and ``exact`` (decoded == input, canonically) per molecule,
            and the rejected rows.
        """
        ds, rejects = self.prepare(data, progress=progress)
        decoded = self.decode(self.encode_dataset(ds))
        exact = [a == b for a, b in zip(ds.smiles, decoded, strict=True)]
        return pd.DataFrame({"smiles": ds.smiles, "decoded": decoded, "exact": exact}), rejects

    # -- decoding ------------------------------------------------------------------------------

    def decode(
        self,
        z: torch.Tensor | np.ndarray,
        greedy: bool = True,
        temperature: float = 1.0,
        seed: int | None = None,
    ) -> list[str | None]:
        """Decode latent vectors (`n x latent_dim`) to canonical SMILES (``None`` if empty)."""
        z = torch.as_tensor(z).detach().to("cpu", torch.float32)
        if z.ndim == 1:
            z = z.unsqueeze(0)
        if z.shape[-1] != self.latent_dim:
            raise UserError(
                f"Latent vectors have {z.shape[-1]} values but this model's latent space has "
                f"{self.latent_dim}; encode with the same model."
            )
        gen = self._generator(seed)
        return decode_latents(
            self.model, self.vocab, z, self.max_len, greedy, temperature, generator=gen
        )

    def sample(
        self,
        n: int,
        temperature: float = 1.0,
        seed: int | None = None,
        progress: bool = False,
        prior: str = "auto",
    ) -> list[str | None]:
        """Sample ``n`` molecules: z from the prior, tokens drawn at ``temperature``.

        Args:
            prior: ``standard`` draws z from N(0, I), the VAE's prior. ``fitted`` draws it from
                a Gaussian fitted to the latent means of real molecules (see :meth:`fit_prior`):
                with a small β the posteriors do not fill N(0, I), and z from its empty regions
                decodes to atypical molecules (Ghosh et al. 2020, ex-post density estimation).
                ``auto`` uses ``fitted`` when the model has one, else ``standard``.
        """
        gen = self._generator(seed)
        z = torch.randn(n, self.latent_dim, generator=gen, device=self.device)
        fitted = self.ckpt.get("latent_prior")
        if prior not in ("auto", "standard", "fitted"):
            raise UserError(f"Unknown prior '{prior}'; choose auto, standard or fitted.")
        if prior == "fitted" and fitted is None:
            raise UserError(
                "This model has no fitted prior; use --prior standard, or store one with "
                "`molvae export MODEL -o OUT --reference molecules.csv`."
            )
        if prior != "standard" and fitted is not None:
            mean = fitted["mean"].to(self.device, torch.float32)
            tril = fitted["scale_tril"].to(self.device, torch.float32)
            z = mean + z @ tril.T  # (n, Z)
        return decode_latents(
            self.model,
            self.vocab,
            z,
            self.max_len,
            greedy=False,
            temperature=temperature,
            generator=gen,
            progress=progress,
        )

    def _generator(self, seed: int | None) -> torch.Generator | None:
        """A seeded generator on the model's device (CUDA sampling needs a CUDA generator)."""
        if seed is None:
            return None
        return torch.Generator(device=self.device).manual_seed(seed)

    def reconstruct(self, smiles: list[str]) -> list[str | None]:
        """Greedy decode of each molecule's posterior mean."""
        return self.decode(self.encode(smiles))

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
        self, data: Any, n_samples: int = 8, threshold: float | None = None, seed: int = 0
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """Per-molecule anomaly scores and flags; see :func:`molvae.anomaly.score`."""
        return anomaly.score(self, data, n_samples=n_samples, threshold=threshold, seed=seed)

    def fit_prior(self, data: Any) -> None:
        """Fit a full-covariance Gaussian to the latent means of ``data`` (molecules like the
        training set) and keep it with the model, for ``sample(prior="fitted")``.

        Raises:
            UserError: Fewer usable molecules than twice the latent size.
        """
        ds, _ = self.prepare(data)
        if len(ds) < 2 * self.latent_dim:
            raise UserError(
                f"Fitting a prior needs at least {2 * self.latent_dim} usable molecules, "
                f"got {len(ds)}."
            )
        mu = self.encode_dataset(ds).double()  # (n, Z)
        cov = torch.cov(mu.T) + 1e-4 * torch.eye(self.latent_dim, dtype=torch.float64)
        self.ckpt["latent_prior"] = {
            "mean": mu.mean(dim=0).float(),
            "scale_tril": torch.linalg.cholesky(cov).float(),
        }

    def calibrate(self, reference: Any, quantile: float = 0.99) -> float:
        """Set the anomaly threshold from reference molecules (:func:`molvae.anomaly.calibrate`)."""
        return anomaly.calibrate(self, reference, quantile)

    # -- properties ----------------------------------------------------------------------------

    @torch.no_grad()
    def predict(self, smiles: str | list[str]) -> pd.DataFrame:
        """Property-head predictions (in the properties' own units), one row per molecule."""
        if not self.property_names:
            raise UserError("This model was trained without properties; retrain with --properties.")
        smiles = [smiles] if isinstance(smiles, str) else list(smiles)
        mu = self.encode(smiles).to(self.device)
        pred = self.standardiser.inverse(self.model.head(mu).cpu().numpy())
        frame = pd.DataFrame(pred, columns=self.property_names)
        frame.insert(0, "smiles", smiles)
        return frame

    def in_training_set(self, smiles: list[str]) -> np.ndarray:
        """Which canonical SMILES were in this model's training set."""
        return checkpoint.contains(self.train_hashes, smiles)

    def __repr__(self) -> str:
        c = self.model_config
        return (
            f"MolVAE(latent_dim={c.latent_dim}, vocab={len(self.vocab)}, "
            f"properties={self.property_names}, device={self.device})"
        )


def train(
    data: str | os.PathLike | pd.DataFrame,
    out: str | os.PathLike = "runs/molvae",
    preset: str = "small",
    data_config: DataConfig | None = None,
    model_config: ModelConfig | None = None,
    train_config: TrainConfig | None = None,
    resume: bool = False,
    progress: bool = True,
    on_step=None,
) -> MolVAE:
    """Train a VAE on a SMILES table and return the best model.

    Args:
        data: A ``.csv``/``.tsv``/``.smi`` file (optionally gzipped) or a DataFrame.
        out: Folder for ``best.pt``, ``last.pt``, ``metrics.csv`` and ``rejects.csv``.
        preset: Model and training defaults (``tiny``, ``small``, ``moses`` or a TOML path);
            ``model_config``/``train_config`` override it when given.
        data_config: Clean-up options and properties.
        resume: Continue from ``out/last.pt`` if it exists.
        progress: Show progress bars and summaries.
        on_step: Called with the trainer after each step.
    """
    p = load_preset(preset)
    data_config = data_config or DataConfig()
    out = Path(out)
    dist = distributed.setup()  # a no-op outside torchrun
    # Rank 0 cleans and caches the data first; the others then read the cache. An error on
    # rank 0 is raised on every rank, so none is left waiting.
    error = None
    if dist.is_main:
        try:
            ds = load_dataset(
                data, data_config, rejects_path=out / "rejects.csv", progress=progress
            )
        except UserError as err:
            error = str(err)
    error = distributed.agree(error)
    if error is not None:
        raise UserError(error)
    if not dist.is_main:
        ds = load_dataset(data, data_config, progress=False)
    train_ds, val_ds = ds.split(data_config.val_fraction, data_config.seed)
    trainer = Trainer(
        train_ds,
        val_ds,
        model_config or p.model,
        train_config or p.train,
        out,
        data_cfg=data_config,
        progress=progress,
    )
    if resume and not trainer.resume() and progress and dist.is_main:
        from molvae.progress import console

        console.print(f"No {out / 'last.pt'} to resume from; starting a new run.")
    best = trainer.fit(on_step=on_step)
    if dist.enabled:
        distributed.teardown()
    return MolVAE.load(best)

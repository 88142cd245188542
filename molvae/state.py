"""The typed state of a trained model and its checkpoint form.

:class:`ModelState` holds the network and everything needed to use it: the configs, vocabulary,
property statistics, fitted latent prior and anomaly threshold. :meth:`ModelState.to_checkpoint`
and :meth:`ModelState.from_checkpoint` are the only code that writes or reads a model's
checkpoint dict; :class:`molvae.api.MolVAE` adds what you can do with a model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from molvae import hashes
from molvae.config import DataConfig, ModelConfig, TrainConfig, from_dict, to_dict
from molvae.data.dataset import Standardiser
from molvae.data.properties import PROPERTIES, compute_properties
from molvae.data.tokens import Vocab
from molvae.model import VAE, build_vae
from molvae.prior import LatentPrior
from molvae.train.distributed import pick_device
from molvae.version import library_versions

#: A conditional VAE keeps this many training rows of its condition, to draw conditions from.
CONDITION_SAMPLE_SIZE = 5000


@dataclass
class ConditionSample:
    """What a conditional VAE's condition is drawn from when none is given: its training
    molecules' values of the condition properties, in the properties' own units.

    Attributes:
        values: `m x n_cond` values of a seeded random sample of training molecules (rows with
            an unknown value left out).
        lo: `n_cond` least values over the whole training split.
        hi: `n_cond` greatest values over the whole training split.
    """

    values: torch.Tensor
    lo: torch.Tensor
    hi: torch.Tensor

    @classmethod
    def fit(
        cls, values: np.ndarray, size: int = CONDITION_SAMPLE_SIZE, seed: int = 0
    ) -> ConditionSample | None:
        """From `n x n_cond` training values: at most ``size`` complete rows, and the ranges
        (``None`` for no columns: a plain VAE)."""
        if values.shape[1] == 0:
            return None
        complete = values[np.isfinite(values).all(axis=1)]
        if len(complete) == 0:
            raise ValueError("no training molecule has every condition property")
        pick = np.random.default_rng(seed).permutation(len(complete))[:size]
        rows, lo, hi = complete[np.sort(pick)], np.nanmin(values, axis=0), np.nanmax(values, axis=0)
        return cls(*(torch.as_tensor(a, dtype=torch.float32) for a in (rows, lo, hi)))


def float32(weights: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A state dict with floating-point tensors as float32 (float16 exports load back so);
    integer buffers keep their type."""
    return {k: v.float() if v.is_floating_point() else v for k, v in weights.items()}


@dataclass(eq=False, repr=False, kw_only=True)
class ModelState:
    """A trained VAE and what it needs to be used.

    Attributes:
        model: The network.
        model_config: Its sizes.
        data_config: How its training molecules were cleaned (new inputs are cleaned alike).
        vocab: Its token vocabulary (SELFIES or SMILES, as ``data_config.tokens`` says).
        property_names: What the property head predicts.
        standardiser: The property statistics the head's outputs are scaled by.
        train_config: How it was trained.
        max_len: Most decoding steps (the longest training molecule's tokens plus ``<eos>``);
            ``None`` derives it from ``data_config.max_tokens``.
        train_hashes: Hashes of the training molecules (for novelty), or ``None``.
        train_sample: A random sample of training molecules (starting points for optimisation).
        prior: The fitted latent prior, or ``None``.
        anomaly_threshold: ``neg_elbo`` above which a molecule is flagged, or ``None``.
        anomaly_quantile: The reference quantile that threshold came from, or ``None``.
        conditions: A conditional VAE's training values of its condition, or ``None``.
        history: Validation metrics per epoch.
        head_fit: Set when the property head was refitted on frozen latents
            (:mod:`molvae.refit`): its ``molecules`` and held-out ``r2_<prop>``; else ``None``.
        versions: Library versions that trained it (``None``: the ones running now).
        data_source: Where its training data came from.
        device: Where it runs (``None``: where its weights are).
    """

    model: VAE
    model_config: ModelConfig
    data_config: DataConfig
    vocab: Vocab
    property_names: list[str]
    standardiser: Standardiser
    train_config: TrainConfig = field(default_factory=TrainConfig)
    max_len: int | None = None
    train_hashes: torch.Tensor | None = None
    train_sample: list[str] = field(default_factory=list)
    prior: LatentPrior | None = None
    anomaly_threshold: float | None = None
    anomaly_quantile: float | None = None
    conditions: ConditionSample | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    head_fit: dict[str, float] | None = None
    versions: dict[str, str] | None = None
    data_source: str = ""
    device: torch.device | None = None

    def __post_init__(self) -> None:
        if self.max_len is None:
            self.max_len = self.data_config.max_tokens + 1  # tokens plus <eos>
        if self.device is None:
            self.device = next(self.model.parameters()).device

    @classmethod
    def from_checkpoint(cls, ckpt: dict[str, Any], device: str = "auto"):
        """Rebuild a model from a checkpoint dict (as :func:`molvae.train.checkpoint.load`
        reads it), on ``device`` and in eval mode."""
        # Models saved before the grammar setting existed decode without it; models saved
        # before the tokens setting existed are SELFIES models.
        model_config = from_dict(ModelConfig, {"grammar": False, **ckpt["model_config"]})
        data_config = from_dict(DataConfig, {"tokens": "selfies", **ckpt["data_config"]})
        vocab = Vocab.from_list(ckpt["vocab"])
        names = list(ckpt["property_names"])
        model = build_vae(model_config, vocab, len(names), data_config.tokens, names)
        model.load_state_dict(float32(ckpt["state_dict"]))
        torch_device = pick_device(device)
        model.to(torch_device).eval()
        fitted, conditions = ckpt.get("latent_prior"), ckpt.get("condition_sample")
        return cls(
            model=model,
            model_config=model_config,
            data_config=data_config,
            train_config=from_dict(TrainConfig, ckpt.get("train_config", {})),
            vocab=vocab,
            property_names=names,
            standardiser=Standardiser(
                np.asarray(ckpt["property_mean"], dtype=np.float64),
                np.asarray(ckpt["property_std"], dtype=np.float64),
            ),
            max_len=int(ckpt["max_len"]) if "max_len" in ckpt else None,
            train_hashes=hashes.from_file(ckpt, "train_hashes"),
            train_sample=list(ckpt.get("train_sample") or []),
            prior=LatentPrior.from_dict(fitted) if fitted else None,
            anomaly_threshold=ckpt.get("anomaly_threshold"),
            anomaly_quantile=ckpt.get("anomaly_quantile"),
            conditions=ConditionSample(**conditions) if conditions else None,
            history=list(ckpt.get("history", [])),
            head_fit=ckpt.get("head_fit"),
            versions=ckpt.get("versions"),
            data_source=ckpt.get("data_source", ""),
            device=torch_device,
        )

    def to_checkpoint(self, half: bool = False) -> dict[str, Any]:
        """Everything needed to rebuild this model, as plain tensors and values.

        Args:
            half: Store floating-point weights as float16 (loading converts them back).
        """
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        if half:
            state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
        ckpt: dict[str, Any] = {
            "model_config": to_dict(self.model_config),
            "train_config": to_dict(self.train_config),
            "data_config": to_dict(self.data_config),
            "vocab": self.vocab.to_list(),
            "property_names": list(self.property_names),
            "property_mean": [float(x) for x in self.standardiser.mean],
            "property_std": [float(x) for x in self.standardiser.std],
            "state_dict": state,
            "train_sample": list(self.train_sample),
            "max_len": int(self.max_len),
            "history": list(self.history),
            "versions": self.versions or library_versions(),
            "data_source": self.data_source,
        }
        hashes.to_file(ckpt, "train_hashes", self.train_hashes, half)  # 16-32 bits each if half
        if self.head_fit is not None:
            ckpt["head_fit"] = dict(self.head_fit)
        if self.prior is not None:
            ckpt["latent_prior"] = self.prior.to_dict(half)
        if self.conditions is not None:
            c = self.conditions
            ckpt["condition_sample"] = {"values": c.values, "lo": c.lo, "hi": c.hi}
        if self.anomaly_threshold is not None:
            ckpt["anomaly_threshold"] = float(self.anomaly_threshold)
            ckpt["anomaly_quantile"] = self.anomaly_quantile
        return ckpt

    @property
    def latent_dim(self) -> int:
        return self.model_config.latent_dim

    def in_training_set(self, smiles: list[str]) -> np.ndarray:
        """Which canonical SMILES were in this model's training set."""
        return hashes.contains(self.train_hashes, smiles)

    @torch.no_grad()
    def head_values(self, mu: torch.Tensor, head: torch.nn.Module | None = None) -> np.ndarray:
        """What the property head (or another ``head`` on this model's latents) predicts for
        latent means ``mu``: `n x n_props`, in the properties' own units."""
        head = self.model.head if head is None else head
        device = next(head.parameters()).device
        return self.standardiser.inverse(head(mu.to(device)).cpu().numpy())

    def known_properties(self, smiles: Sequence[str]) -> np.ndarray:
        """Standardised values of the head's properties for ``smiles``: `n x n_props`, ``nan``
        where RDKit does not compute one (e.g. a column of the training file) or fails."""
        names = self.property_names
        known = [n for n in names if n in PROPERTIES]
        values = np.full((len(smiles), len(names)), np.nan)
        for i, s in enumerate(smiles):
            props = dict(zip(known, compute_properties(s, known), strict=True))
            values[i] = [props.get(n, np.nan) for n in names]
        return self.standardiser.transform(values)

"""Fine-tuning: a training run that starts from a trained model (``molvae train --init``).

The new run keeps the trained model's architecture, token vocabulary, clean-up and longest
decode; the preset gives only the training settings (β, learning rate, epochs). Molecules with
a token the model lacks are rejected with their reason, like any other unusable row. The
property head comes along when the new run predicts the same properties (by default, those of
the trained model); each property keeps the trained model's scaling where it has one, so its
weights (a conditional VAE's condition inputs among them) read the values they were trained on.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from molvae.config import DataConfig, TrainConfig, load_preset
from molvae.data.chem import CleanOptions
from molvae.data.dataset import MolDataset, Standardiser
from molvae.errors import UserError
from molvae.hashes import compact, smiles_hashes
from molvae.model.vae import VAE
from molvae.progress import console
from molvae.state import ModelState, float32

#: The training settings of a fine-tune unless a preset is named (``molvae/presets/``).
PRESET = "finetune"
#: ... and of a new model.
NEW_MODEL_PRESET = "small"
#: What a fine-tune takes from the trained model's data settings: its clean-up and tokens
#: (every field of :class:`~molvae.data.chem.CleanOptions`), so the new molecules are cleaned
#: and written as its training molecules were.
KEPT_DATA_SETTINGS = tuple(f.name for f in dataclasses.fields(CleanOptions))


def preset_name(preset: str | None, init: object) -> str:
    """The preset to use: the one named, else :data:`PRESET` for a fine-tune (``init`` given)
    and :data:`NEW_MODEL_PRESET` for a new model."""
    return preset or (NEW_MODEL_PRESET if init is None else PRESET)


def train_settings(preset: str | None, init: ModelState | None) -> TrainConfig:
    """The training settings of a run: its preset's (:func:`preset_name`), but a fine-tune
    with :data:`PRESET` runs at the trained model's own final β, since another β would reshape
    the latent space that the model's prior, spreads and threshold were fitted to."""
    name = preset_name(preset, init)
    settings = load_preset(name).train
    if name == PRESET and init is not None:
        settings = dataclasses.replace(settings, beta=init.train_config.beta)
    return settings


def data_settings(init: ModelState, data_config: DataConfig) -> DataConfig:
    """``data_config`` with the trained model's clean-up and tokens (:data:`KEPT_DATA_SETTINGS`)
    and, when it names none, the trained model's properties; the table's own column, sample
    and split stay as given."""
    kept = {name: getattr(init.data_config, name) for name in KEPT_DATA_SETTINGS}
    if not data_config.properties:
        kept["properties"] = list(init.property_names)
    return dataclasses.replace(data_config, **kept)


def check_out(init: object, out: str | os.PathLike) -> None:
    """Refuse to fine-tune a model file inside the run folder that would overwrite it.

    Raises:
        UserError: ``init`` is ``out``'s ``best.pt`` or ``last.pt``.
    """
    if not isinstance(init, str | os.PathLike) or str(init) == "bundled":
        return
    here = {(Path(out) / name).resolve() for name in ("best.pt", "last.pt")}
    if Path(init).resolve() in here:
        raise UserError(
            f"The model to fine-tune, {init}, lies in the run folder {out}, where the "
            "fine-tune would overwrite it; choose another --out."
        )


def in_model_vocab(
    ds: MolDataset,
    init: ModelState,
    rejects_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> MolDataset:
    """``ds`` with token ids in the trained model's vocabulary; the molecules holding a token
    it lacks join the rejects (rewritten to ``rejects_path``). Its source names both runs' data.

    Raises:
        UserError: No molecule is left.
    """
    kept = ds.in_vocab(init.vocab)
    if len(kept) == 0:
        raise UserError(
            f"None of the {len(ds)} molecules can be written in the tokens of the model to "
            "fine-tune; train a new model without --init."
        )
    unknown = len(ds) - len(kept)
    if rejects_path is not None and unknown:
        kept.rejects.to_csv(rejects_path, index=False)
        if progress:
            console.print(
                f"  {unknown} molecules hold a token the model to fine-tune lacks; "
                f"rejected (listed in {rejects_path})."
            )
    if progress and kept.property_names != list(init.property_names):
        console.print(
            f"  The model predicts {', '.join(init.property_names) or 'no property'}; a new "
            f"property head is trained for {', '.join(kept.property_names) or 'none'}."
        )
    source = f"{init.data_source or 'a trained model'}, then {ds.source}"
    return dataclasses.replace(kept, source=source)


def property_scaling(train_ds: MolDataset, init: ModelState | None) -> Standardiser:
    """The scaling of the property targets: the trained model's for each property it has (so
    its head, and a conditional VAE's condition inputs, read the values they were trained on),
    fitted to the training molecules for the others."""
    fitted = Standardiser.fit(train_ds.properties)
    if init is None:
        return fitted
    mean, std = fitted.mean.copy(), fitted.std.copy()
    for i, name in enumerate(train_ds.property_names):
        if name in init.property_names:
            j = init.property_names.index(name)
            mean[i], std[i] = init.standardiser.mean[j], init.standardiser.std[j]
    return Standardiser(mean, std)


def same_head(property_names: list[str], init: ModelState) -> bool:
    """Whether ``init``'s property head predicts ``property_names``, in order (and so is kept)."""
    return list(property_names) == list(init.property_names)


def load_weights(model: VAE, init: ModelState | None, property_names: list[str]) -> None:
    """Copy the trained weights into ``model`` (built with ``init``'s sizes and vocabulary);
    the property head too when it predicts ``property_names``, else it starts from scratch.
    Without ``init`` (a new model) nothing changes."""
    if init is None:
        return
    keep = same_head(property_names, init)
    weights = {
        k: v for k, v in init.model.state_dict().items() if keep or not k.startswith("head.")
    }
    model.load_state_dict(float32(weights), strict=keep)


def max_len(lengths: torch.Tensor, init: ModelState | None) -> int:
    """Most decoding steps: the longest training molecule's tokens plus ``<eos>``, and never
    fewer than a fine-tuned model could decode before."""
    longest = int(lengths.max())
    return longest if init is None or init.max_len is None else max(longest, init.max_len)


def training_hashes(smiles: list[str], init: ModelState | None) -> torch.Tensor:
    """Hashes of the molecules a model learned from: this run's, and a fine-tuned model's
    earlier ones (kept at the earlier file's precision, so novelty counts both)."""
    new = smiles_hashes(smiles)
    old = init.train_hashes if init is not None else None
    if old is None or len(old) == 0:
        return new
    if old.dtype == torch.int32:
        new = compact(new)
    return torch.from_numpy(np.union1d(old.numpy(), new.numpy().astype(old.numpy().dtype)))

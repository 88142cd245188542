"""Fine-tuning: a training run that starts from a trained model (``molvae train --init``).

The new run keeps the trained model's architecture, token vocabulary and clean-up; the preset
gives only the training settings (β, learning rate, epochs). Molecules with a token the model
lacks are rejected with their reason, like any other unusable row. The property head and its scaling
come along when the new run predicts the same properties; otherwise a new head is trained.
"""

from __future__ import annotations

import dataclasses
import os

import pandas as pd
import torch

from molvae.config import DataConfig
from molvae.data.dataset import MolDataset, Standardiser
from molvae.errors import UserError
from molvae.hashes import compact, smiles_hashes
from molvae.model.vae import VAE
from molvae.progress import console
from molvae.state import ModelState

#: The training settings of a fine-tune unless a preset is named (``molvae/presets/``).
PRESET = "finetune"
#: ... and of a new model.
NEW_MODEL_PRESET = "small"


def preset_name(preset: str | None, init: object) -> str:
    """The preset to use: the one named, else :data:`PRESET` for a fine-tune (``init`` given)
    and :data:`NEW_MODEL_PRESET` for a new model."""
    return preset or (NEW_MODEL_PRESET if init is None else PRESET)


#: What a fine-tune takes from the trained model's data settings: its tokens and its clean-up,
#: so the new molecules are written and cleaned as its training molecules were.
KEPT_DATA_SETTINGS = (
    "tokens",
    "largest_fragment",
    "neutralise",
    "strip_isotopes",
    "allowed_elements",
    "max_heavy_atoms",
)


def data_settings(init: ModelState, data_config: DataConfig) -> DataConfig:
    """``data_config`` with the trained model's tokens and clean-up (:data:`KEPT_DATA_SETTINGS`);
    the table's own column, properties, sample and split stay as given."""
    kept = {name: getattr(init.data_config, name) for name in KEPT_DATA_SETTINGS}
    return dataclasses.replace(data_config, **kept)


def in_model_vocab(
    ds: MolDataset,
    init: ModelState,
    rejects_path: str | os.PathLike | None = None,
    progress: bool = False,
) -> MolDataset:
    """``ds`` with token ids in the trained model's vocabulary; the molecules holding a token
    it lacks join the rejects (rewritten to ``rejects_path``).

    Raises:
        UserError: No molecule is left.
    """
    kept, unknown = ds.split_by_vocab(init.vocab)
    if len(kept) == 0:
        raise UserError(
            f"None of the {len(ds)} molecules can be written in the tokens of the model to "
            "fine-tune; train a new model without --init."
        )
    rejects = pd.concat([ds.rejects, unknown], ignore_index=True).sort_values("row")
    if rejects_path is not None and len(unknown):
        rejects.to_csv(rejects_path, index=False)
        if progress:
            console.print(
                f"  {len(unknown)} molecules hold a token the model to fine-tune lacks; "
                f"rejected (listed in {rejects_path})."
            )
    return dataclasses.replace(
        kept.with_vocab(init.vocab), rejects=rejects, n_input=ds.n_input, from_cache=ds.from_cache
    )


def property_scaling(train_ds: MolDataset, init: ModelState | None) -> Standardiser:
    """The scaling of the property targets: a fine-tuned model's own when its head carries over
    (the same properties, in the same order), else fitted to the training molecules."""
    if init is not None and same_head(train_ds.property_names, init):
        return init.standardiser
    return Standardiser.fit(train_ds.properties)


def same_head(property_names: list[str], init: ModelState) -> bool:
    """Whether ``init``'s property head predicts ``property_names`` (and so is kept)."""
    return list(property_names) == list(init.property_names)


def load_weights(model: VAE, init: ModelState | None, property_names: list[str]) -> None:
    """Copy the trained weights into ``model`` (built with ``init``'s sizes and vocabulary);
    the property head too when it predicts ``property_names``, else it starts from scratch.
    Without ``init`` (a new model) nothing changes."""
    if init is None:
        return
    keep = same_head(property_names, init)
    weights = {
        k: v.float() if v.is_floating_point() else v
        for k, v in init.model.state_dict().items()
        if keep or not k.startswith("head.")
    }
    model.load_state_dict(weights, strict=keep)


def training_hashes(smiles: list[str], init: ModelState | None) -> torch.Tensor:
    """Hashes of the molecules a model learned from: this run's, and a fine-tuned model's
    earlier ones (kept at the earlier file's precision, so novelty counts both)."""
    new = smiles_hashes(smiles)
    old = init.train_hashes if init is not None else None
    if old is None or len(old) == 0:
        return new
    if old.dtype == torch.int32:
        new = compact(new)
    return torch.unique(torch.cat([old.to(new.dtype), new]))

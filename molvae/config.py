"""Typed configuration: what the data clean-up, the model, training and optimisation take.

Saved into each checkpoint as plain dicts, so a model can be rebuilt without the command line
that trained it. Presets are small TOML files in ``molvae/presets/``, a comment on each value.
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

from molvae.errors import UserError

T = TypeVar("T")
PRESET_DIR = Path(__file__).parent / "presets"
KL_SCHEDULES = ("linear", "sigmoid", "cyclical", "constant")
METHODS = ("bo", "random", "gradient", "screen", "ga")
#: The string representations a model can be trained on (``DataConfig.tokens``).
TOKENS = ("selfies", "smiles")
#: DataConfig fields that do not change what clean-up produces; all others key the cache.
_NOT_CLEANING = ("val_fraction", "seed", "n_jobs", "cache_dir")


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise UserError(f"Invalid setting: {message}.")


#: Elements a drug-like model is trained on; anything else (metals, noble gases) is rejected.
ORGANIC_ELEMENTS = ("H", "B", "C", "N", "O", "F", "Si", "P", "S", "Cl", "Se", "Br", "I")


@dataclass
class DataConfig:
    """How a SMILES table is read and cleaned.

    Attributes:
        smiles_col: Column holding SMILES; ``None`` finds a column named ``smiles`` (any case).
        properties: Targets for the property head. A name that is a column in the file is read
            from it (non-numeric cells are rejected, empty cells masked); otherwise one of the
            RDKit-computed names of ``molvae.data.properties`` (``logp``, ``qed``, ``sa``, ...).
        largest_fragment: Keep only the largest fragment (strips salts and solvents).
        neutralise: Neutralise charges where a neutral form exists.
        strip_isotopes: Replace isotope labels by the natural element.
        allowed_elements: Elements a molecule may contain; ``None`` allows any.
        max_heavy_atoms: Reject larger molecules; ``None`` for no limit.
        max_tokens: Reject molecules whose token string is longer than this many tokens.
        tokens: ``selfies`` (every decode is a molecule) or ``smiles`` (the reference arm:
            tokens of the canonical SMILES; a decode RDKit cannot parse is invalid).
        max_molecules: Use a random sample (seeded by ``seed``) of this many rows.
        val_fraction: Fraction of molecules held out for validation.
        seed: Seed of the row sample and of the train/validation split.
        n_jobs: Processes for clean-up and tokenisation; ``0`` uses every core.
        cache_dir: Where tokenised datasets are cached; ``None`` uses ``~/.cache/molvae``.
    """

    smiles_col: str | None = None
    properties: list[str] = field(default_factory=list)
    largest_fragment: bool = True
    neutralise: bool = True
    strip_isotopes: bool = True
    allowed_elements: list[str] | None = field(default_factory=lambda: list(ORGANIC_ELEMENTS))
    max_heavy_atoms: int | None = None
    max_tokens: int = 128
    tokens: str = "selfies"
    max_molecules: int | None = None
    val_fraction: float = 0.05
    seed: int = 0
    n_jobs: int = 0
    cache_dir: str | None = None

    def __post_init__(self) -> None:
        _require(0.0 <= self.val_fraction < 1.0, "val_fraction must be in [0, 1)")
        _require(self.max_tokens >= 1, "max_tokens must be at least 1")
        _require(self.tokens in TOKENS, f"tokens must be one of {', '.join(TOKENS)}")

    def cleaning_key(self) -> dict[str, Any]:
        """The options that change what clean-up and tokenisation produce (in the cache key):
        every field but those in ``_NOT_CLEANING``, so a new field keys the cache by default."""
        key = {k: v for k, v in asdict(self).items() if k not in _NOT_CLEANING}
        return {**key, "sample_seed": self.seed if self.max_molecules is not None else None}


@dataclass
class ModelConfig:
    """Sizes of the encoder, decoder and property head.

    Attributes:
        embed_dim: Token embedding size, shared by encoder and decoder.
        enc_hidden: Hidden units per direction of the bidirectional encoder GRU.
        enc_layers: Encoder GRU layers.
        dec_hidden: Hidden units of the decoder GRU.
        dec_layers: Decoder GRU layers.
        latent_dim: Size of the latent space.
        dropout: Dropout between stacked GRU layers and in the property head.
        prop_hidden: Hidden units of the property-head MLP.
        grammar: The decoder reads the SELFIES derivation state and never emits a token SELFIES
            would repair (:mod:`molvae.data.grammar`); SELFIES models only, off in old checkpoints.
        condition: Properties (among the head's) the encoder and decoder also read, standardised:
            a conditional VAE (CVAE); empty for a plain VAE, as in older checkpoints.
    """

    embed_dim: int = 64
    enc_hidden: int = 128
    enc_layers: int = 1
    dec_hidden: int = 256
    dec_layers: int = 1
    latent_dim: int = 64
    dropout: float = 0.0
    prop_hidden: int = 128
    grammar: bool = True
    condition: tuple[str, ...] = ()


@dataclass
class TrainConfig:
    """The training loop and the loss weights.

    Attributes:
        epochs: Passes over the training set.
        batch_size: Molecules per step.
        lr: Adam learning rate.
        lr_final_fraction: Cosine-decay the learning rate to this fraction of ``lr``.
        grad_clip: Clip the gradient norm to this value.
        beta: Final weight of the KL term (the β of β-VAE).
        kl_schedule: ``linear``, ``sigmoid``, ``cyclical`` or ``constant`` KL annealing.
        kl_warmup: Fraction of all steps over which the KL weight rises to ``beta``.
        kl_cycles: Number of cycles for the ``cyclical`` schedule.
        free_bits: Nats per latent dimension below which the KL is not penalised.
        word_dropout: Probability of hiding a decoder input token (forces use of z).
        sched_sampling: Largest fraction of decoder inputs replaced by the model's own
            Gumbel-Softmax samples (straight-through); rises linearly over training.
        gumbel_tau_start: Gumbel-Softmax temperature at the start of training.
        gumbel_tau_end: Gumbel-Softmax temperature at the end of training.
        prop_weight: Weight of the property-head loss (mean squared error on standardised
            targets, per molecule).
        bucket_size: Molecules per length bucket; batches are drawn within a bucket.
        checkpoint_every: Also write ``last.pt`` every this-many steps (0: only per epoch).
        seed: Seed of every random choice in training.
        device: ``auto`` (CUDA when present), ``cpu`` or ``cuda[:N]``.
        num_threads: CPU threads for PyTorch; ``0`` keeps PyTorch's default.
        amp: bf16 mixed precision on CUDA (ignored on CPU).
        compile: Wrap the model in ``torch.compile`` (helps on GPUs; slow to start on CPU).
        max_minutes: Wall-clock budget of the training loop (0: none); the schedules span the
            steps that fit, at most ``epochs`` (:mod:`molvae.train.budget`).
    """

    epochs: int = 10
    batch_size: int = 256
    lr: float = 1e-3
    lr_final_fraction: float = 0.1
    grad_clip: float = 5.0
    beta: float = 0.1
    kl_schedule: str = "linear"
    kl_warmup: float = 0.3
    kl_cycles: int = 4
    free_bits: float = 0.0
    word_dropout: float = 0.0
    sched_sampling: float = 0.0
    gumbel_tau_start: float = 1.0
    gumbel_tau_end: float = 0.5
    prop_weight: float = 1.0
    bucket_size: int = 8192
    checkpoint_every: int = 500
    seed: int = 0
    device: str = "auto"
    num_threads: int = 0
    amp: bool = True
    compile: bool = False
    max_minutes: float = 0.0

    def __post_init__(self) -> None:
        _require(self.epochs >= 1, "epochs must be at least 1")
        _require(self.max_minutes >= 0, "max_minutes must not be negative (0: no time limit)")
        _require(self.batch_size >= 1 and self.bucket_size >= 1, "batch sizes must be >= 1")
        kinds = ", ".join(KL_SCHEDULES)
        _require(self.kl_schedule in KL_SCHEDULES, f"kl_schedule must be one of {kinds}")
        _require(0.0 <= self.word_dropout < 1.0, "word_dropout must be in [0, 1)")
        _require(0.0 <= self.sched_sampling <= 1.0, "sched_sampling must be in [0, 1]")
        _require(self.lr > 0 and self.beta >= 0, "lr must be positive and beta not negative")


@dataclass
class OptimizeConfig:
    """Latent-space optimisation settings.

    Attributes:
        budget: Oracle calls to spend (initial evaluations included).
        batch_size: Candidates proposed per iteration (the q of qLogEI).
        method: ``bo`` (GP + qLogEI over decoded and library molecules), ``screen`` (library in
            random order), ``ga`` (SELFIES GA), ``random`` (uniform in BO's box), ``gradient``.
        n_init: Starting molecules (from ``--init`` or the model's training sample).
        trust_region: TuRBO-style trust region around the best point; else the global box.
        max_gp_points, gp_maxiter: The GP's most points and its fits' optimiser iterations.
        raw_samples, num_restarts: Random starts and gradient restarts of the acquisition.
        max_heavy_atoms, min_qed, max_sa: Constraints: most heavy atoms, least QED, most SA.
        similar_to, min_similarity, pains: Constraints: least Tanimoto to a SMILES; no PAINS.
        guards: Reject what no chemist would make (see ``optimize/guards.py``).
        library: SMILES file of real molecules for bo, screen (``None``: the training sample).
        strict: Turn away candidates whose SELFIES was repaired (off: bundled model's rate ~0.15).
        edits: GA edits of the best molecules that bo also ranks, per batch slot (0: none).
        head_prior: The property head as the GP's prior mean, where it predicts the objective.
        top_k: Molecules listed in ``top.csv`` and the report.
        retrain_every, retrain_steps: Fine-tune the VAE on rank-weighted results every N calls
            (Tripp 2020), with this many optimiser steps.
        seed: Seed of every random choice.
    """

    budget: int = 300
    batch_size: int = 10
    method: str = "bo"
    n_init: int = 100
    trust_region: bool = True
    max_gp_points: int = 1000
    gp_maxiter: int = 100
    raw_samples: int = 256
    num_restarts: int = 4
    max_heavy_atoms: int | None = 38
    min_qed: float | None = None
    max_sa: float | None = None
    similar_to: str | None = None
    min_similarity: float = 0.4
    pains: bool = False
    guards: bool = True
    library: str | None = None
    strict: bool = False
    edits: int = 3
    head_prior: bool = True
    top_k: int = 20
    retrain_every: int = 0
    retrain_steps: int = 100
    seed: int = 0

    def __post_init__(self) -> None:
        _require(self.budget >= 1 and self.batch_size >= 1, "budget and batch size must be >= 1")
        _require(self.n_init >= 2, "n_init must be at least 2")
        _require(self.method in METHODS, f"method must be one of {', '.join(METHODS)}")
        ok = self.retrain_every >= 0 and self.edits >= 0
        _require(ok, "retrain_every and edits must be 0 (off) or positive")


@dataclass
class Preset:
    """A named pair of model and training settings."""

    name: str
    model: ModelConfig
    train: TrainConfig


def preset_names() -> list[str]:
    """Names of the presets shipped with molvae."""
    return sorted(p.stem for p in PRESET_DIR.glob("*.toml"))


def load_preset(name: str) -> Preset:
    """Read a preset by name (``tiny``, ``small``, ``moses``) or from a TOML file path.

    Raises:
        UserError: The preset does not exist or holds an unknown setting.
    """
    path = Path(name)
    res = path if path.suffix == ".toml" and path.exists() else PRESET_DIR / f"{name}.toml"
    if not res.is_file():
        raise UserError(
            f"Unknown preset '{name}'; choose one of {', '.join(preset_names())} "
            "or pass the path of a .toml file."
        )
    raw = tomllib.loads(res.read_text())
    model, train = raw.get("model", {}), raw.get("train", {})
    return Preset(path.stem, from_dict(ModelConfig, model), from_dict(TrainConfig, train))


def from_dict(cls: type[T], values: dict[str, Any]) -> T:
    """Build a config dataclass from a dict, refusing names it does not know.

    Raises:
        UserError: ``values`` holds a key that is not a field of ``cls``.
    """
    known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    unknown = sorted(set(values) - known)
    if unknown:
        raise UserError(
            f"Unknown {cls.__name__} setting(s) {', '.join(unknown)}; "
            f"known ones are {', '.join(sorted(known))}."
        )
    return cls(**values)


def to_dict(cfg: Any) -> dict[str, Any]:
    """A config dataclass as a plain dict (safe to store in a checkpoint)."""
    return asdict(cfg)


def replace(cfg: Any, **changes: Any) -> Any:
    """A copy of ``cfg`` with the non-``None`` entries of ``changes`` applied."""
    return dataclasses.replace(cfg, **{k: v for k, v in changes.items() if v is not None})

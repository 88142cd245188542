"""The training loop: length-bucketed batches, KL annealing, validation, checkpoints, resume."""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molvae import checkpoint, distributed
from molvae.config import DataConfig, ModelConfig, TrainConfig, to_dict
from molvae.data import MolDataset
from molvae.errors import UserError
from molvae.files import atomic_write
from molvae.losses import KLAnnealer, kl_loss, linear_ramp, property_loss
from molvae.model import build_vae
from molvae.progress import console, progress_bar
from molvae.validation import make_batch, validate


def pick_device(name: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU; otherwise the named device."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"Device '{name}' was asked for but no CUDA GPU is visible; use --device cpu."
        )
    return torch.device(name)


def epoch_batches(
    lengths: np.ndarray, batch_size: int, bucket_size: int, seed: int, epoch: int
) -> list[np.ndarray]:
    """The batches of one epoch: shuffle, cut into buckets, sort each by length, batch, shuffle.

    Molecules of similar length share a batch, so little time is spent on padding. The order
    depends only on ``(seed, epoch)``, which is what makes a resumed run match.
    """
    rng = np.random.default_rng([seed, epoch])
    order = rng.permutation(len(lengths))
    batches = []
    for start in range(0, len(order), bucket_size):
        bucket = order[start : start + bucket_size]
        bucket = bucket[np.argsort(lengths[bucket], kind="stable")]
        batches.extend(bucket[i : i + batch_size] for i in range(0, len(bucket), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


@dataclass
class Standardiser:
    """Per-property mean and standard deviation (from the training split)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def fit(cls, values: np.ndarray) -> Standardiser:
        if values.shape[1] == 0:
            return cls(np.zeros(0), np.ones(0))
        with np.errstate(all="ignore"):
            mean = np.nan_to_num(np.nanmean(values, axis=0))
            std = np.nan_to_num(np.nanstd(values, axis=0), nan=1.0)
        return cls(mean, np.where(std > 1e-8, std, 1.0))

    def transform(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def inverse(self, values: np.ndarray) -> np.ndarray:
        return values * self.std + self.mean


def _lr(cfg: TrainConfig, step: int, total: int) -> float:
    """Short linear warm-up, then cosine decay to ``lr_final_fraction * lr``."""
    warm = min(100, max(total // 20, 1))
    if step < warm:
        return cfg.lr * (step + 1) / warm
    progress = (step - warm) / max(total - warm, 1)
    floor = cfg.lr_final_fraction
    return cfg.lr * (floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0))))


class Trainer:
    """Trains a VAE on a dataset, writing ``last.pt``, ``best.pt`` and ``metrics.csv`` to ``out``.

    Args:
        train_ds: Training molecules (their vocabulary becomes the model's).
        val_ds: Validation molecules; empty means validating on (up to 2,000) training ones.
        model_cfg: Model sizes.
        train_cfg: Loop settings.
        out: Output folder.
        data_cfg: Stored in the checkpoint so the model cleans new inputs the same way.
        progress: Show progress bars.
    """

    def __init__(
        self,
        train_ds: MolDataset,
        val_ds: MolDataset,
        model_cfg: ModelConfig,
        train_cfg: TrainConfig,
        out: str | os.PathLike,
        data_cfg: DataConfig | None = None,
        progress: bool = True,
    ) -> None:
        self.train_ds = train_ds
        self.val_ds = (
            val_ds if len(val_ds) else train_ds.subset(np.arange(min(len(train_ds), 2000)))
        )
        self.model_cfg = model_cfg
        self.cfg = train_cfg
        self.data_cfg = data_cfg or DataConfig()
        self.out = Path(out)
        self.dist = distributed.current()
        self.device = pick_device(train_cfg.device)
        if self.dist.enabled and self.device.type == "cuda":
            self.device = torch.device("cuda", self.dist.local_rank)
        if train_cfg.num_threads:
            torch.set_num_threads(train_cfg.num_threads)
        self.progress = progress and self.dist.is_main
        if len(train_ds) == 0:
            raise UserError("The training split is empty; lower --val-fraction or add molecules.")
        self.vocab = train_ds.vocab
        self.std = Standardiser.fit(train_ds.properties)
        self.ids, self.lengths = train_ds.to_padded()
        props = self.std.transform(train_ds.properties) if train_ds.property_names else None
        self.props = torch.from_numpy(props.astype(np.float32)) if props is not None else None
        torch.manual_seed(train_cfg.seed)
        self.model = build_vae(model_cfg, len(self.vocab), len(train_ds.property_names))
        self.model.to(self.device)
        self.net: torch.nn.Module = self.model  # what the training step calls
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.net = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        if train_cfg.compile:
            self.net = torch.compile(self.net)
        # bf16 autocast on GPUs (the GRUs, matmuls and losses); full precision on CPU.
        self.amp = train_cfg.amp and self.device.type == "cuda"
        self.opt = torch.optim.Adam(self.model.parameters(), lr=train_cfg.lr)
        self.n_batches = len(self._epoch_batches(0))
        self.total_steps = self.n_batches * train_cfg.epochs
        self.annealer = KLAnnealer(
            train_cfg.kl_schedule,
            train_cfg.beta,
            self.total_steps,
            train_cfg.kl_warmup,
            train_cfg.kl_cycles,
        )
        self.step = 0
        self.epoch = 0
        self.batch_pos = 0
        self.best_val = math.inf
        self.history: list[dict[str, Any]] = []
        self._train_hashes = checkpoint.smiles_hashes(train_ds.smiles)
        pick = np.random.default_rng(train_cfg.seed).permutation(len(train_ds))[:1000]
        self._train_sample = [train_ds.smiles[i] for i in np.sort(pick)]

    # -- checkpoints ---------------------------------------------------------------------------

    def payload(self, with_train_state: bool = True) -> dict[str, Any]:
        """Everything needed to rebuild the model (and, optionally, to resume training)."""
        state = {k: v.detach().cpu() for k, v in self.model.state_dict().items()}
        payload = {
            "model_config": to_dict(self.model_cfg),
            "train_config": to_dict(self.cfg),
            "data_config": to_dict(self.data_cfg),
            "vocab": self.vocab.to_list(),
            "property_names": list(self.train_ds.property_names),
            "property_mean": [float(x) for x in self.std.mean],
            "property_std": [float(x) for x in self.std.std],
            "state_dict": state,
            "train_hashes": self._train_hashes,
            # A random sample of training molecules: starting points for optimisation.
            "train_sample": self._train_sample,
            "max_len": int(self.lengths.max()),
            "history": self.history,
            "versions": checkpoint.library_versions(),
            "data_source": self.train_ds.source,
        }
        if with_train_state:
            payload["train_state"] = {
                "optimizer": self.opt.state_dict(),
                "step": self.step,
                "epoch": self.epoch,
                "batch_pos": self.batch_pos,
                "best_val": self.best_val,
                "rng": torch.get_rng_state(),
                "cuda_rng": torch.cuda.get_rng_state(self.device)
                if self.device.type == "cuda"
                else None,
            }
        return payload

    def _save(self, name: str, with_train_state: bool) -> None:
        """Write a checkpoint from rank 0 only; the other ranks wait for it."""
        if self.dist.is_main:
            checkpoint.save(self.out / name, self.payload(with_train_state))
        distributed.barrier()

    def save_last(self) -> None:
        self._save("last.pt", with_train_state=True)

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        cfg = self.cfg
        batches = epoch_batches(
            self.lengths.numpy(), cfg.batch_size, cfg.bucket_size, cfg.seed, epoch
        )
        return distributed.shard(batches, self.dist)

    def resume(self) -> bool:
        """Continue from ``out/last.pt``; returns ``False`` when there is nothing to resume."""
        path = self.out / "last.pt"
        if not path.exists():
            return False
        ckpt = checkpoint.load(path)
        if ckpt["vocab"] != self.vocab.to_list():
            raise UserError(
                f"{path} was trained on a different dataset (its vocabulary differs); "
                "resume with the same data and options, or use a new --out folder."
            )
        differ = [k for k, v in to_dict(self.model_cfg).items() if ckpt["model_config"][k] != v]
        if ckpt["property_names"] != list(self.train_ds.property_names):
            differ.append("properties")
        for key in ("batch_size", "bucket_size", "seed"):  # these fix what batch_pos points at
            if ckpt["train_config"][key] != getattr(self.cfg, key):
                differ.append(key)
        if ckpt["data_config"]["val_fraction"] != self.data_cfg.val_fraction:
            differ.append("val_fraction")
        if differ:
            raise UserError(
                f"{path} was trained with different {', '.join(differ)}; resume with the "
                "settings it was started with, or use a new --out folder."
            )
        self.model.load_state_dict(ckpt["state_dict"])
        ts = ckpt["train_state"]
        self.opt.load_state_dict(ts["optimizer"])
        self.step, self.epoch, self.batch_pos = ts["step"], ts["epoch"], ts["batch_pos"]
        self.best_val = ts["best_val"]
        self.history = list(ckpt.get("history", []))
        torch.set_rng_state(ts["rng"])
        if self.device.type == "cuda" and ts.get("cuda_rng") is not None:
            torch.cuda.set_rng_state(ts["cuda_rng"], self.device)
        return True

    # -- the loop ------------------------------------------------------------------------------

    def fit(self, on_step: Callable[[Trainer], None] | None = None) -> Path:
        """Train to the end, validating and checkpointing after each epoch.

        Args:
            on_step: Called after every optimisation step (tests use it to interrupt a run).

        Returns:
            The path of ``best.pt``.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        cfg = self.cfg
        self.model.train()
        try:
            with progress_bar(self.total_steps, "Training", self.progress) as bar:
                bar.advance(self.step)
                while self.epoch < cfg.epochs:
                    self._run_epoch(bar, on_step)
        except KeyboardInterrupt:
            self.save_last()
            raise UserError(
                f"Interrupted at epoch {self.epoch + 1}, step {self.step}; progress is saved in "
                f"{self.out / 'last.pt'}: run the same command with --resume to continue.",
                exit_code=130,
            ) from None
        if not distributed.agree((self.out / "best.pt").exists()):
            self._save("best.pt", with_train_state=False)
        return self.out / "best.pt"

    def _run_epoch(self, bar, on_step) -> None:
        cfg = self.cfg
        batches = self._epoch_batches(self.epoch)
        sums: dict[str, float] = {}
        t0, seen = time.perf_counter(), 0
        for pos in range(self.batch_pos, len(batches)):
            stats = self._train_step(batches[pos])
            for k, v in stats.items():
                sums[k] = sums.get(k, 0.0) * 0.98 + v * 0.02 if k in sums else v
            self.step += 1
            self.batch_pos = pos + 1
            seen += len(batches[pos])
            bar.advance(1)
            rate = seen / max(time.perf_counter() - t0, 1e-9)
            bar.status(
                f"ep {self.epoch + 1}/{cfg.epochs} recon {sums['recon']:.2f} "
                f"kl {sums['kl']:.2f} β {stats['beta']:.3f} {rate:.0f} mol/s"
            )
            if cfg.checkpoint_every and self.step % cfg.checkpoint_every == 0:
                self.save_last()
            if on_step is not None:
                on_step(self)
        self._end_epoch()

    def _train_step(self, idx: np.ndarray) -> dict[str, float]:
        cfg = self.cfg
        b_ids, b_len, b_props = make_batch(self.ids, self.lengths, self.props, idx, self.device)
        for group in self.opt.param_groups:
            group["lr"] = _lr(cfg, self.step, self.total_steps)
        beta = self.annealer(self.step)
        with torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.amp):
            out = self.net(
                b_ids,
                b_len,
                word_dropout=cfg.word_dropout,
                sched_sampling=linear_ramp(self.step, self.total_steps, 0.0, cfg.sched_sampling),
                tau=linear_ramp(
                    self.step, self.total_steps, cfg.gumbel_tau_start, cfg.gumbel_tau_end
                ),
            )
        loss = out.recon_loss + beta * kl_loss(out.kl_dims, cfg.free_bits)
        prop = 0.0
        if out.props is not None and b_props is not None:
            p_loss = property_loss(out.props, b_props)
            loss = loss + cfg.prop_weight * p_loss
            prop = float(p_loss.detach())
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
        self.opt.step()
        return {
            "recon": float(out.recon_loss.detach()),
            "kl": float(out.kl_dims.detach().sum()),
            "prop": prop,
            "beta": beta,
        }

    def _end_epoch(self) -> None:
        # Every rank validates (the weights are identical) so all agree on best.pt.
        metrics = validate(
            self.model, self.val_ds, self.std, max(self.cfg.batch_size, 256), self.device
        )
        metrics = {"epoch": self.epoch + 1, "step": self.step, **metrics}
        self.history.append(metrics)
        if self.dist.is_main:
            self._log(metrics)
        score = metrics["recon_loss"] + self.cfg.beta * metrics["kl_loss"]
        self.epoch += 1
        self.batch_pos = 0
        if distributed.agree(score < self.best_val):  # rank 0 decides for all
            self.best_val = score
            self._save("best.pt", with_train_state=False)
        self.save_last()
        if self.progress:
            shown = ", ".join(
                f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in metrics.items()
            )
            console.print(f"[bold]validation[/] {shown}")

    def _log(self, metrics: dict[str, Any]) -> None:
        """Rewrite ``metrics.csv`` from the history (a resumed run never duplicates a row)."""
        import pandas as pd

        frame = pd.DataFrame(self.history)
        atomic_write(self.out / "metrics.csv", lambda tmp: frame.to_csv(tmp, index=False))

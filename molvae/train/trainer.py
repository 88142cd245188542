"""The training loop: length-bucketed batches, KL annealing, validation, checkpoints, resume.

Each step is :func:`molvae.train.step.train_step`, as in the DDP path (the same trainer under
``torchrun``) and weighted retraining (:mod:`molvae.optimize.retrain`).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from molvae.config import DataConfig, ModelConfig, TrainConfig
from molvae.data.dataset import MolDataset, epoch_batches, make_batch
from molvae.errors import UserError
from molvae.model import build_vae
from molvae.progress import console, progress_bar
from molvae.state import ConditionSample, ModelState
from molvae.train import checkpoint, distributed, finetune
from molvae.train.budget import TimeBudget
from molvae.train.schedules import KLAnnealer, learning_rate
from molvae.train.step import train_step
from molvae.train.validation import summary, validate, write_history

#: Without a validation split, validate on at most this many training molecules.
TRAIN_AS_VAL_LIMIT = 2000
#: Training molecules kept in the checkpoint as starting points for optimisation.
TRAIN_SAMPLE_SIZE = 1000
#: Validation batches hold at least this many molecules (no gradients, so they can be larger).
MIN_VAL_BATCH = 256
#: Smoothing of the running losses shown on the progress bar (an exponential moving average).
_EMA = 0.98


class Trainer:
    """Trains a VAE on a dataset, writing ``last.pt``, ``best.pt`` and ``metrics.csv`` to ``out``.

    Args:
        train_ds: Training molecules (their vocabulary becomes the model's).
        val_ds: Validation molecules; empty means validating on (up to
            :data:`TRAIN_AS_VAL_LIMIT`) training ones.
        model_cfg: Model sizes.
        train_cfg: Loop settings.
        out: Output folder.
        data_cfg: Stored in the checkpoint so the model cleans new inputs the same way.
        progress: Show progress bars.
        init: A trained model to start from (:mod:`molvae.train.finetune`).
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
        init: ModelState | None = None,
    ) -> None:
        self.train_ds = train_ds
        fallback = np.arange(min(len(train_ds), TRAIN_AS_VAL_LIMIT))
        self.val_ds = val_ds if len(val_ds) else train_ds.subset(fallback)
        self.model_cfg = model_cfg
        self.cfg = train_cfg
        self.data_cfg = data_cfg or DataConfig()
        self.out = Path(out)
        self.dist = distributed.current()
        self.device = distributed.pick_device(train_cfg.device, self.dist)
        if train_cfg.num_threads:
            torch.set_num_threads(train_cfg.num_threads)
        self.progress = progress and self.dist.is_main
        if len(train_ds) == 0:
            raise UserError("The training split is empty; lower --val-fraction or add molecules.")
        self.vocab = train_ds.vocab
        self.std = finetune.property_scaling(train_ds, init)
        self.ids, self.lengths = train_ds.to_padded()
        props = self.std.transform(train_ds.properties) if train_ds.property_names else None
        self.props = torch.from_numpy(props.astype(np.float32)) if props is not None else None
        torch.manual_seed(train_cfg.seed)
        names = train_ds.property_names
        self.model = build_vae(model_cfg, self.vocab, len(names), self.data_cfg.tokens, names)
        finetune.load_weights(self.model, init, names)  # a fine-tune starts from init's weights
        if self.model.grammar is not None:  # derive every molecule once, on every core
            self.model.grammar.precompute(self.ids.numpy(), self.data_cfg.n_jobs or os.cpu_count())
        self.model.to(self.device)
        self.net = distributed.wrap(self.model, self.device, self.dist, train_cfg.compile)
        self.amp = train_cfg.amp and self.device.type == "cuda"  # bf16 autocast; CPU: fp32
        self.opt = torch.optim.Adam(self.model.parameters(), lr=train_cfg.lr)
        self.n_batches = len(self._epoch_batches(0))
        self.budget: TimeBudget | None = None  # set by fit() under --max-minutes
        self._bar = None  # the progress bar of fit(), which follows the planned length
        self.full_steps = self.n_batches * train_cfg.epochs  # a time budget may plan fewer
        self._set_total(self.full_steps)
        self.step = self.epoch = self.batch_pos = 0
        self.best_val = math.inf
        self.history: list[dict[str, Any]] = []
        self._train_hashes = finetune.training_hashes(train_ds.smiles, init)
        self._max_len = finetune.max_len(self.lengths, init)
        pick = np.random.default_rng(train_cfg.seed).permutation(len(train_ds))[:TRAIN_SAMPLE_SIZE]
        self._train_sample = [train_ds.smiles[i] for i in np.sort(pick)]
        conditions = train_ds.properties[:, self.model.condition]  # (n, C); none: a plain VAE
        self._conditions = ConditionSample.fit(conditions, seed=train_cfg.seed)

    def model_state(self) -> ModelState:
        """The model being trained, with everything needed to use it (shares the weights)."""
        return ModelState(
            model=self.model,
            model_config=self.model_cfg,
            data_config=self.data_cfg,
            train_config=self.cfg,
            vocab=self.vocab,
            property_names=list(self.train_ds.property_names),
            standardiser=self.std,
            max_len=self._max_len,
            train_hashes=self._train_hashes,
            train_sample=self._train_sample,
            history=self.history,
            data_source=self.train_ds.source,
            conditions=self._conditions,
        )

    def _save(self, name: str, with_train_state: bool) -> None:
        """Write a checkpoint from rank 0 only; the other ranks wait for it."""
        if self.dist.is_main:
            state = None
            if with_train_state:  # what resuming needs beyond the model
                position = {
                    "epoch": self.epoch,
                    "batch_pos": self.batch_pos,
                    "total_steps": self.total_steps,  # the planned length of a timed run
                }
                state = checkpoint.capture(
                    self.opt, self.device, step=self.step, best_val=self.best_val, **position
                )
            checkpoint.save(self.out / name, self.model_state().to_checkpoint(), train_state=state)
        distributed.barrier()

    def save_last(self) -> None:
        self._save("last.pt", with_train_state=True)  # the checkpoint --resume continues from

    def _epoch_batches(self, epoch: int) -> list[np.ndarray]:
        cfg = self.cfg
        batches = epoch_batches(
            self.lengths.numpy(), cfg.batch_size, cfg.bucket_size, cfg.seed, epoch
        )
        return distributed.shard(batches, self.dist)

    def resume(self, force: bool = False) -> bool:
        """Continue from ``out/last.pt``; returns ``False`` when there is nothing to resume.

        Args:
            force: Accept changed schedule settings (epochs, learning rate, β, annealing);
                the schedules then follow the new values from the current step on.

        Raises:
            UserError: See :func:`checkpoint.check_resume`.
        """
        path = self.out / "last.pt"
        if not path.exists():
            return False
        ts = checkpoint.restore(path, self.model_state(), self.opt, self.device, force=force)
        self.step, self.epoch, self.batch_pos = ts["step"], ts["epoch"], ts["batch_pos"]
        self.best_val = ts["best_val"]
        if not force and ts.get("total_steps"):  # keep a timed run's schedule; force: re-plan
            self._set_total(min(int(ts["total_steps"]), self.full_steps))
        self.history = ts["history"]
        return True

    def fit(self, on_step: Callable[[Trainer], None] | None = None) -> Path:
        """Train to the end, validating and checkpointing after each epoch.

        Args:
            on_step: Called after every optimisation step (tests use it to interrupt a run).

        Returns:
            The path of ``best.pt``.
        """
        self.out.mkdir(parents=True, exist_ok=True)
        self.model.train()
        if self.cfg.max_minutes:
            self.budget = TimeBudget(self.cfg.max_minutes)
        try:
            with progress_bar(self.total_steps, "Training", self.progress) as bar:
                self._bar = bar
                bar.advance(self.step)
                while self._more_to_do():
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
        if self.budget is not None and self.progress:
            console.print(self.budget.report(self.step, self.n_batches))
        return self.out / "best.pt"

    def _set_total(self, total_steps: int) -> None:
        """Run ``total_steps`` steps in all; the schedules stretch or shrink to that length."""
        self.total_steps = max(int(total_steps), 1)
        self.annealer = KLAnnealer.from_config(self.cfg, self.total_steps)
        if self._bar is not None:
            self._bar.resize(self.total_steps)

    def _more_to_do(self) -> bool:
        if self.budget is not None and distributed.agree(self.budget.expired()):
            return False
        return self.epoch < self.cfg.epochs and self.step < self.total_steps

    def _replan(self) -> None:
        """Fit the run's length to the time left (steps and validations as timed so far)."""
        val_batches = math.ceil(len(self.val_ds) / max(self.cfg.batch_size, MIN_VAL_BATCH))
        left = self.budget.steps_left(self.batch_pos, self.n_batches, val_batches)
        left = distributed.agree(left)  # rank 0's plan, so every rank stops together
        if left is not None:
            self._set_total(min(self.step + left, self.full_steps))

    def _run_epoch(self, bar, on_step) -> None:
        cfg = self.cfg
        batches = self._epoch_batches(self.epoch)
        sums: dict[str, float] = {}
        t0, seen = time.perf_counter(), 0
        for pos in range(self.batch_pos, len(batches)):
            stats = self._train_step(batches[pos])
            for k, v in stats.items():
                sums[k] = sums[k] * _EMA + v * (1 - _EMA) if k in sums else v
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
            if self.budget is not None and self.budget.tick():
                self._replan()
            if not self._more_to_do():  # the planned end or the budget falls mid-epoch
                break
        self._end_epoch(train_s=time.perf_counter() - t0, molecules=seen)

    def _train_step(self, idx: np.ndarray) -> dict[str, float]:
        """The step on the molecules at ``idx``, with this step's learning rate and β."""
        batch = make_batch(self.ids, self.lengths, idx, self.device, props=self.props)
        return train_step(
            self.net,
            self.opt,
            batch,
            self.cfg,
            lr=learning_rate(self.cfg, self.step, self.total_steps),
            beta=self.annealer(self.step),
            progress=self.step / max(self.total_steps, 1),
            amp=self.amp,
        )

    def _end_epoch(self, train_s: float, molecules: int) -> None:
        """Validate, log and save; ``train_s`` and ``molecules``: the seconds and molecules of
        this epoch's steps in this process (the training rate, logged beside the metrics)."""
        timing = {"train_s": round(train_s, 3), "molecules": molecules}
        t0 = self.budget.clock() if self.budget is not None else 0.0
        # Every rank validates (the weights are identical) so all agree on best.pt.
        metrics = validate(
            self.model,
            self.val_ds,
            self.std,
            batch_size=max(self.cfg.batch_size, MIN_VAL_BATCH),
            device=self.device,
            seed=self.cfg.seed,
            tokens=self.data_cfg.tokens,
        )
        metrics = {"epoch": self.epoch + 1, "step": self.step, **metrics, **timing}
        self.history.append(metrics)
        if self.dist.is_main:
            write_history(self.out / "metrics.csv", self.history)
        score = metrics["recon_loss"] + self.cfg.beta * metrics["kl_loss"]
        self.epoch += 1
        self.batch_pos = 0
        if self.budget is not None:
            self.budget.validation_s = self.budget.clock() - t0
            self._replan()
        if distributed.agree(score < self.best_val):  # rank 0 decides for all
            self.best_val = score
            self._save("best.pt", with_train_state=False)
        self.save_last()
        if self.progress:
            console.print(f"[bold]validation[/] {summary(metrics)}")

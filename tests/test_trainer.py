import sys

import numpy as np
import pandas as pd
import pytest
import torch

from molvae.config import DataConfig, load_preset, replace
from molvae.data.dataset import Standardiser, epoch_batches
from molvae.data.load import load_dataset
from molvae.errors import UserError
from molvae.train.budget import PROBE_STEPS, WARMUP_STEPS, TimeBudget
from molvae.train.schedules import learning_rate
from molvae.train.trainer import Trainer


def test_epoch_batches_cover_every_molecule_once_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 60, size=1000)
    batches = epoch_batches(lengths, batch_size=32, bucket_size=256, seed=3, epoch=1)
    flat = np.concatenate(batches)
    assert sorted(flat.tolist()) == list(range(1000))
    spread = np.mean([np.ptp(lengths[b]) for b in batches])
    assert spread < 10  # buckets sorted by length: little padding
    again = epoch_batches(lengths, batch_size=32, bucket_size=256, seed=3, epoch=1)
    assert all(np.array_equal(a, b) for a, b in zip(batches, again, strict=True))
    other = epoch_batches(lengths, batch_size=32, bucket_size=256, seed=3, epoch=2)
    assert not all(np.array_equal(a, b) for a, b in zip(batches, other, strict=True))


def test_standardiser_round_trip_ignores_nan():
    values = np.array([[1.0, np.nan], [3.0, 4.0], [5.0, 8.0]])
    std = Standardiser.fit(values)
    assert std.mean[0] == pytest.approx(3.0) and std.mean[1] == pytest.approx(6.0)
    assert np.allclose(std.inverse(std.transform(values)), values, equal_nan=True)


def _dataset(smiles, tmp_path, props=()):
    cfg = DataConfig(properties=list(props), val_fraction=0.0, cache_dir=str(tmp_path / "c"))
    return load_dataset(pd.DataFrame({"smiles": smiles}), cfg, progress=False)


def test_tiny_preset_overfits_64_molecules(moses_smiles, tmp_path):
    """The acceptance bar: >= 95 % exact-match reconstruction of the 64 training molecules."""
    ds = _dataset(moses_smiles[:64], tmp_path)
    p = load_preset("tiny")
    trainer = Trainer(ds, ds.subset([]), p.model, p.train, tmp_path / "run", progress=False)
    trainer.fit()
    last = trainer.history[-1]
    assert last["exact_match"] >= 0.95, last
    assert last["token_acc"] >= 0.99
    assert (tmp_path / "run" / "best.pt").exists() and (tmp_path / "run" / "metrics.csv").exists()
    log = pd.read_csv(tmp_path / "run" / "metrics.csv")
    assert len(log) == p.train.epochs
    assert log["recon_loss"].iloc[-1] < log["recon_loss"].iloc[0] / 5


def _short_cfg(**kw):
    p = load_preset("tiny")
    return p.model, replace(p.train, epochs=3, checkpoint_every=2, sched_sampling=0.3, **kw)


def test_resumed_run_matches_uninterrupted_run(moses_smiles, tmp_path):
    ds = _dataset(moses_smiles[:96], tmp_path, props=["logp"])
    model_cfg, train_cfg = _short_cfg(word_dropout=0.1)

    full = Trainer(ds, ds.subset([]), model_cfg, train_cfg, tmp_path / "full", progress=False)
    full.fit()

    def interrupt(trainer):
        if trainer.step == 4:  # mid-epoch (3 batches per epoch)
            raise KeyboardInterrupt

    first = Trainer(ds, ds.subset([]), model_cfg, train_cfg, tmp_path / "cut", progress=False)
    with pytest.raises(UserError, match="--resume") as err:
        first.fit(on_step=interrupt)
    assert err.value.exit_code == 130

    second = Trainer(ds, ds.subset([]), model_cfg, train_cfg, tmp_path / "cut", progress=False)
    assert second.resume()
    assert (second.epoch, second.batch_pos, second.step) == (1, 1, 4)
    second.fit()
    a, b = full.model.state_dict(), second.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    timing = ("train_s", "molecules")  # this process's share of the epoch, and its speed
    untimed = [{k: v for k, v in h.items() if k not in timing} for h in full.history]
    assert untimed == [{k: v for k, v in h.items() if k not in timing} for h in second.history]
    assert [h["molecules"] for h in full.history] == [96] * 3
    assert [h["molecules"] for h in second.history] == [96, 64, 96]  # resumed after a batch
    assert len(pd.read_csv(tmp_path / "cut" / "metrics.csv")) == 3


def test_resume_without_checkpoint_returns_false_and_refuses_other_data(moses_smiles, tmp_path):
    ds = _dataset(moses_smiles[:40], tmp_path)
    model_cfg, train_cfg = _short_cfg()
    trainer = Trainer(ds, ds.subset([]), model_cfg, replace(train_cfg, epochs=1), tmp_path / "r")
    assert not trainer.resume()
    trainer.fit()
    other = _dataset(["CCO", "CCN", "c1ccccc1", "CC(=O)O", "CCS", "ClCCl"] * 1, tmp_path)
    t2 = Trainer(other, other.subset([]), model_cfg, train_cfg, tmp_path / "r", progress=False)
    with pytest.raises(UserError, match="different dataset"):
        t2.resume()


def test_validation_reports_property_r2_and_active_units(tiny_model):
    last = tiny_model.history[-1]
    for key in ("recon_loss", "kl_loss", "token_acc", "exact_match", "token_match", "active_units"):
        assert key in last
    assert 0 <= last["active_units"] <= tiny_model.latent_dim
    assert "r2_logp" in last and "mae_qed" in last
    assert last["r2_logp"] > 0.0  # it learns something in six epochs


@pytest.mark.gpu
def test_cuda_bf16_training_and_seeded_sampling(moses_smiles, tmp_path):
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device")
    from molvae.api import MolVAE

    ds = _dataset(moses_smiles[:64], tmp_path, props=["logp"])
    model_cfg, train_cfg = _short_cfg()
    trainer = Trainer(
        ds, ds.subset([]), model_cfg, replace(train_cfg, device="cuda"), tmp_path / "g"
    )
    assert trainer.amp
    trainer.fit()
    model = MolVAE.load(tmp_path / "g" / "best.pt", device="cuda")
    assert model.sample(20, seed=1) == model.sample(20, seed=1)


def test_resume_refuses_changed_schedules_unless_forced(moses_smiles, tmp_path):
    ds = _dataset(moses_smiles[:40], tmp_path)
    model_cfg, train_cfg = _short_cfg()
    first = replace(train_cfg, epochs=1)
    Trainer(ds, ds.subset([]), model_cfg, first, tmp_path / "r", progress=False).fit()
    for changed in (replace(first, epochs=2), replace(first, beta=first.beta * 2)):
        again = Trainer(ds, ds.subset([]), model_cfg, changed, tmp_path / "r", progress=False)
        with pytest.raises(UserError, match="other schedule settings .* pass --force"):
            again.resume()
    longer = Trainer(
        ds, ds.subset([]), model_cfg, replace(first, epochs=2), tmp_path / "r", progress=False
    )
    assert longer.resume(force=True)
    assert longer.epoch == 1
    longer.fit()
    assert len(longer.history) == 2
    other_batches = replace(first, batch_size=first.batch_size + 1)
    t3 = Trainer(ds, ds.subset([]), model_cfg, other_batches, tmp_path / "r", progress=False)
    with pytest.raises(UserError, match="different batch_size"):  # never, even with force
        t3.resume(force=True)


def test_validation_decodes_a_smiles_model_as_smiles(tiny_smiles_model, monkeypatch):
    from molvae.train.validation import validate

    vae = tiny_smiles_model
    ds, _ = vae.prepare(["Oc1ccccc1", "CCN(CC)CC", "CC(=O)O"])
    ids, _ = ds.to_padded(vae.vocab)
    for i in range(len(ds)):
        # A decoder that reconstructs perfectly: exact_match then only tests reading its tokens.
        perfect = ids[i : i + 1]
        monkeypatch.setattr(
            vae.model, "generate", lambda mu, max_len, greedy, row=perfect: row[:, :max_len]
        )
        one, std = ds.subset([i]), vae.standardiser
        as_smiles = validate(vae.model, one, std, 8, "cpu", vocab=vae.vocab, tokens="smiles")
        assert as_smiles["exact_match"] == as_smiles["token_match"] == 1.0
        as_selfies = validate(vae.model, one, std, 8, "cpu", vocab=vae.vocab, tokens="selfies")
        assert as_selfies["exact_match"] == 0.0 and as_selfies["token_match"] == 1.0


def test_time_budget_fits_steps_and_validations_into_the_time_left():
    now = [0.0]
    budget = TimeBudget(1.0, clock=lambda: now[0])  # 60 s
    for i in range(WARMUP_STEPS + PROBE_STEPS):
        assert budget.steps_left(0, 10, 1) is None  # not measured yet
        now[0] += 0.1 if i < WARMUP_STEPS else 1.0  # the probe's steps take 1 s each
        measured = budget.tick()
        assert measured == (i == WARMUP_STEPS + PROBE_STEPS - 1)
    assert budget.step_s == pytest.approx(1.0)
    budget.validation_s = 2.0
    left = 60.0 - now[0]
    steps = budget.steps_left(batch_pos=5, n_batches=10, val_batches=1)
    validations = -(-(5 + steps) // 10)  # epoch ends within the steps, the last one included
    assert steps + validations * 2.0 <= left < (steps + 1) + validations * 2.0 + 2.0
    now[0] = 61.0
    assert budget.expired() and budget.steps_left(0, 10, 1) == 0


def test_max_minutes_ends_the_run_in_time_with_its_schedules_complete(
    moses_smiles, tmp_path, monkeypatch
):
    ds = _dataset(moses_smiles[:96], tmp_path)  # 3 batches per epoch
    model_cfg, train_cfg = _short_cfg()
    train_cfg = replace(train_cfg, epochs=20, max_minutes=0.5)
    t = Trainer(ds, ds.subset([]), model_cfg, train_cfg, tmp_path / "run", progress=False)
    # Each step "takes" one second of a fake clock; validations take none.
    trainer_module = sys.modules[Trainer.__module__]
    monkeypatch.setattr(
        trainer_module, "TimeBudget", lambda m: TimeBudget(m, clock=lambda: float(t.step))
    )
    assert t.total_steps == 60
    t.fit()
    assert t.step == t.total_steps == 30  # the 30 s fit 30 steps, not the 60 of 20 epochs
    assert t.annealer.total == 30  # the KL, learning-rate and Gumbel schedules span them
    assert learning_rate(train_cfg, t.step - 1, t.total_steps) == pytest.approx(
        train_cfg.lr * train_cfg.lr_final_fraction, rel=0.05
    )
    assert len(pd.read_csv(tmp_path / "run" / "metrics.csv")) == 10

    again = Trainer(ds, ds.subset([]), model_cfg, train_cfg, tmp_path / "run", progress=False)
    assert again.resume() and again.total_steps == 30  # resuming keeps the planned length
    forced = Trainer(ds, ds.subset([]), model_cfg, train_cfg, tmp_path / "run", progress=False)
    assert forced.resume(force=True) and forced.total_steps == 60  # --force plans anew

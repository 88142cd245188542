"""DDP on CPU: two gloo processes under torchrun train, checkpoint and resume."""

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from molvae import MolVAE
from molvae.train.distributed import DistInfo, shard

DATA = Path(__file__).resolve().parents[1] / "data" / "moses_train_2k.csv"


def test_shard_gives_every_rank_the_same_number_of_distinct_batches():
    batches = list(range(11))
    parts = [shard(batches, DistInfo(rank=r, world_size=3)) for r in range(3)]
    assert [len(p) for p in parts] == [3, 3, 3]
    assert sorted(sum(parts, [])) == list(range(9))
    assert shard(batches, DistInfo()) == batches


@pytest.mark.slow
def test_ddp_two_cpu_processes_train_and_checkpoint_loads(tmp_path):
    out = tmp_path / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node",
        "2",
        "--master_port",
        "29533",
        "-m",
        "molvae",
        "train",
        str(DATA),
        "--preset",
        "tiny",
        "--epochs",
        "4",
        "--max-molecules",
        "400",
        "--out",
        str(out),
        "--cache-dir",
        str(tmp_path / "cache"),
        "--device",
        "cpu",
    ]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    log = pd.read_csv(out / "metrics.csv")
    assert len(log) == 4  # written once, by rank 0
    assert log["recon_loss"].iloc[-1] < log["recon_loss"].iloc[0]
    model = MolVAE.load(out / "best.pt")
    assert sum(1 for s in model.sample(20, seed=0) if s) >= 18

    resumed = subprocess.run(
        # a longer run changes the schedules: --force accepts that
        [*cmd[:-4], "--epochs", "5", "--resume", "--force", *cmd[-4:]],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert len(pd.read_csv(out / "metrics.csv")) == 5  # continued from epoch 4

"""Where training runs: the device, and multi-GPU / multi-node training with PyTorch DDP under
``torchrun``.

``torchrun --nproc_per_node 4 -m molvae train data.csv --out runs/x`` starts one process per
GPU; each reads ``RANK``/``WORLD_SIZE``/``LOCAL_RANK`` from the environment, trains on its share
of every epoch's batches; every rank validates (the weights are identical) but rank 0 decides
what is saved and alone writes checkpoints. Without those
variables everything here is a no-op and training runs in one process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from molvae.errors import UserError


def pick_device(name: str = "auto", info: DistInfo | None = None) -> torch.device:
    """``auto`` -> CUDA when present, else CPU; otherwise the named device. In a distributed
    run on GPUs, each process takes the GPU of its local rank.

    Raises:
        UserError: A CUDA device was named but none is visible.
    """
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(
            f"Device '{name}' was asked for but no CUDA GPU is visible; use --device cpu."
        )
    device = torch.device(name)
    if info is not None and info.enabled and device.type == "cuda":
        device = torch.device("cuda", info.local_rank)
    return device


def wrap(
    model: torch.nn.Module, device: torch.device, info: DistInfo, compile: bool = False
) -> torch.nn.Module:
    """What the training step calls: ``model``, in DDP when distributed, compiled if asked."""
    net = model
    if info.enabled:
        ids = [device.index] if device.type == "cuda" else None
        net = torch.nn.parallel.DistributedDataParallel(model, device_ids=ids)
    return torch.compile(net) if compile else net


@dataclass(frozen=True)
class DistInfo:
    """Where this process stands in a distributed run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def setup() -> DistInfo:
    """Join the process group ``torchrun`` describes (NCCL on GPUs, gloo on CPUs), once."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo()
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        if backend == "nccl":
            torch.cuda.set_device(info.local_rank)
        dist.init_process_group(backend)
    return info


def current() -> DistInfo:
    """This process's place in the run (rank 0 of 1 outside ``torchrun``)."""
    if not (dist.is_available() and dist.is_initialized()):
        return DistInfo()
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def barrier() -> None:
    """Wait for every process (no-op in a single-process run)."""
    if dist.is_available() and dist.is_initialized():
        dist.barrier()


def agree(value):
    """Rank 0's ``value`` on every rank (a no-op in a single-process run)."""
    if not (dist.is_available() and dist.is_initialized()):
        return value
    box = [value]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def shard(batches: list, info: DistInfo) -> list:
    """This rank's batches: every ``world_size``-th, all ranks getting the same count."""
    if not info.enabled:
        return batches
    usable = len(batches) - len(batches) % info.world_size
    return batches[info.rank : usable : info.world_size]


def teardown() -> None:
    """Leave the process group once every rank has reached this point.

    Without the barrier a rank that finishes first tears its gloo connections down while the
    others still use them, and a process may then abort at exit ("terminate called without an
    active exception").
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()

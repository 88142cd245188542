"""What every benchmark shares: paths, the machine description, logging and JSON output.

Imported by the scripts in this folder as ``import _common`` (they run as
``python benchmarks/<name>.py``, which puts this folder on ``sys.path``).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import torch

#: The repository root (the folder above ``benchmarks/``).
REPO_ROOT = Path(__file__).resolve().parent.parent
#: The full MOSES training set (1,584,663 SMILES), shared beside the repository.
MOSES_TRAIN = REPO_ROOT.parent / "shared" / "data" / "moses" / "train.csv.gz"

_T0 = time.perf_counter()


def log(message: str) -> None:
    """A timestamped progress line on stderr (stdout carries only the JSON result)."""
    print(f"[{time.perf_counter() - _T0:7.1f}s] {message}", file=sys.stderr, flush=True)


def moses_scoring(vae: Any, cache: str | None = None) -> tuple[Any, set[str], Any]:
    """What scoring samples the MOSES way needs, with ``vae``'s clean-up: the reference
    statistics of MOSES test, the canonical SMILES of MOSES train (Novelty) and the FCD model
    (``cache``: folder for the statistics)."""
    import dataclasses

    from molvae import metrics
    from molvae.data.load import load_dataset
    from molvae.evaluate import reference_stats, training_set

    cfg = dataclasses.replace(
        vae.data_config, smiles_col=None, properties=[], cache_dir=cache, max_molecules=None
    )
    log("reference statistics")
    test = load_dataset(str(MOSES_TRAIN.parent / "test.csv.gz"), cfg, progress=False)
    fcd = metrics.fcd_model()
    return reference_stats(test.smiles, cfg, fcd), training_set(str(MOSES_TRAIN), cfg), fcd


def set_threads(threads: int) -> None:
    """Use ``threads`` PyTorch CPU threads; ``0`` keeps PyTorch's default."""
    if threads > 0:
        torch.set_num_threads(threads)


def _git_commit() -> str | None:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None
    return f"{sha}-dirty" if dirty else sha


def environment() -> dict[str, Any]:
    """The machine and library versions a number was measured with.

    Call it before the heavy work starts: ``loadavg`` is the load the benchmark started under
    (1, 5 and 15 minute averages); other work on the machine lowers every throughput.
    """
    import molvae

    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count()
    return {
        "molvae": molvae.__version__,
        "git_commit": _git_commit(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "cuda": torch.cuda.get_device_name() if torch.cuda.is_available() else None,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "python": platform.python_version(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }


def emit(result: dict[str, Any]) -> None:
    """Print the result as one JSON object on stdout, adding the load average at the end."""
    result["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    print(json.dumps(result, indent=2))


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so that wall-clock times are honest (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)

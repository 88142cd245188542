"""molvae's version, and the versions of the libraries that shape a checkpoint."""

from __future__ import annotations

import platform

import rdkit
import selfies
import torch

__version__ = "0.1.0"


def library_versions() -> dict[str, str]:
    """Versions of the libraries that shaped a checkpoint."""
    return {
        "molvae": __version__,
        "torch": str(torch.__version__),
        "rdkit": str(rdkit.__version__),
        "selfies": str(selfies.__version__),
        "python": platform.python_version(),
    }

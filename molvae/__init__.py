"""molvae: molecular design with SELFIES variational autoencoders.

The public API::

    from molvae import MolVAE, train
    model = train("molecules.csv", out="runs/mine", preset="small")
    model = MolVAE.load("runs/mine/best.pt")
    z = model.encode(["CCO", "c1ccccc1"])      # (n, latent_dim) posterior means
    model.decode(z)                            # canonical SMILES
    model.sample(10, temperature=1.0)          # molecules from the prior
    model.predict(["CCO"])                     # property-head predictions
"""

__version__ = "0.1.0"

from molvae.api import MolVAE, train  # noqa: E402
from molvae.config import DataConfig, ModelConfig, TrainConfig, load_preset  # noqa: E402
from molvae.errors import UserError  # noqa: E402

__all__ = [
    "DataConfig",
    "ModelConfig",
    "MolVAE",
    "TrainConfig",
    "UserError",
    "load_preset",
    "train",
    "__version__",
]

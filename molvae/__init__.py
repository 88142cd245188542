"""molvae: molecular design with SELFIES variational autoencoders.

The public API::

    from molvae import MolVAE, train
    model = train("molecules.csv", out="runs/mine", preset="small")
    model = MolVAE.load("runs/mine/best.pt")
    z = model.encode(["CCO", "c1ccccc1"])      # (n, latent_dim) posterior means
    model.decode(z)                            # canonical SMILES
    model.sample(10, temperature=1.0)          # molecules from the prior
    model.predict(["CCO"])                     # property-head predictions
    optimize("logp", model, out="runs/opt")    # Bayesian optimisation in latent space
"""

from molvae.api import MolVAE  # noqa: E402
from molvae.config import (  # noqa: E402
    DataConfig,
    ModelConfig,
    OptimizeConfig,
    TrainConfig,
    load_preset,
)
from molvae.errors import UserError  # noqa: E402
from molvae.optimize.bo import optimize  # noqa: E402

# Last: importing molvae.train.run binds the subpackage to ``molvae.train``; the public name
# is the function (import the subpackage's modules by their full names).
from molvae.train.run import train  # noqa: E402
from molvae.version import __version__  # noqa: E402

__all__ = [
    "DataConfig",
    "ModelConfig",
    "MolVAE",
    "OptimizeConfig",
    "TrainConfig",
    "UserError",
    "load_preset",
    "optimize",
    "train",
    "__version__",
]

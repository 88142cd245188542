"""Training: the one training step and its loop (``trainer``), the schedules, validation,
checkpoints and multi-GPU runs; ``run`` goes from a SMILES table to a trained model.

``molvae.train`` (the attribute of the top-level package) is the :func:`molvae.train.run.train`
function; import this package's modules by their full names, e.g.
``from molvae.train.trainer import Trainer``.
"""

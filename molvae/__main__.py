"""``python -m molvae`` runs the command line (also under ``torchrun``)."""

from molvae.cli import main

main()

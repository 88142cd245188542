"""MOSES's medicinal-chemistry filters, exactly as MOSES applies them for its ``Filters`` metric.

A molecule passes when it has no ring of eight or more atoms, no charged atom, only the atoms
C N S O F Cl Br H, matches none of MOSES's MCF and PAINS SMARTS (matched on the molecule with
explicit hydrogens, since several patterns name ``[#1]``) and writes a non-empty SMILES that
parses again. The SMARTS tables are vendored in ``molvae/resources/`` (MIT, Insilico Medicine).
"""

from __future__ import annotations

import functools
from importlib import resources

import pandas as pd
from rdkit import Chem

#: The atoms MOSES allows (its molecules are neutral organics from ZINC Clean Leads).
ALLOWED_ATOMS = frozenset({"C", "N", "S", "O", "F", "Cl", "Br", "H"})
#: The smallest ring MOSES rejects.
MAX_RING_SIZE = 7


@functools.cache
def filter_patterns() -> tuple[Chem.Mol, ...]:
    """The compiled MCF + PAINS SMARTS patterns (read once)."""
    folder = resources.files("molvae") / "resources"
    with (folder / "moses_mcf.csv").open() as f:
        mcf = pd.read_csv(f)
    with (folder / "moses_wehi_pains.csv").open() as f:
        pains = pd.read_csv(f, names=["smarts", "names"])
    smarts = [s.strip() for s in [*mcf["smarts"], *pains["smarts"]]]
    patterns = tuple(Chem.MolFromSmarts(s) for s in smarts)
    if any(p is None for p in patterns):
        raise RuntimeError("A vendored filter SMARTS does not parse; reinstall molvae.")
    return patterns


def filter_failure(mol: Chem.Mol | None) -> str | None:
    """Why a molecule fails MOSES's filters, or ``None`` if it passes.

    Returns:
        One of ``"invalid"``, ``"ring size"``, ``"charge"``, ``"element"``,
        ``"structural alert"``, ``"unwritable"``, or ``None``.
    """
    if mol is None:
        return "invalid"
    if any(len(ring) > MAX_RING_SIZE for ring in mol.GetRingInfo().AtomRings()):
        return "ring size"
    if any(atom.GetFormalCharge() != 0 for atom in mol.GetAtoms()):
        return "charge"
    if any(atom.GetSymbol() not in ALLOWED_ATOMS for atom in mol.GetAtoms()):
        return "element"
    with_h = Chem.AddHs(mol)
    if any(with_h.HasSubstructMatch(p) for p in filter_patterns()):
        return "structural alert"
    smiles = Chem.MolToSmiles(mol, isomericSmiles=False)
    if not smiles or Chem.MolFromSmiles(smiles) is None:
        return "unwritable"
    return None


def passes_filters(mol: Chem.Mol | None) -> bool:
    """Whether a molecule passes MOSES's filters (see :func:`filter_failure`)."""
    return filter_failure(mol) is None

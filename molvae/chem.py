"""RDKit and SELFIES wrappers: parse, clean, canonicalise, encode, compute properties.

Conventions (after datamol): functions are named ``to_*``/``from_*``, accept a SMILES string or
an RDKit ``Mol``, and return ``None`` on failure instead of raising; callers count failures.
RDKit's own logging is silenced only inside :func:`without_rdkit_log`.
"""

from __future__ import annotations

import contextlib
import math
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import selfies as sf
from rdkit import Chem, RDConfig, RDLogger, rdBase
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors
from rdkit.Chem.MolStandardize import rdMolStandardize

# Reasons a row is not used; the rejects file uses exactly these strings.
EMPTY = "empty"
UNPARSEABLE = "unparseable"
UNSUPPORTED_ELEMENT = "unsupported element"
UNSUPPORTED_SELFIES = "unsupported by SELFIES"
TOO_LONG = "too long"
DUPLICATE = "duplicate"
BAD_PROPERTY = "bad property value"
UNKNOWN_TOKEN = "token not in vocabulary"

MolLike = str | Chem.Mol


@contextlib.contextmanager
def without_rdkit_log() -> Iterator[None]:
    """Silence RDKit's log inside the ``with`` block only.

    On leaving the block each RDKit log level is set back to what it was before, so RDKit's
    default (errors and warnings on, info and debug off) survives and nested blocks stay silent.
    """
    before = rdBase.LogStatus()  # "rdApp.debug:disabled\nrdApp.info:disabled\n..."
    RDLogger.DisableLog("rdApp.*")
    try:
        yield
    finally:
        for line in before.splitlines():
            name, _, state = line.partition(":")
            if state == "enabled":
                RDLogger.EnableLog(name)


def to_mol(mol: MolLike | None) -> Chem.Mol | None:
    """Parse a SMILES string (or pass a ``Mol`` through).

    Returns:
        The molecule, or ``None`` if the input is empty or RDKit cannot parse it.
    """
    if mol is None:
        return None
    if isinstance(mol, Chem.Mol):
        return mol
    if not isinstance(mol, str) or not mol.strip():
        return None
    with without_rdkit_log():
        return Chem.MolFromSmiles(mol.strip())


def to_smiles(mol: MolLike | None) -> str | None:
    """Canonical SMILES of a molecule, or ``None`` if it cannot be parsed."""
    m = to_mol(mol)
    if m is None:
        return None
    with without_rdkit_log():
        return Chem.MolToSmiles(m)


canonical_smiles = to_smiles


def to_selfies(mol: MolLike | None) -> str | None:
    """SELFIES string of a molecule, or ``None`` if SELFIES cannot encode it."""
    smiles = mol if isinstance(mol, str) else to_smiles(mol)
    if not smiles:
        return None
    try:
        return sf.encoder(smiles)
    except sf.EncoderError:
        return None


def from_selfies(selfies: str) -> str | None:
    """Canonical SMILES decoded from a SELFIES string, or ``None`` if it decodes to nothing."""
    try:
        smiles = sf.decoder(selfies)
    except sf.DecoderError:
        return None
    if not smiles:
        return None
    return to_smiles(smiles)


@dataclass(frozen=True)
class CleanOptions:
    """The clean-up steps :func:`clean` applies (see :class:`molvae.config.DataConfig`)."""

    largest_fragment: bool = True
    neutralise: bool = True
    strip_isotopes: bool = True
    allowed_elements: frozenset[str] | None = None
    max_heavy_atoms: int | None = None
    max_tokens: int | None = None


_fragment_chooser = None
_uncharger = None


@dataclass
class _Atoms:
    """What clean-up needs to know about a molecule's atoms, gathered in one pass."""

    charged: bool
    isotopes: bool
    dummy: bool
    elements: set[str]

    @classmethod
    def of(cls, mol: Chem.Mol) -> _Atoms:
        charged = isotopes = dummy = False
        elements: set[str] = set()
        for a in mol.GetAtoms():
            charged = charged or a.GetFormalCharge() != 0
            isotopes = isotopes or a.GetIsotope() != 0
            dummy = dummy or a.GetAtomicNum() == 0
            elements.add(a.GetSymbol())
        return cls(charged, isotopes, dummy, elements)


def _standardise(mol: Chem.Mol, opts: CleanOptions) -> tuple[Chem.Mol, _Atoms]:
    global _fragment_chooser, _uncharger
    if opts.largest_fragment and len(Chem.GetMolFrags(mol)) > 1:
        if _fragment_chooser is None:
            _fragment_chooser = rdMolStandardize.LargestFragmentChooser(preferOrganic=True)
        mol = _fragment_chooser.choose(mol)
    atoms = _Atoms.of(mol)
    if opts.neutralise and atoms.charged:
        if _uncharger is None:
            _uncharger = rdMolStandardize.Uncharger()
        mol = _uncharger.uncharge(mol)
        atoms = _Atoms.of(mol)
    if opts.strip_isotopes and atoms.isotopes:
        mol = Chem.Mol(mol)
        for atom in mol.GetAtoms():
            atom.SetIsotope(0)
        mol = Chem.RemoveHs(mol)
        atoms = _Atoms.of(mol)
    return mol, atoms


def clean(smiles: object, opts: CleanOptions) -> tuple[str, list[str]] | tuple[None, str]:
    """Clean one input SMILES and tokenise it as SELFIES.

    Args:
        smiles: The raw cell from the input file (may be empty, NaN or not a string).
        opts: Clean-up steps and limits.

    Returns:
        ``(canonical_smiles, selfies_tokens)`` on success, else ``(None, reason)`` with one of
        the reason strings of this module.
    """
    if not isinstance(smiles, str) or not smiles.strip():
        return None, EMPTY
    mol = to_mol(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return None, UNPARSEABLE
    with without_rdkit_log():
        try:
            mol, atoms = _standardise(mol, opts)
        except Exception:  # RDKit raises assorted errors on odd valences
            return None, UNPARSEABLE
        if atoms.dummy:
            return None, UNSUPPORTED_SELFIES  # '*' / R-group attachment points
        if opts.allowed_elements is not None and not atoms.elements <= opts.allowed_elements:
            return None, UNSUPPORTED_ELEMENT
        if opts.max_heavy_atoms is not None and mol.GetNumHeavyAtoms() > opts.max_heavy_atoms:
            return None, TOO_LONG
        can = Chem.MolToSmiles(mol)
    selfies = to_selfies(can)
    if selfies is None:
        return None, UNSUPPORTED_SELFIES
    tokens = list(sf.split_selfies(selfies))
    if not tokens:
        return None, UNSUPPORTED_SELFIES
    if opts.max_tokens is not None and len(tokens) > opts.max_tokens:
        return None, TOO_LONG
    return can, tokens


# ---------------------------------------------------------------------------------------------
# Properties computed by RDKit


def _sascorer():
    if "sascorer" not in sys.modules:
        sys.path.append(os.path.join(RDConfig.RDContribDir, "SA_Score"))
    import sascorer  # RDKit Contrib (Ertl & Schuffenhauer 2009)

    return sascorer


def sa_score(mol: Chem.Mol) -> float:
    """Synthetic accessibility, 1 (easy) to 10 (hard), from RDKit Contrib's ``sascorer``."""
    return float(_sascorer().calculateScore(mol))


def _largest_ring_penalty(mol: Chem.Mol) -> int:
    rings = mol.GetRingInfo().AtomRings()
    largest = max((len(r) for r in rings), default=0)
    return max(largest - 6, 0)


# ZINC250k means and standard deviations of logP, -SA and -cycle penalty, as used by JT-VAE
# (Jin et al. 2018) and most latent-space optimisation papers since.
_ZINC_LOGP = (2.4570953396190123, 1.434324401111988)
_ZINC_SA = (-3.0525811293166134, 0.8335207024513095)
_ZINC_CYCLE = (-0.0485696876403053, 0.2860212110245455)


def penalized_logp(mol: Chem.Mol) -> float:
    """Penalised logP, each term standardised with ZINC250k statistics (JT-VAE's definition).

    ``(logP - m1)/s1 + (-SA - m2)/s2 + (-cycle - m3)/s3``, where cycle is the size of the
    largest ring beyond six atoms.
    """
    logp = (Crippen.MolLogP(mol) - _ZINC_LOGP[0]) / _ZINC_LOGP[1]
    sa = (-sa_score(mol) - _ZINC_SA[0]) / _ZINC_SA[1]
    cycle = (-_largest_ring_penalty(mol) - _ZINC_CYCLE[0]) / _ZINC_CYCLE[1]
    return float(logp + sa + cycle)


#: RDKit-computed properties by name.
PROPERTIES: dict[str, Callable[[Chem.Mol], float]] = {
    "logp": lambda m: float(Crippen.MolLogP(m)),
    "qed": lambda m: float(QED.qed(m)),
    "sa": sa_score,
    "mw": lambda m: float(Descriptors.MolWt(m)),
    "tpsa": lambda m: float(rdMolDescriptors.CalcTPSA(m)),
    "plogp": penalized_logp,
}


def compute_properties(mol: MolLike | None, names: Sequence[str]) -> list[float]:
    """Compute RDKit properties of one molecule.

    Returns:
        One float per name; ``nan`` where the molecule cannot be parsed or RDKit fails.
    """
    m = to_mol(mol)
    out = []
    for name in names:
        try:
            value = PROPERTIES[name](m) if m is not None else math.nan
        except Exception:
            value = math.nan
        out.append(value)
    return out


_pains = None


def pains_catalog():
    """RDKit's PAINS structural-alert catalogue (built once)."""
    global _pains
    if _pains is None:
        from rdkit.Chem.FilterCatalog import FilterCatalog, FilterCatalogParams

        params = FilterCatalogParams()
        params.AddCatalog(FilterCatalogParams.FilterCatalogs.PAINS)
        _pains = FilterCatalog(params)
    return _pains


def fingerprint(mol: MolLike | None, radius: int = 2, n_bits: int = 2048):
    """Morgan (ECFP-like) bit fingerprint, or ``None`` if the molecule cannot be parsed."""
    from rdkit.Chem import rdFingerprintGenerator

    m = to_mol(mol)
    if m is None:
        return None
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)
    return gen.GetFingerprint(m)

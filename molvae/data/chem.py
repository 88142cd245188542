"""RDKit and SELFIES wrappers: parse, clean, canonicalise, tokenise, decode, fingerprint.

Conventions (after datamol): functions are named ``to_*``/``from_*``, accept a SMILES string or
an RDKit ``Mol``, and return ``None`` on failure instead of raising; callers count failures.
RDKit's own logging is silenced only inside :func:`without_rdkit_log`.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from dataclasses import dataclass

import selfies as sf
from rdkit import Chem, RDLogger, rdBase
from rdkit.Chem import rdFingerprintGenerator
from rdkit.Chem.MolStandardize import rdMolStandardize

from molvae.config import DataConfig
from molvae.data.tokens import split_smiles

# Reasons a row is not used; the rejects file uses exactly these strings.
EMPTY = "empty"
UNPARSEABLE = "unparseable"
UNSUPPORTED_ELEMENT = "unsupported element"
UNSUPPORTED_SELFIES = "unsupported by SELFIES"
UNSUPPORTED_SMILES = "unsupported by the SMILES tokenizer"
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


def is_strict_selfies(selfies: str) -> bool:
    """Whether a SELFIES string decodes without repair.

    SELFIES turns every string into some molecule: a ring closure or branch that cannot be
    made is dropped, a bond order is lowered to fit the valence, and tokens after an atom runs
    out of valence are ignored. A string needing none of that is *strict*: re-encoding the
    molecule it decodes to gives the same string back. Every training molecule's SELFIES is
    strict; a decoder's mistakes mostly are not, so treating non-strict strings as invalid
    plays the role that SMILES syntax errors play for a SMILES model.
    """
    try:
        return bool(selfies) and sf.encoder(sf.decoder(selfies)) == selfies
    except (sf.DecoderError, sf.EncoderError):
        return False


def is_strict(text: str, tokens: str) -> bool:
    """Whether a model's decoded string is a molecule as written: for ``selfies`` a strict
    SELFIES (:func:`is_strict_selfies`), for ``smiles`` a SMILES that RDKit parses."""
    return to_mol(text) is not None if tokens == "smiles" else is_strict_selfies(text)


def tokens_to_smiles(text: str, tokens: str, strict: bool = False) -> str | None:
    """Canonical SMILES of a model's decoded string (``tokens``: ``selfies`` or ``smiles``, as
    ``DataConfig.tokens``), the one place a decode becomes a molecule; ``None`` for a SMILES
    RDKit cannot parse (invalid, as MOSES counts it), a SELFIES that decodes to nothing, or,
    with ``strict``, a SELFIES that needed repair."""
    if tokens == "smiles":
        return to_smiles(text)
    return None if strict and not is_strict_selfies(text) else from_selfies(text)


@dataclass(frozen=True)
class CleanOptions:
    """The clean-up steps :func:`clean` applies (see :class:`molvae.config.DataConfig`)."""

    largest_fragment: bool = True
    neutralise: bool = True
    strip_isotopes: bool = True
    allowed_elements: frozenset[str] | None = None
    max_heavy_atoms: int | None = None
    max_tokens: int | None = None
    tokens: str = "selfies"

    @classmethod
    def from_config(cls, cfg: DataConfig) -> CleanOptions:
        """The clean-up steps a :class:`~molvae.config.DataConfig` describes."""
        return cls(
            largest_fragment=cfg.largest_fragment,
            neutralise=cfg.neutralise,
            strip_isotopes=cfg.strip_isotopes,
            allowed_elements=frozenset(cfg.allowed_elements) if cfg.allowed_elements else None,
            max_heavy_atoms=cfg.max_heavy_atoms,
            max_tokens=cfg.max_tokens,
            tokens=cfg.tokens,
        )


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


@dataclass(frozen=True)
class CleanResult:
    """What :func:`clean` made of one input.

    Attributes:
        smiles: The canonical SMILES, or ``None`` when the input was rejected.
        tokens: Its tokens, SELFIES or SMILES as the options say (empty when rejected).
        reason: Why it was rejected (one of this module's reason strings); ``""`` when kept.
    """

    smiles: str | None
    tokens: tuple[str, ...] = ()
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.smiles is not None

    @classmethod
    def rejected(cls, reason: str) -> CleanResult:
        return cls(None, (), reason)


def clean(smiles: object, opts: CleanOptions) -> CleanResult:
    """Clean one input SMILES and tokenise its canonical form (as SELFIES or SMILES).

    Args:
        smiles: The raw cell from the input file (may be empty, NaN or not a string).
        opts: Clean-up steps and limits.

    Returns:
        The canonical SMILES and its tokens, or the reason (one of this module's reason
        strings) the input was rejected.
    """
    if not isinstance(smiles, str) or not smiles.strip():
        return CleanResult.rejected(EMPTY)
    mol = to_mol(smiles)
    if mol is None or mol.GetNumAtoms() == 0:
        return CleanResult.rejected(UNPARSEABLE)
    with without_rdkit_log():
        try:
            mol, atoms = _standardise(mol, opts)
        except Exception:  # RDKit raises assorted errors on odd valences
            return CleanResult.rejected(UNPARSEABLE)
        unsupported = UNSUPPORTED_SMILES if opts.tokens == "smiles" else UNSUPPORTED_SELFIES
        if atoms.dummy:
            return CleanResult.rejected(unsupported)  # '*' / R-group attachment points
        if opts.allowed_elements is not None and not atoms.elements <= opts.allowed_elements:
            return CleanResult.rejected(UNSUPPORTED_ELEMENT)
        if opts.max_heavy_atoms is not None and mol.GetNumHeavyAtoms() > opts.max_heavy_atoms:
            return CleanResult.rejected(TOO_LONG)
        can = Chem.MolToSmiles(mol)
    tokens = _tokenise(can, opts.tokens)
    if not tokens:
        return CleanResult.rejected(unsupported)
    if opts.max_tokens is not None and len(tokens) > opts.max_tokens:
        return CleanResult.rejected(TOO_LONG)
    return CleanResult(can, tokens)


def _tokenise(smiles: str, tokens: str) -> tuple[str, ...] | None:
    if tokens == "smiles":
        return split_smiles(smiles)
    selfies = to_selfies(smiles)
    return None if selfies is None else tuple(sf.split_selfies(selfies))


@functools.lru_cache(maxsize=8)
def _morgan_generator(radius: int, n_bits: int):
    """One Morgan generator per ``(radius, n_bits)``, built once (building one is slow)."""
    return rdFingerprintGenerator.GetMorganGenerator(radius=radius, fpSize=n_bits)


def fingerprint(mol: MolLike | None, radius: int = 2, n_bits: int = 2048):
    """Morgan (ECFP-like) bit fingerprint, or ``None`` if the molecule cannot be parsed.

    Args:
        mol: A SMILES string or an RDKit ``Mol``.
        radius: Morgan radius (2 is ECFP4).
        n_bits: Length of the bit vector.

    Returns:
        An RDKit ``ExplicitBitVect`` of ``n_bits`` bits, or ``None``.
    """
    m = to_mol(mol)
    if m is None:
        return None
    return _morgan_generator(radius, n_bits).GetFingerprint(m)

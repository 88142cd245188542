"""Guards: what a molecule must be before a chemist would look at it, checked before any oracle
call (on by default; ``OptimizeConfig.guards``, ``--no-guards`` turns them off).

A guarded molecule has rings of 3 to 7 atoms only, no peroxide (O-O), acyclic azo (N=N), polyene
chain (three or more conjugated acyclic C=C) or other conjugated diene of non-aromatic C=C (in
0.06 % of MOSES test molecules), enamine, Schiff base, sulfenamide or acyclic vinyl sulfide
(which hydrolyse; 0.03 %, 0.004 %, 0.004 % and 0.002 %), alkyl chain of seven or more CH2 (the
greasy tails a logP objective rewards), strained cyclopropene, fulvene (a five-ring diene with
an exocyclic double bond: reactive, cross-conjugated) or antiaromatic cyclobutadiene (none of
these four occurs in 50,000 MOSES test molecules); it passes MOSES's medicinal-chemistry filters
(:mod:`molvae.filters`, the SMARTS of the ``Filters`` metric), has an SA score of at most
:data:`MAX_SA` and a QED of at least :data:`MIN_QED`, and lies inside the model's domain (its
``neg_elbo`` under the model's anomaly threshold, when the model has one). The heavy-atom cap
(38 by default) is the ``max_heavy_atoms`` constraint, on with or without guards. Each rejection
names its reason; rejections cost no oracle call and are counted by reason in the run's report."""

from __future__ import annotations

import functools

from rdkit import Chem

from molvae.filters import filter_failure

#: Ring sizes a guarded molecule may have (MOSES's filters reject only rings over 7 atoms).
RING_SIZES = (3, 7)
#: Largest synthetic-accessibility score (Ertl & Schuffenhausen, 1 easy ... 10 hard) allowed:
#: about the 99th percentile of MOSES's training molecules, past which few are made.
MAX_SA = 4.5
#: Smallest QED allowed: below 0.3 sit the long greasy chains and reactive oddities that a
#: property like logP otherwise rewards (issue #11); all 2,000 MOSES molecules in data/ pass.
MIN_QED = 0.3
#: The motifs the guards reject beyond MOSES's filters, with the reason each is counted under.
MOTIFS = {
    "peroxide (O-O)": "[#8]-[#8]",
    "azo (acyclic N=N)": "[#7;!R]=[#7;!R]",
    "polyene chain": "[C;!R]=[C;!R]-[C;!R]=[C;!R]-[C;!R]=[C;!R]",
    "long alkyl chain": "[CH2;!R][CH2;!R][CH2;!R][CH2;!R][CH2;!R][CH2;!R][CH2;!R]",
    "cyclopropene": "[#6;r3]=[#6;r3]",
    "fulvene": "[#6]1(=[#6,#7,#8])[#6]=[#6][#6]=[#6]1",
    "cyclobutadiene": "*1=*-*=,:*1",  # a four-ring with two double (or fused aromatic) bonds
    # Two conjugated C=C between carbons, in rings or not, outside aromatic rings: the
    # (cross-)conjugated dienes a logP objective finds once fulvenes are rejected, reactive in
    # Diels-Alder and oxidation (31 of 50,000 MOSES test molecules, mostly non-aromatised ring
    # systems). After the motifs above: they are more specific.
    "conjugated diene": "C=C-C=C",
    # What a logP objective found next through SELFIES edits (greasy chains of isolated
    # alkenes, vinyl chlorides, gem-difluoroalkenes): a halogen on a C=C (0 of 30,000 MOSES
    # test molecules), and two C=C with an atom outside any ring (37 of 30,000).
    "vinyl halide": "[#6]=[#6]-[F,Cl,Br,I]",
    "two acyclic C=C": "[#6;!R]=[#6].[#6;!R]=[#6]",
    # What a logP objective found next (sessions 7 and 10): N-aryl enamines and imines, which
    # hydrolyse. An enamine is a neutral amine N (not an amide's) on a non-aromatic C=C, unless
    # the C=C's far carbon carries a carbonyl, nitrile or nitro group (the stable push-pull
    # enaminones of many drugs): 13 of 50,000 MOSES test molecules. A Schiff base is an acyclic
    # C=N-C whose carbon bears no N, O or S (not an amidine or imidate) and whose N is not
    # acylated: 2 of 50,000.
    "enamine": (
        "[NX3;+0;!$(N-[#6,#16]=[#8,#16])]-[#6;!a]=[#6;!a;!$([#6]-[#6,#16]=[#8,#16]);"
        "!$([#6]-C#N);!$([#6]-[#7+](=O)[O-])]"
    ),
    "imine (Schiff base)": "[C;!$(C-[#7,#8,#16])]=!@[#7;X2]-[#6;!$([#6]=[#8,#16])]",
    # What a logP objective found next (session 14: 7 of the default run's top 10): an N-S
    # single bond to a divalent sulfur, a sulfenamide (N-alkylthio ureas), which hydrolyses and
    # oxidises; sulfonamides and aromatic isothiazoles are untouched, a non-aromatic ring N-S(II)
    # is not. 2 of 50,000 MOSES test molecules.
    "sulfenamide (N-S)": "[#7]-[SX2]",
    # What it found once sulfenamides were rejected (session 15: 5 of the top 10): a thioether
    # on a C=C outside rings (S-vinyl, here on N-vinyl ureas), which oxidises and hydrolyses
    # to a thiol and a carbonyl. 1 of 50,000 MOSES test molecules.
    "vinyl sulfide": "[SX2]-[#6;!a;!R]=[#6;!a]",
}
#: Rejection reasons, as counted in the report.
RING_SIZE = "ring size outside 3-7"
OUTSIDE_DOMAIN = "outside the model's domain"
SA_TOO_HIGH = "SA too high"
QED_TOO_LOW = "QED too low"
FILTER_PREFIX = "MOSES filter: "


@functools.cache
def _motifs() -> dict[str, Chem.Mol]:
    return {reason: Chem.MolFromSmarts(smarts) for reason, smarts in MOTIFS.items()}


def guard_failure(mol: Chem.Mol) -> str | None:
    """Why a (parsed) molecule fails the structural guards, or ``None`` if it passes.

    Checked in this order, so the most specific reason is counted: ring sizes, the
    :data:`MOTIFS`, then MOSES's filters (reported as ``"MOSES filter: <reason>"``). The SA,
    QED and domain guards are applied by :class:`~molvae.optimize.constraints.Constraints`.
    """
    lo, hi = RING_SIZES
    if any(not lo <= len(ring) <= hi for ring in mol.GetRingInfo().AtomRings()):
        return RING_SIZE
    for reason, pattern in _motifs().items():
        if mol.HasSubstructMatch(pattern):
            return reason
    failure = filter_failure(mol)
    return None if failure is None else FILTER_PREFIX + failure


def property_failure(mol: Chem.Mol, max_sa: float | None, min_qed: float | None) -> str | None:
    """Why a (parsed) molecule fails an SA ceiling or a QED floor (``None``: not checked), or
    ``None`` if it passes."""
    from molvae.data.properties import PROPERTIES

    if max_sa is not None and PROPERTIES["sa"](mol) > max_sa:
        return SA_TOO_HIGH
    if min_qed is not None and PROPERTIES["qed"](mol) < min_qed:
        return QED_TOO_LOW
    return None


def drug_like_failure(mol: Chem.Mol) -> str | None:
    """Why a (parsed) molecule fails the guards that need no model, or ``None``: the
    structural ones (:func:`guard_failure`), then SA above :data:`MAX_SA` and QED below
    :data:`MIN_QED` (what ``sample --where --guards`` checks)."""
    return guard_failure(mol) or property_failure(mol, MAX_SA, MIN_QED)

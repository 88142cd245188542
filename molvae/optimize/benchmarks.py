"""Public goal-directed objectives, written from GuacaMol's published definitions (Brown et al.
2019, "GuacaMol: Benchmarking Models for de Novo Molecular Design", and its reference code's
``standard_benchmarks.py``), plus plogp and QED: the objectives of
``benchmarks/optimize_benchmark.py``.

Each scores a list of SMILES in [0, 1] (0 for an invalid molecule), as GuacaMol does:
similarities are Tanimoto on RDKit's count fingerprints (ECFP4 = Morgan radius 2, ECFP6 =
radius 3, FCFP4 = radius 2 on features, AP = atom pairs up to 10 bonds), shaped by GuacaMol's
score modifiers and combined by a geometric mean.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable

import numpy as np
from rdkit import Chem, DataStructs
from rdkit.Chem import Descriptors, rdFingerprintGenerator, rdMolDescriptors

from molvae.data.chem import to_mol
from molvae.data.properties import PROPERTIES

Scorer = Callable[[Chem.Mol], float]

# -- GuacaMol's score modifiers ----------------------------------------------------------------


def gaussian(mu: float, sigma: float) -> Callable[[float], float]:
    """``exp(-((x - mu) / sigma)^2 / 2)``: 1 at ``mu``."""
    return lambda x: math.exp(-0.5 * ((x - mu) / sigma) ** 2)


def min_gaussian(mu: float, sigma: float) -> Callable[[float], float]:
    """1 up to ``mu``, then a Gaussian decay (values at most ``mu`` are wanted)."""
    return lambda x: 1.0 if x <= mu else gaussian(mu, sigma)(x)


def max_gaussian(mu: float, sigma: float) -> Callable[[float], float]:
    """1 from ``mu`` on, a Gaussian decay below (values at least ``mu`` are wanted)."""
    return lambda x: 1.0 if x >= mu else gaussian(mu, sigma)(x)


def clipped(upper: float) -> Callable[[float], float]:
    """``x / upper``, clipped to [0, 1] (GuacaMol's ``ClippedScoreModifier(upper_x)``)."""
    return lambda x: min(max(x / upper, 0.0), 1.0)


# -- fingerprints and similarity ---------------------------------------------------------------


@functools.cache
def _morgan(radius: int, features: bool):
    invariants = rdFingerprintGenerator.GetMorganFeatureAtomInvGen() if features else None
    return rdFingerprintGenerator.GetMorganGenerator(
        radius=radius, atomInvariantsGenerator=invariants
    )


@functools.cache
def _atom_pairs():
    return rdFingerprintGenerator.GetAtomPairGenerator(maxDistance=10)


FINGERPRINTS: dict[str, Callable] = {
    "ECFP4": lambda m: _morgan(2, False).GetSparseCountFingerprint(m),
    "ECFP6": lambda m: _morgan(3, False).GetSparseCountFingerprint(m),
    "FCFP4": lambda m: _morgan(2, True).GetSparseCountFingerprint(m),
    "AP": lambda m: _atom_pairs().GetSparseCountFingerprint(m),
}


def similarity(target: str, fp: str, modifier: Callable[[float], float] = float) -> Scorer:
    """Tanimoto similarity to ``target`` on fingerprint ``fp``, shaped by ``modifier``."""
    ref = FINGERPRINTS[fp](Chem.MolFromSmiles(target))
    return lambda mol: modifier(DataStructs.TanimotoSimilarity(ref, FINGERPRINTS[fp](mol)))


def descriptor(fn: Callable[[Chem.Mol], float], modifier: Callable[[float], float]) -> Scorer:
    """An RDKit descriptor shaped by ``modifier``."""
    return lambda mol: modifier(float(fn(mol)))


def count_atoms(element: str) -> Callable[[Chem.Mol], int]:
    """Atoms of ``element`` (hydrogens made explicit first)."""
    return lambda mol: sum(a.GetSymbol() == element for a in Chem.AddHs(mol).GetAtoms())


def isomer(formula: str) -> list[Scorer]:
    """GuacaMol's isomer score parts: each element's count (Gaussian, sigma 1) and the total
    atom count, hydrogens included (Gaussian, sigma 2)."""
    counts = [(el, int(n or 1)) for el, n in re.findall(r"([A-Z][a-z]?)(\d*)", formula)]
    parts = [descriptor(count_atoms(el), gaussian(n, 1.0)) for el, n in counts]
    total = sum(n for _, n in counts)
    parts.append(descriptor(lambda m: Chem.AddHs(m).GetNumAtoms(), gaussian(total, 2.0)))
    return parts


def geometric_mean(parts: list[Scorer]) -> Scorer:
    """The geometric mean of the parts' scores."""
    return lambda mol: float(np.prod([p(mol) for p in parts]) ** (1.0 / len(parts)))


# -- the objectives ----------------------------------------------------------------------------

CELECOXIB = "CC1=CC=C(C=C1)C1=CC(=NN1C1=CC=C(C=C1)S(N)(=O)=O)C(F)(F)F"
ARIPIPRAZOLE = "Clc4cccc(N3CCN(CCCCOc2ccc1c(NC(=O)CC1)c2)CC3)c4Cl"
OSIMERTINIB = "COc1cc(N(C)CCN(C)C)c(NC(=O)C=C)cc1Nc2nccc(n2)c3cn(C)c4ccccc34"
FEXOFENADINE = "CC(C)(C(=O)O)c1ccc(cc1)C(O)CCCN2CCC(CC2)C(O)(c3ccccc3)c4ccccc4"
RANOLAZINE = "COc1ccccc1OCC(O)CN2CCN(CC(=O)Nc3c(C)cccc3C)CC2"
PERINDOPRIL = "O=C(OCC)C(NC(C(=O)N1C(C(=O)O)CC2CCCCC12)C)CCC"
AMLODIPINE = r"Clc1ccccc1C2C(=C(/N/C(=C2/C(=O)OCC)COCCN)C)\C(=O)OC"
ZALEPLON = "O=C(C)N(CC)C1=CC=CC(C2=CC=NC3=C(C=NN23)C#N)=C1"
CAMPHOR, MENTHOL = "CC1(C)C2CCC1(C)C(=O)C2", "CC(C)C1CCC(C)CC1O"
TADALAFIL = "O=C1N(CC(N2C1CC3=C(C2C4=CC5=C(OCO5)C=C4)NC6=C3C=CC=C6)=O)C"
SILDENAFIL = "CCCC1=NN(C2=C1N=C(NC2=O)C3=C(C=CC(=C3)S(=O)(=O)N4CCN(CC4)C)OCC)C"


def _definitions() -> dict[str, Scorer]:
    logp, tpsa = Descriptors.MolLogP, Descriptors.TPSA
    return {
        "celecoxib_rediscovery": similarity(CELECOXIB, "ECFP4", clipped(1.0)),
        "aripiprazole_similarity": similarity(ARIPIPRAZOLE, "ECFP4", clipped(0.75)),
        "isomers_c11h24": geometric_mean(isomer("C11H24")),
        "osimertinib_mpo": geometric_mean(
            [
                similarity(OSIMERTINIB, "FCFP4", clipped(0.8)),
                similarity(OSIMERTINIB, "ECFP6", min_gaussian(0.85, 0.1)),
                descriptor(tpsa, max_gaussian(100, 10)),
                descriptor(logp, min_gaussian(1, 1)),
            ]
        ),
        "fexofenadine_mpo": geometric_mean(
            [
                similarity(FEXOFENADINE, "AP", clipped(0.8)),
                descriptor(tpsa, max_gaussian(90, 10)),
                descriptor(logp, min_gaussian(4, 1)),
            ]
        ),
        "ranolazine_mpo": geometric_mean(
            [
                similarity(RANOLAZINE, "AP", clipped(0.7)),
                descriptor(logp, max_gaussian(7, 1)),
                descriptor(tpsa, max_gaussian(95, 20)),
                descriptor(count_atoms("F"), gaussian(1, 1.0)),
            ]
        ),
        "perindopril_mpo": geometric_mean(
            [
                similarity(PERINDOPRIL, "ECFP4"),
                descriptor(rdMolDescriptors.CalcNumAromaticRings, gaussian(2, 0.5)),
            ]
        ),
        "amlodipine_mpo": geometric_mean(
            [
                similarity(AMLODIPINE, "ECFP4"),
                descriptor(rdMolDescriptors.CalcNumRings, gaussian(3, 0.5)),
            ]
        ),
        "zaleplon_mpo": geometric_mean(
            [similarity(ZALEPLON, "ECFP4"), geometric_mean(isomer("C19H17N3O2"))]
        ),
        "median_molecules_1": geometric_mean(
            [similarity(CAMPHOR, "ECFP4"), similarity(MENTHOL, "ECFP4")]
        ),
        "median_molecules_2": geometric_mean(
            [similarity(TADALAFIL, "ECFP6"), similarity(SILDENAFIL, "ECFP6")]
        ),
        "qed": PROPERTIES["qed"],
        "plogp": PROPERTIES["plogp"],
    }


@functools.cache
def objectives() -> dict[str, Scorer]:
    """Every benchmark objective by name (built once): ``Mol -> float``."""
    return _definitions()


def score(name: str) -> Callable[[list[str]], list[float]]:
    """The objective ``name`` as an oracle on a list of SMILES (0 for an invalid molecule, as
    GuacaMol scores one; ``plogp`` gives ``nan`` instead, having no floor).

    Raises:
        KeyError: ``name`` is not one of :func:`objectives`.
    """
    fn = objectives()[name]
    fail = math.nan if name == "plogp" else 0.0

    def oracle(smiles: list[str]) -> list[float]:
        mols = [to_mol(s) for s in smiles]
        return [fail if m is None else float(fn(m)) for m in mols]

    oracle.__name__ = name
    return oracle

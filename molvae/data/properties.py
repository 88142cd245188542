"""Molecular properties computed by RDKit (logP, QED, SA, MW, TPSA, penalised logP) and the
PAINS structural-alert catalogue. Add a new property to :data:`PROPERTIES`."""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Sequence

from rdkit import Chem, RDConfig
from rdkit.Chem import QED, Crippen, Descriptors, rdMolDescriptors

from molvae.data.chem import MolLike, to_mol


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


def penalized_logp(mol: Chem.Mol, logp: float | None = None, sa: float | None = None) -> float:
    """Penalised logP, each term standardised with ZINC250k statistics (JT-VAE's definition).

    ``(logP - m1)/s1 + (-SA - m2)/s2 + (-cycle - m3)/s3``, where cycle is the size of the
    largest ring beyond six atoms. ``logp`` and ``sa``, when given, are the molecule's own
    (already computed) Crippen logP and SA score, which spares computing them again.
    """
    logp = Crippen.MolLogP(mol) if logp is None else logp
    sa = sa_score(mol) if sa is None else sa
    logp = (logp - _ZINC_LOGP[0]) / _ZINC_LOGP[1]
    sa = (-sa - _ZINC_SA[0]) / _ZINC_SA[1]
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
    known: dict[str, float] = {}  # penalised logP reuses logP and SA when they are asked for too
    out = []
    for name in names:
        try:
            if m is None:
                value = math.nan
            elif name == "plogp":
                value = penalized_logp(m, _finite(known.get("logp")), _finite(known.get("sa")))
            else:
                value = PROPERTIES[name](m)
        except Exception:
            value = math.nan
        known[name] = value
        out.append(value)
    return out


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


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

"""Generation metrics with the MOSES names and definitions (Polykovskiy et al. 2020).

:func:`moses_metrics` returns what molsets 0.3.1's ``get_all_metrics`` returns for the same
inputs (``tests/test_metrics_golden.py`` checks every key against the official values):
``valid``, ``unique@k``, ``FCD``/``SNN``/``Frag``/``Scaf`` against the test set (``/Test``) and,
when given, the scaffold test set (``/TestSF``), ``IntDiv``, ``IntDiv2``, ``Filters``, the
Wasserstein distances ``logP``, ``SA``, ``QED``, ``weight``, and ``Novelty``. As in MOSES, every
metric after ``valid`` is computed over the canonical SMILES of the valid molecules, duplicates
included, and a metric MOSES cannot compute (an empty set) is ``nan``.

Fingerprint similarity (``SNN``, ``IntDiv``) lives in :mod:`molvae.similarity`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import QED, Crippen, Descriptors
from rdkit.Chem.Scaffolds import MurckoScaffold
from scipy.stats import wasserstein_distance

from molvae.data.chem import without_rdkit_log
from molvae.data.properties import sa_score
from molvae.filters import passes_filters
from molvae.similarity import fingerprints, internal_diversity, snn

#: The property distributions compared by Wasserstein distance, with MOSES's definitions.
DISTRIBUTIONS: dict[str, Callable[[Chem.Mol], float]] = {
    "logP": Crippen.MolLogP,
    "SA": sa_score,
    "QED": QED.qed,
    "weight": Descriptors.MolWt,
}

InTrain = Callable[[list[str]], np.ndarray] | set[str]


def moses_mol(smiles: str | None) -> Chem.Mol | None:
    """Parse a SMILES as MOSES does: ``None`` for ``None``, ``""`` or anything RDKit rejects."""
    if not smiles:
        return None
    with without_rdkit_log():
        mol = Chem.MolFromSmiles(smiles)
    return mol


def canonical_valid(generated: Sequence[str | None]) -> list[str]:
    """The canonical SMILES of the valid molecules, in order, duplicates kept."""
    mols = (moses_mol(s) for s in generated)
    return [Chem.MolToSmiles(m) for m in mols if m is not None]


def fraction_valid(generated: Sequence[str | None]) -> float:
    """``valid``: the fraction of generated strings that parse (``""`` and ``None`` do not)."""
    if not generated:
        return float("nan")
    return sum(moses_mol(s) is not None for s in generated) / len(generated)


def fraction_unique(generated: Sequence[str | None], k: int | None = None) -> float:
    """``unique@k``: distinct molecules among the first ``k`` valid ones (all if ``None``).

    Expects canonical SMILES (``None``/``""`` entries are skipped). As in MOSES, when fewer than
    ``k`` valid molecules exist the fraction is taken over those.
    """
    valid = [s for s in generated if s]
    if k is not None:
        valid = valid[:k]
    return len(set(valid)) / len(valid) if valid else float("nan")


def novelty(generated: Sequence[str | None], in_train: InTrain) -> float:
    """``Novelty``: the fraction of distinct valid molecules not found in the training set.

    Args:
        generated: Canonical SMILES (``None`` for invalid).
        in_train: The training set as a set of canonical SMILES, or a function telling, for a
            list of SMILES, which are in it.
    """
    unique = sorted({s for s in generated if s})
    if not unique:
        return float("nan")
    if isinstance(in_train, set):
        seen = np.array([s in in_train for s in unique])
    else:
        seen = np.asarray(in_train(unique))
    return float(1.0 - seen.mean())


def property_accuracy(pred: np.ndarray, true: np.ndarray, names: Sequence[str]) -> dict[str, float]:
    """``r2_<name>`` and ``mae_<name>`` of predictions against targets, ignoring ``nan``.

    Args:
        pred: `n x p` predictions in the properties' own units.
        true: `n x p` targets (``nan`` where unknown).
        names: The ``p`` property names.
    """
    out: dict[str, float] = {}
    for j, name in enumerate(names):
        ok = np.isfinite(true[:, j])
        if ok.sum() < 2:
            continue
        err = pred[ok, j] - true[ok, j]
        var = np.var(true[ok, j])
        out[f"r2_{name}"] = float(1 - np.mean(err**2) / var) if var > 0 else float("nan")
        out[f"mae_{name}"] = float(np.mean(np.abs(err)))
    return out


def active_units(mu: torch.Tensor, threshold: float = 0.01) -> int:
    """Latent dimensions whose E[z|x] varies over the data by more than ``threshold``."""
    return int((mu.float().var(dim=0) > threshold).sum()) if len(mu) > 1 else 0


# ---------------------------------------------------------------------------------------------
# Fragments, scaffolds, property distributions


def fragments(mols: Sequence[Chem.Mol]) -> Counter:
    """Counts of BRICS fragments (canonical SMILES with labelled dummy atoms), as MOSES."""
    counts: Counter = Counter()
    with without_rdkit_log():
        for m in mols:
            counts.update(Chem.MolToSmiles(Chem.FragmentOnBRICSBonds(m)).split("."))
    return counts


def scaffold(mol: Chem.Mol, min_rings: int = 2) -> str | None:
    """The Bemis-Murcko scaffold's SMILES if it has at least ``min_rings`` rings, else ``None``."""
    try:
        scaf = MurckoScaffold.GetScaffoldForMol(mol)
    except (ValueError, RuntimeError):
        return None
    text = Chem.MolToSmiles(scaf)
    return text if text and scaf.GetRingInfo().NumRings() >= min_rings else None


def scaffolds(mols: Sequence[Chem.Mol]) -> Counter:
    """Counts of the scaffolds of :func:`scaffold` over a set of molecules."""
    with without_rdkit_log():
        counts = Counter(scaffold(m) for m in mols)
    counts.pop(None, None)
    return counts


def cosine_similarity(a: Counter, b: Counter) -> float:
    """Cosine similarity of two count vectors over the union of keys (``nan`` if one is empty)."""
    if not a or not b:
        return float("nan")
    keys = sorted(set(a) | set(b))
    va = np.array([a.get(k, 0) for k in keys], dtype=np.float64)
    vb = np.array([b.get(k, 0) for k in keys], dtype=np.float64)
    return float(va @ vb / (np.linalg.norm(va) * np.linalg.norm(vb)))


def distributions(mols: Sequence[Chem.Mol]) -> dict[str, np.ndarray]:
    """The values of each :data:`DISTRIBUTIONS` property over a set of molecules."""
    return {
        name: np.array([f(m) for m in mols], dtype=np.float64) for name, f in DISTRIBUTIONS.items()
    }


def fraction_passes_filters(mols: Sequence[Chem.Mol]) -> float:
    """``Filters``: the fraction of molecules that pass MOSES's filters (:mod:`molvae.filters`)."""
    return float(np.mean([passes_filters(m) for m in mols])) if len(mols) else float("nan")


# ---------------------------------------------------------------------------------------------
# Reference statistics and the full metric set


@dataclass
class ReferenceStats:
    """What the ``*/Test`` metrics need from a reference set, computed once and cached."""

    fps: np.ndarray  # `n x 1024` uint8
    fragments: Counter
    scaffolds: Counter
    distributions: dict[str, np.ndarray]  # DISTRIBUTIONS name -> `n` values
    fcd: dict | None  # {"mu": ..., "sigma": ...} from fcd_torch, or None without it

    @classmethod
    def compute(
        cls, smiles: Sequence[str], fcd_model=None, with_distributions: bool = True
    ) -> ReferenceStats:
        """Statistics of a set of (valid) reference SMILES.

        Args:
            smiles: The reference molecules.
            fcd_model: The model from :func:`fcd_model`; no FCD statistics if ``None``.
            with_distributions: Compute the property values for the Wasserstein keys (MOSES
                compares them with the test set only, not with the scaffold test set).
        """
        mols = [m for m in (moses_mol(s) for s in smiles) if m is not None]
        return cls(
            fps=fingerprints(mols),
            fragments=fragments(mols),
            scaffolds=scaffolds(mols),
            distributions=distributions(mols) if with_distributions else {},
            fcd=fcd_stats(fcd_model, smiles) if fcd_model is not None else None,
        )


def fcd_stats(fcd, smiles: Sequence[str], chunk: int = 5000) -> dict | None:
    """Mean and covariance of ChemNet activations, computed in chunks (``None`` under 2 SMILES).

    Same result as ``fcd_torch``'s ``precalc``, whose all-at-once pass needs tens of GB of
    memory for the 176 k molecules of MOSES test.
    """
    if len(smiles) < 2:
        return None
    parts = [fcd.get_predictions(list(smiles[i : i + chunk])) for i in range(0, len(smiles), chunk)]
    acts = np.concatenate(parts).astype(np.float64)  # (n, 512)
    return {"mu": acts.mean(0), "sigma": np.cov(acts.T)}


def fcd_model(n_jobs: int = 1, device: str = "cpu"):
    """The Fréchet ChemNet Distance model from ``fcd_torch``, or ``None`` if not installed."""
    try:
        from fcd_torch import FCD
    except ImportError:
        return None
    return FCD(device=device, n_jobs=n_jobs)


def _against(
    suffix: str, smiles: list[str], mols: list, fps: np.ndarray, ref: ReferenceStats, fcd
) -> dict[str, float]:
    """``FCD``, ``SNN``, ``Frag`` and ``Scaf`` of the generated set against one reference set."""
    out: dict[str, float] = {}
    if fcd is not None and ref.fcd is not None:
        gen = fcd_stats(fcd, smiles)
        out[f"FCD/{suffix}"] = float(fcd.metric(ref.fcd, gen)) if gen else float("nan")
    out[f"SNN/{suffix}"] = snn(fps, ref.fps)
    out[f"Frag/{suffix}"] = cosine_similarity(ref.fragments, fragments(mols))
    out[f"Scaf/{suffix}"] = cosine_similarity(ref.scaffolds, scaffolds(mols))
    return out


def moses_metrics(
    generated: Sequence[str | None],
    ref: ReferenceStats,
    in_train: InTrain | None = None,
    fcd=None,
    ks: tuple[int, ...] = (1000, 10000),
    ref_scaffolds: ReferenceStats | None = None,
) -> dict[str, float]:
    """The MOSES metrics of a generated set, in the order and with the keys MOSES uses.

    Args:
        generated: Generated SMILES in order (``None`` or ``""`` for failures).
        ref: Statistics of the test set (the ``/Test`` keys).
        in_train: Training-set membership, for ``Novelty``; skipped if ``None``.
        fcd: The model from :func:`fcd_model`; the ``FCD`` keys are skipped if ``None``.
        ks: The ``unique@k`` values to report.
        ref_scaffolds: Statistics of the scaffold test set (the ``/TestSF`` keys), if any.
    """
    out: dict[str, float] = {"valid": fraction_valid(generated)}
    smiles = canonical_valid(generated)
    for k in ks:
        out[f"unique@{k}"] = fraction_unique(smiles, k)
    mols = [moses_mol(s) for s in smiles]
    fps = fingerprints(mols)
    out.update(_against("Test", smiles, mols, fps, ref, fcd))
    if ref_scaffolds is not None:
        out.update(_against("TestSF", smiles, mols, fps, ref_scaffolds, fcd))
    out["IntDiv"] = internal_diversity(fps, 1)
    out["IntDiv2"] = internal_diversity(fps, 2)
    with without_rdkit_log():
        out["Filters"] = fraction_passes_filters(mols)
        gen_values = distributions(mols)
    for name, values in gen_values.items():
        ref_values = ref.distributions.get(name, [])
        ok = len(values) and len(ref_values)
        out[name] = float(wasserstein_distance(ref_values, values)) if ok else float("nan")
    if in_train is not None:
        out["Novelty"] = novelty(smiles, in_train)
    return out

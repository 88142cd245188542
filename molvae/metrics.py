"""Generation metrics with the MOSES names and definitions (Polykovskiy et al. 2020).

Keys: ``valid``, ``unique@k``, ``FCD/Test``, ``SNN/Test``, ``Frag/Test``, ``Scaf/Test``,
``IntDiv``, ``IntDiv2``, ``Filters``, ``Novelty``. Fingerprints are Morgan radius 2, 1024 bits,
as in MOSES. Reference-set statistics (:class:`ReferenceStats`) are computed once and cached.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from rdkit import Chem
from rdkit.Chem import BRICS
from rdkit.Chem.Scaffolds import MurckoScaffold

from molvae.chem import pains_catalog, to_mol, without_rdkit_log

FP_BITS = 1024


def fraction_valid(generated: Sequence[str | None]) -> float:
    """``valid``: the fraction of generated molecules that are valid (not ``None``/empty)."""
    if not generated:
        return 0.0
    return sum(1 for s in generated if s and to_mol(s) is not None) / len(generated)


def fraction_unique(generated: Sequence[str | None], k: int | None = None) -> float:
    """``unique@k``: distinct molecules among the first ``k`` valid ones (all if ``None``).

    As in MOSES, when fewer than ``k`` valid molecules exist the fraction is taken over those.
    """
    valid = [s for s in generated if s]
    if k is not None:
        valid = valid[:k]
    return len(set(valid)) / len(valid) if valid else 0.0


def novelty(
    generated: Sequence[str | None], in_train: Callable[[list[str]], np.ndarray] | set[str]
) -> float:
    """``Novelty``: the fraction of distinct valid molecules not found in the training set.

    Args:
        generated: Canonical SMILES (``None`` for invalid).
        in_train: The training set as a set of canonical SMILES, or a function telling, for a
            list of SMILES, which are in it.
    """
    unique = sorted({s for s in generated if s})
    if not unique:
        return 0.0
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
# Fingerprint similarity


def fingerprints(smiles: Sequence[str]) -> np.ndarray:
    """Morgan (r=2, 1024 bits) fingerprints as a `n x 1024` uint8 0/1 matrix."""
    from rdkit.Chem import rdFingerprintGenerator

    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=FP_BITS)
    out = np.zeros((len(smiles), FP_BITS), dtype=np.uint8)
    for i, s in enumerate(smiles):
        m = to_mol(s)
        if m is not None:
            out[i] = gen.GetFingerprintAsNumPy(m)
    return out


def _tanimoto_blocks(a: np.ndarray, b: np.ndarray, block: int = 1024):
    """Yield ``(rows, sims)``: Tanimoto of a-row blocks against all of ``b`` (`len(rows) x n_b`)."""
    tb = torch.from_numpy(b).float()  # (Nb, F)
    nb = tb.sum(1)  # (Nb,)
    for start in range(0, len(a), block):
        ta = torch.from_numpy(a[start : start + block]).float()  # (n, F)
        inter = ta @ tb.T  # (n, Nb)
        union = ta.sum(1, keepdim=True) + nb.unsqueeze(0) - inter
        sims = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
        yield slice(start, start + len(ta)), sims


def snn(gen_fps: np.ndarray, ref_fps: np.ndarray) -> float:
    """``SNN``: mean Tanimoto similarity of each generated molecule to its nearest reference."""
    best = np.zeros(len(gen_fps))
    for rows, sims in _tanimoto_blocks(gen_fps, ref_fps):
        best[rows] = sims.max(dim=1).values.numpy()
    return float(best.mean()) if len(best) else 0.0


def internal_diversity(fps: np.ndarray, p: int = 1) -> float:
    """``IntDiv_p``: ``1 - (mean over all pairs of T^p)^(1/p)`` over the generated set."""
    if len(fps) == 0:
        return 0.0
    total = 0.0
    for _, sims in _tanimoto_blocks(fps, fps):
        total += float(sims.double().pow(p).sum())
    return float(1.0 - (total / len(fps) ** 2) ** (1.0 / p))


# ---------------------------------------------------------------------------------------------
# Fragments, scaffolds, filters


def fragments(smiles: Sequence[str]) -> Counter:
    """Counts of BRICS fragments (canonical SMILES with dummy atoms) over a set of molecules."""
    counts: Counter = Counter()
    with without_rdkit_log():
        for s in smiles:
            m = to_mol(s)
            if m is not None:
                counts.update(Chem.MolToSmiles(BRICS.BreakBRICSBonds(m)).split("."))
    return counts


def scaffolds(smiles: Sequence[str], min_rings: int = 2) -> Counter:
    """Counts of Bemis-Murcko scaffolds with at least ``min_rings`` rings (as MOSES)."""
    counts: Counter = Counter()
    with without_rdkit_log():
        for s in smiles:
            m = to_mol(s)
            if m is None:
                continue
            try:
                scaf = MurckoScaffold.GetScaffoldForMol(m)
            except Exception:
                continue
            text = Chem.MolToSmiles(scaf)
            if text and scaf.GetRingInfo().NumRings() >= min_rings:
                counts[text] += 1
    return counts


def cosine_similarity(a: Counter, b: Counter) -> float:
    """Cosine similarity of two count vectors over the union of their keys."""
    keys = set(a) | set(b)
    if not keys:
        return 0.0
    va = np.array([a.get(k, 0) for k in keys], dtype=np.float64)
    vb = np.array([b.get(k, 0) for k in keys], dtype=np.float64)
    denom = np.linalg.norm(va) * np.linalg.norm(vb)
    return float(va @ vb / denom) if denom else 0.0


_ALLOWED = {"C", "N", "S", "O", "F", "Cl", "Br", "H"}


def passes_filters(smiles: str) -> bool:
    """MOSES's filter rules: no ring of 8+ atoms, no charge, only C N S O F Cl Br H, no PAINS.

    MOSES also applies its own list of medicinal-chemistry SMARTS (``mcf.csv``), which is not
    part of RDKit; molvae uses RDKit's PAINS catalogue (the same WEHI PAINS set MOSES uses)
    and leaves that list out, so ``Filters`` can read slightly higher than MOSES would report.
    """
    m = to_mol(smiles)
    if m is None:
        return False
    if any(len(r) >= 8 for r in m.GetRingInfo().AtomRings()):
        return False
    if any(a.GetFormalCharge() != 0 for a in m.GetAtoms()):
        return False
    if any(a.GetSymbol() not in _ALLOWED for a in m.GetAtoms()):
        return False
    return not pains_catalog().HasMatch(m)


def fraction_passes_filters(smiles: Sequence[str]) -> float:
    """``Filters``: the fraction of (valid) molecules that pass :func:`passes_filters`."""
    if not smiles:
        return 0.0
    return sum(passes_filters(s) for s in smiles) / len(smiles)


# ---------------------------------------------------------------------------------------------
# Reference statistics and the full metric set


@dataclass
class ReferenceStats:
    """What the ``*/Test`` metrics need from a reference set, computed once and cached."""

    fps: np.ndarray  # `n x 1024` uint8
    fragments: Counter
    scaffolds: Counter
    fcd: dict | None  # {"mu": ..., "sigma": ...} from fcd_torch, or None without it

    @classmethod
    def compute(cls, smiles: Sequence[str], fcd_model=None) -> ReferenceStats:
        return cls(
            fps=fingerprints(smiles),
            fragments=fragments(smiles),
            scaffolds=scaffolds(smiles),
            fcd=fcd_stats(fcd_model, smiles) if fcd_model is not None else None,
        )


def fcd_stats(fcd, smiles: Sequence[str], chunk: int = 5000) -> dict:
    """Mean and covariance of ChemNet activations, computed in chunks.

    Same result as ``fcd_torch``'s ``precalc``, whose all-at-once pass needs tens of GB of
    memory for the 176 k molecules of MOSES test.
    """
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


def moses_metrics(
    generated: Sequence[str | None],
    ref: ReferenceStats,
    in_train: Callable[[list[str]], np.ndarray] | set[str] | None = None,
    fcd=None,
    ks: tuple[int, ...] = (1000, 10000),
) -> dict[str, float]:
    """The MOSES metrics of a generated set against reference statistics.

    Args:
        generated: Generated SMILES in order (``None`` for failures).
        ref: Statistics of the reference (test) set.
        in_train: Training-set membership, for ``Novelty``; skipped if ``None``.
        fcd: The model from :func:`fcd_model`; ``FCD/Test`` is skipped if ``None``.
        ks: The ``unique@k`` values to report.
    """
    valid = [s for s in generated if s and to_mol(s) is not None]
    out: dict[str, float] = {"valid": fraction_valid(generated)}
    for k in ks:
        out[f"unique@{k}"] = fraction_unique(generated, k)
    if fcd is not None and ref.fcd is not None and valid:
        out["FCD/Test"] = float(fcd.metric(ref.fcd, fcd_stats(fcd, valid)))
    gen_fps = fingerprints(valid)
    out["SNN/Test"] = snn(gen_fps, ref.fps)
    out["Frag/Test"] = cosine_similarity(fragments(valid), ref.fragments)
    out["Scaf/Test"] = cosine_similarity(scaffolds(valid), ref.scaffolds)
    out["IntDiv"] = internal_diversity(gen_fps, 1)
    out["IntDiv2"] = internal_diversity(gen_fps, 2)
    out["Filters"] = fraction_passes_filters(valid)
    if in_train is not None:
        out["Novelty"] = novelty(generated, in_train)
    return out

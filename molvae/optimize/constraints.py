"""Which molecules may be sent to the oracle: size, the guards (:mod:`~molvae.optimize.guards`,
on by default), and the user's QED, SA, similarity and PAINS constraints."""

from __future__ import annotations

from molvae.config import OptimizeConfig
from molvae.data.chem import fingerprint, to_mol
from molvae.data.properties import pains_catalog
from molvae.errors import UserError
from molvae.optimize.guards import (
    MAX_SA,
    MIN_QED,
    OUTSIDE_DOMAIN,
    guard_failure,
    property_failure,
)

#: Posterior samples of the in-domain check (the anomaly score's ``neg_elbo``): fewer than the
#: calibration's 8 keeps it cheap per batch; the threshold leaves a 1 % margin anyway.
DOMAIN_SAMPLES = 4


class Constraints:
    """Which molecules may be sent to the oracle.

    Args:
        cfg: The constraints, and whether the guards are on.
        model: The VAE whose anomaly threshold bounds its domain (guards only; without it,
            or without a threshold, the domain is not checked).
    """

    def __init__(self, cfg: OptimizeConfig, model=None) -> None:
        self.cfg = cfg
        self.ref_fp = None
        if cfg.similar_to:
            self.ref_fp = fingerprint(cfg.similar_to)
            if self.ref_fp is None:
                raise UserError(f"--similar-to '{cfg.similar_to}' is not a valid SMILES.")
        self.max_sa, self.min_qed = cfg.max_sa, cfg.min_qed  # the user's, else the guards'
        if cfg.guards:
            self.max_sa = MAX_SA if self.max_sa is None else self.max_sa
            self.min_qed = MIN_QED if self.min_qed is None else self.min_qed
        threshold = getattr(model, "anomaly_threshold", None)
        self.domain = (model, threshold) if cfg.guards and threshold is not None else None
        self._verdicts: dict[str, str | None] = {}  # screen's answers so far (library reruns)

    def violation(self, smiles: str) -> str | None:
        """Why ``smiles`` may not be evaluated, or ``None`` if it may (every check but the
        model's domain, which :meth:`screen` adds for a whole batch)."""
        from rdkit import DataStructs

        cfg = self.cfg
        mol = to_mol(smiles)
        if mol is None:
            return "invalid"
        if cfg.max_heavy_atoms is not None and mol.GetNumHeavyAtoms() > cfg.max_heavy_atoms:
            return "too many heavy atoms"
        if cfg.guards and (failure := guard_failure(mol)) is not None:
            return failure
        if (failure := property_failure(mol, self.max_sa, self.min_qed)) is not None:
            return failure
        if self.ref_fp is not None:
            sim = DataStructs.TanimotoSimilarity(self.ref_fp, fingerprint(mol))
            if sim < cfg.min_similarity:
                return "not similar enough"
        if cfg.pains and pains_catalog().HasMatch(mol):
            return "PAINS alert"
        return None

    def outside(self, smiles: list[str]) -> list[bool]:
        """Whether each molecule lies outside the model's domain (all ``False`` when the guards
        are off or the model has no anomaly threshold)."""
        if self.domain is None:
            return [False] * len(smiles)
        model, threshold = self.domain
        return outside_domain(model, smiles, threshold)

    def screen(self, smiles: list[str]) -> list[str | None]:
        """Why each molecule may not be evaluated (``None``: it may), the model's domain
        included (one anomaly-score pass over the molecules that pass everything else).
        Each molecule is checked once: a library molecule the acquisition shortlists again
        costs nothing the second time."""
        new = list(dict.fromkeys(s for s in smiles if s not in self._verdicts))
        reasons = [self.violation(s) for s in new]
        ok = [i for i, reason in enumerate(reasons) if reason is None]
        for i, out in zip(ok, self.outside([new[i] for i in ok]), strict=True):
            if out:
                reasons[i] = OUTSIDE_DOMAIN
        self._verdicts.update(zip(new, reasons, strict=True))
        return [self._verdicts[s] for s in smiles]


def outside_domain(model, smiles: list[str], threshold: float) -> list[bool]:
    """Whether each molecule lies outside ``model``'s domain: its ``neg_elbo`` is above
    ``threshold``, or the model cannot represent it at all (see :mod:`molvae.anomaly`)."""
    from molvae.anomaly import score

    if not smiles:
        return []
    frame, _ = score(model, smiles, n_samples=DOMAIN_SAMPLES, threshold=threshold, seed=0)
    rows = dict(zip(frame["row"].astype(int), frame["flag"].astype(bool), strict=True))
    return [rows.get(i + 1, True) for i in range(len(smiles))]  # rows count from 1

"""Which decoded molecules may be sent to the oracle: size, QED, SA, similarity, PAINS."""

from __future__ import annotations

from molvae.config import OptimizeConfig
from molvae.data.chem import fingerprint, to_mol
from molvae.data.properties import PROPERTIES, pains_catalog
from molvae.errors import UserError


class Constraints:
    """Which decoded molecules may be sent to the oracle."""

    def __init__(self, cfg: OptimizeConfig) -> None:
        self.cfg = cfg
        self.ref_fp = None
        if cfg.similar_to:
            self.ref_fp = fingerprint(cfg.similar_to)
            if self.ref_fp is None:
                raise UserError(f"--similar-to '{cfg.similar_to}' is not a valid SMILES.")

    def violation(self, smiles: str) -> str | None:
        """Why ``smiles`` may not be evaluated, or ``None`` if it may."""
        from rdkit import DataStructs

        cfg = self.cfg
        mol = to_mol(smiles)
        if mol is None:
            return "invalid"
        if cfg.max_heavy_atoms is not None and mol.GetNumHeavyAtoms() > cfg.max_heavy_atoms:
            return "too many heavy atoms"
        if cfg.min_qed is not None and PROPERTIES["qed"](mol) < cfg.min_qed:
            return "QED too low"
        if cfg.max_sa is not None and PROPERTIES["sa"](mol) > cfg.max_sa:
            return "SA too high"
        if self.ref_fp is not None:
            sim = DataStructs.TanimotoSimilarity(self.ref_fp, fingerprint(mol))
            if sim < cfg.min_similarity:
                return "not similar enough"
        if cfg.pains and pains_catalog().HasMatch(mol):
            return "PAINS alert"
        return None

"""Write ``out_of_domain.csv``: molecules unlike MOSES's drug-like training set, for the anomaly
notebook and benchmark. Run from the repository root: ``python data/make_out_of_domain.py``.

Kinds (column ``kind``):
- ``peptide``: random linear peptides of 4-8 natural amino acids (RDKit ``MolFromSequence``);
- ``macrocycle``: random 14-24-membered lactones, lactams and crown ethers, and known macrocyclic
  drugs;
- ``lipid``: long saturated and unsaturated chains, fatty acids, PEG oligomers;
- ``sugar``: oligosaccharides and polyols;
- ``organometallic``: metal complexes (no model trained on MOSES can even tokenise these);
- ``polyhalogenated``: perhalogenated aromatics and alkanes.

Stereochemistry is removed, as in MOSES.
"""

from __future__ import annotations

import random
from pathlib import Path

import pandas as pd
from rdkit import Chem

SEED = 0
AMINO = "ACDEFGHIKLMNPQRSTVWY"

KNOWN = {
    "macrocycle": [
        # erythromycin, clarithromycin-like 14-membered macrolide core, cyclododecane, 18-crown-6
        "CC[C@@H]1[C@@]([C@@H]([C@H](C(=O)[C@@H](C[C@@]([C@@H]([C@H]([C@@H]([C@H](C(=O)O1)C)"
        "O[C@H]2C[C@@]([C@H]([C@@H](O2)C)O)(C)OC)C)O[C@H]3[C@@H]([C@H](C[C@H](O3)C)N(C)C)O)"
        "(C)O)C)C)O)(C)O",
        "C1CCCCCCCCCCC1",
        "C1COCCOCCOCCOCCOCCO1",
        "C1CCCCCCCCCCCCCCC1",
    ],
    "lipid": [
        "CCCCCCCCCCCCCCCC(=O)O",
        "CCCCCCCCC=CCCCCCCCC(=O)O",
        "CCCCCC=CCC=CCCCCCCCC(=O)O",
        "CCCCCCCCCCCCCCCCCCCCCC",
        "CCCCCCCCCCCCCCCCCCOCCO",
        "OCCOCCOCCOCCOCCOCCOCCO",
        "CCCCCCCCCCCCCCCCCCCCCCCCCC(=O)OC",
        "CCCCCCCCCCCCCCCC(=O)OCC(O)CO",
    ],
    "sugar": [
        "OC[C@H]1O[C@@](CO)(O[C@H]2O[C@H](CO)[C@@H](O)[C@H](O)[C@H]2O)[C@@H](O)[C@@H]1O",
        "OC[C@H]1O[C@@H](O[C@H]2[C@H](O)[C@@H](O)[C@H](O)O[C@@H]2CO)[C@H](O)[C@@H](O)[C@@H]1O",
        "OC[C@@H](O)[C@@H](O)[C@H](O)[C@H](O)CO",
        "OCC(O)C(O)C(O)C(O)C(O)CO",
        "OC1C(O)C(O)C(O)C(O)C1O",
        "OC[C@H]1OC(O)[C@H](O)[C@@H](O)[C@@H]1O",
    ],
    "organometallic": [
        "[Fe+2].c1cc[cH-]c1.c1cc[cH-]c1",
        "N.N.Cl[Pt]Cl",
        "C[Hg]Cl",
        "CC[Pb](CC)(CC)CC",
        "C[Sn](C)(C)Cl",
        "O=C=[Ni](=C=O)(=C=O)=C=O",
        "c1ccc(cc1)[As](c1ccccc1)c1ccccc1",
        "CC(=O)O[Zn]OC(C)=O",
        "[Cu+2].[O-]C(=O)C.[O-]C(=O)C",
        "c1ccc(cc1)[Se]c1ccccc1",
        "B(O)(O)c1ccccc1",
        "C[Si](C)(C)O[Si](C)(C)C",
    ],
    "polyhalogenated": [
        "Clc1c(Cl)c(Cl)c(Cl)c(Cl)c1Cl",
        "Brc1c(Br)c(Br)c(Br)c(Br)c1Br",
        "FC(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)C(F)(F)F",
        "ClC(Cl)(Cl)C(Cl)(Cl)Cl",
        "Clc1cc(Cl)c(Cl)cc1-c1cc(Cl)c(Cl)cc1Cl",
        "FC(F)(F)c1cc(C(F)(F)F)cc(C(F)(F)F)c1",
        "BrC(Br)C(Br)C(Br)C(Br)Br",
        "Fc1c(F)c(F)c(F)c(F)c1F",
    ],
}


def peptides(rng: random.Random, n: int) -> list[str]:
    out = []
    while len(out) < n:
        seq = "".join(rng.choice(AMINO) for _ in range(rng.randint(4, 8)))
        out.append(Chem.MolToSmiles(Chem.MolFromSequence(seq)))
    return out


def macrocycles(rng: random.Random, n: int) -> list[str]:
    """Rings of 14-24 atoms: mostly CH2 with ester, amide or ether links and a few methyls."""
    out = []
    while len(out) < n:
        size = rng.randint(14, 24)
        atoms = ["C"] * size
        for i in rng.sample(range(1, size - 1), k=rng.randint(1, 4)):
            atoms[i] = rng.choice(["O", "N", "C(=O)", "C(C)", "C(O)"])
        out.append("C1" + "".join(atoms[1:]) + "1")
    return out


def lipids(rng: random.Random, n: int) -> list[str]:
    out = []
    while len(out) < n:
        chain = "C" * rng.randint(16, 30)
        if rng.random() < 0.5:
            cut = rng.randint(4, len(chain) - 4)
            chain = chain[:cut] + "=" + chain[cut:]
        out.append(chain + rng.choice(["", "C(=O)O", "O", "N", "OCCO"]))
    return out


def flat_smiles(smiles: str) -> str:
    """Canonical SMILES without stereochemistry, like MOSES's own: a model trained on MOSES has
    no stereo tokens, and the test should not be won on that alone."""
    mol = Chem.MolFromSmiles(smiles)
    Chem.RemoveStereochemistry(mol)
    return Chem.MolToSmiles(mol)


def main() -> None:
    rng = random.Random(SEED)
    rows = [(s, kind) for kind, smiles in KNOWN.items() for s in smiles]
    rows += [(s, "peptide") for s in peptides(rng, 80)]
    rows += [(s, "macrocycle") for s in macrocycles(rng, 60)]
    rows += [(s, "lipid") for s in lipids(rng, 30)]
    frame = pd.DataFrame(rows, columns=["SMILES", "kind"])
    bad = [s for s in frame["SMILES"] if Chem.MolFromSmiles(s) is None]
    assert not bad, f"invalid SMILES in the list: {bad}"
    frame["SMILES"] = [flat_smiles(s) for s in frame["SMILES"]]
    frame = frame.drop_duplicates("SMILES").reset_index(drop=True)
    out = Path(__file__).with_name("out_of_domain.csv")
    frame.to_csv(out, index=False)
    print(f"{len(frame)} molecules -> {out}")
    print(frame["kind"].value_counts().to_string())


if __name__ == "__main__":
    main()

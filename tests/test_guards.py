"""The guards: each rejection reason, the domain check, and turning them off."""

import copy

import pytest

from molvae.config import OptimizeConfig
from molvae.optimize.constraints import Constraints, outside_domain
from molvae.optimize.guards import OUTSIDE_DOMAIN

#: One molecule per reason, each passing every earlier check.
REJECTED = {
    "C" * 39: "too many heavy atoms",
    "C1CCCCCCC1": "ring size outside 3-7",
    "CCOOCC": "peroxide (O-O)",
    "c1ccc(cc1)/N=N/c1ccccc1": "azo (acyclic N=N)",
    "CC=CC=CC=CC": "polyene chain",
    "C1=CC=CCC=C1": "conjugated diene",  # cycloheptatriene
    "CC1=CCC=C1C(N)=O": "conjugated diene",  # a cyclopentadiene
    # The best molecules of default logP runs once fulvenes were rejected (issue #11).
    "CC=CC1=CC2C(=C1)C=CC=C2NCCCCC1CCc2ccccc21": "conjugated diene",
    "CCSC=C1C(Cl)=CSC1CNC(=O)CCCCCC1CCCCCC1": "conjugated diene",
    "ClC=Cc1ccccc1": "vinyl halide",
    "C=CCc1ccccc1CC=C": "two acyclic C=C",
    # The best molecule of a default logP run once BO offered SELFIES edits (logP 8.0).
    "C=C(CCC=CCC=C(F)F)CCc1cccc(Cl)c1CC(Cl)=CC": "vinyl halide",
    "C=C(CCC=CCCC=C(F)F)CCCc1cccc(Cl)c1C": "vinyl halide",
    "C=C(CCC=CCC=CC)CCCc1cccc(Cl)c1C": "two acyclic C=C",
    # The enamines and an imine of default logP runs (sessions 7 and 10).
    "CCCc1ccc(C=C(Nc2ccccc2Cl)c2ccc(Br)cc2)cc1Cl": "enamine",
    "CC=C(Nc1ccc(Cl)cc1-c1ccncc1)c1ccc(Cl)cc1-c1ccncc1Cl": "enamine",
    "CC=Nc1ccc(Cl)c2c1C=CCC2c1ccc(Cl)c2c(Cl)cccc12": "imine (Schiff base)",
    # The sulfenamides of a default logP run (session 14): N-alkylthio ureas.
    "CCCCCCSN(C(=O)Nc1ccc2cc(C)sc2c1)c1cccs1": "sulfenamide (N-S)",
    "CCCC(C)SN(C(=O)Nc1ccc2cc(C)sc2c1)c1cccs1": "sulfenamide (N-S)",
    # Its vinyl sulfides once sulfenamides were rejected (session 15).
    "CCCCCSC=CN(C(=O)Nc1ccc2cc(C)sc2c1)c1cccs1": "vinyl sulfide",
    "CCCCCSC=C(C(=O)Nc1ccc2cc(C)sc2c1)c1cccs1": "vinyl sulfide",
    "CCCCCCCCc1ccccc1": "long alkyl chain",
    "CC1=CC1c1ccccc1": "cyclopropene",
    "CC(C)=C1C=CC=C1": "fulvene",
    "O=C1C=CC=C1c1ccccc1": "fulvene",  # a cyclopentadienone
    "CC1=CC=C1C": "cyclobutadiene",
    "CC1=Cc2ccccc21": "cyclobutadiene",  # benzocyclobutadiene
    "C[N+](C)(C)C": "MOSES filter: charge",
    "CC[Si](C)C": "MOSES filter: element",
    "CCCC=O": "MOSES filter: structural alert",  # an aldehyde (MCF)
    "CC1C2CC3C4CC(C4)C3C12C": "SA too high",  # SA 5.3
    "CCCCCCc1ccc(CCCCCC)cc1CCCCCC": "QED too low",  # 0.285
}
#: Paracetamol, a cyclopropanecarboxanilide, a sulfonamide and a benzisothiazole (an aromatic
#: N-S, as in ziprasidone).
DRUG_LIKE = [
    "CC(=O)Nc1ccc(O)cc1",
    "C1CC1C(=O)Nc1ccccc1",
    "Cc1ccc(S(N)(=O)=O)cc1",
    "CN1CCN(c2nsc3ccccc23)CC1",
]
PASSING = [None] * len(DRUG_LIKE)
#: Near misses of the ring motifs that real compounds have: an acetylcyclopentene, a fluorenone, a
#: benzocyclobutene, an indene, a 1,4-cyclohexadiene and a divinylbenzene (turned away since
#: for its two acyclic C=C, not for a ring motif).
NEAR_MISSES = [
    "CC(=O)C1=CCCC1",  # an enone: C=C-C=O is no diene
    "O=C1c2ccccc2-c2ccccc21",
    "NC(=O)C1Cc2ccccc21",
    "CC1=Cc2ccccc2C1",
    "C1=CCC=CC1",  # a 1,4-cyclohexadiene
    "C=Cc1ccccc1C=C",  # a divinylbenzene: aromatic C=C are not dienes
]


@pytest.mark.parametrize(("smiles", "reason"), REJECTED.items())
def test_each_guard_names_its_reason(smiles, reason):
    assert Constraints(OptimizeConfig()).violation(smiles) == reason


def test_drug_like_molecules_pass_the_guards():
    assert [Constraints(OptimizeConfig()).violation(s) for s in DRUG_LIKE] == PASSING


def test_near_misses_of_the_ring_motifs_are_not_rejected_for_them():
    reasons = [Constraints(OptimizeConfig()).violation(s) for s in NEAR_MISSES]
    assert not {"fulvene", "cyclobutadiene", "conjugated diene"} & set(reasons), reasons


def test_without_guards_only_the_size_cap_and_the_users_constraints_remain():
    off = Constraints(OptimizeConfig(guards=False))
    reasons = {s: off.violation(s) for s in REJECTED}
    assert reasons.pop("C" * 39) == "too many heavy atoms"  # max_heavy_atoms, not a guard
    assert set(reasons.values()) == {None}
    user_sa = Constraints(OptimizeConfig(guards=False, max_sa=4.0))
    assert user_sa.violation("CC1C2CC3C4CC(C4)C3C12C") == "SA too high"


def test_the_domain_guard_follows_the_models_anomaly_threshold(pretrained):
    assert pretrained.anomaly_threshold is not None
    inside = Constraints(OptimizeConfig(), pretrained).screen(DRUG_LIKE)
    assert inside == PASSING  # ordinary molecules lie inside the domain
    strict = copy.copy(pretrained)  # the same network, a threshold nothing stays under
    strict.anomaly_threshold = 0.0
    assert Constraints(OptimizeConfig(), strict).screen(DRUG_LIKE) == [OUTSIDE_DOMAIN] * len(
        DRUG_LIKE
    )
    assert Constraints(OptimizeConfig(guards=False), strict).screen(DRUG_LIKE) == PASSING
    assert outside_domain(strict, [], 0.0) == []


def test_push_pull_enamines_amidines_and_cyclic_imines_are_not_turned_away():
    from rdkit import Chem

    from molvae.optimize.guards import guard_failure

    allowed = [
        "CN(C)C=CC(=O)c1ccccc1",  # an enaminone (push-pull, stable)
        "CC(=Nc1ccccc1)N(C)C",  # an amidine
        "CC(=O)N=Cc1ccccc1",  # an acyl imine
        "C1CCN=C1c1ccccc1",  # a cyclic imine
        "C=C(C)N1C(=O)CCC1=O",  # an N-vinyl imide
        "CC=C[N+](=O)[O-]",  # a nitroalkene: not an amine
    ]
    reasons = [guard_failure(Chem.MolFromSmiles(s)) for s in allowed]
    assert not {"enamine", "imine (Schiff base)"} & set(reasons), reasons


def test_screen_checks_each_molecule_once(monkeypatch):
    constraints = Constraints(OptimizeConfig())
    checked = []
    original = constraints.violation
    monkeypatch.setattr(constraints, "violation", lambda s: checked.append(s) or original(s))
    first = constraints.screen(["CCO", "C1CCCCCCC1", "CCO"])
    again = constraints.screen(["C1CCCCCCC1", "CCO", "CCN"])
    assert first == [None, "ring size outside 3-7", None]
    assert again == ["ring size outside 3-7", None, None]
    assert checked == ["CCO", "C1CCCCCCC1", "CCN"]  # a library molecule shortlisted again is free

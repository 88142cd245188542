import pytest

from molvae.data.chem import to_mol
from molvae.filters import filter_failure, filter_patterns, passes_filters


def test_all_vendored_patterns_compile():
    assert len(filter_patterns()) == 22 + 480  # MOSES's MCF list and WEHI PAINS list


@pytest.mark.parametrize(
    ("smiles", "reason"),
    [
        ("CC(=O)Nc1ccc(O)cc1", None),  # paracetamol passes
        ("C[N+](C)(C)C", "charge"),
        ("CC1CCCCCCC1", "ring size"),  # an 8-membered ring
        ("CP(C)C", "element"),  # P is not among MOSES's atoms
        ("O=C1C(=Cc2ccccc2)SC(=S)N1", "structural alert"),  # a PAINS rhodanine
        ("CCCCCl", "structural alert"),  # MCF4 [H]C([H])([#6])Cl: matches only with explicit Hs
        ("N#CC=CC", "structural alert"),  # MCF1: acyclic Michael acceptor nitrile
        (None, "invalid"),
    ],
)
def test_each_failure_reason(smiles, reason):
    mol = to_mol(smiles)
    assert filter_failure(mol) == reason
    assert passes_filters(mol) is (reason is None)


def test_ring_of_seven_is_allowed():
    assert filter_failure(to_mol("O=C1CCCCCN1")) is None  # caprolactam

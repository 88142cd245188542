"""molvae.chem: parsing, clean-up reasons, SELFIES round trips, properties, RDKit log control."""

from __future__ import annotations

import math

import pytest
from rdkit import Chem, RDLogger, rdBase

from molvae.data import chem, properties

DEFAULT = chem.CleanOptions()


# ---------------------------------------------------------------------------------------------
# to_mol / to_smiles / canonical_smiles


@pytest.mark.parametrize("bad", [None, "", "   ", "C1CC", "not_a_smiles", "c1cccc1", 42, 3.5])
def test_to_mol_and_to_smiles_return_none_on_bad_input(bad):
    assert chem.to_mol(bad) is None
    assert chem.to_smiles(bad) is None


def test_to_mol_passes_a_mol_through_and_strips_whitespace():
    mol = Chem.MolFromSmiles("CCO")
    assert chem.to_mol(mol) is mol
    assert chem.to_mol("  CCO\n").GetNumAtoms() == 3


@pytest.mark.parametrize(
    ("smiles", "canonical"),
    [
        ("OCC", "CCO"),
        ("C(=O)(O)C", "CC(=O)O"),
        ("C1=CC=CC=C1", "c1ccccc1"),
        ("[13CH3]O", "[13CH3]O"),
    ],
)
def test_to_smiles_is_canonical_for_str_and_mol(smiles, canonical):
    assert chem.to_smiles(smiles) == canonical
    assert chem.to_smiles(Chem.MolFromSmiles(smiles)) == canonical
    assert chem.canonical_smiles is chem.to_smiles


# ---------------------------------------------------------------------------------------------
# SELFIES


@pytest.mark.parametrize(
    "smiles",
    [
        "CCO",
        "c1ccccc1O",
        "CC(=O)Oc1ccccc1C(=O)O",
        "CN1CCC[C@H]1c1cccnc1",  # a stereocentre
        "C/C=C/C(=O)O",  # a double-bond geometry
        "CC(C)NCC(O)COc1cccc2ccccc12",
        "O=C(Nc1ccc(F)cc1)C1CC1",
        "C[N+](C)(C)C",  # a charge SELFIES must keep
    ],
)
def test_from_selfies_of_to_selfies_round_trips_canonical_smiles(smiles):
    selfies = chem.to_selfies(smiles)
    assert selfies is not None and selfies.startswith("[")
    assert chem.from_selfies(selfies) == chem.to_smiles(smiles)
    # A Mol gives the SELFIES of its canonical SMILES.
    assert chem.from_selfies(chem.to_selfies(Chem.MolFromSmiles(smiles))) == chem.to_smiles(smiles)


def test_to_selfies_returns_none_on_bad_input():
    assert chem.to_selfies(None) is None
    assert chem.to_selfies("") is None
    assert chem.to_selfies("not_a_smiles") is None


def test_from_selfies_returns_none_when_nothing_decodes():
    assert chem.from_selfies("") is None
    assert chem.from_selfies("[Xyz]") is None
    assert chem.from_selfies("[C][=O]") == "C=O"


# ---------------------------------------------------------------------------------------------
# clean()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (None, chem.EMPTY),
        (math.nan, chem.EMPTY),
        (7, chem.EMPTY),
        ("", chem.EMPTY),
        ("  \t", chem.EMPTY),
        ("C1CC", chem.UNPARSEABLE),
        ("not_a_smiles", chem.UNPARSEABLE),
        ("C(C)(C)(C)(C)C", chem.UNPARSEABLE),  # five bonds on carbon
        ("*c1ccccc1", chem.UNSUPPORTED_SELFIES),
        ("[*:1]CC[*:2]", chem.UNSUPPORTED_SELFIES),
        ("C" * 300, chem.TOO_LONG),
    ],
)
def test_clean_reasons_with_default_options(raw, reason):
    assert chem.clean(raw, chem.CleanOptions(max_tokens=128)) == chem.CleanResult.rejected(reason)


def test_clean_reason_strings_are_the_documented_ones():
    assert (
        chem.EMPTY,
        chem.UNPARSEABLE,
        chem.UNSUPPORTED_ELEMENT,
        chem.UNSUPPORTED_SELFIES,
        chem.UNSUPPORTED_SMILES,
        chem.TOO_LONG,
        chem.DUPLICATE,
        chem.BAD_PROPERTY,
        chem.UNKNOWN_TOKEN,
    ) == (
        "empty",
        "unparseable",
        "unsupported element",
        "unsupported by SELFIES",
        "unsupported by the SMILES tokenizer",
        "too long",
        "duplicate",
        "bad property value",
        "token not in vocabulary",
    )


def test_clean_returns_canonical_smiles_and_its_selfies_tokens():
    result = chem.clean(" OCC ", DEFAULT)
    can, tokens = result.smiles, list(result.tokens)
    assert can == "CCO"
    assert tokens == ["[C]", "[C]", "[O]"]
    result = chem.clean("C1=CC=CC=C1O", DEFAULT)
    can, tokens = result.smiles, list(result.tokens)
    assert can == "Oc1ccccc1"
    assert chem.from_selfies("".join(tokens)) == "Oc1ccccc1"


SMILES_TOKENS = chem.CleanOptions(tokens="smiles", max_tokens=128)


def test_clean_for_a_smiles_model_tokenises_the_canonical_smiles():
    result = chem.clean("C1=CC=CC=C1Cl", SMILES_TOKENS)
    assert result == chem.CleanResult("Clc1ccccc1", ("Cl", "c", "1", "c", "c", "c", "c", "c", "1"))
    # The same clean-up as for SELFIES; only the tokens differ.
    for raw in ["CC(=O)[O-].[Na+]", "[13CH3]O", "C[NH3+].[Cl-]", "c1cc[nH]c1"]:
        assert chem.clean(raw, SMILES_TOKENS).smiles == chem.clean(raw, DEFAULT).smiles
    # max_tokens counts SMILES tokens: "CC(C)C" is 6 of them (4 SELFIES tokens).
    assert chem.clean("CC(C)C", chem.CleanOptions(tokens="smiles", max_tokens=6)).ok
    too_long = chem.clean("CC(C)C", chem.CleanOptions(tokens="smiles", max_tokens=5))
    assert too_long == chem.CleanResult.rejected(chem.TOO_LONG)
    unsupported = chem.CleanResult.rejected(chem.UNSUPPORTED_SMILES)
    assert chem.clean("*CC", SMILES_TOKENS) == unsupported  # an attachment point


def test_tokens_to_smiles_for_smiles_and_selfies_models():
    assert chem.tokens_to_smiles("OC1=CC=CC=C1", "smiles") == "Oc1ccccc1"  # canonical
    for invalid in ["C1CC", "C(C", "c1cccc1", "CC)", ""]:  # unclosed ring, branch, kekulé
        assert chem.tokens_to_smiles(invalid, "smiles") is None
        assert chem.tokens_to_smiles(invalid, "smiles", strict=True) is None
        assert not chem.is_strict(invalid, "smiles")
    assert chem.is_strict("CC(=O)O", "smiles")
    # The representation matters: "[C][C][O]" is CCO in SELFIES, three radicals in SMILES.
    assert chem.tokens_to_smiles("[C][C][O]", "selfies") == "CCO"
    assert chem.tokens_to_smiles("[C][C][O]", "smiles") == "[C][C][O]"
    assert chem.tokens_to_smiles("[C][Branch1][C][O][C]", "smiles") is None
    # SELFIES: a repaired string is a molecule unless strict.
    assert chem.tokens_to_smiles("[C][=O][C][C]", "selfies") == "C=O"
    assert chem.tokens_to_smiles("[C][=O][C][C]", "selfies", strict=True) is None
    assert not chem.is_strict("[C][=O][C][C]", "selfies")


@pytest.mark.parametrize(
    ("raw", "cleaned"),
    [
        ("CC(=O)[O-].[Na+]", "CC(=O)O"),  # salt: largest fragment, neutralised
        ("C[NH3+].[Cl-]", "CN"),  # hydrochloride
        ("CCO.O.O", "CCO"),  # solvent of crystallisation
        ("[13CH3]O", "CO"),  # isotope label
        ("[2H]OC", "CO"),  # deuterium: the explicit H goes too
        ("C[N+](C)(C)C", "C[N+](C)(C)C"),  # a quaternary ammonium cannot be neutralised
    ],
)
def test_clean_standardises_salts_solvents_isotopes(raw, cleaned):
    result = chem.clean(raw, DEFAULT)
    can, tokens = result.smiles, list(result.tokens)
    assert can == cleaned
    assert chem.from_selfies("".join(tokens)) == cleaned


def test_clean_options_switch_each_step_off():
    keep_all = chem.CleanOptions(largest_fragment=False, neutralise=False, strip_isotopes=False)
    assert chem.clean("CC(=O)[O-].[Na+]", keep_all).smiles == "CC(=O)[O-].[Na+]"
    assert chem.clean("[13CH3]O", keep_all).smiles == "[13CH3]O"
    only_fragment = chem.CleanOptions(neutralise=False)
    assert chem.clean("CC(=O)[O-].[Na+]", only_fragment).smiles == "CC(=O)[O-]"


def test_clean_allowed_elements():
    organic = chem.CleanOptions(allowed_elements=frozenset({"C", "N", "O", "Cl"}))
    assert chem.clean("Cl[Pt](Cl)(N)N", organic) == chem.CleanResult.rejected(
        chem.UNSUPPORTED_ELEMENT
    )
    assert chem.clean("CCS", organic) == chem.CleanResult.rejected(chem.UNSUPPORTED_ELEMENT)
    assert chem.clean("CCCl", organic).smiles == "CCCl"
    # The counter-ion is gone before the element check, so a sodium salt passes...
    assert chem.clean("CC(=O)[O-].[Na+]", organic).smiles == "CC(=O)O"
    # ...unless fragments are kept.
    whole = chem.CleanOptions(largest_fragment=False, allowed_elements=organic.allowed_elements)
    assert chem.clean("CC(=O)[O-].[Na+]", whole) == chem.CleanResult.rejected(
        chem.UNSUPPORTED_ELEMENT
    )
    # No element list: any element SELFIES can encode is fine.
    assert chem.clean("Cl[Pt](Cl)(N)N", DEFAULT).smiles is not None


def test_clean_size_limits_are_inclusive():
    hexane = "CCCCCC"  # 6 heavy atoms, 6 SELFIES tokens
    assert chem.clean(hexane, chem.CleanOptions(max_heavy_atoms=6)).smiles == hexane
    assert chem.clean(hexane, chem.CleanOptions(max_heavy_atoms=5)) == chem.CleanResult.rejected(
        chem.TOO_LONG
    )
    assert chem.clean(hexane, chem.CleanOptions(max_tokens=6)).smiles == hexane
    assert chem.clean(hexane, chem.CleanOptions(max_tokens=5)) == chem.CleanResult.rejected(
        chem.TOO_LONG
    )


# ---------------------------------------------------------------------------------------------
# Properties

# ZINC250k statistics as published with JT-VAE (Jin et al. 2018), written out independently.
LOGP_MEAN, LOGP_STD = 2.4570953396190123, 1.434324401111988
SA_MEAN, SA_STD = -3.0525811293166134, 0.8335207024513095
CYCLE_MEAN, CYCLE_STD = -0.0485696876403053, 0.2860212110245455


def test_penalized_logp_of_cyclooctane_from_its_terms():
    mol = Chem.MolFromSmiles("C1CCCCCCC1")
    logp = 3.1208  # Crippen logP: 8 CH2 in a ring
    sa = 1.0  # sascorer clips tiny, easy molecules to 1
    cycle = 2  # an 8-ring is 2 atoms beyond 6
    assert properties.PROPERTIES["logp"](mol) == pytest.approx(logp, abs=1e-4)
    assert properties.sa_score(mol) == pytest.approx(sa)
    expected = (
        (logp - LOGP_MEAN) / LOGP_STD + (-sa - SA_MEAN) / SA_STD + (-cycle - CYCLE_MEAN) / CYCLE_STD
    )
    assert expected == pytest.approx(-3.8974, abs=1e-3)
    assert properties.penalized_logp(mol) == pytest.approx(expected, abs=1e-4)


def test_penalized_logp_has_no_cycle_penalty_up_to_six_rings():
    benzene = Chem.MolFromSmiles("c1ccccc1")
    expected = (
        (1.6866 - LOGP_MEAN) / LOGP_STD + (-1.0 - SA_MEAN) / SA_STD + (0 - CYCLE_MEAN) / CYCLE_STD
    )
    assert properties.penalized_logp(benzene) == pytest.approx(expected, abs=1e-4)


def test_properties_of_ethanol():
    assert set(properties.PROPERTIES) == {"logp", "qed", "sa", "mw", "tpsa", "plogp"}
    names = list(properties.PROPERTIES)
    values = dict(zip(names, properties.compute_properties("OCC", names), strict=True))
    assert values["mw"] == pytest.approx(46.069, abs=1e-3)
    assert values["tpsa"] == pytest.approx(20.23, abs=1e-2)
    assert values["logp"] == pytest.approx(-0.0014, abs=1e-4)
    assert 0 < values["qed"] < 1
    assert 1 <= values["sa"] <= 10


def test_compute_properties_is_nan_for_unparseable_molecules():
    out = properties.compute_properties("C1CC", ["logp", "mw"])
    assert len(out) == 2 and all(math.isnan(v) for v in out)
    assert properties.compute_properties("CCO", []) == []


def test_fingerprint():
    fp = chem.fingerprint("CCO", n_bits=1024)
    assert fp.GetNumBits() == 1024 and 0 < fp.GetNumOnBits() < 20
    assert chem.fingerprint("C1CC") is None


# ---------------------------------------------------------------------------------------------
# RDKit log control


def _log_status() -> dict[str, bool]:
    lines = rdBase.LogStatus().splitlines()
    return {name: state == "enabled" for name, _, state in (ln.partition(":") for ln in lines)}


def _set_log_status(status: dict[str, bool]) -> None:
    for name, on in status.items():
        (RDLogger.EnableLog if on else RDLogger.DisableLog)(name)


RDKIT_DEFAULT_LOG = {
    "rdApp.debug": False,
    "rdApp.info": False,
    "rdApp.warning": True,
    "rdApp.error": True,
}


@pytest.fixture
def rdkit_default_log():
    """RDKit's default log levels during the test, whatever ran before; put back after."""
    saved = _log_status()
    _set_log_status(RDKIT_DEFAULT_LOG)
    yield
    _set_log_status(saved)


@pytest.mark.usefixtures("rdkit_default_log")
def test_without_rdkit_log_silences_only_inside_the_block(capfd):
    with chem.without_rdkit_log():
        assert Chem.MolFromSmiles("C1CC") is None
    assert capfd.readouterr().err == ""
    assert Chem.MolFromSmiles("C1CC") is None
    assert "SMILES Parse Error" in capfd.readouterr().err


@pytest.mark.usefixtures("rdkit_default_log")
def test_to_mol_on_bad_smiles_logs_nothing(capfd):
    assert chem.to_mol("not_a_smiles") is None
    assert chem.clean("C1CC", DEFAULT) == chem.CleanResult.rejected(chem.UNPARSEABLE)
    assert capfd.readouterr().err == ""


@pytest.mark.usefixtures("rdkit_default_log")
def test_without_rdkit_log_restores_the_previous_levels():
    before = _log_status()
    assert before == RDKIT_DEFAULT_LOG
    with chem.without_rdkit_log():
        assert not any(_log_status().values())
        with chem.without_rdkit_log():
            pass
        assert not any(_log_status().values())  # an inner block leaves the outer one silent
    assert _log_status() == before  # info/debug stay off; error/warning are on again


@pytest.mark.usefixtures("rdkit_default_log")
def test_without_rdkit_log_restores_after_an_exception():
    before = _log_status()
    with pytest.raises(RuntimeError), chem.without_rdkit_log():
        raise RuntimeError("boom")
    assert _log_status() == before

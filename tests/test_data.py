"""molvae.data: reading tables, clean-up with a rejects report, the cache, and MolDataset."""

from __future__ import annotations

import gzip
import math
import os
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from rdkit import Chem

from molvae.config import DataConfig
from molvae.data import chem, properties
from molvae.data import load as data
from molvae.data.cache import cache_dir
from molvae.data.dataset import MolDataset
from molvae.data.load import load_dataset
from molvae.data.tables import read_table
from molvae.data.tokens import Vocab
from molvae.errors import UserError

DATA = Path(__file__).resolve().parents[1] / "data"
MESSY = DATA / "messy_example.csv"

# data/messy_example.csv, by spreadsheet row (the header is row 1).
MESSY_KEPT = {  # row: (input, cleaned canonical SMILES or None for "its own canonical form")
    2: ("CCOc1cccc(C(=O)Nc2ccn(Cc3ccccn3)n2)c1", None),
    3: ("CC(=O)Oc1ccccc1C(=O)O", None),
    4: ("Cn1cnc2c1c(=O)n(C)c(=O)n2C", None),
    5: ("CC(C)Cc1ccc(cc1)C(C)C(=O)O", None),
    9: ("CC(=O)[O-].[Na+]", "CC(=O)O"),  # salt: largest fragment, neutralised
    11: ("[13CH3]O", "CO"),  # isotope label stripped
    14: ("CCO", "CCO"),
    17: ("Oc1ccccc1", None),  # empty pIC50: kept, masked
    20: ("CC(C)NCC(O)COc1cccc2ccccc12", None),
    21: ("CN1CCC[C@H]1c1cccnc1", None),
}
MESSY_REJECTED = [  # (row, input, reason)
    (6, "", chem.EMPTY),
    (7, "C1CC", chem.UNPARSEABLE),
    (8, "not_a_smiles", chem.UNPARSEABLE),
    (10, "Cl[Pt](Cl)(N)N", chem.UNSUPPORTED_ELEMENT),
    (12, "*c1ccccc1", chem.UNSUPPORTED_SELFIES),
    (13, "C" * 300, chem.TOO_LONG),
    (15, "OCC", chem.DUPLICATE),  # non-canonical repeat of row 14
    (16, "CCO", chem.DUPLICATE),  # exact repeat of row 14
    (18, "CCN(CC)CC", chem.BAD_PROPERTY),  # pIC50 "n/a"
    (19, "c1ccc2ccccc2c1", chem.BAD_PROPERTY),  # pIC50 "high"
]
MESSY_PIC50 = {2: 6.1, 3: 5.2, 4: 4.8, 5: 5.5, 9: 3.0, 11: 2.5, 14: 2.0, 20: 7.0, 21: 6.4}


def load(source, rejects_path=None, **cfg) -> MolDataset:
    """``load_dataset`` without cache or progress bar, in this process."""
    cfg.setdefault("n_jobs", 1)
    return load_dataset(
        source, DataConfig(**cfg), rejects_path=rejects_path, progress=False, use_cache=False
    )


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def assert_one_sentence(err: pytest.ExceptionInfo, *words: str) -> None:
    """A UserError (exit code 2) whose message is one line, one sentence, and holds ``words``."""
    msg = str(err.value)
    assert err.type is UserError
    assert err.value.exit_code == 2
    assert "\n" not in msg and msg.endswith((".", "?")), msg
    for word in words:
        assert word in msg, (word, msg)


# ---------------------------------------------------------------------------------------------
# data/messy_example.csv


def test_messy_example_file_is_what_the_tests_expect():
    raw = MESSY.read_bytes()
    assert raw[:3] == b"\xef\xbb\xbf"  # a UTF-8 BOM, as Excel writes
    assert raw.decode("utf-8-sig").splitlines()[0] == "SMILES,name,pIC50"
    assert len(raw.decode("utf-8-sig").splitlines()) == 21  # header + 20 rows
    table = read_table(MESSY)
    assert list(table.frame.columns) == ["SMILES", "name", "pIC50"]  # BOM not in the name
    assert table.smiles_col == "SMILES"
    assert table.rows.tolist() == list(range(2, 22))


def test_messy_example_counts_and_reasons(tmp_path):
    rejects_path = tmp_path / "out" / "rejects.csv"
    ds = load(MESSY, rejects_path=rejects_path, properties=["pIC50"])
    assert ds.n_input == 20
    assert len(ds) == 10
    assert Counter(ds.rejects["reason"]) == Counter(
        {
            chem.EMPTY: 1,
            chem.UNPARSEABLE: 2,
            chem.UNSUPPORTED_ELEMENT: 1,
            chem.UNSUPPORTED_SELFIES: 1,
            chem.TOO_LONG: 1,
            chem.DUPLICATE: 2,
            chem.BAD_PROPERTY: 2,
        }
    )
    assert ds.reject_counts() == dict(Counter(ds.rejects["reason"]).most_common())
    assert sum(ds.reject_counts().values()) + len(ds) == ds.n_input


def test_messy_example_rejects_csv_has_spreadsheet_rows(tmp_path):
    rejects_path = tmp_path / "rejects.csv"
    load(MESSY, rejects_path=rejects_path, properties=["pIC50"])
    rejects = pd.read_csv(rejects_path, dtype={"input": str}, keep_default_na=False)
    assert list(rejects.columns) == ["row", "input", "reason"]
    assert list(rejects.itertuples(index=False, name=None)) == MESSY_REJECTED
    # ``row`` is the line a spreadsheet shows: check against the raw file.
    lines = MESSY.read_text(encoding="utf-8-sig").splitlines()
    for row, smiles, _ in MESSY_REJECTED:
        assert lines[row - 1].split(",")[0] == smiles


def test_messy_example_kept_molecules_rows_and_cleaned_smiles():
    ds = load(MESSY, properties=["pIC50"])
    assert ds.rows.tolist() == list(MESSY_KEPT)
    expected = [clean or chem.to_smiles(raw) for raw, clean in MESSY_KEPT.values()]
    assert ds.smiles == expected
    assert ds.smiles[ds.rows.tolist().index(9)] == "CC(=O)O"
    assert ds.smiles[ds.rows.tolist().index(11)] == "CO"


def test_messy_example_properties_keep_nan_for_an_empty_cell():
    ds = load(MESSY, properties=["pIC50"])
    assert ds.property_names == ["pIC50"]
    assert ds.properties.shape == (10, 1) and ds.properties.dtype == np.float32
    by_row = dict(zip(ds.rows.tolist(), ds.properties[:, 0].tolist(), strict=True))
    assert math.isnan(by_row.pop(17))  # phenol, empty pIC50 cell
    assert by_row == pytest.approx(MESSY_PIC50)


def test_messy_example_tokens_decode_to_the_kept_smiles():
    ds = load(MESSY, properties=["pIC50"])
    for i, smiles in enumerate(ds.smiles):
        assert chem.from_selfies(ds.vocab.decode(ds.token_ids(i))) == smiles
    assert ds.lengths.max() <= 128
    assert ds.offsets[0] == 0 and ds.offsets[-1] == len(ds.tokens)


def test_summary_is_printed_when_progress_is_on(tmp_path, capsys):
    rejects_path = tmp_path / "rejects.csv"
    load_dataset(
        MESSY,
        DataConfig(properties=["pIC50"], n_jobs=1),
        rejects_path=rejects_path,
        use_cache=False,
    )
    err = " ".join(capsys.readouterr().err.split())
    assert "20 rows, 10 molecules used, 10 rejected." in err
    assert "2 unparseable" in err and "1 too long" in err
    assert "rejects.csv" in err


# ---------------------------------------------------------------------------------------------
# One test per reject reason


def test_reject_empty_cells_and_blank_lines(tmp_path):
    path = write(tmp_path / "t.csv", "smiles,y\nCCO,1\n,2\n   ,3\n\nCCN,4\n\n\n")
    ds = load(path)
    assert ds.rows.tolist() == [2, 6]  # the trailing blank lines are not rows
    assert ds.n_input == 5
    assert ds.rejects.values.tolist() == [[3, "", "empty"], [4, "   ", "empty"], [5, "", "empty"]]


def test_reject_unparseable(tmp_path):
    path = write(tmp_path / "t.csv", "smiles\nCCO\nC1CC\nnot_a_smiles\nc1cccc1\nC(C)(C)(C)(C)C\n")
    ds = load(path)
    assert ds.smiles == ["CCO"]
    assert ds.rejects["row"].tolist() == [3, 4, 5, 6]
    assert set(ds.rejects["reason"]) == {chem.UNPARSEABLE}


def test_reject_unsupported_element(tmp_path):
    path = write(tmp_path / "t.csv", "smiles\nCCO\nCl[Pt](Cl)(N)N\nC[Sn](C)(C)C\nCC[Se]C\n")
    ds = load(path)
    assert ds.smiles == ["CCO", "CC[Se]C"]  # Se is on the default organic list
    assert ds.rejects.values.tolist() == [
        [3, "Cl[Pt](Cl)(N)N", chem.UNSUPPORTED_ELEMENT],
        [4, "C[Sn](C)(C)C", chem.UNSUPPORTED_ELEMENT],
    ]
    # Without an element list the metal complex is kept.
    assert len(load(path, allowed_elements=None)) == 4


def test_reject_unsupported_by_selfies(tmp_path):
    path = write(tmp_path / "t.csv", "smiles\nCCO\n*c1ccccc1\n[*:1]CC[*:2]\n")
    ds = load(path)
    assert ds.rejects.values.tolist() == [
        [3, "*c1ccccc1", chem.UNSUPPORTED_SELFIES],
        [4, "[*:1]CC[*:2]", chem.UNSUPPORTED_SELFIES],
    ]


def test_reject_too_long_at_the_token_limit(tmp_path):
    # A linear alkane of n carbons is n SELFIES tokens; the default limit is 128.
    path = write(tmp_path / "t.csv", "smiles\n" + "\n".join("C" * n for n in (127, 128, 129, 300)))
    ds = load(path)
    assert ds.lengths.tolist() == [127, 128]
    assert ds.rejects["row"].tolist() == [4, 5]
    assert set(ds.rejects["reason"]) == {chem.TOO_LONG}
    assert len(load(path, max_tokens=300)) == 4
    assert load(path, max_heavy_atoms=127).rows.tolist() == [2]


def test_reject_duplicates_after_clean_up(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "smiles\nCCO\nOCC\nCCO\nCC(=O)O\nCC(=O)[O-].[Na+]\n[13CH3]CO\nC(C)O\n",
    )
    ds = load(path)
    assert ds.smiles == ["CCO", "CC(=O)O"]
    assert ds.rows.tolist() == [2, 5]  # the first occurrence is kept
    assert ds.rejects.values.tolist() == [
        [3, "OCC", chem.DUPLICATE],
        [4, "CCO", chem.DUPLICATE],
        [6, "CC(=O)[O-].[Na+]", chem.DUPLICATE],  # the same acid once the salt is cleaned
        [7, "[13CH3]CO", chem.DUPLICATE],
        [8, "C(C)O", chem.DUPLICATE],
    ]
    kept_all = load_dataset(
        path, DataConfig(n_jobs=1), progress=False, use_cache=False, drop_duplicates=False
    )
    assert kept_all.smiles == ["CCO", "CCO", "CCO", "CC(=O)O", "CC(=O)O", "CCO", "CCO"]


def test_duplicate_of_a_rejected_row_is_kept(tmp_path):
    # Row 2 is rejected for its property, so row 3 is the first usable ethanol.
    path = write(tmp_path / "t.csv", "smiles,y\nCCO,high\nOCC,1.5\n")
    ds = load(path, properties=["y"])
    assert ds.rows.tolist() == [3]
    assert ds.rejects.values.tolist() == [[2, "CCO", chem.BAD_PROPERTY]]


def test_reject_bad_property_value(tmp_path):
    path = write(
        tmp_path / "t.csv",
        "smiles,y\nC,n/a\nCC,high\nCCC,inf\nCCCC,1e999\nCCCCC, 5.5 \nCCCCCC,\nCCCCCCC,-1e-3\n",
    )
    ds = load(path, properties=["y"])
    assert ds.rejects.values.tolist() == [
        [2, "C", chem.BAD_PROPERTY],
        [3, "CC", chem.BAD_PROPERTY],
        [4, "CCC", chem.BAD_PROPERTY],
        [5, "CCCC", chem.BAD_PROPERTY],
    ]
    assert ds.rows.tolist() == [6, 7, 8]
    values = ds.properties[:, 0]
    assert values[0] == pytest.approx(5.5) and math.isnan(values[1])
    assert values[2] == pytest.approx(-1e-3)
    # Not asked for, the column is not checked.
    assert len(load(path)) == 7


def test_bad_smiles_reason_wins_over_bad_property(tmp_path):
    path = write(tmp_path / "t.csv", "smiles,y\nCCO,1\nC1CC,high\n,high\n")
    ds = load(path, properties=["y"])
    assert ds.rejects["reason"].tolist() == [chem.UNPARSEABLE, chem.EMPTY]


def test_dataframe_missing_property_is_masked_not_rejected():
    frame = pd.DataFrame(
        {"smiles": ["CCO", "CCN", "CCC", "CCCl"], "y": [1.0, np.nan, None, 2.0]},
    )
    ds = load(frame, properties=["y"])
    assert len(ds) == 4 and len(ds.rejects) == 0
    assert ds.rows.tolist() == [1, 2, 3, 4]
    assert ds.properties[[0, 3], 0].tolist() == [1.0, 2.0]
    assert np.isnan(ds.properties[[1, 2], 0]).all()
    text = pd.DataFrame({"smiles": ["CCO", "CCN"], "y": ["1.5", "oops"]})
    assert load(text, properties=["y"]).rejects["reason"].tolist() == [chem.BAD_PROPERTY]


# ---------------------------------------------------------------------------------------------
# File formats


def test_tsv_with_a_comma_in_a_column_name(tmp_path):
    # More commas than tabs in the header: the extension, not a count, decides.
    header = "smiles\tIC50 (nM, mean, n=3)"
    path = write(tmp_path / "t.tsv", f"{header}\nCCO\t12\nc1ccccc1\t3.5\n")
    ds = load(path, properties=["IC50 (nM, mean, n=3)"])
    assert ds.smiles == ["CCO", "c1ccccc1"]
    assert ds.rows.tolist() == [2, 3]
    assert ds.properties[:, 0].tolist() == [12.0, 3.5]


def test_single_column_tsv_without_header(tmp_path):
    path = write(tmp_path / "t.tsv", "CCO\nCCN\n")
    assert load(path).rows.tolist() == [1, 2]


def test_semicolon_separated_csv(tmp_path):
    path = write(tmp_path / "t.csv", "smiles;y\nCCO;1\nCCN;2\n")
    assert load(path, properties=["y"]).properties[:, 0].tolist() == [1.0, 2.0]


def test_smi_without_header(tmp_path):
    path = write(tmp_path / "t.smi", "CCO ethanol\nc1ccccc1\tbenzene ring\nC1CC\n")
    table = read_table(path)
    assert table.frame["name"].tolist() == ["ethanol", "benzene ring", ""]
    ds = load(path)
    assert ds.smiles == ["CCO", "c1ccccc1"]
    assert ds.rows.tolist() == [1, 2]
    assert ds.rejects.values.tolist() == [[3, "C1CC", chem.UNPARSEABLE]]


def test_smi_with_header_and_windows_line_endings(tmp_path):
    path = write(tmp_path / "t.smiles", "SMILES Name\r\nCCO ethanol\r\nc1ccccc1 benzene\r\n")
    table = read_table(path)
    assert table.frame["name"].tolist() == ["ethanol", "benzene"]
    ds = load(path)
    assert ds.smiles == ["CCO", "c1ccccc1"]
    assert ds.rows.tolist() == [2, 3]


def test_csv_gz_reads_like_the_plain_file(tmp_path):
    path = tmp_path / "messy.csv.gz"
    with gzip.open(path, "wb") as fh:
        fh.write(MESSY.read_bytes())
    plain = load(MESSY, properties=["pIC50"])
    zipped = load(path, properties=["pIC50"])
    assert zipped.smiles == plain.smiles
    assert zipped.rows.tolist() == plain.rows.tolist()
    assert zipped.rejects.equals(plain.rejects)
    np.testing.assert_array_equal(zipped.properties, plain.properties)


def test_smi_gz(tmp_path):
    path = tmp_path / "t.smi.gz"
    with gzip.open(path, "wt") as fh:
        fh.write("CCO a\nCCN b\n")
    assert load(path).smiles == ["CCO", "CCN"]


def test_single_column_csv_without_header(tmp_path):
    path = write(tmp_path / "t.csv", "CCO\nc1ccccc1\nOCC\n")
    ds = load(path)
    assert read_table(path).frame.columns.tolist() == ["smiles"]
    assert ds.smiles == ["CCO", "c1ccccc1"]
    assert ds.rows.tolist() == [1, 2]
    assert ds.rejects.values.tolist() == [[3, "OCC", chem.DUPLICATE]]


def test_single_column_csv_with_header(tmp_path):
    path = write(tmp_path / "t.csv", "SMILES\nCCO\nc1ccccc1\n")
    ds = load(path)
    assert ds.smiles == ["CCO", "c1ccccc1"]
    assert ds.rows.tolist() == [2, 3]


def test_smiles_col_is_case_insensitive(tmp_path):
    path = write(tmp_path / "t.csv", "ID,Structure,Activity\na,CCO,1\nb,CCN,2\n")
    for name in ("Structure", "structure", "STRUCTURE"):
        ds = load(path, smiles_col=name, properties=["activity"])
        assert ds.smiles == ["CCO", "CCN"]
        assert ds.property_names == ["Activity"]  # the column's own spelling


def test_smiles_column_found_by_name_among_others(tmp_path):
    path = write(tmp_path / "t.csv", "id,canonical_smiles,y\na,CCO,1\n")
    assert read_table(path).smiles_col == "canonical_smiles"


def test_missing_smiles_col_lists_existing_columns(tmp_path):
    path = write(tmp_path / "t.csv", "ID,Structure,Activity\na,CCO,1\n")
    with pytest.raises(UserError) as err:
        load(path, smiles_col="smiles")
    assert_one_sentence(err, "'smiles'", "ID, Structure, Activity")


def test_no_smiles_column_found_lists_columns_and_the_option(tmp_path):
    path = write(tmp_path / "t.csv", "ID,Structure\na,CCO\n")
    with pytest.raises(UserError) as err:
        load(path)
    assert "ID, Structure" in str(err.value) and "--smiles-col" in str(err.value)


def test_missing_smiles_col_in_a_dataframe():
    with pytest.raises(UserError) as err:
        load(pd.DataFrame({"a": ["CCO"], "b": [1]}), smiles_col="mol")
    assert_one_sentence(err, "'mol'", "DataFrame", "a, b")


@pytest.mark.parametrize(
    ("name", "content", "words"),
    [
        ("empty.csv", b"", ["empty"]),
        ("blank.csv", b"\n  \n\n", ["empty"]),
        ("binary.csv", bytes(range(256)) * 8, ["binary"]),
        ("image.smi", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", ["binary"]),
        ("latin1.csv", "SMILES,name\nCCO,éthanol\n".encode("latin-1"), ["not UTF-8", "UTF-8"]),
        ("latin1_end.csv", "SMILES,name\nCCO,café\n".encode("latin-1"), ["not UTF-8"]),
        ("latin1.smi", "CCO café\nCCN b\n".encode("latin-1"), ["not UTF-8"]),
        ("not_gzip.csv.gz", b"SMILES\nCCO\n", ["gzip"]),
    ],
)
def test_unreadable_files_give_one_sentence_user_errors(tmp_path, name, content, words):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UserError) as err:
        load(path)
    assert_one_sentence(err, name, *words)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(UserError) as err:
        load(tmp_path / "nope.csv")
    assert_one_sentence(err, "nope.csv", "does not exist")
    with pytest.raises(UserError) as err:
        load(tmp_path)
    assert_one_sentence(err, "folder")


def test_no_usable_rows_is_a_user_error_with_exit_code_2(tmp_path):
    path = write(tmp_path / "t.csv", "smiles\nC1CC\n\nnot_a_smiles\n")
    rejects_path = tmp_path / "rejects.csv"
    with pytest.raises(UserError) as err:
        load(path, rejects_path=rejects_path)
    assert_one_sentence(err, "No usable molecules", "all 3 rows", str(rejects_path))
    # The rejects file is written first, so the user can see why.
    rejects = pd.read_csv(rejects_path, keep_default_na=False)
    assert rejects["reason"].tolist() == [chem.UNPARSEABLE, chem.EMPTY, chem.UNPARSEABLE]
    # allow_empty returns the empty dataset instead.
    ds = load_dataset(path, DataConfig(n_jobs=1), progress=False, use_cache=False, allow_empty=True)
    assert len(ds) == 0 and ds.n_input == 3 and len(ds.tokens) == 0
    assert ds.offsets.tolist() == [0]


def test_header_only_file_is_a_user_error(tmp_path):
    with pytest.raises(UserError) as err:
        load(write(tmp_path / "t.csv", "SMILES,name\n"))
    assert err.value.exit_code == 2


def test_max_molecules_is_a_seeded_random_sample_in_file_order():
    ds = load(MESSY, max_molecules=8, properties=["pIC50"])
    assert ds.n_input == 8
    seen = sorted([*ds.rows.tolist(), *ds.rejects["row"].tolist()])
    assert len(seen) == 8 and seen != list(range(2, 10))  # not simply the first rows
    assert ds.rows.tolist() == sorted(ds.rows.tolist())
    again = load(MESSY, max_molecules=8, properties=["pIC50"])
    assert again.rows.tolist() == ds.rows.tolist()
    other = load(MESSY, max_molecules=8, properties=["pIC50"], seed=5)
    assert sorted([*other.rows, *other.rejects["row"]]) != seen


# ---------------------------------------------------------------------------------------------
# Properties

COMPUTED = ["logp", "qed", "sa", "mw", "tpsa", "plogp"]


def test_computed_properties_match_chem_properties():
    smiles = ["CCO", "c1ccccc1O", "CC(=O)Oc1ccccc1C(=O)O", "C1CCCCCCC1", "CN1CCC[C@H]1c1cccnc1"]
    ds = load(pd.DataFrame({"smiles": smiles}), properties=COMPUTED)
    assert ds.property_names == COMPUTED
    assert ds.properties.shape == (5, 6)
    for i, s in enumerate(ds.smiles):
        mol = Chem.MolFromSmiles(s)
        expected = [properties.PROPERTIES[name](mol) for name in COMPUTED]
        np.testing.assert_allclose(ds.properties[i], expected, rtol=1e-6, atol=1e-5)
    mw = dict(zip(ds.smiles, ds.properties[:, COMPUTED.index("mw")].tolist(), strict=True))
    assert mw["CCO"] == pytest.approx(46.069, abs=1e-3)


def test_computed_properties_use_the_cleaned_molecule():
    # The salt's properties are those of acetic acid, not of the sodium salt.
    ds = load(pd.DataFrame({"smiles": ["CC(=O)[O-].[Na+]"]}), properties=["MW"])
    assert ds.property_names == ["mw"]
    assert ds.properties[0, 0] == pytest.approx(60.052, abs=1e-3)


def test_file_columns_and_computed_properties_together():
    ds = load(MESSY, properties=["logp", "PIC50"])
    assert ds.property_names == ["logp", "pIC50"]  # the order asked for
    row9 = ds.rows.tolist().index(9)
    assert ds.properties[row9].tolist() == pytest.approx(
        [properties.PROPERTIES["logp"](Chem.MolFromSmiles("CC(=O)O")), 3.0]
    )


def test_unknown_property_is_a_user_error():
    with pytest.raises(UserError) as err:
        load(MESSY, properties=["pIC50", "potency"])
    assert_one_sentence(err, "'potency'", "SMILES, name, pIC50", "logp", "plogp", "--properties")


# ---------------------------------------------------------------------------------------------
# The on-disk cache


def cached(source, cache: Path, **cfg) -> MolDataset:
    cfg.setdefault("n_jobs", 1)
    return load_dataset(source, DataConfig(cache_dir=str(cache), **cfg), progress=False)


def assert_same_dataset(a: MolDataset, b: MolDataset) -> None:
    assert a.smiles == b.smiles
    assert a.vocab == b.vocab
    assert a.tokens.dtype == b.tokens.dtype
    np.testing.assert_array_equal(a.tokens, b.tokens)
    np.testing.assert_array_equal(a.offsets, b.offsets)
    np.testing.assert_array_equal(a.properties, b.properties)  # NaN == NaN here
    np.testing.assert_array_equal(a.rows, b.rows)
    assert a.property_names == b.property_names
    assert a.n_input == b.n_input
    pd.testing.assert_frame_equal(a.rejects, b.rejects, check_dtype=False)


def test_second_load_comes_from_the_cache(tmp_path):
    cache = tmp_path / "cache"
    first = cached(MESSY, cache, properties=["pIC50"])
    second = cached(MESSY, cache, properties=["pIC50"])
    assert not first.from_cache and second.from_cache
    assert_same_dataset(first, second)
    assert second.source == str(MESSY)
    assert len(list(cache.glob("*.npz"))) == 1
    # n_jobs does not change what clean-up produces, so it shares the cache.
    assert cached(MESSY, cache, properties=["pIC50"], n_jobs=2).from_cache


def test_cache_is_keyed_by_content_not_path(tmp_path):
    cache = tmp_path / "cache"
    copy = tmp_path / "copy.csv"
    copy.write_bytes(MESSY.read_bytes())
    cached(MESSY, cache)
    again = cached(copy, cache)
    assert again.from_cache and again.source == str(copy)


def test_changed_clean_up_option_misses_the_cache(tmp_path):
    cache = tmp_path / "cache"
    default = cached(MESSY, cache, properties=["pIC50"])
    short = cached(MESSY, cache, properties=["pIC50"], max_tokens=8)
    assert not short.from_cache
    assert short.reject_counts()[chem.TOO_LONG] > default.reject_counts()[chem.TOO_LONG]
    assert short.lengths.max() <= 8
    assert not cached(MESSY, cache, properties=[]).from_cache
    assert not cached(MESSY, cache, properties=["pIC50"], strip_isotopes=False).from_cache
    assert cached(MESSY, cache, properties=["pIC50"], max_tokens=8).from_cache
    assert len(list(cache.glob("*.npz"))) == 4


def test_smiles_tokens_key_the_cache_and_tokenise_the_kept_smiles(tmp_path):
    cache = tmp_path / "cache"
    selfies = cached(MESSY, cache, properties=["pIC50"])
    smiles = cached(MESSY, cache, properties=["pIC50"], tokens="smiles")
    assert not smiles.from_cache and len(list(cache.glob("*.npz"))) == 2
    assert smiles.smiles == selfies.smiles and smiles.vocab != selfies.vocab  # same clean-up
    for i, s in enumerate(smiles.smiles):
        assert smiles.vocab.decode(smiles.token_ids(i)) == s  # the canonical SMILES itself
    reasons = dict(zip(smiles.rejects["row"], smiles.rejects["reason"], strict=True))
    assert reasons[12] == chem.UNSUPPORTED_SMILES  # *c1ccccc1
    again = cached(MESSY, cache, properties=["pIC50"], tokens="smiles")
    assert again.from_cache and again.vocab == smiles.vocab
    assert cached(MESSY, cache, properties=["pIC50"]).vocab == selfies.vocab
    assert DataConfig(tokens="smiles").cleaning_key() != DataConfig().cleaning_key()


def test_unknown_tokens_setting_is_a_one_sentence_error():
    with pytest.raises(UserError, match="tokens must be one of selfies, smiles"):
        DataConfig(tokens="inchi")


def test_changed_file_content_misses_the_cache(tmp_path):
    cache = tmp_path / "cache"
    path = tmp_path / "t.csv"
    path.write_bytes(MESSY.read_bytes())
    assert len(cached(path, cache, properties=["pIC50"])) == 10
    with open(path, "a", encoding="utf-8") as fh:
        fh.write("CCCl,chloroethane,4.4\n")
    grown = cached(path, cache, properties=["pIC50"])
    assert not grown.from_cache
    assert len(grown) == 11 and grown.smiles[-1] == "CCCl"


def test_dataframe_cache_follows_its_content(tmp_path):
    cache = tmp_path / "cache"
    frame = pd.DataFrame({"smiles": ["CCO", "CCN"]})
    assert not cached(frame, cache).from_cache
    assert cached(frame.copy(), cache).from_cache
    assert not cached(pd.DataFrame({"smiles": ["CCO", "CCC"]}), cache).from_cache


def test_damaged_cache_is_rebuilt(tmp_path):
    cache = tmp_path / "cache"
    first = cached(MESSY, cache)
    (npz,) = cache.glob("*.npz")
    npz.write_bytes(b"not a zip file")
    rebuilt = cached(MESSY, cache)
    assert not rebuilt.from_cache
    assert_same_dataset(first, rebuilt)
    assert cached(MESSY, cache).from_cache


def test_use_cache_false_writes_nothing_and_env_sets_the_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("MOLVAE_CACHE", str(tmp_path / "env_cache"))
    assert cache_dir(DataConfig()) == tmp_path / "env_cache"
    assert cache_dir(DataConfig(cache_dir=str(tmp_path / "x"))) == tmp_path / "x"
    load(MESSY)
    assert not (tmp_path / "env_cache").exists()
    load_dataset(MESSY, DataConfig(n_jobs=1), progress=False)
    assert len(list((tmp_path / "env_cache").glob("*.npz"))) == 1
    monkeypatch.delenv("MOLVAE_CACHE")
    assert cache_dir(DataConfig()) == Path.home() / ".cache" / "molvae"


# ---------------------------------------------------------------------------------------------
# Parallel clean-up


def test_parallel_clean_up_matches_serial(tmp_path, monkeypatch):
    """Worker processes with their own token ids give exactly the serial result."""
    monkeypatch.setattr(data, "_CHUNK", 60)
    moses = pd.read_csv(DATA / "moses_train_2k.csv")["SMILES"].tolist()[:240]
    messy = pd.read_csv(MESSY, dtype=str, keep_default_na=False)
    # Messy rows spread across chunks; repeats of early molecules land in later chunks.
    cells = moses[:100] + messy["SMILES"].tolist() + moses[100:] + moses[:15] + ["OCC"]
    y = [f"{i / 10:.1f}" for i in range(len(cells))]
    y[101] = "n/a"  # aspirin
    path = tmp_path / "big.csv"
    pd.DataFrame({"smiles": cells, "y": y}).to_csv(path, index=False)
    n = len(cells)
    assert n >= 2 * data._CHUNK and data._n_workers(2, n) == 2

    serial = load(path, properties=["y", "mw"], n_jobs=1)
    parallel = load(path, properties=["y", "mw"], n_jobs=2)
    assert_same_dataset(serial, parallel)
    assert serial.n_input == n
    # Duplicates: messy's own two, its row 2 (= MOSES row 1), 15 repeated MOSES rows, OCC.
    assert serial.reject_counts() == {
        chem.DUPLICATE: 2 + 1 + 15 + 1,
        chem.UNPARSEABLE: 2,
        chem.EMPTY: 1,
        chem.UNSUPPORTED_ELEMENT: 1,
        chem.UNSUPPORTED_SELFIES: 1,
        chem.TOO_LONG: 1,
        chem.BAD_PROPERTY: 1,
    }
    assert serial.rejects["row"].iloc[-1] == n + 1  # OCC, the last line of the file


def test_n_workers_stays_serial_for_small_inputs(monkeypatch):
    monkeypatch.setattr(data, "_CHUNK", 100)
    assert data._n_workers(4, 199) == 1
    assert data._n_workers(4, 200) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: 3)
    assert data._n_workers(0, 200) == 3


# ---------------------------------------------------------------------------------------------
# MolDataset


@pytest.fixture(scope="module")
def moses_ds() -> MolDataset:
    """200 MOSES molecules with logp, built once for this module."""
    frame = pd.read_csv(DATA / "moses_train_2k.csv").iloc[:200]
    return load_dataset(
        frame, DataConfig(properties=["logp"], n_jobs=1), progress=False, use_cache=False
    )


def test_split_is_seeded_disjoint_and_complete(moses_ds):
    train, val = moses_ds.split(0.1, seed=3)
    assert (len(train), len(val)) == (180, 20)
    assert set(train.smiles).isdisjoint(val.smiles)
    assert set(train.smiles) | set(val.smiles) == set(moses_ds.smiles)
    assert sorted(train.rows.tolist() + val.rows.tolist()) == moses_ds.rows.tolist()
    again_train, again_val = moses_ds.split(0.1, seed=3)
    assert again_val.smiles == val.smiles and again_train.smiles == train.smiles
    other_train, other_val = moses_ds.split(0.1, seed=4)
    assert other_val.smiles != val.smiles
    assert train.rows.tolist() == sorted(train.rows.tolist())  # input order kept


def test_split_sizes(moses_ds):
    assert [len(p) for p in moses_ds.split(0.0, seed=0)] == [200, 0]
    assert [len(p) for p in moses_ds.split(0.001, seed=0)] == [199, 1]  # at least one
    small = moses_ds.subset(range(9))
    assert [len(p) for p in small.split(0.05, seed=0)] == [9, 0]  # too few to hold out
    assert [len(p) for p in small.split(0.5, seed=0)] == [5, 4]


def test_subset_keeps_tokens_properties_and_rows(moses_ds):
    index = [7, 0, 150, 3]
    sub = moses_ds.subset(index)
    assert len(sub) == 4 and sub.n_input == 4
    assert sub.smiles == [moses_ds.smiles[i] for i in index]
    assert sub.rows.tolist() == moses_ds.rows[index].tolist()
    np.testing.assert_array_equal(sub.properties, moses_ds.properties[index])
    for j, i in enumerate(index):
        np.testing.assert_array_equal(sub.token_ids(j), moses_ds.token_ids(i))
    assert sub.offsets[-1] == len(sub.tokens)
    assert sub.vocab is moses_ds.vocab
    assert len(sub.rejects) == 0
    assert len(moses_ds.subset([])) == 0


def test_to_padded_ends_with_eos_then_pads_with_zero(moses_ds):
    sub = moses_ds.subset([0, 1, 2, 3, 4])
    ids, lengths = sub.to_padded()
    assert ids.dtype == torch.int64 and lengths.dtype == torch.int64
    assert lengths.tolist() == (sub.lengths + 1).tolist()
    assert ids.shape == (5, int(sub.lengths.max()) + 1)
    eos = sub.vocab.eos_id
    for i in range(5):
        n = int(lengths[i])
        assert ids[i, : n - 1].tolist() == sub.token_ids(i).tolist()
        assert ids[i, n - 1] == eos
        assert (ids[i, n:] == sub.vocab.pad_id).all() and sub.vocab.pad_id == 0
        assert (ids[i, : n - 1] >= 4).all()  # no specials inside a molecule
        assert chem.from_selfies(sub.vocab.decode(ids[i])) == sub.smiles[i]


def test_to_padded_in_another_vocabulary(moses_ds):
    sub = moses_ds.subset([0, 1, 2])
    bigger = Vocab([*moses_ds.vocab.itos, "[#Xe]", "[=Au]"])  # sorts before most tokens
    assert bigger.stoi != moses_ds.vocab.stoi
    ids, lengths = sub.to_padded(bigger)
    own, own_lengths = sub.to_padded()
    assert not torch.equal(ids, own)
    assert torch.equal(lengths, own_lengths)
    for i in range(3):
        assert bigger.decode(ids[i]) == sub.vocab.decode(own[i])
    used = sub.vocab.itos[int(sub.tokens[0])]
    smaller = Vocab(t for t in sub.vocab.itos if t != used)
    with pytest.raises(ValueError, match="missing from the vocabulary"):
        sub.to_padded(smaller)


def test_split_by_vocab_rejects_molecules_with_unknown_tokens(moses_ds):
    def selfies_tokens(i: int) -> list[str]:
        return [moses_ds.vocab.itos[t] for t in moses_ds.token_ids(i)]

    vocab = Vocab.build(selfies_tokens(i) for i in range(50))  # the first 50 molecules' tokens
    unknown = [i for i in range(len(moses_ds)) if vocab.unknown(selfies_tokens(i))]
    assert unknown and min(unknown) >= 50  # the test needs molecules to reject

    kept, rejects = moses_ds.split_by_vocab(vocab)
    assert list(rejects.columns) == ["row", "input", "reason"]
    assert len(kept) + len(rejects) == len(moses_ds)
    assert rejects["row"].tolist() == moses_ds.rows[unknown].tolist()
    assert rejects["input"].tolist() == [moses_ds.smiles[i] for i in unknown]
    assert set(rejects["reason"]) == {"token not in vocabulary"}
    assert set(kept.smiles).isdisjoint(rejects["input"])
    assert kept.to_padded(vocab)[0].shape[0] == len(kept)  # now every token maps
    everything, none = moses_ds.split_by_vocab(moses_ds.vocab)
    assert len(everything) == len(moses_ds) and len(none) == 0

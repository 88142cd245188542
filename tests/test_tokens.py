"""molvae.tokens: the vocabulary and its ids; the SMILES tokenizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from molvae.data import chem
from molvae.data.tokens import BOS, EOS, PAD, SPECIALS, UNK, Vocab, split_smiles

DATA = Path(__file__).resolve().parents[1] / "data"

TOKENS = ["[O]", "[C]", "[=C]", "[Ring1]", "[C]", "[N]"]


@pytest.fixture
def vocab() -> Vocab:
    return Vocab(TOKENS)


def test_specials_take_ids_0_to_3(vocab):
    assert SPECIALS == (PAD, BOS, EOS, UNK) == ("<pad>", "<bos>", "<eos>", "<unk>")
    assert vocab.itos[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert (vocab.pad_id, vocab.bos_id, vocab.eos_id, vocab.unk_id) == (0, 1, 2, 3)
    assert [vocab.stoi[t] for t in SPECIALS] == [0, 1, 2, 3]


def test_real_tokens_follow_sorted_and_unique(vocab):
    assert vocab.itos[4:] == ["[=C]", "[C]", "[N]", "[O]", "[Ring1]"]
    assert len(vocab) == 9
    assert all(vocab.stoi[t] == i for i, t in enumerate(vocab.itos))


def test_ids_do_not_depend_on_token_order_or_specials_in_input():
    assert Vocab(reversed(TOKENS)) == Vocab(TOKENS)
    assert Vocab([*TOKENS, EOS, PAD]) == Vocab(TOKENS)
    assert Vocab(TOKENS) != Vocab(TOKENS[:2])
    assert Vocab(TOKENS) != TOKENS


def test_build_collects_every_token_of_every_list():
    lists = [["[C]", "[O]"], ["[N]", "[C]"], []]
    assert Vocab.build(lists).itos[4:] == ["[C]", "[N]", "[O]"]
    assert len(Vocab.build([])) == 4


def test_encode_appends_eos(vocab):
    assert vocab.encode(["[C]", "[O]"]) == [5, 7, 2]
    assert vocab.encode([]) == [vocab.eos_id]


def test_encode_raises_key_error_on_unknown_token(vocab):
    with pytest.raises(KeyError):
        vocab.encode(["[C]", "[Xe]"])


def test_decode_stops_at_eos_and_skips_specials(vocab):
    c, o, n = vocab.stoi["[C]"], vocab.stoi["[O]"], vocab.stoi["[N]"]
    assert vocab.decode([c, o, vocab.eos_id, n, n]) == "[C][O]"
    assert vocab.decode([vocab.bos_id, c, vocab.unk_id, vocab.pad_id, o]) == "[C][O]"
    assert vocab.decode([vocab.eos_id, c]) == ""
    assert vocab.decode([]) == ""
    # Tensors and numpy arrays of ids work the same.
    assert vocab.decode(np.array([c, c, o, vocab.eos_id, vocab.pad_id])) == "[C][C][O]"


def test_encode_then_decode_round_trips_a_molecule():
    result = chem.clean("CC(=O)Oc1ccccc1C(=O)O", chem.CleanOptions())
    _, tokens = result.smiles, list(result.tokens)
    vocab = Vocab(tokens)
    ids = vocab.encode(tokens)
    assert ids[-1] == vocab.eos_id and len(ids) == len(tokens) + 1
    assert chem.from_selfies(vocab.decode(ids)) == "CC(=O)Oc1ccccc1C(=O)O"


def test_to_list_from_list_round_trip_keeps_ids(vocab):
    saved = vocab.to_list()
    assert saved == vocab.itos and saved is not vocab.itos  # a copy
    loaded = Vocab.from_list(saved)
    assert loaded == vocab and loaded.stoi == vocab.stoi
    # A saved list is kept in its own order, even one not sorted (an older vocabulary).
    unsorted = [*SPECIALS, "[O]", "[C]"]
    assert Vocab.from_list(unsorted).stoi["[O]"] == 4


def test_from_list_rejects_a_list_without_specials():
    with pytest.raises(ValueError, match="special tokens missing"):
        Vocab.from_list(["[C]", "[O]"])
    with pytest.raises(ValueError):
        Vocab.from_list([EOS, PAD, BOS, UNK, "[C]"])


def test_remap_from_maps_ids_and_marks_missing_with_minus_one():
    old = Vocab(["[C]", "[O]", "[S]"])  # ids: [C]=4 [O]=5 [S]=6
    new = Vocab(["[=C]", "[C]", "[O]"])  # ids: [=C]=4 [C]=5 [O]=6
    table = new.remap_from(old)
    assert table.dtype == np.int64
    assert table.tolist() == [0, 1, 2, 3, 5, 6, -1]
    ids = np.array(old.encode(["[C]", "[O]"]))
    assert new.decode(table[ids]) == old.decode(ids) == "[C][O]"
    assert old.remap_from(old).tolist() == list(range(len(old)))


def test_unknown_lists_tokens_not_in_the_vocabulary(vocab):
    assert vocab.unknown(["[C]", "[Xe]", "[O]", "[Xe]", "[Si]"]) == ["[Xe]", "[Xe]", "[Si]"]
    assert vocab.unknown(["[C]", "[O]"]) == []
    assert vocab.unknown([]) == []


def test_atom_mask_marks_atoms_only():
    vocab = Vocab(["[C]", "[Branch1]", "[=Ring1]", "[N+1]", "[=O]"])
    atoms = {t for t, ok in zip(vocab.itos, vocab.atom_mask("selfies"), strict=True) if ok}
    assert atoms == {"[C]", "[N+1]", "[=O]"}


def test_smiles_atom_mask_allows_every_atom_and_no_branch_bond_or_ring_bond():
    atoms = ["C", "c", "N", "n", "O", "S", "F", "Cl", "Br", "I", "[nH]", "[C@@H]", "[N+]", "[O-]"]
    others = ["(", ")", "1", "9", "%10", "=", "#", "-", "/", "\\", ".", ":"]
    vocab = Vocab([*atoms, *others])
    mask = vocab.atom_mask("smiles")
    assert {t for t, ok in zip(vocab.itos, mask, strict=True) if ok} == set(atoms)
    assert not mask[: len(SPECIALS)].any()


# ---------------------------------------------------------------------------------------------
# The SMILES tokenizer


@pytest.mark.parametrize(
    ("smiles", "tokens"),
    [
        ("CCO", ["C", "C", "O"]),
        ("ClCBr", ["Cl", "C", "Br"]),  # two-letter halogens are one token
        ("BrC(Cl)B", ["Br", "C", "(", "Cl", ")", "B"]),  # ... and boron stays B
        ("c1cc[nH]c1", ["c", "1", "c", "c", "[nH]", "c", "1"]),  # a bracket atom is one token
        ("C[C@@H](N)O", ["C", "[C@@H]", "(", "N", ")", "O"]),
        ("C[N+](=O)[O-]", ["C", "[N+]", "(", "=", "O", ")", "[O-]"]),
        ("[2H]C#N", ["[2H]", "C", "#", "N"]),
        ("C%10CC%10", ["C", "%10", "C", "C", "%10"]),  # a two-digit ring bond is one token
        ("C12CC1C2", ["C", "1", "2", "C", "C", "1", "C", "2"]),  # single digits are not
        ("C/C=C\\C", ["C", "/", "C", "=", "C", "\\", "C"]),
        ("C.O", ["C", ".", "O"]),
    ],
)
def test_split_smiles_tokens(smiles, tokens):
    assert split_smiles(smiles) == tuple(tokens)


@pytest.mark.parametrize("smiles", ["C*", "*C(=O)O", "C%(100)CC%(100)", "C[NH3+", "CC+", "C@C"])
def test_split_smiles_refuses_what_does_not_join_back(smiles):
    assert split_smiles(smiles) is None


def test_split_smiles_round_trips_the_moses_test_set():
    raw = pd.read_csv(DATA / "moses_test_1k.csv")["SMILES"]
    canonical = [chem.to_smiles(s) for s in raw]
    assert None not in canonical
    split = [split_smiles(s) for s in canonical]
    assert all(t is not None and "".join(t) == s for s, t in zip(canonical, split, strict=True))
    tokens = {t for toks in split for t in toks}
    assert {"Cl", "Br", "[nH]"} <= tokens and not {"l", "r", "[", "]"} & tokens
    # Every token is a bracket atom or at most two characters (Cl, Br, %NN has three).
    assert all(t.startswith("[") or len(t) <= 2 for t in tokens)
    # Through a vocabulary and back: the decoded string is the molecule.
    vocab = Vocab.build(split)
    ids = vocab.encode(split[0])
    assert chem.tokens_to_smiles(vocab.decode(ids), "smiles") == canonical[0]

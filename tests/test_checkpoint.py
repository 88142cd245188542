import copy
import os

import pytest
import torch

from molvae import MolVAE, hashes
from molvae.errors import UserError
from molvae.train import checkpoint


class _Payload:
    """Stands in for a malicious object: unpickling it would run code."""

    def __reduce__(self):
        return (os.system, ("echo pwned > /dev/null",))


def test_round_trip_is_atomic_and_self_describing(tmp_path):
    path = tmp_path / "m.pt"
    checkpoint.save(path, {"state_dict": {"w": torch.ones(2)}, "vocab": ["<pad>"]})
    ck = checkpoint.load(path)
    assert ck["format"] == checkpoint.FORMAT and torch.equal(ck["state_dict"]["w"], torch.ones(2))
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": checkpoint.FORMAT, "payload": _Payload()}, path)
    with pytest.raises(UserError, match="could run code"):
        checkpoint.load(path)


def test_missing_and_foreign_files(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        checkpoint.load(tmp_path / "nope.pt")
    foreign = tmp_path / "foreign.pt"
    torch.save({"weights": torch.zeros(1)}, foreign)
    with pytest.raises(UserError, match="not a molvae checkpoint"):
        checkpoint.load(foreign)
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a zip file at all")
    with pytest.raises(UserError, match="not a readable"):
        checkpoint.load(junk)


def test_smiles_hashes_membership():
    known = hashes.smiles_hashes(["CCO", "c1ccccc1", "CCO"])
    assert len(known) == 2 and known.dtype == torch.int64
    assert hashes.contains(known, ["CCO", "CCN", "c1ccccc1"]).tolist() == [True, False, True]


def test_compact_hashes_answer_as_the_full_ones_in_a_slim_file(tiny_model, tmp_path):
    train = [f"C{'C' * i}O" for i in range(300)]
    full = hashes.smiles_hashes(train)
    short = hashes.compact(full)
    assert short.dtype == torch.int32 and len(short) == 300
    assert torch.equal(hashes.compact(short), short)  # a slim file saved again keeps them
    others = [f"N{'C' * i}N" for i in range(300)]
    assert hashes.contains(short, train).all() and not hashes.contains(short, others).any()
    tiny_model.save(tmp_path / "slim.pt", half=True)
    slim = MolVAE.load(tmp_path / "slim.pt")
    assert slim.train_hashes.dtype == torch.int32  # half the bytes of the 64-bit record
    sample = list(tiny_model.train_sample[:50])
    assert slim.in_training_set(sample).all()
    assert list(slim.in_training_set(others[:50])) == list(tiny_model.in_training_set(others[:50]))


def test_packing_keeps_every_hash_in_half_the_bytes():
    edges = torch.tensor([-(2**31), -65537, -1, 0, 65535, 65536, 2**31 - 1], dtype=torch.int32)
    assert torch.equal(hashes.unpack(hashes.pack(edges)), edges)
    many = hashes.compact(hashes.smiles_hashes([f"C{i}" for i in range(100_000)]))
    packed = hashes.pack(many)
    assert packed.dtype == torch.int16 and packed.numel() == 65_536 + len(many)
    assert torch.equal(hashes.unpack(packed), many)
    with pytest.raises(ValueError, match="sorted"):
        hashes.pack(torch.tensor([5, 70_000, 3], dtype=torch.int32))
    with pytest.raises(ValueError, match="damaged"):
        hashes.unpack(packed[:-1])


def test_a_slim_file_packs_a_large_training_record(tiny_model, tmp_path):
    train = [f"C{i}" for i in range(hashes.PACK_ABOVE + 10)]
    big = copy.deepcopy(tiny_model)
    big.train_hashes = hashes.smiles_hashes(train)
    big.save(tmp_path / "slim.pt", half=True)
    stored = torch.load(tmp_path / "slim.pt", weights_only=True)
    assert "train_hashes" not in stored  # an older molvae finds no hashes rather than wrong ones
    packed = stored["train_hashes_packed"]
    assert packed.dtype == torch.int16 and packed.numel() == 65_536 + len(train)  # 16 bits each
    slim = MolVAE.load(tmp_path / "slim.pt")
    assert torch.equal(slim.train_hashes, hashes.compact(big.train_hashes))
    assert slim.in_training_set(train[::1000]).all()
    assert not slim.in_training_set([f"N{i}" for i in range(1000)]).any()
    few: dict = {}
    hashes.to_file(few, "train_hashes", hashes.smiles_hashes(train[:100]), True)
    assert few["train_hashes"].dtype == torch.int32  # a few stay 32-bit


def test_trained_checkpoint_loads_with_weights_only(tiny_model, tmp_path):
    path = tmp_path / "saved.pt"
    tiny_model.save(path)
    raw = torch.load(path, weights_only=True)
    for key in (
        "model_config",
        "data_config",
        "vocab",
        "state_dict",
        "property_names",
        "property_mean",
        "property_std",
        "versions",
        "train_hashes",
    ):
        assert key in raw
    assert "train_state" not in raw


def test_a_checkpoint_without_tokens_loads_as_a_selfies_model(tiny_model):
    ckpt = tiny_model.to_checkpoint()
    del ckpt["data_config"]["tokens"]  # written before the tokens setting existed
    old = MolVAE.from_checkpoint(ckpt, device="cpu")
    assert old.data_config.tokens == "selfies" and old.model.grammar is not None
    z = torch.randn(20, old.latent_dim, generator=torch.Generator().manual_seed(0))
    assert old.decode(z) == tiny_model.decode(z)


def test_a_smiles_model_saves_and_loads_as_one(tiny_smiles_model, tmp_path):
    path = tmp_path / "smiles.pt"
    tiny_smiles_model.save(path)
    assert torch.load(path, weights_only=True)["data_config"]["tokens"] == "smiles"
    loaded = MolVAE.load(path, device="cpu")
    assert loaded.data_config.tokens == "smiles" and loaded.model.grammar is None
    assert loaded.vocab == tiny_smiles_model.vocab
    z = torch.randn(50, loaded.latent_dim, generator=torch.Generator().manual_seed(0))
    assert loaded.decode(z) == tiny_smiles_model.decode(z)


def test_resuming_with_the_other_tokens_is_refused_in_one_sentence(tiny_smiles_model, tiny_model):
    with pytest.raises(UserError) as err:
        checkpoint.check_resume("runs/x/last.pt", tiny_smiles_model, tiny_model)
    message = str(err.value)
    assert "SMILES model" in message and "--tokens smiles" in message
    assert message.count(". ") == 0 and message.endswith(".")

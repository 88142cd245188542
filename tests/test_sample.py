"""molvae.sample: strict sampling (unrepaired SELFIES, valid SMILES) and its raw strict rate."""

import copy

import pytest
import selfies as sf
import torch

from molvae import hashes, roundtrip, sample
from molvae.data.chem import from_selfies, is_strict_selfies, to_mol, to_selfies, to_smiles
from molvae.data.tokens import split_smiles
from molvae.prior import LatentPrior, fit_prior


def test_training_selfies_are_strict_and_repaired_strings_are_not():
    for smiles in ["CC(=O)Nc1ccc(O)cc1", "c1ccc2[nH]ccc2c1", "O=C1CCCCN1", "CC(C)(C)Br"]:
        assert is_strict_selfies(to_selfies(smiles))
    # An atom after =O: oxygen has no valence left, so SELFIES ignores the rest of the string.
    assert from_selfies("[C][=O][C][C]") == "C=O"
    assert not is_strict_selfies("[C][=O][C][C]")
    # A ring closure onto the atom it starts from cannot be made and is dropped.
    assert not is_strict_selfies("[C][Ring1][C]")
    # A triple bond that nitrogen's neighbour cannot take is lowered to fit.
    assert not is_strict_selfies("[O][#N]")
    assert not is_strict_selfies("")


def test_strict_sampling_keeps_only_strict_molecules_and_counts_the_rest(tiny_model):
    got = sample.sample_molecules(tiny_model, 20, seed=0, strict=True)
    raw = sample.sample_molecules(tiny_model, 20, seed=0, strict=False)
    assert raw.drawn == 20 and len(raw.smiles) == 20  # no strictness: one decode per molecule
    assert got.drawn >= len(got.smiles) == 20
    assert 0 < got.strict_rate <= 1 and got.strict == round(got.strict_rate * got.drawn)
    canonical = {from_selfies(to_selfies(s)) for s in got.smiles}
    assert canonical == set(got.smiles)  # every kept molecule is a real decode
    assert got.smiles == sample.sample_molecules(tiny_model, 20, seed=0, strict=True).smiles


def test_strict_sampling_stops_at_its_decode_budget(tiny_model, monkeypatch):
    monkeypatch.setattr(sample, "is_strict", lambda text, tokens: False)
    got = sample.sample_molecules(tiny_model, 4, seed=0, strict=True)
    assert got.smiles == [] and got.strict == 0
    assert got.drawn == sample.MAX_DRAWS_PER_MOLECULE * 4


def test_the_strict_check_is_selfies_round_trip():
    text = "[C][C][Branch1][C][O][C]"
    assert is_strict_selfies(text) == (sf.encoder(sf.decoder(text)) == text)


def test_a_smiles_model_has_no_grammar_and_decodes_smiles(tiny_smiles_model):
    vae = tiny_smiles_model
    assert vae.data_config.tokens == "smiles" and vae.model_config.grammar
    assert vae.model.grammar is None  # the SELFIES grammar is for SELFIES models only
    assert {"(", ")", "1", "c", "C"} <= set(vae.vocab.itos)
    # Token ids of a SMILES become that molecule, canonical; invalid strings become None.
    ids = [vae.vocab.encode(split_smiles(s)) for s in ["Oc1ccccc1", "C(C"]]
    rows = torch.tensor([ids[0], ids[1] + [vae.vocab.pad_id] * (len(ids[0]) - len(ids[1]))])
    assert sample.ids_to_smiles(rows, vae.vocab, "smiles") == ["Oc1ccccc1", None]
    assert sample.ids_to_smiles(rows, vae.vocab, "selfies") == [None, None]


def test_smiles_model_strict_sampling_keeps_valid_molecules_and_counts_the_rest(
    tiny_smiles_model,
):
    got = sample.sample_molecules(tiny_smiles_model, 10, seed=0, strict=True)
    assert len(got.smiles) == 10 and got.drawn > 10  # most tiny-model decodes are invalid
    assert all(to_smiles(s) == s for s in got.smiles)  # valid and canonical
    assert 0 < got.strict_rate < 1 and got.strict == round(got.strict_rate * got.drawn)
    raw = sample.sample_molecules(tiny_smiles_model, 200, seed=1, strict=False)
    assert raw.drawn == len(raw.smiles) == 200
    valid = [s for s in raw.smiles if s is not None]
    assert len(valid) == raw.strict < 200  # strict is the valid rate; invalid ones are None
    assert all(to_mol(s) is not None for s in valid)


ODD = ["C=CC=CC=CC=CC=CC=CC=CC=CN", "C1CCCCCCCCCCCCCCCCCCC1", "OOC1=CC=CC=CC=C1N=NC"]


@pytest.mark.parametrize("name", ["pretrained", "tiny_smiles_model"])
def test_self_consistent_means_greedy_decoding_gives_back_the_tokens(name, request, moses_smiles):
    vae = request.getfixturevalue(name)
    ds, _ = vae.prepare(moses_smiles[:40] + ODD)
    bounds = zip(ds.offsets[:-1], ds.offsets[1:], strict=True)
    own = [ds.vocab.decode(ds.tokens[a:b]) for a, b in bounds]
    tokens = vae.data_config.tokens
    greedy = sample.decode_texts(vae.model, vae.vocab, tokens, vae.encode_dataset(ds), vae.max_len)
    ok = roundtrip.self_consistent(vae, [*ds.smiles, None])
    assert ok == [a == b for a, b in zip(own, greedy, strict=True)] + [False]
    if name == "pretrained":  # it reconstructs most MOSES molecules, not the odd ones
        assert sum(ok) > 30 and not any(ok[-len(ODD) - 1 :])


def test_consistent_sampling_keeps_only_molecules_the_model_reconstructs(pretrained):
    got = sample.sample_molecules(pretrained, 20, seed=0, consistent=True)
    assert len(got.smiles) == 20 and len(set(got.smiles)) > 15
    assert all(roundtrip.self_consistent(pretrained, got.smiles))
    assert got.checked >= 20 and 0 < got.consistent_rate < 1  # some decodes were thrown away
    assert got.consistent_rate == got.consistent / got.checked
    # The bundled model samples this way by default.
    assert pretrained.prior.consistent_spread is not None
    assert sample.sample_molecules(pretrained, 5, seed=0).consistent is not None
    assert sample.sample_molecules(pretrained, 5, seed=0, consistent=False).consistent is None


def test_the_check_applies_generates_grammar_masks_and_length_budget(pretrained):
    grammar, vocab = pretrained.model.grammar, pretrained.vocab
    ds, _ = pretrained.prepare(["CCO"])
    ids, _ = ds.to_padded(vocab)
    row = ids[0].tolist()  # [C][C][O] <eos>
    assert grammar.is_strict_path(row, pretrained.max_len - 1)
    ring = vocab.stoi["[Ring1]"]
    assert not grammar.is_strict_path([ring, *row], pretrained.max_len - 1)  # no atom yet
    assert not grammar.is_strict_path(row, 2)  # two tokens' budget: [O] is masked
    assert grammar.is_strict_path(row, 3)
    metoclopramide = "CCN(CC)CCNC(=O)c1cc(Cl)c(N)cc1OC"  # one the bundled model reconstructs
    assert roundtrip.self_consistent(pretrained, [metoclopramide]) == [True]


def test_a_mixture_prior_records_its_reference_molecules(tiny_model, moses_smiles):
    prior = fit_prior(tiny_model, moses_smiles[:300], "mixture", max_components=50)
    ds, _ = tiny_model.prepare(moses_smiles[:300])
    found = prior.is_reference([*ds.smiles, None, "C1CC1OOC"])
    assert sum(found[: len(ds)]) == 50 and found[-2:] == [False, False]  # the 50 kept
    for half in (False, True):  # a slim file keeps 32 bits of each hash
        back = LatentPrior.from_dict(prior.to_dict(half))
        assert back.is_reference(list(ds.smiles)) == found[: len(ds)]
    old = prior.to_dict()
    del old["reference_hashes"]  # a file written before: nothing is taken for a reference
    assert not any(LatentPrior.from_dict(old).is_reference(list(ds.smiles)))


@pytest.mark.parametrize("consistent", [True, False])
def test_sampling_leaves_out_draws_that_decode_to_a_reference(pretrained, consistent):
    """Two references, drawn at almost no spread, decode greedily to themselves: the default
    sampler keeps only the one that is not recorded as a reference, and counts the other."""
    a, b = "CC(=O)Nc1ccc(O)cc1", "COc1ccc2[nH]cc(CCNC(C)=O)c2c1"  # paracetamol, melatonin
    vae = copy.deepcopy(pretrained)
    mu = vae.encode([a, b])
    assert vae.decode(mu) == [a, b]
    prior = LatentPrior(mu.mean(0), torch.eye(vae.latent_dim), mu, torch.full_like(mu, 1e-4))
    prior.reference_hashes = hashes.smiles_hashes([a])
    vae.prior = prior
    args = (vae, 12, 0.0, 0, "auto", True, False, consistent)
    got = sample.sample_molecules(*args)
    assert got.smiles == [b] * 12
    assert got.references > 0 and got.references + 12 <= got.screened
    assert got.reference_rate == got.references / got.screened
    kept = sample.sample_molecules(*args, keep_references=True)
    assert set(kept.smiles) == {a, b} and kept.references == kept.screened == 0
    standard = sample.sample_molecules(vae, 3, 0.0, 0, "standard", True, False, consistent)
    assert standard.screened == 0  # N(0, I) draws are around no reference
    raw = sample.sample_molecules(vae, 12, 0.0, 0, "auto", False, False, False)
    assert raw.screened == 0 and a in raw.smiles  # --no-strict keeps every decode
    assert set(vae.sample(12, 0.0, 0, consistent=consistent, keep_references=True)) == {a, b}
    assert vae.sample(12, 0.0, 0, consistent=consistent) == [b] * 12


def test_sampling_rounds_share_one_order_of_references(pretrained, monkeypatch):
    seen = []
    real = LatentPrior.sample

    def spy(self, n, device, generator=None, consistent=False, picker=None):
        seen.append(picker)
        return real(self, n, device, generator, consistent, picker)

    monkeypatch.setattr(LatentPrior, "sample", spy)
    sample.sample_molecules(pretrained, 60, seed=0)
    assert len(seen) > 1 and seen[0] is not None and all(p is seen[0] for p in seen)

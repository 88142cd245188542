"""Fine-tuning a trained model (``molvae train --init``, :mod:`molvae.train.finetune`)."""

from __future__ import annotations

import pandas as pd
import pytest
import torch
from conftest import one_sentence
from typer.testing import CliRunner

from molvae import MolVAE
from molvae.cli.main import app
from molvae.config import DataConfig, load_preset, replace
from molvae.data.chem import UNKNOWN_TOKEN
from molvae.errors import UserError
from molvae.hashes import contains
from molvae.train import finetune
from molvae.train.run import train

#: A molecule whose SELFIES holds a token ([Se]) that no model trained on MOSES has.
SELENIDE = "CC[Se]CC"


def _fine_tune(init, smiles, tmp_path, lr=1e-12, epochs=1, **data):
    """Fine-tune ``init`` for ``epochs`` on ``smiles`` with the `small` preset's training
    settings (a different preset from the tiny model's, whose sizes must not be used)."""
    p = load_preset("small")
    return train(
        pd.DataFrame({"smiles": smiles}),
        out=tmp_path / "ft",
        preset="small",
        train_config=replace(p.train, epochs=epochs, lr=lr, batch_size=32),
        data_config=DataConfig(val_fraction=0.1, cache_dir=str(tmp_path / "cache"), **data),
        progress=False,
        init=init,
    )


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal but for steps of a vanishing learning rate (fresh weights differ by ~0.1)."""
    return torch.allclose(a.cpu().double(), b.cpu().double(), rtol=0, atol=1e-9)


def test_fine_tune_starts_from_the_trained_weights_vocab_and_head(
    tiny_model, moses_smiles, tmp_path
):
    """With a vanishing learning rate the fine-tuned model is the trained one, whatever the
    preset says; a molecule with a token the model lacks is rejected with its reason."""
    new = moses_smiles[1000:1100]
    ft = _fine_tune(tiny_model, [*new, SELENIDE], tmp_path, properties=["logp", "qed"])
    assert ft.model_config == tiny_model.model_config  # not the `small` preset's sizes
    assert ft.vocab == tiny_model.vocab
    a, b = tiny_model.model.state_dict(), ft.model.state_dict()
    assert a.keys() == b.keys()
    assert all(_same(a[k], b[k]) for k in a)  # head included
    assert (ft.standardiser.mean == tiny_model.standardiser.mean).all()  # the head's scaling
    rejects = pd.read_csv(tmp_path / "ft" / "rejects.csv")
    assert rejects.loc[rejects["input"] == SELENIDE, "reason"].tolist() == [UNKNOWN_TOKEN]
    # Novelty counts what both runs trained on.
    assert contains(ft.train_hashes, tiny_model.train_sample).all()
    assert contains(ft.train_hashes, ft.train_sample).all()
    assert not contains(tiny_model.train_hashes, ft.train_sample).all()


def test_fine_tune_on_other_properties_trains_a_new_head(tiny_model, moses_smiles, tmp_path):
    """A new head for ["sa", "logp"]; logP keeps the trained model's scaling, SA gets its own."""
    ft = _fine_tune(tiny_model, moses_smiles[1000:1100], tmp_path, properties=["sa", "logp"])
    assert ft.property_names == ["sa", "logp"]
    assert ft.model.head.net[-1].out_features == 2
    a, b = tiny_model.model.state_dict(), ft.model.state_dict()
    body = [k for k in a if not k.startswith("head.")]
    assert body and all(_same(a[k], b[k]) for k in body)
    logp = tiny_model.property_names.index("logp")
    assert ft.standardiser.mean[1] == tiny_model.standardiser.mean[logp]
    assert ft.standardiser.std[1] == tiny_model.standardiser.std[logp]
    assert 1.5 < ft.standardiser.mean[0] < 4.5 and 0.2 < ft.standardiser.std[0] < 1.5  # SA


def test_fine_tune_keeps_the_longest_decode_tokens_and_a_cvae_condition_scaling(
    tiny_model, tiny_smiles_model, tiny_cvae, tmp_path
):
    short = ["CCO", "CCN", "CCC", "CCCl", "COC", "CC(C)O", "CCOC", "NCCO"] * 3
    ft = _fine_tune(tiny_model, short, tmp_path / "short")
    assert ft.max_len == tiny_model.max_len > 8  # short molecules do not cut its decodes
    assert ft.property_names == tiny_model.property_names  # by default, the model's own
    smiles_ft = _fine_tune(tiny_smiles_model, short, tmp_path / "smiles")
    assert smiles_ft.data_config.tokens == "smiles" and smiles_ft.vocab == tiny_smiles_model.vocab
    cvae_ft = _fine_tune(tiny_cvae, short, tmp_path / "cvae", properties=["logp"])
    assert cvae_ft.model_config.condition == tiny_cvae.model_config.condition == ("logp",)
    old, new = tiny_cvae.property_names.index("logp"), cvae_ft.property_names.index("logp")
    assert cvae_ft.standardiser.mean[new] == tiny_cvae.standardiser.mean[old]
    assert cvae_ft.standardiser.std[new] == tiny_cvae.standardiser.std[old]


def test_slim_training_hashes_take_the_new_molecules_at_their_precision(pretrained):
    hashes = finetune.training_hashes(["CCO", "c1ccccc1"], pretrained)
    assert hashes.dtype == pretrained.train_hashes.dtype == torch.int32
    assert contains(hashes, ["CCO", "c1ccccc1", *pretrained.train_sample[:50]]).all()
    assert len(hashes) <= len(pretrained.train_hashes) + 2


def test_fine_tune_learns_the_new_molecules(tiny_model, moses_smiles, tmp_path):
    """A real fine-tune (learning rate > 0) fits its new molecules better than the start."""
    new = moses_smiles[1000:1200]
    ft = _fine_tune(tiny_model, new, tmp_path, lr=3e-3, epochs=5)
    before = tiny_model.score(new)[0]["recon_logprob"].mean()
    after = ft.score(new)[0]["recon_logprob"].mean()
    assert after > before + 1.0, (before, after)  # nats per molecule


def test_cli_init_refuses_tokens_and_condition_and_fine_tunes_with_its_preset(tiny_model, tmp_path):
    runner = CliRunner()
    path = tmp_path / "tiny.pt"
    tiny_model.save(path)
    data = tmp_path / "new.csv"
    pd.DataFrame({"SMILES": ["CCO", "CCN", "c1ccccc1O", "CC(=O)Nc1ccccc1"] * 5}).to_csv(data)
    args = ["train", str(data), "--init", str(path), "--epochs", "1", "--out", str(tmp_path / "o")]
    refused = runner.invoke(app, [*args, "--tokens", "smiles"])
    assert "--tokens cannot be combined with --init" in str(refused.exception)
    refused = runner.invoke(app, [*args, "--condition", "logp"])
    assert "keeps the sizes and condition" in str(refused.exception)
    done = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert done.exit_code == 0, done.output
    ft = MolVAE.load(tmp_path / "o" / "best.pt")
    assert ft.vocab == tiny_model.vocab
    assert ft.property_names == tiny_model.property_names  # no --properties: the model's
    preset = load_preset("finetune").train  # the default preset of a fine-tune
    assert (ft.train_config.lr, ft.train_config.kl_schedule) == (preset.lr, "constant")
    # ... at the model's own beta (the tiny preset's 0.01), not the preset's written 0.05
    assert ft.train_config.beta == tiny_model.train_config.beta != preset.beta
    beta = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache"), "--beta", "0.2"])
    assert beta.exit_code == 0, beta.output
    assert MolVAE.load(tmp_path / "o" / "best.pt").train_config.beta == 0.2
    inside = runner.invoke(app, [*args[:3], str(tmp_path / "o" / "best.pt"), *args[4:]])
    assert "choose another --out" in str(inside.exception)


def test_library_fine_tune_keeps_the_models_beta_unless_settings_are_given(
    tiny_model, moses_smiles, tmp_path
):
    ft = train(
        pd.DataFrame({"smiles": moses_smiles[1000:1040]}),
        out=tmp_path / "ft",
        data_config=DataConfig(val_fraction=0.1, cache_dir=str(tmp_path / "cache")),
        progress=False,
        init=tiny_model,
    )
    written = load_preset("finetune").train.beta
    assert ft.train_config.beta == tiny_model.train_config.beta != written
    assert finetune.train_settings(None, tiny_model).beta == tiny_model.train_config.beta
    assert finetune.train_settings("finetune", tiny_model).beta == tiny_model.train_config.beta
    assert finetune.train_settings("small", tiny_model) == load_preset("small").train
    assert finetune.train_settings(None, None) == load_preset("small").train


def test_init_errors_are_one_sentence(tiny_model, tmp_path):
    with pytest.raises(UserError) as missing:
        _fine_tune(str(tmp_path / "missing.pt"), ["CCO"] * 10, tmp_path)
    assert "does not exist" in str(missing.value) and one_sentence(str(missing.value))
    with pytest.raises(UserError) as sizes:
        train(["CCO"] * 10, init=tiny_model, model_config=load_preset("tiny").model)
    assert "keeps the sizes" in str(sizes.value) and one_sentence(str(sizes.value))
    (tmp_path / "ft").mkdir()
    tiny_model.save(tmp_path / "ft" / "best.pt")
    with pytest.raises(UserError) as inside:
        _fine_tune(str(tmp_path / "ft" / "best.pt"), ["CCO"] * 10, tmp_path)
    assert "choose another --out" in str(inside.value) and one_sentence(str(inside.value))

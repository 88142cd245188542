import re
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import torch
from typer.testing import CliRunner

from molvae.cli.main import app
from molvae.data.chem import to_mol
from molvae.errors import UserError

runner = CliRunner()
DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli_run")
    result = runner.invoke(
        app,
        [
            "train",
            str(DATA / "moses_train_2k.csv"),
            "--preset",
            "tiny",
            "--epochs",
            "2",
            "--max-molecules",
            "300",
            "--properties",
            "logp",
            "--out",
            str(out),
            "--cache-dir",
            str(out / "cache"),
        ],
    )
    assert result.exit_code == 0, result.output
    return out


def test_train_writes_outputs(trained):
    for name in ("best.pt", "last.pt", "metrics.csv", "rejects.csv"):
        assert (trained / name).exists()
    assert len(pd.read_csv(trained / "metrics.csv")) == 2


def test_train_resume_refuses_a_changed_schedule_with_one_sentence(trained):
    args = ["train", str(DATA / "moses_train_2k.csv"), "--preset", "tiny", "--epochs", "3"]
    args += ["--max-molecules", "300", "--properties", "logp", "--out", str(trained)]
    args += ["--cache-dir", str(trained / "cache"), "--resume"]
    result = runner.invoke(app, args)
    assert result.exit_code != 0
    message = str(result.exception)
    assert "epochs 2 -> 3" in message and "--force" in message


def test_evaluate_needs_a_test_table(trained):
    result = runner.invoke(app, ["evaluate", str(trained / "best.pt")])
    assert result.exit_code != 0 and "--test" in result.output


@pytest.mark.parametrize(("flag", "kept"), [([], False), (["--keep-references"], True)])
def test_evaluate_passes_keep_references_through(trained, tmp_path, monkeypatch, flag, kept):
    import molvae.cli.evaluate as command

    seen = {}

    def fake(vae, **options):
        seen.update(options)
        return {"valid": 1.0, "reference_copies": 0.5}

    monkeypatch.setattr(command, "run_evaluation", fake)
    args = ["evaluate", str(trained / "best.pt"), "--test", "data/moses_test_1k.csv", *flag]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen["keep_references"] is kept and "reference_copies" in result.output


def test_sample_writes_valid_smiles_and_prints_fractions(trained, tmp_path):
    out = tmp_path / "s.csv"
    result = runner.invoke(
        app, ["sample", str(trained / "best.pt"), "-n", "100", "-o", str(out), "--seed", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "valid" in result.output and "novel" in result.output
    smiles = pd.read_csv(out, keep_default_na=False)["smiles"]
    assert len(smiles) == 100
    assert sum(to_mol(s) is not None for s in smiles if s) >= 95


def test_encode_decode_reconstruct_info(trained, tmp_path):
    model = str(trained / "best.pt")
    inp = tmp_path / "in.csv"
    pd.DataFrame({"smiles": ["CCOc1ccccc1", "C1CC", "CC(=O)Nc1ccc(O)cc1"]}).to_csv(inp, index=False)
    z = tmp_path / "z.csv"
    result = runner.invoke(app, ["encode", model, str(inp), "-o", str(z)])
    assert result.exit_code == 0, result.output
    zf = pd.read_csv(z)
    assert len(zf) == 2 and zf["row"].tolist() == [2, 4]
    rejects = pd.read_csv(tmp_path / "z_rejects.csv")
    assert rejects["reason"].tolist() == ["unparseable"] and rejects["row"].tolist() == [3]

    dec = tmp_path / "dec.csv"
    result = runner.invoke(app, ["decode", model, str(z), "-o", str(dec)])
    assert result.exit_code == 0, result.output
    assert len(pd.read_csv(dec)) == 2

    result = runner.invoke(app, ["reconstruct", model, str(inp)])
    assert result.exit_code == 0 and "exact-match reconstruction" in result.output

    result = runner.invoke(app, ["info", model])
    assert result.exit_code == 0 and "logp" in result.output


def test_train_with_smiles_tokens_then_info_and_sample(tmp_path):
    args = ["train", str(DATA / "moses_train_2k.csv"), "--preset", "tiny", "--epochs", "1"]
    args += ["--max-molecules", "200", "--tokens", "smiles", "--out", str(tmp_path)]
    result = runner.invoke(app, [*args, "--cache-dir", str(tmp_path / "cache")])
    assert result.exit_code == 0, result.output
    model = str(tmp_path / "best.pt")
    assert torch.load(model, weights_only=True)["data_config"]["tokens"] == "smiles"
    info = runner.invoke(app, ["info", model])
    assert "SMILES tokens" in info.output and "SELFIES grammar off" in info.output
    out = tmp_path / "s.csv"
    sampled = runner.invoke(app, ["sample", model, "-n", "40", "--no-strict", "-o", str(out)])
    assert sampled.exit_code == 0, sampled.output
    smiles = pd.read_csv(out, keep_default_na=False)["smiles"]
    assert len(smiles) == 40 and all(to_mol(s) is not None for s in smiles if s)
    wrong = runner.invoke(app, [*args, "--tokens", "inchi"])
    assert wrong.exit_code != 0 and "tokens must be one of selfies, smiles" in str(wrong.exception)


def _molvae(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "molvae", *args], capture_output=True, text=True, cwd=cwd
    )


def test_user_errors_are_one_sentence_without_traceback(tmp_path):
    missing = _molvae("train", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o"))
    assert missing.returncode == 2
    assert "does not exist" in missing.stderr and "Traceback" not in missing.stderr

    junk = tmp_path / "junk.csv"
    junk.write_text("smiles\nnot_a_smiles\nC1CC\n")
    none = _molvae("train", str(junk), "--out", str(tmp_path / "o"), "--cache-dir", str(tmp_path))
    assert none.returncode == 2
    assert "No usable molecules" in none.stderr and "Traceback" not in none.stderr
    assert (tmp_path / "o" / "rejects.csv").exists()


def test_sample_without_a_model_uses_the_bundled_one(tmp_path):
    out = tmp_path / "s.csv"
    result = runner.invoke(app, ["sample", "-n", "30", "-o", str(out), "--seed", "0"])
    assert result.exit_code == 0, result.output
    smiles = pd.read_csv(out, keep_default_na=False)["smiles"]
    assert sum(to_mol(s) is not None for s in smiles if s) >= 28
    assert "self-consistent" in result.output  # the bundled model's default
    plain = runner.invoke(app, ["sample", "-n", "10", "--seed", "0", "--no-consistent"])
    assert plain.exit_code == 0 and "self-consistent" not in plain.output, plain.output
    raw = runner.invoke(app, ["sample", "-n", "10", "--seed", "0", "--no-strict"])
    assert raw.exit_code == 0 and "self-consistent" not in raw.output, raw.output  # every decode
    consistent = ["sample", "-n", "10", "--seed", "0", "--consistent"]
    result = runner.invoke(app, consistent)
    assert result.exit_code == 0 and "self-consistent" in result.output, result.output
    rate = float(re.search(r"self-consistent ([0-9.]+)", result.output).group(1))
    wider = runner.invoke(app, [*consistent, "--spread", "2.5"])
    assert wider.exit_code == 0, wider.output
    assert float(re.search(r"self-consistent ([0-9.]+)", wider.output).group(1)) < rate
    bad = runner.invoke(app, [*consistent, "--spread", "0"])
    assert isinstance(bad.exception, UserError) and "must be positive" in str(bad.exception)


def test_latent_space_commands_write_tables_and_images(trained, tmp_path):
    model = str(trained / "best.pt")
    a, b = "CCOc1ccccc1", "CC(=O)Nc1ccc(O)cc1"
    inter = runner.invoke(
        app,
        [
            "interpolate",
            a,
            b,
            "--steps",
            "5",
            "--model",
            model,
            "-o",
            str(tmp_path / "i.csv"),
            "--image",
            str(tmp_path / "i.png"),
        ],
    )
    assert inter.exit_code == 0, inter.output
    assert len(pd.read_csv(tmp_path / "i.csv")) == 5 and (tmp_path / "i.png").stat().st_size > 0

    near = runner.invoke(
        app, ["neighbors", a, "-n", "5", "--model", model, "-o", str(tmp_path / "n.csv")]
    )
    assert near.exit_code == 0, near.output
    assert 1 <= len(pd.read_csv(tmp_path / "n.csv")) <= 5

    mapped = runner.invoke(
        app,
        [
            "map",
            model,
            str(DATA / "moses_test_1k.csv"),
            "--color",
            "qed",
            "-o",
            str(tmp_path / "m.png"),
        ],
    )
    assert mapped.exit_code == 0, mapped.output
    assert (tmp_path / "m.png").stat().st_size > 10_000
    assert len(pd.read_csv(tmp_path / "m.csv")) == 1000


def test_score_needs_a_threshold_then_flags_out_of_domain_rows(trained, tmp_path):
    model = trained / "best.pt"
    no_ref = runner.invoke(app, ["score", str(model), str(DATA / "out_of_domain.csv")])
    assert "--reference" in str(no_ref.exception)  # main() prints it as one sentence, exit 2

    slim = tmp_path / "slim.pt"
    exported = runner.invoke(
        app,
        [
            "export",
            str(model),
            "-o",
            str(slim),
            "--half",
            "--reference",
            str(DATA / "moses_test_1k.csv"),
            "--prior",
            "mixture",
            "--add-property",
            "tpsa",
        ],
    )
    assert exported.exit_code == 0, exported.output
    assert "added 'tpsa' to the property head: held-out R²" in exported.output
    assert slim.stat().st_size < model.stat().st_size
    exported_ckpt = torch.load(slim, weights_only=True)
    assert exported_ckpt["latent_prior"]["scale_tril"].shape == (16, 16)  # tiny: 16-d latent
    prior = exported_ckpt["latent_prior"]  # the reference: 1,000 posteriors, 8-bit columns
    assert prior["components_u8"].shape == (1000, 16)
    assert prior["log_scales_u8"].shape == (1000, 16 - int(prior["pooled"].sum()))
    assert prior["reference_hashes"].dtype == torch.int32  # 32 bits of each reference's hash
    assert len(prior["reference_hashes"]) == 1000
    assert exported_ckpt["anomaly_threshold"] > 0
    assert exported_ckpt["property_names"][-1] == "tpsa"
    assert exported_ckpt["state_dict"]["head.net.5.weight"].shape[0] == len(
        exported_ckpt["property_names"]
    )

    assert "consistent_spread" not in exported_ckpt["latent_prior"]
    # --consistent-spread on the model's own mixture prior: self-consistent sampling by default
    consistent = tmp_path / "consistent.pt"
    spread = ["--consistent-spread", "2"]
    result = runner.invoke(app, ["export", str(slim), "-o", str(consistent), *spread])
    assert result.exit_code == 0, result.output
    assert torch.load(consistent, weights_only=True)["latent_prior"]["consistent_spread"] == 2.0
    info = " ".join(runner.invoke(app, ["info", str(consistent)]).output.split())
    assert "spread 1; by default only self-consistent molecules, drawn at spread 2" in info, info
    assert "draws that decode to a reference molecule are left out" in info, info
    sampled = runner.invoke(app, ["sample", str(consistent), "-n", "2", "--seed", "0"])
    assert "self-consistent" in sampled.output, sampled.output  # a 2-epoch model: "Only 0 of 2"
    plain = runner.invoke(app, ["sample", str(consistent), "-n", "2", "--no-consistent"])
    assert "self-consistent" not in plain.output and "2 sampled" in plain.output, plain.output
    assert "reference molecules left out" in plain.output  # the references travelled along
    keep = runner.invoke(
        app, ["sample", str(consistent), "-n", "2", "--no-consistent", "--keep-references"]
    )
    assert "2 sampled" in keep.output and "reference molecules" not in keep.output, keep.output
    no_prior = runner.invoke(app, ["export", str(model), "-o", str(consistent), *spread])
    assert isinstance(no_prior.exception, UserError) and "mixture prior" in str(no_prior.exception)

    out = tmp_path / "scores.csv"
    result = runner.invoke(
        app, ["score", str(slim), str(DATA / "out_of_domain.csv"), "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    frame = pd.read_csv(out, keep_default_na=False)
    assert len(frame) == len(pd.read_csv(DATA / "out_of_domain.csv"))
    assert frame.loc[frame["note"] != "", "flag"].all()  # organometallics: flagged, not dropped
    # Even a 2-epoch model flags far more of these than the 1 % of in-domain molecules.
    assert frame["flag"].mean() > 0.3

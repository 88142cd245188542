"""The ``molvae`` command line. Each command parses its options, builds a config and calls one
library function; the work happens in the library."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from molvae.config import DataConfig, load_preset, replace
from molvae.errors import UserError
from molvae.progress import console

app = typer.Typer(
    help="Molecular design with SELFIES variational autoencoders.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

ModelArg = Annotated[
    Path | None, typer.Argument(help="A model file (.pt) written by `molvae train`.")
]


def _load(model: Path | None):
    from molvae.api import MolVAE

    return MolVAE.load(model) if model is not None else MolVAE.pretrained()


def _split_list(text: str | None) -> list[str]:
    return [p.strip() for p in text.split(",") if p.strip()] if text else []


@app.command()
def train(
    data: Annotated[Path, typer.Argument(help="SMILES table: .csv, .tsv or .smi, optionally .gz.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path("runs/molvae"),
    preset: Annotated[str, typer.Option(help="tiny, small, moses, or a .toml file.")] = "small",
    properties: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated targets: CSV columns and/or logp, qed, sa, mw, tpsa, plogp."
        ),
    ] = None,
    smiles_col: Annotated[str | None, typer.Option(help="The SMILES column.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Override the preset's epochs.")] = None,
    batch_size: Annotated[int | None, typer.Option(help="Override the batch size.")] = None,
    beta: Annotated[float | None, typer.Option(help="Final KL weight.")] = None,
    max_molecules: Annotated[
        int | None, typer.Option(help="Use a random sample of N rows.")
    ] = None,
    max_tokens: Annotated[int, typer.Option(help="Reject longer SELFIES.")] = 128,
    val_fraction: Annotated[float, typer.Option(help="Held-out fraction.")] = 0.05,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/last.pt.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for the split and training.")] = 0,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    jobs: Annotated[int, typer.Option(help="Tokenising processes (0: all cores).")] = 0,
    cache_dir: Annotated[Path | None, typer.Option(help="Tokenised-data cache.")] = None,
) -> None:
    """Train a VAE on a SMILES file; writes best.pt, last.pt, metrics.csv and rejects.csv."""
    from molvae.api import train as train_model

    p = load_preset(preset)
    data_cfg = DataConfig(
        smiles_col=smiles_col,
        properties=_split_list(properties),
        max_molecules=max_molecules,
        max_tokens=max_tokens,
        val_fraction=val_fraction,
        seed=seed,
        n_jobs=jobs,
        cache_dir=str(cache_dir) if cache_dir else None,
    )
    train_cfg = replace(
        p.train, epochs=epochs, batch_size=batch_size, beta=beta, seed=seed, device=device
    )
    model = train_model(
        data, out, preset, data_cfg, p.model, train_cfg, resume=resume, progress=True
    )
    console.print(f"Best model: {out / 'best.pt'}  ({model!r})")


@app.command()
def sample(
    model: ModelArg = None,
    n: Annotated[int, typer.Option("-n", help="Number of molecules.")] = 1000,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV to write (default: stdout).")
    ] = None,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    prior: Annotated[str, typer.Option(help="auto, standard (N(0, I)) or fitted.")] = "auto",
) -> None:
    """Sample molecules from the prior; prints valid / unique / novel fractions."""
    from molvae.metrics import fraction_unique, fraction_valid, novelty

    vae = _load(model)
    smiles = vae.sample(n, temperature=temperature, seed=seed, progress=True, prior=prior)
    frame = pd.DataFrame({"smiles": [s or "" for s in smiles]})
    if output is not None:
        frame.to_csv(output, index=False)
    else:
        sys.stdout.write("\n".join(frame["smiles"]) + "\n")
    nov = novelty(smiles, vae.in_training_set) if vae.train_hashes is not None else float("nan")
    console.print(
        f"{n} sampled{f' -> {output}' if output else ''}: valid {fraction_valid(smiles):.3f}, "
        f"unique {fraction_unique(smiles):.3f}, novel {nov:.3f} (vs. the training set)"
    )


def _model_and_input(args: list[Path]) -> tuple[Path | None, Path]:
    if len(args) == 1:
        return None, args[0]
    if len(args) == 2:
        return args[0], args[1]
    raise UserError("Give an input file, optionally preceded by a model file: [MODEL] INPUT.")


@app.command()
def encode(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model file and SMILES table.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of latent vectors.")] = Path(
        "latent.csv"
    ),
) -> None:
    """Encode molecules to latent means (one row per usable input row, z0..zN columns)."""
    model, data = _model_and_input(args)
    rejects_path = output.with_name(output.stem + "_rejects.csv")
    frame, rejects = _load(model).encode_table(data, rejects_path, progress=True)
    frame.to_csv(output, index=False)
    console.print(
        f"{len(frame)} molecules encoded -> {output}; {len(rejects)} rejected -> {rejects_path}"
    )


@app.command()
def decode(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] Z_CSV: columns z0..zN.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="CSV of SMILES.")] = Path(
        "decoded.csv"
    ),
) -> None:
    """Decode latent vectors (a CSV with columns z0, z1, ...) greedily to SMILES."""
    model, data = _model_and_input(args)
    frame = _load(model).decode_table(data)
    frame.to_csv(output, index=False)
    console.print(f"{len(frame)} latent vectors decoded -> {output}")


@app.command()
def reconstruct(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model and SMILES table.")],
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Per-molecule CSV.")] = None,
) -> None:
    """Encode then greedily decode molecules; prints the exact-match reconstruction rate."""
    model, data = _model_and_input(args)
    frame, rejects = _load(model).reconstruct_table(data, progress=True)
    if output is not None:
        frame.to_csv(output, index=False)
    exact = frame["exact"]
    console.print(
        f"exact-match reconstruction: {exact.mean():.3f} ({int(exact.sum())}/{len(exact)}); "
        f"{len(rejects)} rows rejected"
    )


@app.command()
def evaluate(
    model: ModelArg = None,
    test: Annotated[Path, typer.Option(help="Reference (test) SMILES table.")] = Path(
        "data/moses_test_1k.csv"
    ),
    train: Annotated[
        Path | None, typer.Option(help="Training table for Novelty (default: the model's own).")
    ] = None,
    n: Annotated[int, typer.Option("-n", help="Molecules to sample.")] = 30000,
    n_recon: Annotated[int, typer.Option(help="Test molecules to reconstruct.")] = 2000,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    fcd: Annotated[bool, typer.Option(help="Compute FCD/Test (needs fcd_torch).")] = True,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="JSON to write.")] = None,
    cache_dir: Annotated[Path | None, typer.Option(help="Cache folder.")] = None,
    prior: Annotated[str, typer.Option(help="auto, standard (N(0, I)) or fitted.")] = "auto",
) -> None:
    """MOSES metrics (valid, unique@k, FCD/Test, SNN/Test, Frag/Test, Scaf/Test, IntDiv,
    Filters, Novelty), reconstruction, active units and property accuracy."""
    import json

    from molvae.evaluate import evaluate as run_evaluation
    from molvae.evaluate import print_table

    vae = _load(model)
    result = run_evaluation(
        vae, test, train, n, n_recon, seed, fcd, str(cache_dir) if cache_dir else None, prior=prior
    )
    print_table(result)
    if output is not None:
        output.write_text(json.dumps(result, indent=2) + "\n")
        console.print(f"Results -> {output}")


@app.command()
def optimize(
    target: Annotated[
        list[str] | None,
        typer.Option(
            help="logp, qed, sa (minimised), plogp, mw=350 or tpsa=90; repeat it for a "
            "multi-objective run (Pareto front)."
        ),
    ] = None,
    objective: Annotated[
        list[str] | None,
        typer.Option(help="Custom oracle: my_scores.py:score or pkg.module:score (repeatable)."),
    ] = None,
    model: Annotated[Path | None, typer.Option(help="Model file (default: bundled).")] = None,
    out: Annotated[Path, typer.Option("--out", "-o", help="Output folder.")] = Path(
        "runs/optimize"
    ),
    budget: Annotated[int, typer.Option(help="Oracle calls to spend.")] = 300,
    batch_size: Annotated[int, typer.Option(help="Candidates per iteration.")] = 10,
    method: Annotated[str, typer.Option(help="bo, random or gradient.")] = "bo",
    init: Annotated[
        Path | None, typer.Option(help="Starting molecules (optional score column).")
    ] = None,
    n_init: Annotated[int, typer.Option(help="Starting molecules to use.")] = 100,
    global_box: Annotated[
        bool, typer.Option("--global", help="Search the whole data box, no trust region.")
    ] = False,
    max_heavy_atoms: Annotated[int, typer.Option(help="Largest molecule allowed.")] = 38,
    min_qed: Annotated[float | None, typer.Option(help="Smallest QED allowed.")] = None,
    max_sa: Annotated[float | None, typer.Option(help="Largest SA score allowed.")] = None,
    similar_to: Annotated[str | None, typer.Option(help="Stay similar to this SMILES.")] = None,
    min_similarity: Annotated[float, typer.Option(help="Tanimoto to --similar-to.")] = 0.4,
    pains: Annotated[bool, typer.Option(help="Reject PAINS alerts.")] = False,
    retrain_every: Annotated[
        int, typer.Option(help="Fine-tune the VAE on rank-weighted results every N calls.")
    ] = 0,
    resume: Annotated[bool, typer.Option(help="Continue from OUT/journal.csv.")] = False,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Find better molecules: Bayesian optimisation in the latent space, every candidate
    decoded, checked by RDKit and scored by the real oracle."""
    from molvae.config import OptimizeConfig
    from molvae.optimize.bo import optimize as run_optimize
    from molvae.optimize.journal import oracle_calls

    specs = [*(target or []), *(objective or [])]
    if not specs:
        raise UserError("Give what to optimise: --target (e.g. --target logp) or --objective.")
    cfg = OptimizeConfig(
        budget=budget,
        batch_size=batch_size,
        method=method,
        n_init=n_init,
        trust_region=not global_box,
        max_heavy_atoms=max_heavy_atoms,
        min_qed=min_qed,
        max_sa=max_sa,
        similar_to=similar_to,
        min_similarity=min_similarity,
        pains=pains,
        retrain_every=retrain_every,
        seed=seed,
    )
    journal = run_optimize(specs, _load(model), cfg, out, init, resume)
    if len(specs) == 1:
        best = journal.sort_values("score", ascending=False).iloc[0]
        found = f"best {best['score']:.3f}: {best['smiles']}"
        files = "top.csv"
    else:
        found = f"{len(pd.read_csv(out / 'top.csv'))} molecules on the Pareto front"
        files = "top.csv (the Pareto front), pareto.png"
    console.print(
        f"{oracle_calls(journal)} oracle calls; {found}\n"
        f"Outputs: {out}/journal.csv, {files}, best_so_far.png, report.html"
    )


@app.command()
def interpolate(
    a: Annotated[str, typer.Argument(help="Start molecule (SMILES).")],
    b: Annotated[str, typer.Argument(help="End molecule (SMILES).")],
    steps: Annotated[int, typer.Option(help="Points on the path, both ends included.")] = 10,
    method: Annotated[str, typer.Option(help="slerp or linear.")] = "slerp",
    model: Annotated[Path | None, typer.Option(help="Model file (default: bundled).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="CSV to write.")] = None,
    image: Annotated[Path | None, typer.Option(help="PNG strip of the molecules.")] = None,
) -> None:
    """Decode evenly spaced points on the latent path between two molecules."""
    frame = _load(model).interpolate(a, b, steps=steps, method=method)
    _show(frame, output, image, [f"t={t:.2f}" for t in frame["t"]])


@app.command()
def neighbors(
    smiles: Annotated[str, typer.Argument(help="The query molecule (SMILES).")],
    n: Annotated[int, typer.Option("-n", help="Neighbours to return.")] = 20,
    radius: Annotated[float, typer.Option(help="Latent perturbation (prior std is 1).")] = 1.0,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
    model: Annotated[Path | None, typer.Option(help="Model file (default: bundled).")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="CSV to write.")] = None,
    image: Annotated[Path | None, typer.Option(help="PNG grid of the molecules.")] = None,
) -> None:
    """Distinct molecules decoded around a molecule's latent point, most similar first."""
    frame = _load(model).neighbors(smiles, n=n, radius=radius, seed=seed)
    _show(frame, output, image, [f"{s:.2f}" for s in frame["similarity"]])


def _show(frame: pd.DataFrame, output: Path | None, image: Path | None, legends) -> None:
    from molvae.plots import molecule_grid

    console.print(frame.to_string(index=False, float_format=lambda v: f"{v:.3f}"))
    if output is not None:
        frame.to_csv(output, index=False)
        console.print(f"Table -> {output}")
    if image is not None:
        molecule_grid(list(frame["smiles"]), legends).save(image)
        console.print(f"Drawing -> {image}")


@app.command(name="map")
def map_(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model and SMILES table.")],
    color: Annotated[
        str | None, typer.Option(help="A column of the table or logp, qed, sa, mw, tpsa, plogp.")
    ] = "logp",
    method: Annotated[str, typer.Option(help="pca or tsne.")] = "pca",
    output: Annotated[Path, typer.Option("-o", "--output", help="Image to write.")] = Path(
        "map.png"
    ),
) -> None:
    """Draw a 2-D map (PCA or t-SNE) of the molecules' latent means, coloured by a property."""
    from molvae import plots

    model, data = _model_and_input(args)
    frame, rejects = _load(model).latent_map(data, color=color, method=method, progress=True)
    plots.save(plots.latent_map(frame, color), output)
    frame.to_csv(output.with_suffix(".csv"), index=False)
    console.print(
        f"{len(frame)} molecules mapped -> {output} (coordinates: {output.with_suffix('.csv')}); "
        f"{len(rejects)} rows rejected"
    )


@app.command()
def score(
    args: Annotated[list[Path], typer.Argument(help="[MODEL] INPUT: model and SMILES table.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Per-molecule CSV.")] = Path(
        "scores.csv"
    ),
    reference: Annotated[
        Path | None,
        typer.Option(help="In-domain molecules that set the threshold (default: the model's)."),
    ] = None,
    quantile: Annotated[float, typer.Option(help="Reference quantile used as threshold.")] = 0.99,
    samples: Annotated[int, typer.Option(help="Posterior samples per molecule.")] = 8,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Anomaly scores (negative ELBO, reconstruction log-probability) with an out-of-domain flag."""
    model, data = _model_and_input(args)
    vae = _load(model)
    threshold = None
    if reference is not None:
        threshold = vae.calibrate(reference, quantile)
    elif vae.ckpt.get("anomaly_threshold") is None:
        raise UserError(
            "This model has no stored anomaly threshold; pass --reference with molecules like "
            "its training data (e.g. a sample of the training file)."
        )
    frame, rejects = vae.score(data, n_samples=samples, threshold=threshold, seed=seed)
    frame.to_csv(output, index=False)
    rejects_path = output.with_name(output.stem + "_rejects.csv")
    rejects.to_csv(rejects_path, index=False)
    threshold = vae.ckpt["anomaly_threshold"]
    console.print(
        f"{len(frame)} molecules scored -> {output}; {int(frame['flag'].sum())} flagged "
        f"(neg_elbo > {threshold:.2f}); {len(rejects)} rows rejected -> {rejects_path}"
    )


@app.command()
def export(
    model: Annotated[Path, typer.Argument(help="A checkpoint written by `molvae train`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    half: Annotated[bool, typer.Option(help="Store weights as float16 (half the size).")] = False,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Molecules like the training data (held out): fit the sampling prior and set "
            "the anomaly threshold."
        ),
    ] = None,
    quantile: Annotated[float, typer.Option(help="Reference quantile used as threshold.")] = 0.99,
) -> None:
    """Write a slim model file for sharing: no optimiser state, optional float16 weights and,
    from reference molecules, a fitted sampling prior and an anomaly threshold."""
    vae = _load(model)
    if reference is not None:
        vae.fit_prior(reference)
        threshold = vae.calibrate(reference, quantile)
        console.print(
            f"fitted prior from {reference}; anomaly threshold (neg_elbo, {quantile:.0%} of "
            f"reference): {threshold:.2f}"
        )
    vae.save(output, half=half)
    console.print(f"Model -> {output} ({output.stat().st_size / 1e6:.1f} MB)")


@app.command()
def info(model: ModelArg = None) -> None:
    """Describe a model: architecture, vocabulary, properties, training history, versions."""
    vae = _load(model)
    ck = vae.ckpt
    console.print(f"[bold]{model or 'bundled model'}[/]")
    console.print(f"model:      {ck['model_config']}")
    console.print(f"vocabulary: {len(vae.vocab)} tokens; max length {vae.max_len - 1}")
    console.print(f"properties: {', '.join(vae.property_names) or 'none'}")
    n_train = 0 if vae.train_hashes is None else len(vae.train_hashes)
    console.print(f"trained on: {ck.get('data_source', '?')} ({n_train} molecules)")
    console.print(f"versions:   {ck.get('versions')}")
    if ck.get("anomaly_threshold") is not None:
        console.print(
            f"anomaly threshold: neg_elbo > {ck['anomaly_threshold']:.2f} "
            f"({ck.get('anomaly_quantile', 0.99):.0%} of its reference molecules)"
        )
    if ck.get("history"):
        last = ck["history"][-1]
        console.print("last validation: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))


def main() -> None:
    """Entry point: run the app; user errors print one sentence and set the exit code."""
    try:
        app()
    except UserError as err:
        console.print(f"[bold red]Error:[/] {err}")
        sys.exit(err.exit_code)

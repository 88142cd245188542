"""``molvae sample``: molecules from the prior, or inside property windows (``--where``)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer

from molvae.cli.common import ModelArg, default_of, load_model
from molvae.conditional import resolve_method, sample_where
from molvae.errors import UserError
from molvae.progress import console
from molvae.sample import sample_molecules


def sample(
    model: ModelArg = None,
    n: Annotated[int, typer.Option("-n", help="Number of molecules.")] = 1000,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="CSV to write (default: stdout).")
    ] = None,
    temperature: Annotated[
        float | None,
        typer.Option(help="Sampling temperature (0: greedy). Default: 1, or 0 with --where."),
    ] = None,
    seed: Annotated[int | None, typer.Option(help="Random seed.")] = None,
    prior: Annotated[str, typer.Option(help="auto, standard (N(0, I)) or fitted.")] = default_of(
        sample_molecules, "prior"
    ),
    strict: Annotated[
        bool,
        typer.Option(
            help="Keep only molecules whose SELFIES needed no repair, or for a SMILES model "
            "valid SMILES (draws until n)."
        ),
    ] = default_of(sample_molecules, "strict"),
    where: Annotated[
        list[str] | None,
        typer.Option(
            "--where",
            help="A property window, repeatable: name=lo..hi, name>=x or name<=x "
            "(e.g. --where logp=2..3 --where qed>=0.6). Only verified molecules are written.",
        ),
    ] = None,
    similar_to: Annotated[
        str | None, typer.Option(help="Also require similarity to this SMILES.")
    ] = None,
    min_similarity: Annotated[
        float, typer.Option(help="Least Tanimoto similarity to --similar-to.")
    ] = default_of(sample_where, "min_similarity"),
    budget: Annotated[
        int | None,
        typer.Option(help="Most decodes with --where / --similar-to (default: 100 per molecule)."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            help="How --where proposes molecules: cvae (a model trained with --condition; the "
            "default when a window is on its condition) or guided (by the property head)."
        ),
    ] = None,
    spread: Annotated[
        float | None,
        typer.Option(
            help="A mixture prior's spread for this run, plain or --consistent (the model's own "
            "by default; above it: more novel, less like the training chemistry)."
        ),
    ] = None,
    consistent: Annotated[
        bool | None,
        typer.Option(
            help="Keep only molecules the model reconstructs (their latent mean decodes back "
            "to their tokens): closer to the training chemistry, ~3x slower (see "
            "BENCHMARKS.md). Default: on when the model stores a spread for it, as the "
            "bundled model does.",
            show_default=False,
        ),
    ] = default_of(sample_molecules, "consistent"),
    keep_references: Annotated[
        bool,
        typer.Option(
            help="Also keep molecules that are one of the mixture prior's reference molecules "
            "(strict sampling without --where leaves them out by default and draws others: "
            "they are known molecules, not new ones)."
        ),
    ] = default_of(sample_molecules, "keep_references"),
    guards: Annotated[
        bool,
        typer.Option(
            help="With --where / --similar-to: write only molecules that also pass optimize's "
            "drug-likeness guards (rings of 3-7 atoms, no reactive motifs, MOSES filters, "
            "SA <= 4.5, QED >= 0.3)."
        ),
    ] = default_of(sample_where, "guards"),
) -> None:
    """Sample molecules from the prior; prints valid / strict / unique / novel fractions.

    With --where (and/or --similar-to), sample inside property windows: a conditional VAE's
    decoder is told the windows (--method cvae), any other model is guided by its property
    head; every molecule written is checked with RDKit and listed with its computed properties.
    """
    vae = load_model(model)
    if spread is not None:
        if vae.prior is None:
            raise UserError(
                "--spread needs a model with a fitted prior; export one with --prior mixture."
            )
        vae.prior.respread(spread)
    if where or similar_to:
        if temperature is None:
            temperature = default_of(sample_where, "temperature")
        got = sample_where(
            vae,
            n,
            where,
            similar_to,
            min_similarity,
            budget,
            temperature,
            seed,
            prior,
            True,
            method,
            guards,
        )
        _write(got.frame, output)
        console.print(
            f"{len(got.frame)} molecules in {got.windows}{f' -> {output}' if output else ''}: "
            f"hit rate {got.hit_rate:.3f} ({got.verified} verified of {got.decoded} decodes, "
            f"method {got.method}), uniqueness {got.uniqueness:.3f}"
        )
        if got.shortfall():
            console.print(got.shortfall())
            raise typer.Exit(1)
        return
    from molvae.metrics import fraction_unique, fraction_valid, novelty

    if method is not None:
        resolve_method(vae, method)  # a wrong method is an error even without --where
    if temperature is None:
        temperature = default_of(sample_molecules, "temperature")
    sampled = sample_molecules(
        vae,
        n,
        temperature,
        seed,
        prior,
        strict,
        progress=True,
        consistent=consistent,
        keep_references=keep_references,
    )
    smiles = sampled.smiles
    _write(pd.DataFrame({"smiles": [s or "" for s in smiles]}), output)
    nov = novelty(smiles, vae.in_training_set) if vae.train_hashes is not None else float("nan")
    checked = sampled.consistent is not None
    rate = f", self-consistent {sampled.consistent_rate:.3f}" if checked else ""
    if sampled.screened:
        rate += f", reference molecules left out {sampled.reference_rate:.3f}"
    console.print(
        f"{len(smiles)} sampled{f' -> {output}' if output else ''}: "
        f"valid {fraction_valid(smiles):.3f}, strict (raw) {sampled.strict_rate:.3f} "
        f"of {sampled.drawn} decodes{rate}, unique {fraction_unique(smiles):.3f}, "
        f"novel {nov:.3f} (vs. the training set)"
    )
    if len(smiles) < n:
        keep = "invalid SMILES" if vae.data_config.tokens == "smiles" else "repaired SELFIES"
        what = "self-consistent" if checked else "strict"
        fix = "use --no-consistent" if checked else f"use --no-strict to keep {keep} too"
        if sampled.references:
            fix = f"use --keep-references to keep the {sampled.references} reference molecules"
        console.print(
            f"Only {len(smiles)} of {n} molecules were {what} after {sampled.drawn} decodes; "
            f"{fix}, or train the model longer."
        )


def _write(frame: pd.DataFrame, output: Path | None) -> None:
    """``frame`` to the CSV ``output``; without one, only SMILES (one per line) to stdout, or
    the whole table as CSV when it has more columns."""
    if output is not None:
        frame.to_csv(output, index=False)
    elif list(frame.columns) == ["smiles"]:
        sys.stdout.write("\n".join(frame["smiles"]) + "\n")
    else:
        frame.to_csv(sys.stdout, index=False)

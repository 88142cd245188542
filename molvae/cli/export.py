"""``molvae export``: a slim model file, with a fitted prior and threshold."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from molvae.anomaly import DEFAULT_QUANTILE
from molvae.cli.common import default_of, load_model
from molvae.errors import UserError
from molvae.prior import MAX_COMPONENTS, check_prior_options, fit_prior
from molvae.progress import console


def export(
    model: Annotated[Path, typer.Argument(help="A checkpoint written by `molvae train`.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Model file to write.")],
    half: Annotated[
        bool,
        typer.Option(
            help="Store weights as float16 (half the size), and a mixture prior's references "
            "in 8 bits per number."
        ),
    ] = False,
    reference: Annotated[
        Path | None,
        typer.Option(
            help="Molecules like the training data (held out): fit the sampling prior and set "
            "the anomaly threshold."
        ),
    ] = None,
    prior: Annotated[
        str,
        typer.Option(
            help="Prior fitted to the reference: gaussian (over their latent means) or mixture "
            "(their aggregate posterior; closer to the molecules the model decodes well; up to "
            f"{MAX_COMPONENTS:,} references, and the more, the fewer duplicate samples: with "
            "--half, 30,000 take about 5 MB for the bundled model, without it four times as much)."
        ),
    ] = default_of(fit_prior, "kind"),
    spread: Annotated[
        float,
        typer.Option(
            help="Mixture prior: scale each reference posterior's spread by this (above 1: "
            "samples further from the reference molecules, more novel)."
        ),
    ] = default_of(fit_prior, "spread"),
    consistent_spread: Annotated[
        float | None,
        typer.Option(
            help="Mixture prior: sample only molecules the model reconstructs by default "
            "(sample --consistent), with this spread (1.0 on the bundled model, which also "
            "leaves out copies of its references; see BENCHMARKS.md, Lever 7). Without "
            "--reference, set on the model's own mixture prior; with it, the new prior has "
            "none unless given."
        ),
    ] = default_of(fit_prior, "consistent_spread"),
    add_property: Annotated[
        list[str] | None,
        typer.Option(
            "--add-property",
            help="Also predict this property (RDKit-computed, or a column of the reference), "
            "fitted on the reference without retraining the model; repeat for several.",
        ),
    ] = None,
    refit_head: Annotated[
        Path | None,
        typer.Option(
            help="Retrain the property head on these molecules (many: 100 k or more), the "
            "encoder and decoder frozen: better property predictions, the same molecules."
        ),
    ] = None,
    head_hidden: Annotated[
        int | None,
        typer.Option(
            min=1, help="With --refit-head: hidden units per layer (default: the model's)."
        ),
    ] = None,
    quantile: Annotated[float, typer.Option(help="Reference quantile used as threshold.")] = (
        DEFAULT_QUANTILE
    ),
) -> None:
    """Write a slim model file for sharing: no optimiser state, optional float16 weights and,
    from reference molecules, a fitted sampling prior and an anomaly threshold."""
    vae = load_model(model)
    if head_hidden is not None and refit_head is None:
        raise UserError("--head-hidden sets the refitted head's width; give --refit-head too.")
    if add_property and reference is None:
        raise UserError("--add-property fits on the reference molecules; give --reference too.")
    if reference is not None:  # before the head refit, which can take an hour
        check_prior_options(prior, spread, consistent_spread)
    if refit_head is not None:
        r2 = vae.refit_head(refit_head, hidden=head_hidden, progress=True)
        for name in vae.property_names:
            console.print(
                f"refitted head, held-out R² {name}: {r2['before'][name]:.3f} -> "
                f"{r2['after'][name]:.3f}"
            )
        if r2["kept"] == "old":
            console.print(
                "kept the model's own head: the refitted one predicted the held-out molecules "
                "worse (refit on more molecules)"
            )
    for name in add_property or []:
        fit = vae.add_property(name, reference)
        console.print(
            f"added '{name}' to the property head: held-out R² {fit['r2']:.3f}, "
            f"MAE {fit['mae']:.3g} over {int(fit['n'])} reference molecules"
        )
    if reference is not None:
        vae.fit_prior(reference, prior, spread, consistent_spread)
        threshold = vae.calibrate(reference, quantile)
        console.print(
            f"fitted {prior} prior from {reference}; anomaly threshold (neg_elbo, "
            f"{quantile:.0%} of reference): {threshold:.2f}"
        )
    elif consistent_spread is not None:
        if vae.prior is None:
            raise UserError(
                "--consistent-spread needs a mixture prior; give --reference FILE --prior mixture."
            )
        vae.prior.make_consistent(consistent_spread)
        console.print(f"self-consistent sampling by default, at spread {consistent_spread}")
    vae.save(output, half=half)
    console.print(f"Model -> {output} ({output.stat().st_size / 1e6:.1f} MB)")

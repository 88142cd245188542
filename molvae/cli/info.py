"""``molvae info``: describe a model."""

from __future__ import annotations

from molvae.anomaly import DEFAULT_QUANTILE
from molvae.cli.common import ModelArg, load_model
from molvae.config import to_dict
from molvae.mixture import shared_columns
from molvae.prior import LatentPrior
from molvae.progress import console


def info(model: ModelArg = None) -> None:
    """Describe a model: architecture, vocabulary, properties, training history, versions."""
    vae = load_model(model)
    console.print(f"[bold]{model or 'bundled model'}[/]")
    console.print(f"model:      {to_dict(vae.model_config)}")
    kind = vae.data_config.tokens.upper()
    grammar = "on" if vae.model.grammar is not None else "off"
    console.print(
        f"vocabulary: {len(vae.vocab)} {kind} tokens; max length {vae.max_len - 1}; "
        f"SELFIES grammar {grammar}"
    )
    console.print(f"properties: {', '.join(vae.property_names) or 'none'}")
    n_train = 0 if vae.train_hashes is None else len(vae.train_hashes)
    console.print(f"trained on: {vae.data_source or '?'} ({n_train} molecules)")
    console.print(f"versions:   {vae.versions}")
    console.print(f"sampling:   {_sampling(vae.prior)}")
    if vae.anomaly_threshold is not None:
        quantile = vae.anomaly_quantile if vae.anomaly_quantile is not None else DEFAULT_QUANTILE
        console.print(
            f"anomaly threshold: neg_elbo > {vae.anomaly_threshold:.2f} "
            f"({quantile:.0%} of its reference molecules)"
        )
    if vae.history:
        last = vae.history[-1]
        console.print("last validation: " + ", ".join(f"{k}={v:.4g}" for k, v in last.items()))
    if vae.head_fit:
        fit = dict(vae.head_fit)
        r2 = ", ".join(f"{k[3:]} {v:.3f}" for k, v in fit.items() if k.startswith("r2_"))
        console.print(
            f"property head: refitted after training, on {int(fit['molecules'])} molecules; "
            f"{vae.model_config.prop_hidden} units; held-out R² {r2}"
            + (" (the validation above is the trained head's)" if vae.history else "")
        )


def _sampling(prior: LatentPrior | None) -> str:
    """How the model samples by default: its prior, spreads and self-consistency."""
    if prior is None:
        return "z from N(0, I) (no fitted prior; molvae export --reference fits one)"
    if prior.kind == "gaussian":
        return "z from a Gaussian fitted to reference latent means"
    n = len(prior.components)
    pooled = int(shared_columns(prior.component_scales).sum())
    text = f"z from a mixture of {n} reference posteriors, spread {prior.spread:g}"
    if pooled:
        text += f" (one sd shared in {pooled} of {prior.mean.numel()} latent dimensions)"
    if prior.consistent_spread is not None:
        text += (
            f"; by default only self-consistent molecules, drawn at spread "
            f"{prior.consistent_spread:g} (--no-consistent: all)"
        )
    if prior.reference_hashes is not None:
        text += "; draws that decode to a reference molecule are left out (--keep-references)"
    return text

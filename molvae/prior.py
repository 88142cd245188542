"""The latent priors a model samples from: N(0, I), or one fitted to real molecules and stored
with the model (:class:`LatentPrior`: a Gaussian over their latent means, or their aggregate
posterior), and the spreads it is sampled with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from molvae import hashes
from molvae.errors import UserError
from molvae.mixture import ComponentPicker, from_u8, pool_unused, shared_columns, to_u8, unpool

if TYPE_CHECKING:
    from molvae.api import MolVAE

PRIORS = ("auto", "standard", "fitted")
#: What :func:`fit_prior` fits: see there.
PRIOR_KINDS = ("gaussian", "mixture")
#: Most reference molecules a mixture prior keeps. Each costs a mean per latent dimension and a
#: standard deviation per dimension the model uses (not pooled) in the model file: 1 byte each
#: in a half file, 4 in a full one (the bundled model: 40,000 x (128 + 35) bytes, 6.5 MB).
MAX_COMPONENTS = 100_000
#: Added to the fitted prior's covariance diagonal so its Cholesky factor exists even when
#: some latent dimensions barely vary (collapsed dimensions).
PRIOR_JITTER = 1e-4


def check_spread(spread: float) -> None:
    """Raises ``UserError`` unless a mixture prior's ``spread`` is positive."""
    if not spread > 0:
        raise UserError(f"The prior's spread must be positive, got {spread}.")


def check_prior_options(kind: str, spread: float, consistent_spread: float | None) -> None:
    """Raises ``UserError`` for the options :func:`fit_prior` refuses: an unknown ``kind``, a
    spread that is not positive, or a consistent spread without a mixture prior. A caller with
    slow work before the fit (``molvae export --refit-head``) checks them first."""
    if kind not in PRIOR_KINDS:
        raise UserError(f"Unknown prior kind '{kind}'; choose {' or '.join(PRIOR_KINDS)}.")
    check_spread(spread)
    if consistent_spread is not None:
        check_spread(consistent_spread)
        if kind != "mixture":
            raise UserError("A consistent spread needs a mixture prior; add --prior mixture.")


@dataclass
class LatentPrior:
    """The fitted latent prior (see :meth:`MolVAE.fit_prior`): a full-covariance Gaussian over
    the latent space and, for a mixture prior, the posteriors it was fitted to.

    A mixture prior samples z from the aggregate posterior of reference molecules: a random
    molecule's q(z|x) = N(``components[i]``, ``component_scales[i]``²). The Gaussian is kept
    beside it: guided sampling whitens the latent space with it either way. A mixture that
    :func:`fit_prior` fits shares one standard deviation among all components in the dimensions
    the model barely uses (:func:`molvae.mixture.pool_unused`). A file stores such shared
    columns once, and a half-precision file stores the other columns in 8 bits each.

    Attributes:
        mean: `latent_dim` mean.
        scale_tril: `latent_dim x latent_dim` lower Cholesky factor of the covariance.
        components: `K x latent_dim` posterior means of the mixture, or ``None`` (Gaussian).
        component_scales: `K x latent_dim` posterior standard deviations, or ``None``.
        spread: Each component's standard deviations are multiplied by this when sampling:
            above 1 the samples stray further from the reference molecules (more novel and
            unique, less like them).
        consistent_spread: The spread to sample with when only molecules the model
            reconstructs are kept (``sample --consistent``; the filter throws away the odd
            molecules that a wider spread brings, so it can be wider than ``spread``; the
            smaller, the more draws decode back to their reference molecule, which sampling
            then leaves out). A model whose prior has one samples that way by default;
            ``None``: it does not.
        reference_hashes: Hashes of the mixture's reference molecules (canonical SMILES,
            :func:`molvae.hashes.smiles_hashes`), so sampling can leave out draws that decode
            back to a reference (:meth:`is_reference`); ``None`` for a Gaussian prior and in
            files written before.
    """

    mean: torch.Tensor
    scale_tril: torch.Tensor
    components: torch.Tensor | None = None
    component_scales: torch.Tensor | None = None
    spread: float = 1.0
    consistent_spread: float | None = None
    reference_hashes: torch.Tensor | None = None

    def is_reference(self, smiles: list[str | None]) -> list[bool]:
        """Whether each canonical SMILES is one of the mixture's reference molecules (always
        ``False`` for a prior that stores none; a compact file's 32-bit hashes mistake a new
        molecule for one of 40,000 references with probability 1e-5)."""
        found = hashes.contains(self.reference_hashes, [s or "" for s in smiles])
        return [bool(f) and s is not None for f, s in zip(found, smiles, strict=True)]

    def respread(self, spread: float) -> None:
        """Sample a mixture with ``spread`` from now on, plain or self-consistently (a prior
        with a ``consistent_spread`` keeps sampling self-consistently by default, at
        ``spread``).

        Raises:
            UserError: This prior is no mixture, or ``spread`` is not positive.
        """
        self._check_mixture()
        check_spread(spread)
        self.spread = spread
        if self.consistent_spread is not None:
            self.consistent_spread = spread

    def make_consistent(self, spread: float) -> None:
        """Sample only self-consistent molecules by default, drawn at ``spread``; the plain
        spread stays as it is.

        Raises:
            UserError: This prior is no mixture, or ``spread`` is not positive.
        """
        self._check_mixture()
        check_spread(spread)
        self.consistent_spread = spread

    def _check_mixture(self) -> None:
        if self.components is None:
            raise UserError(
                "This model's prior is no mixture, so it has no spread; export one with "
                "molvae export MODEL --reference FILE --prior mixture."
            )

    @property
    def kind(self) -> str:
        """``mixture`` or ``gaussian``."""
        return "gaussian" if self.components is None else "mixture"

    def sample(
        self,
        n: int,
        device: torch.device,
        generator: torch.Generator | None = None,
        consistent: bool = False,
        picker: ComponentPicker | None = None,
    ) -> torch.Tensor:
        """``n`` latent vectors: `n x latent_dim`, on ``device`` (a mixture's drawn with
        ``consistent_spread`` when ``consistent`` and the prior has one, else ``spread``,
        around the references that ``picker`` picks: by default a new one, so ``n`` draws
        repeat no reference until all are used; see :class:`~molvae.mixture.ComponentPicker`)."""
        eps = torch.randn(n, self.mean.numel(), generator=generator, device=device)
        if self.components is None:
            mean = self.mean.to(device, torch.float32)
            return mean + eps @ self.scale_tril.to(device, torch.float32).T  # (n, Z)
        spread = self.spread
        if consistent and self.consistent_spread is not None:
            spread = self.consistent_spread
        if picker is None:
            picker = ComponentPicker(len(self.components), generator)
        elif picker.k != len(self.components):
            raise ValueError(f"A picker for {picker.k} references, not {len(self.components)}.")
        rows = picker(n).to(self.components.device)  # gather first: only n rows move or convert
        means = self.components[rows].to(device, torch.float32)  # (n, Z)
        scales = spread * self.component_scales[rows].to(device, torch.float32)  # (n, Z)
        return means + eps * scales

    def to_dict(self, half: bool = False) -> dict[str, torch.Tensor]:
        """Plain tensors for a checkpoint. A mixture's standard deviations that all components
        share (pooled) are stored once; its other columns in 8 bits with ``half`` (means on a
        linear, standard deviations on a log scale, each column between its own extremes), else
        in float32."""
        out = {
            "mean": self.mean.detach().cpu().float(),
            "scale_tril": self.scale_tril.detach().cpu().float(),
        }
        if self.components is not None:
            means = self.components.detach().cpu().float()
            scales = self.component_scales.detach().cpu().float()
            shared = shared_columns(scales)  # pooled standard deviations
            out["pooled"], out["pooled_scales"] = shared, scales[0, shared]
            scales = scales[:, ~shared]
            if half:
                out["components_u8"], out["components_range"] = to_u8(means)
                out["log_scales_u8"], out["log_scales_range"] = to_u8(scales.clamp(min=1e-6).log())
            else:
                out["components"], out["component_scales"] = means, scales
            out["spread"] = torch.tensor(float(self.spread), dtype=torch.float64)
            if self.consistent_spread is not None:
                out["consistent_spread"] = torch.tensor(self.consistent_spread, dtype=torch.float64)
            if self.reference_hashes is not None:
                hashes.to_file(out, "reference_hashes", self.reference_hashes, half)
        return out

    @classmethod
    def from_dict(cls, d: dict[str, torch.Tensor]) -> LatentPrior:
        """The prior :meth:`to_dict` wrote (float32 again; also files whose mixture is all
        float16 columns, written before pooling)."""
        consistent = d.get("consistent_spread")
        prior = cls(d["mean"].float(), d["scale_tril"].float())
        if "components" in d or "components_u8" in d:
            if "components_u8" in d:
                means = from_u8(d["components_u8"], d["components_range"])
                scales = from_u8(d["log_scales_u8"], d["log_scales_range"]).exp()
            else:
                means, scales = d["components"].float(), d["component_scales"].float()
            pooled = d.get("pooled", torch.zeros(prior.mean.numel(), dtype=torch.bool))
            prior.components = means
            prior.component_scales = unpool(scales, d.get("pooled_scales"), pooled)
            prior.spread = float(d.get("spread", 1.0))
            prior.consistent_spread = None if consistent is None else float(consistent)
            prior.reference_hashes = hashes.from_file(d, "reference_hashes")
        return prior


def consistent_by_default(vae: MolVAE) -> bool:
    """Whether the model samples only molecules it reconstructs unless told otherwise: its
    fitted prior stores a spread for that (:attr:`LatentPrior.consistent_spread`)."""
    return vae.prior is not None and vae.prior.consistent_spread is not None


def sample_latents(
    vae: MolVAE,
    n: int,
    prior: str = "auto",
    generator: torch.Generator | None = None,
    consistent: bool = False,
    picker: ComponentPicker | None = None,
) -> torch.Tensor:
    """``n`` latent vectors from the model's prior: `n x latent_dim`, on its device.

    Args:
        vae: The model.
        n: How many.
        prior: ``standard`` (N(0, I)), ``fitted`` (:func:`fit_prior`'s Gaussian) or ``auto``
            (fitted when the model has one).
        generator: Random generator on the model's device.
        consistent: Draw for self-consistent sampling: a mixture's ``consistent_spread``.
        picker: Which references a mixture's draws come from (:meth:`LatentPrior.sample`);
            pass one picker to every call of a run drawn in rounds.

    Raises:
        UserError: An unknown prior, or ``fitted`` for a model without one.
    """
    if prior not in PRIORS:
        raise UserError(f"Unknown prior '{prior}'; choose auto, standard or fitted.")
    if prior == "fitted" and vae.prior is None:
        raise UserError(
            "This model has no fitted prior; use --prior standard, or store one with "
            "`molvae export MODEL -o OUT --reference molecules.csv`."
        )
    if prior != "standard" and vae.prior is not None:
        return vae.prior.sample(n, vae.device, generator, consistent, picker)
    return torch.randn(n, vae.latent_dim, generator=generator, device=vae.device)


def fit_prior(
    vae: MolVAE,
    data: Any,
    kind: str = "gaussian",
    spread: float = 1.0,
    consistent_spread: float | None = None,
    max_components: int = MAX_COMPONENTS,
) -> LatentPrior:
    """Fit the sampling prior to ``data`` (molecules like the training set, held out from it).

    Args:
        vae: The model.
        data: The reference molecules (anything :meth:`MolVAE.prepare` takes).
        kind: ``gaussian``: a full-covariance Gaussian fitted to their latent means.
            ``mixture``: their aggregate posterior, the mixture of each molecule's q(z|x)
            (at most ``max_components`` molecules, the standard deviations of the dimensions
            the model barely uses pooled, see :func:`molvae.mixture.pool_unused`; the Gaussian
            is fitted too). It records the hashes of the molecules it keeps, so sampling can
            leave out their copies (:meth:`LatentPrior.is_reference`).
        spread: For a mixture, scale each posterior's standard deviations by this when
            sampling (see :class:`LatentPrior`).
        consistent_spread: For a mixture, the spread of self-consistent sampling, which the
            model then does by default (``None``: it does not; see :class:`LatentPrior`).
        max_components: The most molecules a mixture keeps (a seeded random choice).

    Raises:
        UserError: An unknown ``kind``, a spread that is not positive or given for a
            Gaussian, or fewer usable molecules than twice the latent size.
    """
    check_prior_options(kind, spread, consistent_spread)
    if max_components < 1:
        raise UserError(f"A mixture needs at least one component, got {max_components}.")
    ds, _ = vae.prepare(data)
    if len(ds) < 2 * vae.latent_dim:
        raise UserError(
            f"Fitting a prior needs at least {2 * vae.latent_dim} usable molecules, got {len(ds)}."
        )
    mu, sigma = vae.encode_posterior(ds)  # (n, Z) each
    cov = torch.cov(mu.double().T) + PRIOR_JITTER * torch.eye(vae.latent_dim, dtype=torch.float64)
    gaussian = LatentPrior(mu.mean(dim=0), torch.linalg.cholesky(cov).float())
    if kind == "gaussian":
        return gaussian
    keep = torch.randperm(len(mu), generator=torch.Generator().manual_seed(0))[:max_components]
    scales = pool_unused(sigma[keep])
    kept = hashes.smiles_hashes([ds.smiles[i] for i in keep.tolist()])
    return LatentPrior(
        gaussian.mean, gaussian.scale_tril, mu[keep], scales, spread, consistent_spread, kept
    )

"""Decoding latent vectors to molecules: the latent priors (standard and fitted), sampling,
greedy decoding, batching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from molvae.cvae import draw_conditions
from molvae.data.chem import is_strict, tokens_to_smiles
from molvae.data.tokens import Vocab
from molvae.mixture import run_picker
from molvae.model import VAE
from molvae.prior import consistent_by_default, sample_latents
from molvae.progress import progress_bar
from molvae.roundtrip import self_consistent

if TYPE_CHECKING:
    from molvae.api import MolVAE

#: Strict sampling stops after this many decodes per requested molecule (a strict rate under
#: 2 % means the model is not fit to sample from; the caller is told how many it got).
MAX_DRAWS_PER_MOLECULE = 50
#: Molecules decoded at once: large enough to keep the GRU busy, small enough for any memory.
DECODE_BATCH = 1000


def ids_to_smiles(
    ids: torch.Tensor, vocab: Vocab, tokens: str, strict: bool = False
) -> list[str | None]:
    """Canonical SMILES of each row of `batch x time` ids.

    Args:
        ids: Token ids, `batch x time`.
        vocab: The vocabulary.
        tokens: The model's representation, ``selfies`` or ``smiles``.
        strict: Treat a SELFIES string that the decoder had to repair as invalid
            (:func:`~molvae.data.chem.is_strict_selfies`).

    Returns:
        One SMILES per row; ``None`` where a row is no molecule (see :func:`texts_to_smiles`).
    """
    return texts_to_smiles([vocab.decode(row) for row in ids.tolist()], tokens, strict)


def texts_to_smiles(texts: list[str], tokens: str, strict: bool = False) -> list[str | None]:
    """Canonical SMILES of decoded strings (``None``: an unparsable SMILES, a SELFIES that
    decodes to nothing or, with ``strict``, needed repair); see
    :func:`~molvae.data.chem.tokens_to_smiles`."""
    return [tokens_to_smiles(t, tokens, strict) for t in texts]


@torch.no_grad()
def decode_texts(
    model: VAE,
    vocab: Vocab,
    tokens: str,
    z: torch.Tensor,
    max_len: int,
    greedy: bool = True,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    cond: torch.Tensor | None = None,
) -> list[str]:
    """Decode `n x latent_dim` latent vectors to token strings, :data:`DECODE_BATCH` at a time.

    Args:
        model: The VAE.
        vocab: Its vocabulary.
        tokens: Its representation, ``selfies`` or ``smiles`` (the tokens a string may start
            with differ).
        z: Latent vectors.
        max_len: Most tokens per molecule.
        greedy: Most likely token at each step; else sample at ``temperature``.
        temperature: Sampling temperature; ``0`` means greedy.
        generator: Random generator (on the model's device) for reproducible sampling.
        progress: Show a progress bar.
        cond: `n x n_cond` standardised conditions of a CVAE (``None``, or ``nan`` values:
            the head's predictions from ``z``; see :meth:`molvae.model.VAE.generate`).
    """
    model.eval()
    device = next(model.parameters()).device
    out: list[str] = []
    first = torch.from_numpy(vocab.atom_mask(tokens))
    with progress_bar(len(z), "Decoding", progress) as bar:
        for start in range(0, len(z), DECODE_BATCH):
            zb = z[start : start + DECODE_BATCH].to(device)
            ids = model.generate(
                zb,
                max_len,
                temperature=temperature,
                greedy=greedy,
                generator=generator,
                first_tokens=first,
                cond=None if cond is None else cond[start : start + DECODE_BATCH].to(device),
            )
            out.extend(vocab.decode(row) for row in ids.cpu().tolist())
            bar.advance(len(zb))
    return out


def decode_latents(
    model: VAE,
    vocab: Vocab,
    tokens: str,
    z: torch.Tensor,
    max_len: int,
    greedy: bool = True,
    temperature: float = 1.0,
    generator: torch.Generator | None = None,
    progress: bool = False,
    strict: bool = False,
    cond: torch.Tensor | None = None,
) -> list[str | None]:
    """Decode `n x latent_dim` latent vectors to canonical SMILES (see :func:`decode_texts`).

    Args:
        strict: ``None`` for strings SELFIES had to repair (see :func:`ids_to_smiles`).
        cond: A CVAE's standardised conditions (see :func:`decode_texts`).
    """
    texts = decode_texts(
        model, vocab, tokens, z, max_len, greedy, temperature, generator, progress, cond
    )
    return texts_to_smiles(texts, tokens, strict)


@dataclass
class Sampled:
    """Molecules from :func:`sample_molecules` and what it took to get them."""

    smiles: list[str | None]  # canonical SMILES (``None``: no molecule; only if not strict)
    drawn: int  # latent vectors decoded
    strict: int  # of those, strict decodes (:func:`~molvae.data.chem.is_strict`)
    consistent: int | None = None  # strict decodes checked and found self-consistent
    checked: int = 0  # strict decodes checked for self-consistency
    references: int = 0  # screened decodes left out as one of the prior's reference molecules
    screened: int = 0  # strict (self-consistent) decodes checked against the references

    @property
    def consistent_rate(self) -> float:
        """The fraction of checked strict decodes that were self-consistent
        (:func:`self_consistent`; ``nan`` if none were checked)."""
        return (
            self.consistent / self.checked
            if self.consistent is not None and self.checked
            else float("nan")
        )

    @property
    def reference_rate(self) -> float:
        """The fraction of screened decodes that were a reference molecule of the prior, and
        left out (``nan`` if none were screened)."""
        return self.references / self.screened if self.screened else float("nan")

    @property
    def strict_rate(self) -> float:
        """The raw fraction of strict decodes: SELFIES that needed no repair, or for a SMILES
        model the valid SMILES."""
        return self.strict / self.drawn if self.drawn else float("nan")


def sample_molecules(
    vae: MolVAE,
    n: int,
    temperature: float = 1.0,
    seed: int | None = None,
    prior: str = "auto",
    strict: bool = True,
    progress: bool = False,
    consistent: bool | None = None,
    keep_references: bool = False,
) -> Sampled:
    """Sample ``n`` molecules from the prior, keeping only strict decodes when ``strict``
    (and only self-consistent ones, :func:`self_consistent`, when ``consistent``).

    A strict decode is a SELFIES that needed no repair or, for a SMILES model, a SMILES that
    RDKit parses (:func:`~molvae.data.chem.is_strict`). With ``strict``, latent vectors are
    drawn and decoded in rounds until ``n`` strict molecules are found, or until
    :data:`MAX_DRAWS_PER_MOLECULE` ``* n`` decodes are spent (then fewer come back). The strict
    rate of all decodes is counted either way. A mixture prior's draws go through its
    references in one random order over all rounds (:class:`~molvae.mixture.ComponentPicker`).
    A conditional VAE decodes each z with a condition drawn from its training molecules'
    values (:func:`molvae.cvae.draw_conditions`).

    Args:
        vae: The model.
        n: Molecules wanted.
        temperature: Token sampling temperature (``0``: greedy).
        seed: Random seed (``None``: not reproducible).
        prior: The latent prior (see :func:`sample_latents`).
        strict: Keep only strict decodes.
        progress: Show a progress bar.
        consistent: Keep only strict decodes that the model reconstructs: the odd molecules
            a decoder makes off its data seldom are (implies ``strict``; z is drawn with the
            prior's ``consistent_spread``). ``None``: the model's default
            (:func:`~molvae.prior.consistent_by_default`) when ``strict``, else no.
        keep_references: Also keep decodes that are one of the mixture prior's reference
            molecules (:meth:`~molvae.prior.LatentPrior.is_reference`). By default strict
            sampling from a prior that records its references leaves them out and draws
            more: a draw around a known molecule that decodes back to it generates nothing
            new, and at small spreads most draws do (see ``benchmarks/reference_copies.py``).
    """
    if consistent is None:  # every decode, repaired ones too, with --no-strict
        consistent = strict and consistent_by_default(vae)
    strict = strict or consistent
    generator = None if seed is None else torch.Generator(vae.device).manual_seed(seed)
    cpu_generator = None if seed is None else torch.Generator().manual_seed(seed)
    conditional = bool(vae.model.condition) and vae.conditions is not None
    tokens = vae.data_config.tokens
    kept: list[str | None] = []
    drawn = n_strict = checked = n_consistent = n_references = screened = 0
    fitted = vae.prior if prior != "standard" else None
    has_references = fitted is not None and fitted.reference_hashes is not None
    drop_references = strict and not keep_references and has_references
    budget = MAX_DRAWS_PER_MOLECULE * n
    picker = run_picker(fitted, generator)  # one order of references over all rounds
    # A grammar-aware decoder writes only strict SELFIES, so then nothing is drawn to spare
    # (unless copies of references are left out).
    every_decode_kept = vae.model.grammar is not None and not consistent and not drop_references
    with progress_bar(n, "Sampling", progress) as bar:
        while len(kept) < n and drawn < budget:
            want = n - len(kept)
            if strict and not every_decode_kept:  # the keep rate so far, with 10 % to spare
                rate = max(len(kept) / drawn if drawn else 1.0, 1 / MAX_DRAWS_PER_MOLECULE)
                want = min(int(want / rate * 1.1) + 1, budget - drawn)
            z = sample_latents(vae, want, prior, generator, consistent, picker)  # (want, Z)
            cond = draw_conditions(vae, want, (), cpu_generator) if conditional else None
            texts = decode_texts(
                vae.model,
                vae.vocab,
                tokens,
                z,
                vae.max_len,
                False,
                temperature,
                generator,
                cond=cond,
            )
            flags = [is_strict(t, tokens) for t in texts]
            drawn, n_strict = drawn + want, n_strict + sum(flags)
            chosen = [t for t, ok in zip(texts, flags, strict=True) if ok or not strict]
            if consistent:
                new = [tokens_to_smiles(t, tokens) for t in chosen]
                ok = self_consistent(vae, new)
                checked, n_consistent = checked + len(new), n_consistent + sum(ok)
                new = [smi for smi, good in zip(new, ok, strict=True) if good]
            else:  # convert only what can be kept
                keepable = chosen if drop_references else chosen[: n - len(kept)]
                new = [tokens_to_smiles(t, tokens) for t in keepable]
            if drop_references:
                copies = fitted.is_reference(new)
                n_references, screened = n_references + sum(copies), screened + len(new)
                new = [smi for smi, copy in zip(new, copies, strict=True) if not copy]
            new = new[: n - len(kept)]
            kept.extend(new)
            bar.advance(len(new))
            if not strict:
                break
    n_consistent = n_consistent if consistent else None
    return Sampled(kept, drawn, n_strict, n_consistent, checked, n_references, screened)

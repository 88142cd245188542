"""The mixture prior: pooled dimensions, 8-bit columns, packed hashes and the order of its draws
(molvae.mixture)."""

from __future__ import annotations

import pytest
import torch

from molvae import hashes
from molvae.mixture import POOL_SIGMA, ComponentPicker, from_u8, pool_unused, to_u8, unpool
from molvae.prior import LatentPrior


def _mixture(k: int = 400, dim: int = 6) -> tuple[torch.Tensor, torch.Tensor]:
    """Means and sds of ``k`` components: dimensions 0-2 used (sd 0.2), 3-5 barely (sd 0.95)."""
    g = torch.Generator().manual_seed(0)
    means = torch.randn(k, dim, generator=g)
    means[:, 3:] *= 0.3
    scales = torch.full((k, dim), 0.2) * (1 + 0.5 * torch.rand(k, dim, generator=g))
    scales[:, 3:] = 0.95
    return means, scales


def test_pool_unused_shares_the_unused_dimensions_sds_and_keeps_the_variance():
    means, scales = _mixture()
    sd = scales.mean(0)
    assert (sd[3:] >= POOL_SIGMA).all() and (sd[:3] < POOL_SIGMA).all()
    pooled = pool_unused(scales)
    assert torch.equal(pooled[:, :3], scales[:, :3])  # used dimensions untouched
    assert (pooled[:, 3:] == pooled[:1, 3:]).all()  # one sd per pooled dimension
    # the mixture's variance (mean variance plus variance of the means) is unchanged
    assert torch.allclose(pooled.pow(2).mean(0), scales.pow(2).mean(0))
    assert torch.equal(scales, _mixture()[1])  # the input is left alone


def test_u8_columns_round_trip_within_half_a_step():
    means, _ = _mixture()
    q, value_range = to_u8(means)
    assert q.dtype == torch.uint8 and value_range.shape == (2, means.shape[1])
    back = from_u8(q, value_range)
    assert ((back - means).abs() <= value_range[1] / 2 + 1e-6).all()
    assert torch.allclose(back.min(0).values, means.min(0).values)  # extremes are exact
    constant = torch.full((5, 2), 0.7)
    assert torch.allclose(from_u8(*to_u8(constant)), constant)  # a constant column survives
    pooled = torch.tensor([False, True, False])
    full = unpool(torch.ones(4, 2), torch.tensor([5.0]), pooled)
    assert torch.equal(full, torch.tensor([[1.0, 5.0, 1.0]] * 4))


def test_a_pooled_prior_is_stored_once_per_pooled_dimension_and_loads_back():
    means, scales = _mixture()
    scales = pool_unused(scales)
    prior = LatentPrior(torch.zeros(6), torch.eye(6), means, scales, 1.5, 2.0)
    d = prior.to_dict(half=True)
    assert d["pooled"].tolist() == [False] * 3 + [True] * 3
    assert d["components_u8"].shape == (400, 6)  # every mean, in 8 bits
    assert d["log_scales_u8"].shape == (400, 3) and d["pooled_scales"].shape == (3,)
    back = LatentPrior.from_dict(d)
    assert (back.spread, back.consistent_spread) == (1.5, 2.0)
    assert torch.equal(back.component_scales[:, 3:], scales[:, 3:])  # pooled sds are exact
    assert torch.allclose(back.components, means, atol=d["components_range"][1].max().item())
    assert torch.allclose(back.component_scales, scales, rtol=0.01)  # log scale, 8 bits
    full = LatentPrior.from_dict(prior.to_dict(half=False))  # float32: exact
    assert torch.equal(full.components, means) and torch.equal(full.component_scales, scales)
    # a file written before pooling (all columns, float16) still loads
    old = {"mean": torch.zeros(6), "scale_tril": torch.eye(6), "spread": torch.tensor(1.5)}
    old |= {"components": means.half(), "component_scales": scales.half()}
    legacy = LatentPrior.from_dict(old)
    assert torch.allclose(legacy.components, means, atol=1e-2) and legacy.consistent_spread is None
    assert torch.allclose(legacy.component_scales, scales, atol=1e-3) and legacy.spread == 1.5


def test_a_zero_sd_survives_8_bit_storage():
    scales = torch.tensor([[0.0, 0.5], [0.2, 0.4]])
    prior = LatentPrior(torch.zeros(2), torch.eye(2), torch.zeros(2, 2), scales)
    back = LatentPrior.from_dict(prior.to_dict(half=True)).component_scales
    assert torch.isfinite(back).all() and back[0, 0] < 1e-5  # stored as 1e-6
    assert torch.allclose(back[1], scales[1], rtol=0.01)


def test_the_picker_uses_every_reference_once_before_any_twice():
    picks = ComponentPicker(7, torch.Generator().manual_seed(0))
    first = torch.cat([picks(3), picks(3), picks(5)])  # rounds of any size
    assert sorted(first[:7].tolist()) == list(range(7))
    assert len(set(first[7:].tolist())) == 4  # the second pass has begun
    again = ComponentPicker(7, torch.Generator().manual_seed(0))
    assert torch.equal(again(11), first)  # seeded: the same order
    many = ComponentPicker(2)(100_001)  # many passes at once, each a permutation
    assert (
        len(many) == 100_001 and (many[:-1].view(-1, 2).sort(dim=1).values == torch.arange(2)).all()
    )
    with pytest.raises(ValueError, match="at least one"):
        ComponentPicker(0)


def test_draws_sharing_a_picker_repeat_no_reference_until_all_are_used():
    means, sds = _mixture(k=50)
    prior = LatentPrior(means.mean(0), torch.eye(means.shape[1]), means, torch.zeros_like(sds))
    cpu, gen = torch.device("cpu"), torch.Generator().manual_seed(1)
    picker = ComponentPicker(50, gen)
    z = torch.cat([prior.sample(25, cpu, gen, picker=picker) for _ in range(2)])  # z = a mean
    assert len(torch.unique(z, dim=0)) == 50  # two rounds, one draw around each reference
    assert len(torch.unique(prior.sample(50, cpu, gen), dim=0)) == 50  # one call, likewise
    with pytest.raises(ValueError, match="picker for 7"):
        prior.sample(5, cpu, gen, picker=ComponentPicker(7))


def test_many_reference_hashes_are_packed_in_a_slim_file_and_load_back():
    means, sds = _mixture(k=20)
    prior = LatentPrior(means.mean(0), torch.eye(means.shape[1]), means, sds)
    refs = [f"C{i}" for i in range(hashes.PACK_ABOVE + 1)]
    prior.reference_hashes = hashes.smiles_hashes(refs)
    stored = prior.to_dict(half=True)
    assert (
        "reference_hashes" not in stored and stored["reference_hashes_packed"].dtype == torch.int16
    )
    back = LatentPrior.from_dict(stored)
    assert torch.equal(back.reference_hashes, hashes.compact(prior.reference_hashes))
    assert all(back.is_reference(refs[::997])) and not any(back.is_reference(["N1", "N2"]))

import math

import pytest
import torch

from molvae.model.losses import elbo_terms, kl_loss, property_errors
from molvae.train.schedules import KLAnnealer, linear_ramp


def test_kl_per_dim_is_zero_at_the_prior_and_matches_closed_form():
    logits, targets = torch.zeros(4, 2, 5), torch.ones(4, 2, dtype=torch.long)
    mu = torch.zeros(4, 3)
    logvar = torch.zeros(4, 3)
    assert torch.allclose(elbo_terms(logits, targets, mu, logvar)[1], torch.zeros(4, 3))
    mu = torch.tensor([[1.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)]])
    expected = torch.tensor([[0.5, 0.5 * (2.0 - 1.0 - math.log(2.0))]])
    assert torch.allclose(elbo_terms(logits[:1], targets[:1], mu, logvar)[1], expected)


def test_free_bits_clamps_each_dimension_from_below():
    dims = torch.tensor([0.01, 0.5, 2.0])
    assert kl_loss(dims, free_bits=0.0).item() == pytest.approx(2.51)
    assert kl_loss(dims, free_bits=0.25).item() == pytest.approx(0.25 + 0.5 + 2.0)


def test_recon_loss_sums_tokens_and_ignores_padding():
    logits = torch.zeros(2, 3, 5)  # uniform: each token costs log 5
    targets = torch.tensor([[4, 2, 0], [4, 4, 2]])  # 2 and 3 real tokens
    nll, _ = elbo_terms(logits, targets, torch.zeros(2, 1), torch.zeros(2, 1))
    assert nll.tolist() == pytest.approx([2 * math.log(5), 3 * math.log(5)])


def test_property_loss_masks_missing_values():
    pred = torch.tensor([[1.0, 0.0], [2.0, 5.0]])
    target = torch.tensor([[0.0, float("nan")], [2.0, float("nan")]])
    sq_err, known = property_errors(pred, target)
    assert sq_err.tolist() == pytest.approx([1.0, 0.0]) and known.tolist() == [1.0, 1.0]
    all_missing = torch.full((2, 2), float("nan"))
    assert property_errors(pred, all_missing)[0].tolist() == [0.0, 0.0]


@pytest.mark.parametrize("schedule", ["linear", "sigmoid", "cyclical", "constant"])
def test_annealer_reaches_beta_and_stays_within_bounds(schedule):
    ann = KLAnnealer(schedule, beta=0.2, total_steps=1000, warmup=0.3, cycles=4)
    values = [ann(s) for s in range(1000)]
    assert all(0.0 <= v <= 0.2 + 1e-12 for v in values)
    assert max(values) == pytest.approx(0.2)
    if schedule in ("linear", "sigmoid"):
        assert values[0] < 0.01
        assert values[300] == pytest.approx(0.2)
        assert all(b >= a for a, b in zip(values, values[1:], strict=False))
    if schedule == "cyclical":  # four ramps: back to zero at the start of each cycle
        assert values[0] == values[250] == values[500] == values[750] == 0.0
        assert values[125] == pytest.approx(0.2)
    if schedule == "constant":
        assert values[0] == 0.2


def test_annealer_rejects_unknown_schedule():
    with pytest.raises(ValueError, match="unknown KL schedule"):
        KLAnnealer("exponential", 1.0, 10)


def test_linear_ramp():
    assert linear_ramp(0, 10, 1.0, 0.5) == 1.0
    assert linear_ramp(5, 10, 1.0, 0.5) == pytest.approx(0.75)
    assert linear_ramp(20, 10, 1.0, 0.5) == 0.5

"""The proposal functions on toy problems: no VAE, no files."""

import pytest
import torch

from molvae.config import OptimizeConfig
from molvae.optimize.box import DataBox
from molvae.optimize.proposals import (
    acquisition,
    propose_bo,
    propose_gradient,
    propose_random,
    select_batch,
)
from molvae.optimize.surrogate import fit_gp, fit_surrogate, gp_subset, lengthscales
from molvae.optimize.trust_region import TrustRegion, region_bounds

CFG = OptimizeConfig(raw_samples=64, num_restarts=2, gp_maxiter=50)


def _toy(n: int = 24, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """`n x 2` points of the unit square and `n x 2` scores: a bump at (0.7, 0.3) and a
    second objective preferring small x0."""
    x = torch.rand(n, 2, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    bump = -((x - torch.tensor([0.7, 0.3], dtype=torch.float64)) ** 2).sum(dim=1)
    return x, torch.stack([bump, -x[:, 0]], dim=1)


def test_bo_candidates_lie_in_the_trust_region_around_the_best_point():
    x, y = _toy()
    y = y[:, :1]
    state = TrustRegion(dim=2, batch_size=3, length=0.2)
    torch.manual_seed(0)
    gp = fit_gp(x, y, maxiter=50)
    cand = propose_bo(state, gp, x, y, 3, CFG)
    bounds = region_bounds(state, x[torch.argmax(y)], lengthscales(gp, 2))
    assert cand.shape == (3, 2) and cand.dtype == torch.float64
    assert ((cand >= bounds[0] - 1e-9) & (cand <= bounds[1] + 1e-9)).all()
    assert (bounds[1] - bounds[0]).prod() == pytest.approx(0.2**2)  # a small region


def test_bo_without_a_trust_region_searches_the_whole_cube_toward_the_optimum():
    x, y = _toy(40)
    y = y[:, :1]
    cfg = OptimizeConfig(raw_samples=64, num_restarts=2, trust_region=False)
    torch.manual_seed(0)
    cand = propose_bo(TrustRegion(2, 4, length=0.01), fit_gp(x, y, 50), x, y, 4, cfg)
    assert ((cand >= 0) & (cand <= 1)).all()
    best = x[torch.argmax(y)]
    assert (cand - best).abs().max() > 0.1  # the tiny region around the best is ignored
    # ... and the GP steers at least one candidate toward the bump at (0.7, 0.3).
    distance = (cand - torch.tensor([0.7, 0.3], dtype=torch.float64)).norm(dim=1)
    assert distance.min() < 0.2, distance


def test_two_objective_bo_uses_the_hypervolume_acquisition():
    x, y = _toy()
    ref = y.min(dim=0).values - 0.1
    torch.manual_seed(0)
    gp = fit_surrogate(x, y, CFG, warm=None)
    cand = propose_bo(TrustRegion(2, 2), gp, x, y, 2, CFG, ref)
    assert cand.shape == (2, 2) and ((cand >= 0) & (cand <= 1)).all()
    with pytest.raises(ValueError, match="reference point"):
        propose_bo(TrustRegion(2, 2), gp, x, y, 2, CFG)


def test_surrogate_fits_a_bounded_subset_and_warm_starts():
    x, y = _toy(30)
    cfg = OptimizeConfig(max_gp_points=12, gp_maxiter=30)
    gp = fit_surrogate(x, y[:, :1], cfg, warm=None)
    assert gp.train_inputs[0].shape == (12, 2)
    idx = gp_subset(x, y[:, 0], x[torch.argmax(y[:, 0])], 12)
    assert int(torch.argmax(y[:, 0])) in idx.tolist()  # the best points are always kept
    warm = {k: v.detach().clone() for k, v in gp.state_dict().items()}
    again = fit_surrogate(x, y[:, :1], cfg, warm)
    assert again.train_inputs[0].shape == (12, 2)


def test_random_proposals_are_uniform_in_the_unit_cube_and_follow_the_generator():
    a = propose_random(500, 3, torch.Generator().manual_seed(1))
    b = propose_random(500, 3, torch.Generator().manual_seed(1))
    assert torch.equal(a, b) and a.shape == (500, 3) and a.dtype == torch.float64
    assert ((a >= 0) & (a <= 1)).all()  # the data box BO searches, not N(0, I)
    assert (a.mean() - 0.5).abs() < 0.05 and (a.std() - (1 / 12) ** 0.5).abs() < 0.02


def test_gradient_proposals_climb_the_gain_from_the_best_points():
    target = torch.tensor([1.0, -1.0])

    def gain(z: torch.Tensor) -> torch.Tensor:
        return -((z - target) ** 2).sum(dim=1)

    x = torch.tensor([[0.0, 0.0], [3.0, 3.0], [0.5, -0.5]], dtype=torch.float64)
    y = gain(x.float()).double()
    cand = propose_gradient(gain, x, y, 2, torch.Generator().manual_seed(0))
    assert cand.shape == (2, 2) and cand.dtype == torch.float64
    start = x[[2, 0]].float()  # the two best, jittered by 0.1 at most ~3 sd
    assert (gain(cand.float()) > gain(start)).all()
    assert (cand.float() - target).norm(dim=1).max() < 0.3


def test_data_box_maps_latents_to_the_unit_cube_and_back():
    z = torch.tensor([[0.0, -2.0], [1.0, 2.0]], dtype=torch.float64)
    box = DataBox.around(z)
    assert box.lo == pytest.approx([-0.1, -2.4]) and box.hi == pytest.approx([1.1, 2.4])
    u = box.to_unit(z)
    assert ((u > 0) & (u < 1)).all()
    assert torch.allclose(box.from_unit(u), z)
    outside = torch.tensor([[5.0, 0.0]], dtype=torch.float64)
    assert box.to_unit(outside)[0, 0] > 1.0  # never clipped onto a face ...
    grown = box.grow(outside)  # ... and the box grows to hold every scored latent
    assert grown.hi[0] > 5.0 and grown.lo == box.lo and grown.hi[1] == box.hi[1]
    assert ((grown.to_unit(outside) > 0) & (grown.to_unit(outside) < 1)).all()
    assert box.grow(z) is box  # nothing outside: the same box


def test_a_failed_gp_fit_warns_and_other_errors_propagate(monkeypatch):
    import botorch.fit
    from botorch.exceptions.errors import ModelFittingError

    from molvae.optimize.surrogate import GPFitWarning

    x, y = _toy(12)

    def fails(*args, **kwargs):
        raise ModelFittingError("All attempts to fit the model have failed.")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", fails)
    with pytest.warns(GPFitWarning, match="GP fit on 12 points failed"):
        gp = fit_gp(x, y[:, :1], maxiter=5)
    assert gp.train_inputs[0].shape == (12, 2)  # BO goes on with the starting values

    def bug(*args, **kwargs):
        raise IndexError("a shape bug")

    monkeypatch.setattr(botorch.fit, "fit_gpytorch_mll", bug)
    with pytest.raises(IndexError, match="shape bug"):  # never silenced
        fit_gp(x, y[:, :1], maxiter=5)


def test_select_batch_takes_the_best_candidates_whatever_their_source():
    x, y = _toy(30)
    y = y[:, :1]
    torch.manual_seed(0)
    gp = fit_gp(x, y, maxiter=50)
    acq = acquisition(gp, y)
    optimum = torch.tensor([[0.7, 0.3]], dtype=torch.float64)
    corners = torch.tensor([[0.0, 1.0], [0.02, 0.98], [0.01, 0.99]], dtype=torch.float64)
    candidates = torch.cat([corners, optimum])  # e.g. three decoded, one from the library
    chosen = select_batch(acq, candidates, 2)
    assert chosen[0] == 3 and len(set(chosen)) == 2  # the bump first, then one other
    assert sorted(select_batch(acq, candidates, 10)) == [0, 1, 2, 3]  # never more than given


def test_a_prior_mean_carries_the_gp_where_it_has_no_data():
    # Scores rise along x0; the GP sees only the left half of the square. With the true trend
    # as its prior mean it predicts the right half; with a constant mean it cannot.
    x = torch.rand(20, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    x[:, 0] *= 0.4

    def trend(u):
        return 10.0 * u[..., 0]

    noise = torch.randn(20, 1, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    y = trend(x).unsqueeze(1) + 0.01 * noise
    far = torch.tensor([[0.9, 0.5], [1.0, 0.2]], dtype=torch.float64)
    torch.manual_seed(0)
    with_prior = fit_gp(x, y, maxiter=50, prior=trend).posterior(far).mean.squeeze(1)
    constant = fit_gp(x, y, maxiter=50).posterior(far).mean.squeeze(1)
    torch.testing.assert_close(with_prior, trend(far), atol=0.5, rtol=0.0)
    assert (constant < 6.0).all()  # back toward the data's mean, far below the trend
    # Several objectives keep a constant mean (the head predicts one).
    assert fit_gp(x, y.repeat(1, 2), maxiter=5, prior=trend).mean_module.__class__.__name__ != (
        "HeadMean"
    )

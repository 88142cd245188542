from dataclasses import replace

import pytest
import torch

from molvae.optimize.trust_region import (
    EMPTY_RESTART,
    LENGTH_INIT,
    LENGTH_MAX,
    LENGTH_MIN,
    SUCCESS_TOLERANCE,
    TrustRegion,
    expand,
    follow,
    improves,
    region_bounds,
    restart,
    restart_centre,
    update,
)


def test_trust_region_grows_and_shrinks():
    tr = TrustRegion(dim=20, batch_size=10)
    for _ in range(3):
        tr = update(tr, True)
    assert tr.length == pytest.approx(1.6)
    for _ in range(tr.failure_tolerance):
        tr = update(tr, False)
    assert tr.length == pytest.approx(0.8)


def test_update_is_pure_and_counts_runs():
    start = TrustRegion(dim=4, batch_size=1)
    after = update(start, True)
    assert start.successes == 0 and start.length == LENGTH_INIT  # untouched
    assert (after.successes, after.failures) == (1, 0)
    failed = update(after, False)
    assert (failed.successes, failed.failures) == (0, 1)  # a failure ends the run of successes


def test_successes_double_the_length_up_to_the_maximum():
    tr = TrustRegion(dim=4, batch_size=1)
    lengths = []
    for _ in range(3 * SUCCESS_TOLERANCE):
        tr = update(tr, True)
        lengths.append(tr.length)
    assert lengths[SUCCESS_TOLERANCE - 2] == LENGTH_INIT  # not yet
    assert lengths[SUCCESS_TOLERANCE - 1] == pytest.approx(2 * LENGTH_INIT)
    assert max(lengths) == LENGTH_MAX and tr.successes == 0


def test_failures_halve_the_length_after_the_tolerance():
    tr = TrustRegion(dim=8, batch_size=2)
    assert tr.failure_tolerance == 4  # ceil(max(4, 8) / 2)
    for _ in range(3):
        tr = update(tr, False)
    assert tr.length == LENGTH_INIT and tr.failures == 3
    tr = update(tr, False)
    assert tr.length == pytest.approx(LENGTH_INIT / 2) and tr.failures == 0


def test_a_collapsed_region_asks_for_a_restart():
    tr = TrustRegion(dim=1, batch_size=4)  # one failure halves the length
    assert tr.failure_tolerance == 1
    halvings = 0
    while not tr.restart_triggered:
        tr = update(tr, False)
        halvings += 1
    assert halvings == 7 and tr.length < LENGTH_MIN  # 0.8 / 2**7 < 0.5**7
    fresh = restart(tr, "CCO")
    assert fresh.length == LENGTH_INIT and fresh.restarts == 1 and fresh.center == "CCO"
    assert not fresh.restart_triggered and fresh.failures == 0


def test_expand_widens_and_clears_the_counters():
    tr = update(TrustRegion(dim=4, batch_size=1), False)
    wide = expand(tr)
    assert wide.length == pytest.approx(2 * LENGTH_INIT) and wide.failures == 0
    assert expand(wide).length == LENGTH_MAX


def test_improvement_needs_a_relative_margin():
    assert improves(1.0, 1.01)
    assert not improves(1.0, 1.0005)  # within 1e-3 of the best: noise
    assert improves(-2.0, -1.9)


def test_region_bounds_keep_the_volume_and_stay_in_the_cube():
    tr = TrustRegion(dim=2, batch_size=1, length=0.4)
    center = torch.tensor([0.5, 0.5], dtype=torch.float64)
    bounds = region_bounds(tr, center, torch.tensor([1.0, 4.0], dtype=torch.float64))
    side = bounds[1] - bounds[0]
    assert side.tolist() == pytest.approx([0.2, 0.8])  # stretched along the long lengthscale
    assert side.prod() == pytest.approx(0.4**2)
    edge = region_bounds(tr, torch.tensor([0.0, 1.0]), torch.ones(2))
    assert edge.flatten().tolist() == pytest.approx([0.0, 0.8, 0.2, 1.0])


def _scored(values, points):
    smiles = [f"C{'C' * i}O" for i in range(len(values))]
    return smiles, torch.tensor(values, dtype=torch.float64), torch.tensor(points).double()


def test_a_restart_moves_the_centre_to_unexplored_ground():
    # Four molecules: the best (the collapsed region's centre), a near neighbour of it, and
    # two far away of which the better is the new centre.
    smiles, values, u = _scored([5.0, 4.0, 3.0, 2.0], [[0.5, 0.5], [0.55, 0.5], [0.0, 0.9], [1, 0]])
    collapsed = TrustRegion(dim=2, batch_size=1, length=LENGTH_MIN / 2, restart_triggered=True)
    collapsed = replace(collapsed, center=smiles[0])
    moved = follow(collapsed, smiles, values, u, scored=0, empty=1, used=[smiles[0]])
    assert moved.center == smiles[2] and moved.restarts == 1 and moved.length == LENGTH_INIT
    # Every molecule near an earlier centre: the best one not yet used.
    assert restart_centre(smiles, values, u, [smiles[0], smiles[2], smiles[3]]) == smiles[1]
    assert restart_centre(smiles, values, u, smiles) is None  # all used: around the best


def test_the_region_follows_a_better_molecule_and_restarts_after_empty_iterations():
    smiles, values, u = _scored([1.0, 2.0, 3.0], [[0.1, 0.1], [0.5, 0.5], [0.9, 0.9]])
    region = TrustRegion(dim=2, batch_size=1, center=smiles[1])
    better = follow(region, smiles, values, u, scored=1, empty=0, used=[smiles[1]])
    assert better.center == smiles[2] and better.successes == 1
    worse = follow(region, smiles[:2], values[:2], u[:2], scored=1, empty=0, used=[smiles[1]])
    assert worse.center == smiles[1] and worse.failures == 1
    for empty in range(1, EMPTY_RESTART):  # nothing new: the region only grows ...
        grown = follow(region, smiles, values, u, scored=0, empty=empty, used=[smiles[1]])
        assert grown.center == smiles[1] and grown.length > region.length
    stuck = follow(region, smiles, values, u, 0, EMPTY_RESTART, used=[smiles[1]])
    assert stuck.center != smiles[1] and stuck.restarts == 1  # ... then it moves on

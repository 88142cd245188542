"""The TuRBO trust region (Eriksson et al. 2019) as an immutable state and pure updates.

The region is a box in the unit cube around its centre, the best molecule found since the region
(re)started. Its side ``length`` doubles after a run of successes and halves after a run of
failures; when it collapses below :data:`LENGTH_MIN` the state asks for a restart, which starts
a fresh region around a new centre chosen by the caller (a region restarted where it collapsed
could only collapse again). Nothing here touches a model or a file: the centre is named by its
SMILES, and the caller knows where that molecule lies.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

#: Side of a fresh region in the unit cube: most of the box, as in TuRBO.
LENGTH_INIT = 0.8
#: Seven halvings of :data:`LENGTH_INIT` (TuRBO's limit): a smaller region holds too few
#: distinct decodable latents to be worth searching, so the region restarts.
LENGTH_MIN = 0.5**7
#: Twice :data:`LENGTH_INIT`: wider than the cube, so a grown region is clipped to the whole box.
LENGTH_MAX = 1.6
#: Improving iterations in a row before the region doubles. TuRBO uses 10 for long runs; a
#: default run has only ~20 iterations, so 3 lets the region grow within one run.
SUCCESS_TOLERANCE = 3
#: Iterations in a row that found nothing new to score after which the region restarts around
#: a new centre: a region whose every proposal decodes to a known or forbidden molecule is
#: stuck there (each such iteration also doubles it, see :func:`expand`).
EMPTY_RESTART = 3
#: A batch counts as an improvement when it beats the best by this fraction (TuRBO's rule),
#: so rounding noise in the objective does not count as progress.
IMPROVEMENT_RTOL = 1e-3


@dataclass(frozen=True)
class TrustRegion:
    """The state of a trust region; never changed in place (see :func:`update`).

    Attributes:
        dim: Dimension of the search space.
        batch_size: Candidates per iteration (sets the failure tolerance).
        length: Side of the region in the unit cube, before scaling by lengthscales.
        successes: Improving iterations in a row.
        failures: Iterations in a row without improvement.
        restarts: Restarts so far.
        restart_triggered: The region collapsed; apply :func:`restart` before proposing.
        center: The molecule the region is centred on (``None``: the best scored one).
    """

    dim: int
    batch_size: int
    length: float = LENGTH_INIT
    successes: int = 0
    failures: int = 0
    restarts: int = 0
    restart_triggered: bool = False
    center: str | None = None

    @property
    def failure_tolerance(self) -> int:
        """Failing iterations in a row before the region halves: about one pass of single
        candidates over every dimension (TuRBO's ``ceil(max(4, d) / q)``)."""
        return math.ceil(max(4.0, float(self.dim)) / self.batch_size)


def improves(best_before: float, best_after: float) -> bool:
    """Whether ``best_after`` beats ``best_before`` by more than :data:`IMPROVEMENT_RTOL`."""
    return best_after > best_before + IMPROVEMENT_RTOL * abs(best_before)


def update(state: TrustRegion, improved: bool) -> TrustRegion:
    """The state after one iteration that did or did not improve the best value.

    Args:
        state: The current state.
        improved: Whether the iteration's batch improved the best value (see
            :func:`improves`).

    Returns:
        A new state: :data:`SUCCESS_TOLERANCE` successes in a row double the length (up to
        :data:`LENGTH_MAX`), ``failure_tolerance`` failures in a row halve it, and a length
        below :data:`LENGTH_MIN` sets ``restart_triggered``.
    """
    if improved:
        successes, failures = state.successes + 1, 0
    else:
        successes, failures = 0, state.failures + 1
    length = state.length
    if successes >= SUCCESS_TOLERANCE:
        length, successes = min(2.0 * length, LENGTH_MAX), 0
    elif failures >= state.failure_tolerance:
        length, failures = length / 2.0, 0
    return replace(
        state,
        length=length,
        successes=successes,
        failures=failures,
        restart_triggered=length < LENGTH_MIN,
    )


def restart(state: TrustRegion, center: str | None) -> TrustRegion:
    """A fresh region of :data:`LENGTH_INIT` around a new ``center`` (the restart count goes up
    by one)."""
    return TrustRegion(state.dim, state.batch_size, restarts=state.restarts + 1, center=center)


def recentre(state: TrustRegion, center: str) -> TrustRegion:
    """The same region moved to ``center``, a better molecule found inside it."""
    return replace(state, center=center)


def expand(state: TrustRegion) -> TrustRegion:
    """The region doubled (up to :data:`LENGTH_MAX`), counters cleared: used when an
    iteration found no new molecule to score, so it must look further afield."""
    return replace(state, length=min(2.0 * state.length, LENGTH_MAX), successes=0, failures=0)


def region_bounds(
    state: TrustRegion, center: torch.Tensor, lengthscales: torch.Tensor
) -> torch.Tensor:
    """The region around ``center`` as `2 x d` bounds in the unit cube.

    Args:
        state: The trust region.
        center: `d` centre in the unit cube (the best point).
        lengthscales: `d` GP lengthscales; the box stretches along the long ones and keeps
            the volume of a cube of side ``state.length``.

    Returns:
        `2 x d` lower and upper bounds, clipped to [0, 1].
    """
    weights = lengthscales / lengthscales.log().mean().exp()  # geometric mean 1, no overflow
    lo = (center - weights * state.length / 2).clamp(0.0, 1.0)
    hi = (center + weights * state.length / 2).clamp(0.0, 1.0)
    return torch.stack([lo, hi])


def restart_centre(
    smiles: list[str], values: torch.Tensor, u: torch.Tensor, used: list[str]
) -> str | None:
    """Where a restarted region goes: the best scored molecule not yet used as a centre, first
    among those outside every fresh region around an earlier centre (unexplored ground),
    else among all.

    Args:
        smiles: `n` scored molecules.
        values: `n` their values, higher better (``-inf``: failed).
        u: `n x d` their points in the unit cube (``nan`` rows: unknown).
        used: Molecules earlier regions were centred on.

    Returns:
        The new centre, or ``None`` when every scored molecule was one already.
    """
    known = torch.isfinite(values) & torch.isfinite(u).all(dim=1)
    fresh = known & torch.tensor([s not in set(used) for s in smiles], dtype=torch.bool)
    if not fresh.any():
        return None
    old = [i for i, s in enumerate(smiles) if s in set(used) and known[i]]
    far = fresh.clone()
    if old:  # Chebyshev distance beyond half a fresh region's side from each earlier centre
        gap = (u[:, None, :] - u[old][None, :, :]).abs().amax(dim=2).min(dim=1).values
        far &= gap > LENGTH_INIT / 2
    pool = far if far.any() else fresh
    best = torch.where(pool, values, torch.tensor(float("-inf"), dtype=values.dtype))
    return smiles[int(torch.argmax(best))]


def follow(
    state: TrustRegion,
    smiles: list[str],
    values: torch.Tensor,
    u: torch.Tensor,
    scored: int,
    empty: int,
    used: list[str],
) -> TrustRegion:
    """The region after an iteration: it grows or shrinks (:func:`update`), moves to a better
    molecule found, doubles after an iteration that found nothing new (:func:`expand`), and
    restarts around :func:`restart_centre` when it collapsed or after every
    :data:`EMPTY_RESTART` empty iterations in a row.

    Args:
        state: The region before the iteration.
        smiles: `n` scored molecules, in journal order (the last ``scored`` are new).
        values: `n` their values, higher better (``-inf``: failed).
        u: `n x d` their points in the unit cube.
        scored: Molecules the iteration scored.
        empty: Iterations in a row, this one included, that scored nothing.
        used: Molecules earlier regions were centred on.
    """
    if scored:
        new = len(smiles) - scored + int(torch.argmax(values[-scored:]))
        here = smiles.index(state.center) if state.center in smiles else None
        improved = here is None or improves(float(values[here]), float(values[new]))
        state = update(state, improved)
        if improved and torch.isfinite(values[new]):
            state = recentre(state, smiles[new])
    else:
        state = expand(state)
    if state.restart_triggered or (empty and empty % EMPTY_RESTART == 0):
        state = restart(state, restart_centre(smiles, values, u, used))
    return state

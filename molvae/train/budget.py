"""A wall-clock budget for a training run (``molvae train --max-minutes``).

The trainer times its own steps and validations and sets the number of steps so that the run,
validations included, ends inside the budget; the learning-rate, KL and Gumbel schedules then
span that many steps, so a short run still anneals fully rather than stopping mid-schedule.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

#: Steps not timed at the start of a run (CUDA start-up, kernel selection, first allocations).
WARMUP_STEPS = 5
#: Steps timed after those to measure the seconds a step takes.
PROBE_STEPS = 20
#: Before the first validation is timed, guess it costs this many training steps per batch of
#: validation molecules (a forward pass without gradients, plus the greedy reconstructions).
VALIDATION_STEP_FRACTION = 0.5


class TimeBudget:
    """Measures a run against ``minutes`` of wall-clock time.

    Args:
        minutes: The budget, counted from construction.
        clock: Seconds from an arbitrary origin (tests pass a fake one).
    """

    def __init__(self, minutes: float, clock: Callable[[], float] = time.perf_counter) -> None:
        self.seconds = 60.0 * minutes
        self.clock = clock
        self.start = clock()
        self.step_s: float | None = None  # measured seconds per training step
        self.validation_s: float | None = None  # measured seconds of the last validation
        self._steps = 0
        self._probe_start = 0.0

    def elapsed(self) -> float:
        return self.clock() - self.start

    def expired(self) -> bool:
        return self.elapsed() >= self.seconds

    def report(self, steps: int, n_batches: int) -> str:
        """One line: the steps (and epochs of ``n_batches``) taken in the time used."""
        return (
            f"Time budget: {steps} steps ({steps / n_batches:.2f} epochs) in "
            f"{self.elapsed() / 60:.1f} of {self.seconds / 60:g} minutes."
        )

    def tick(self) -> bool:
        """Count a finished step; ``True`` once, when the step time has just been measured."""
        self._steps += 1
        if self._steps == WARMUP_STEPS:
            self._probe_start = self.clock()
        elif self._steps == WARMUP_STEPS + PROBE_STEPS:
            self.step_s = max((self.clock() - self._probe_start) / PROBE_STEPS, 1e-9)
            return True
        return False

    def steps_left(self, batch_pos: int, n_batches: int, val_batches: int) -> int | None:
        """How many more steps fit in the time left, counting a validation at every epoch end
        and one at the end of the run; ``None`` until the step time is measured.

        Args:
            batch_pos: Steps already taken in the current epoch.
            n_batches: Steps per epoch.
            val_batches: Batches of one validation (for the guess before one is timed).
        """
        if self.step_s is None:
            return None
        validation = self.validation_s
        if validation is None:
            validation = VALIDATION_STEP_FRACTION * val_batches * self.step_s
        left = self.seconds - self.elapsed()
        steps = left / self.step_s
        for _ in range(4):  # the number of validations depends on the steps: iterate to fit
            validations = math.ceil((batch_pos + steps) / n_batches) if steps > 0 else 1
            steps = (left - validations * validation) / self.step_s
        return max(int(steps), 0)

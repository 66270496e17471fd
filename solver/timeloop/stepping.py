"""Adaptive time-step controller.

The controller follows FESTIM's ``Stepsize``: the step grows by ``growth`` after a step that Newton
solved easily (at most ``easy_iterations`` iterations), shrinks by ``cut`` after a hard one (more than
``hard_iterations``), and is cut and retried after a failed one. A failure at the minimum step is a
:class:`~ecmx.solver.errors.SolveError`. Milestones (protocol events, snapshot states, output times)
only *clip* a proposed step so that it lands exactly on them; they do not change the step the
controller would take next, so a short landing step is not followed by a slow climb back.

All times in seconds.
"""

from __future__ import annotations

from dataclasses import dataclass

from ecmx.solver.errors import SolveError

ROUNDOFF = 1e-9  # relative tolerance on step/milestone comparisons


@dataclass
class StepController:
    """Step size with growth on easy Newton convergence, cut-back on failure and a minimum.

    Attributes:
        initial: first step [s].
        maximum: largest step [s].
        minimum: smallest step [s]; a failure at this size stops the run.
        growth: factor (> 1) applied after an easy step.
        cut: factor (0 < cut < 1) applied after a failed or hard step.
        easy_iterations: Newton iterations at or below which a step counts as easy.
        hard_iterations: Newton iterations above which the next step is cut.
    """

    initial: float
    maximum: float
    minimum: float
    growth: float = 1.5
    cut: float = 0.5
    easy_iterations: int = 4
    hard_iterations: int = 10

    def __post_init__(self) -> None:
        if not (0 < self.minimum <= self.initial <= self.maximum):
            raise ValueError(
                f"time steps must satisfy 0 < min <= initial <= max, got min={self.minimum}, "
                f"initial={self.initial}, max={self.maximum}"
            )
        if self.growth < 1.0:
            raise ValueError(f"time step growth must be >= 1, got {self.growth}")
        if not (0.0 < self.cut < 1.0):
            raise ValueError(f"time step cut must lie in (0, 1), got {self.cut}")
        self.dt = self.initial
        self.failures = 0

    @classmethod
    def from_settings(cls, time_step: object) -> StepController:
        """Build from the case's ``solver.time_step`` settings (attributes initial, max, min, growth, cut)."""
        return cls(
            initial=float(time_step.initial),
            maximum=float(time_step.max),
            minimum=float(time_step.min),
            growth=float(time_step.growth),
            cut=float(time_step.cut),
        )

    def propose(self, time_to_milestone: float | None = None) -> float:
        """The next step [s], clipped so that it does not pass the next milestone.

        A remaining distance only slightly larger than the step (less than a fifth of a step more)
        is taken whole, or in two equal halves where that would exceed the maximum step, so that no
        sliver step is left before the milestone. Comparisons allow a relative round-off of
        ``ROUNDOFF``: milestone times computed from integrals differ in the last digits between
        MPI partitions, and must not change the sequence of steps.
        """
        dt = self.dt
        if time_to_milestone is not None:
            if time_to_milestone <= 0.0:
                raise ValueError(f"milestone must lie ahead, got {time_to_milestone} s")
            if time_to_milestone <= dt * (1.0 + ROUNDOFF):
                dt = time_to_milestone
            elif time_to_milestone <= 1.2 * dt:
                whole = time_to_milestone <= self.maximum * (1.0 + ROUNDOFF)
                dt = time_to_milestone if whole else 0.5 * time_to_milestone
        return dt

    def accepted(self, dt: float, newton_iterations: int) -> None:
        """Update the step after an accepted step of size ``dt`` taken with ``newton_iterations``.

        A step clipped to a milestone grows from the controller's own step, not from the clipped one.
        """
        base = max(self.dt, dt)
        if newton_iterations <= self.easy_iterations:
            self.dt = min(base * self.growth, self.maximum)
        elif newton_iterations > self.hard_iterations:
            self.dt = max(self.dt * self.cut, self.minimum)
        else:
            self.dt = min(base, self.maximum)

    def failed(self, dt: float, reason: str) -> float:
        """Cut the step after a failed try of size ``dt``; returns the step to retry with.

        Raises:
            SolveError: ``dt`` already was the minimum step.
        """
        self.failures += 1
        if dt <= self.minimum * (1.0 + 1e-12):
            raise SolveError(
                f"the solver did not converge even at the minimum time step {self.minimum:g} s "
                f"({reason}); try a smaller solver.time_step.min, a finer mesh or a lower current"
            )
        self.dt = max(dt * self.cut, self.minimum)
        return self.dt

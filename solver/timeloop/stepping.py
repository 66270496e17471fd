"""The time-step controller of the error-controlled integrator.

After a step of order k whose local-error norm is e (<= 1 passes,
:meth:`ecmx.solver.timeloop.integrators.BdfIntegrator.error`) the next step is
dt · min(growth, max(MIN_FACTOR, SAFETY e^{−1/(k+1)})): the standard controller, with the growth
limited to ``growth`` (and to MAX_STEP_RATIO, within the zero-stability limits of variable-step
BDF2, 1 + √2, and BDF3, 2.553: Z. Li and H.-L. Liao, arXiv:2201.00527). Where the integrator runs
on its √(t − t_r) clock (:meth:`~ecmx.solver.timeloop.integrators.BdfIntegrator.rescaled`), the factor
applies to the step's length on that clock (``rescale``). A rejected step (e > 1) is retried with the
same formula, with two exceptions where the error does not fall as dt^{k+1}
(:meth:`StepController.rejected`): a step whose stencil crossed a kink of the model (a knot of U(θ)) is
retried with the exponent 1/k, and a step rejected twice takes the order its two errors measured. A
failed Newton solve is cut by ``cut`` (or by the factor the caller passes:
:data:`~ecmx.solver.timeloop.runner.CAPPED_CUT` for a try that ran out of its Newton budget). A failure
at the minimum step is a :class:`~ecmx.solver.errors.SolveError`. After a restart (a protocol step, a
control change) the first step is ``initial``, and so is the second: the first has no estimate to
grow by.

Milestones (protocol events, snapshot states, output times) *clip* a proposed step so that it lands
exactly on them. All times in seconds.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from ecmx.solver.errors import SolveError

ROUNDOFF = 1e-9  # relative tolerance on step/milestone comparisons
SAFETY = 0.9
MIN_FACTOR = 0.2  # the largest cut after a rejected step
MAX_STEP_RATIO = 2.0  # largest ratio of consecutive steps on the integrator's clock (see the module docstring)


@dataclass
class StepController:
    """Step size from the local-error estimate, with limits.

    Attributes:
        initial: first step after every restart [s].
        maximum: largest step [s] (inf: no cap).
        minimum: smallest step [s]; a failure at this size stops the run.
        growth: largest growth factor (> 1) from one step to the next.
        cut: factor (0 < cut < 1) applied after a failed Newton solve.
    """

    initial: float
    maximum: float
    minimum: float
    growth: float = 2.0
    cut: float = 0.5

    def __post_init__(self) -> None:
        if not (0 < self.minimum <= self.initial <= self.maximum):
            raise ValueError(
                f"time steps must satisfy 0 < min <= initial <= max, got min={self.minimum}, "
                f"initial={self.initial}, max={self.maximum}"
            )
        if self.growth <= 1.0:
            raise ValueError(f"time step growth must be > 1, got {self.growth}")
        if not (0.0 < self.cut < 1.0):
            raise ValueError(f"time step cut must lie in (0, 1), got {self.cut}")
        self.dt = self.initial
        self.failures = 0
        self.rejections = 0
        self._rejection: tuple[float, float] | None = None  # (dt [s], error) of the step's last rejected try

    @classmethod
    def from_settings(cls, time_step: object) -> StepController:
        """Build from the case's ``solver.time_step`` settings (attributes initial, max, min, growth, cut)."""
        maximum = time_step.max
        return cls(
            initial=float(time_step.initial),
            maximum=math.inf if maximum is None else float(maximum),
            minimum=float(time_step.min),
            growth=float(time_step.growth),
            cut=float(time_step.cut),
        )

    def restart(self) -> None:
        """The next step is the first after a discontinuity: ``initial``."""
        self.dt = min(self.initial, self.maximum)
        self._rejection = None

    def checkpoint_state(self) -> dict[str, float | int]:
        """What carries from one step to the next: the next step [s] and the failure/rejection counts."""
        return {"dt": self.dt, "failures": self.failures, "rejections": self.rejections}

    def restore_checkpoint_state(self, state: dict[str, float | int]) -> None:
        """Put :meth:`checkpoint_state` back."""
        self.dt, self.failures = float(state["dt"]), int(state["failures"])
        self.rejections = int(state.get("rejections", 0))

    def propose(self, time_to_milestone: float | None = None) -> float:
        """The next step [s], clipped so that it does not pass the next milestone.

        A remaining distance only slightly larger than the step (less than a fifth of a step more)
        is taken whole, or in two equal halves where that would exceed the maximum step, so that no
        sliver step is left before the milestone.
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

    def factor(self, error: float, order: int) -> float:
        """The step ratio after an error norm ``error`` of a step of ``order``."""
        if error <= 0.0:
            return min(self.growth, MAX_STEP_RATIO)
        return min(self.growth, MAX_STEP_RATIO, max(MIN_FACTOR, SAFETY * error ** (-1.0 / (order + 1))))

    def accepted(self, dt: float, error: float, order: int, estimated: bool = True,
                 rescale: Callable[[float], float] | None = None) -> None:
        """The next step after an accepted step of ``dt`` with error norm ``error``; a step without an
        error estimate (``estimated`` False: the first after a restart) is repeated at its size, not
        grown: doubled, it was rejected at both restarts of cases/hev.yaml (error norm 1.7 and 2.2).
        ``rescale``: the step [s] whose length on the integrator's clock is the given factor times this
        step's (None: ``dt`` times the factor)."""
        self._rejection = None
        if not estimated:
            self.dt = min(max(dt, self.minimum), self.maximum)
            return
        factor = self.factor(error, order)
        self.dt = min(max(dt * factor if rescale is None else rescale(factor), self.minimum), self.maximum)

    def _at_minimum(self, dt: float) -> bool:
        """Whether ``dt`` is the minimum step (to round-off): no smaller step to retry with."""
        return dt <= self.minimum * (1.0 + 1e-12)

    def can_cut(self, dt: float) -> bool:
        """Whether a failed try of ``dt`` [s] can be retried with a smaller step (it is above the minimum)."""
        return not self._at_minimum(dt)

    def rejected(self, dt: float, error: float, order: int, kinked: bool = False,
                 rescale: Callable[[float], float] | None = None) -> float:
        """The step to retry with after a step of ``dt`` whose error norm ``error`` exceeded 1:
        dt · max(MIN_FACTOR, min(SAFETY, SAFETY e^{−1/p})) with p the order the error falls with.

        p = k + 1 for a smooth solution. Where the stencil crossed a kink of the model (``kinked``: a
        knot of U(θ), :func:`~ecmx.solver.timeloop.integrators.crosses_knot`) the cell voltage's
        estimate falls only as dt^{1.3–2} (measured on cases/hev.yaml: 4.2 → 1.6 → 1.0 at 98 → 55
        → 42 s), so p = k there. A second rejection of the same step measures p from the two tries,
        log(e₁/e₂)/log(dt₁/dt₂), kept within [1, k + 1]. ``rescale``: as in :meth:`accepted`.

        Raises:
            SolveError: ``dt`` already was the minimum step.
        """
        self.rejections += 1
        if self._at_minimum(dt):
            raise SolveError(
                f"the local time-integration error stays above the tolerance (norm {error:.3g}) even at the "
                f"minimum time step {self.minimum:g} s; raise solver.rtol/atol or lower solver.time_step.min")
        exponent = order if kinked else order + 1
        if self._rejection is not None and dt < self._rejection[0]:
            dt_before, error_before = self._rejection
            exponent = min(max(math.log(error_before / error) / math.log(dt_before / dt), 1.0), order + 1)
        self._rejection = (dt, error)
        factor = max(MIN_FACTOR, min(SAFETY, SAFETY * error ** (-1.0 / exponent)))
        self.dt = max(dt * factor if rescale is None else rescale(factor), self.minimum)
        return self.dt

    def failed(self, dt: float, reason: str, cut: float | None = None) -> float:
        """Cut the step after a failed Newton solve of size ``dt`` by ``cut`` (None: the setting's); returns the
        step to retry with.

        Raises:
            SolveError: ``dt`` already was the minimum step.
        """
        self.failures += 1
        self._rejection = None
        if self._at_minimum(dt):
            raise SolveError(
                f"the solver did not converge even at the minimum time step {self.minimum:g} s "
                f"({reason}); try a smaller solver.time_step.min, a finer mesh or a lower current"
            )
        self.dt = max(dt * (self.cut if cut is None else cut), self.minimum)
        return self.dt

"""Two-way chemo-mechanics iterated within each step to the integration tolerance.

:class:`StaggeredSteps` stands in for the cell problem in the time loop. A try of a step solves the
cell problem with the harmonic part φ of σ_h fixed, solves the mechanics at the new concentration,
passes φ back, and solves again, until two successive solutions differ by less than the
integration tolerance (the weighted max-norm of the difference of the differential blocks, with the
integrator's rtol/atol, at most 1) or MAX_STAGGER_ITERATIONS are used (the try then fails and the
step is cut). A rejected try restores the φ of the last accepted state. So two-way results converge
with rtol, instead of carrying the one-step lag of φ. For a sphere ∇φ = 0 and one pass suffices.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from mpi4py import MPI

MAX_STAGGER_ITERATIONS = 20


class StaggeredSteps:
    """The cell problem with the mechanics stagger iterated in every try (collective).

    Args:
        problem: the cell problem (with ``harmonic_hydrostatic``).
        coupling: the :class:`~ecmx.solver.fem.coupling.TwoWayCoupling` (``update(t)`` solves the
            mechanics at the problem's state and passes φ back).
        rtol, atol: the integration tolerances.
    """

    def __init__(self, problem: Any, coupling: Any, rtol: float, atol: float):
        self.problem, self.coupling = problem, coupling
        self.rtol, self.atol = float(rtol), float(atol)
        self._accepted_phi = problem.harmonic_hydrostatic.x.array.copy()  # φ at the start of the step
        self._fresh = True  # no try since the last accepted state
        self.stagger_iterations = 0
        self.time = 0.0  # of the last accepted state [s]
        self._dt = 0.0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.problem, name)

    def try_step(self, dt: float, weights: tuple[float, float, float] | None = None) -> Any:
        """Solve the step, then mechanics and step again until the solution stops changing."""
        self._dt = dt
        if self._fresh:  # φ as the observers left it after the last accepted step
            self._accepted_phi[:] = self.problem.harmonic_hydrostatic.x.array
            self._fresh = False
        outcome = self.problem.try_step(dt, weights)
        iterations = outcome.newton_iterations
        previous = self.problem.state()
        for _ in range(MAX_STAGGER_ITERATIONS):
            if not outcome.converged:
                return outcome
            self.stagger_iterations += 1
            self.coupling.update(self.time + dt)
            outcome = self.problem.try_step(dt, weights)
            iterations += outcome.newton_iterations
            current = self.problem.state()
            if outcome.converged and self._change(previous, current) <= 1.0:
                return replace(outcome, newton_iterations=iterations)
            previous = current
        return replace(outcome, converged=False, newton_iterations=iterations,
                       reason=f"the two-way stagger did not settle in {MAX_STAGGER_ITERATIONS} iterations")

    def _change(self, previous: list[np.ndarray], current: list[np.ndarray]) -> float:
        """Weighted max-norm of the change of the differential blocks (<= 1: within tolerance)."""
        worst = 0.0
        for flag, a, b in zip(self.problem.differential, previous, current, strict=True):
            if flag and a.size:
                scale = self.atol + self.rtol * np.maximum(np.abs(a), np.abs(b))
                worst = max(worst, float(np.max(np.abs(b - a) / scale)))
        return float(self.problem.comm.allreduce(worst, op=MPI.MAX))

    def accept(self) -> None:
        self.problem.accept()
        self._fresh = True
        self.time += self._dt

    def reject(self) -> None:
        self.problem.reject()
        self.problem.harmonic_hydrostatic.x.array[:] = self._accepted_phi

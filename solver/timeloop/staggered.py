"""Two-way chemo-mechanics iterated within each step to the integration tolerance.

:class:`StaggeredSteps` stands in for the cell problem in the time loop. A try of a step starts
from the *predicted* harmonic part φ [Pa] of σ_h at the new time, solves the cell problem
with φ fixed, solves the mechanics at the new concentration and passes its φ back. The try is
done when the φ it was solved with and the φ the mechanics returned differ by so little that
solving again could not move the differential blocks by more than the integration tolerance;
otherwise the cell problem is solved again with the new φ, and so on, up to
MAX_STAGGER_ITERATIONS passes (the try then fails and the step is cut).

The test is on the quantity the stagger passes, not on two successive cell solutions (which cost a
second cell solve in every try even when the mechanics changes nothing, e.g. on a sphere, where
∇φ = 0). Only ∇φ enters the flux D θ Ω/(RT)(∇φ − k_σ∇c_s), so a change δφ moves the concentration
by at most its equilibrium response δ ln c_s = Ω δφ/(RT) up to a constant (mass is conserved), i.e.
by a relative amount of at most Ω (max δφ − min δφ)/(RT). That bound over rtol is the first change
norm: <= 1 passes at once (the integrator's weight of θ, atol + rtol max(|θ|, m), is >= rtol |θ|).

A step much shorter than the diffusion time moves c_s far less than that (measured on
cases/nvp.yaml two-way: the bound after the first pass was a median 10 times the tolerance, at steps
of 1e-5 to 0.3 R²/D). So when the bound does not pass, the change is measured: the first-order
change of θ that solving the step again with the returned φ would make, δθ = −J⁻¹ δF, δF the change
of the particle rows of the residual at the pass's solution (two row assemblies) and J the Jacobian
of the pass's last Newton iteration, whose preconditioner or factorisation the linear solver still
holds (``coefficient_response`` of the cell problem; about a tenth of a pass). Its largest
|δθ|/(atol + rtol max(|θ|, m)), the integrator's weight of θ, over MEASURED_FRACTION (0.1) is the
change norm: what a try leaves of the stagger is a lag of φ with the same sign step after step, so it
adds up over the steps where the integrator's local errors do not; at the comparison's rtol 3e-5 the whole
tolerance left nvp two-way (3D) 1.1 % off an rtol-1e-8 reference in the spread and the compressive
hydrostatic stress at DOD 0.5, a tenth 7.3e-4. A pass whose solve made no Newton iteration has no
Jacobian of its own; then the bound decides.

Between passes φ is relaxed (Aitken's Δ² method, :class:`AitkenRelaxation`): the next pass is
solved with φ_used + ω (φ_returned − φ_used), ω from the last two differences (after the first
pass: see below). The stagger is a fixed point whose error shrinks by a nearly constant factor g per
pass (measured on cases/nvp.yaml two-way: 0.2–0.55, 3.2 passes per try, up to 11); Aitken's ω
removes that dominant part. The factor changes little from one try to the next, so each try starts
with the ω the last one ended with, kept within [1, 4] (g between 0 and 0.75; a try that ended
oddly does not start the next far off). The test and the φ the try ends with are the same as
without relaxation.

The predicted φ is the integrator's predictor applied to φ: the same weights on the φ of the same accepted
levels (:meth:`~ecmx.solver.timeloop.integrators.BdfIntegrator.predictor_weights`: its order, 1-3, and its
clock, √(t − t_r) after a restart). The mechanics is linear, so φ is a linear function of c_s and that is the φ
of the predicted concentration, which the first pass then corrects by the predictor's error only. Where the
integrator has no predictor (the first step after a restart) or wants more levels than the stagger has seen
(after a resume), the try starts from the last accepted φ. Measured on cases/nvp.yaml two-way (3D, one rank,
against the quadratic in t through the last three φ, which ran through the restart at the rest's start and
stayed quadratic where the integrator went to order 3 on √t): 116 → 105 cell solves for 60 → 59 tries, Newton
iterations 188 → 172, cell solves 2.81 → 2.52 s CPU; cases/hev.yaml two-way 103 → 105 for the same 99 tries
(its weak coupling settles in one pass almost everywhere).

A rejected try restores the φ of the last accepted state. So two-way results converge with rtol,
instead of carrying the one-step lag of φ, at one cell solve per try where φ is smooth in time.

The stagger also observes the time loop in the coupling's place (:meth:`StaggeredSteps.step_accepted`):
the accepted try's last pass has already solved the mechanics at the accepted state, so the
coupling solves again only for a state no try reached (the initial state, a resumed one). The
results are those of solving again, without the second mechanics solve per accepted step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
from mpi4py import MPI

from ecmx.solver.fem.coupling import two_way_partial_molar_volume
from ecmx.solver.timeloop.integrators import MAX_ORDER
from ecmx.solver.units import R_GAS

MAX_STAGGER_ITERATIONS = 20
MEASURED_FRACTION = 0.1  # the share of θ's integration tolerance a measured change may take (see the module doc)
MAX_START_RELAXATION = 4.0  # the largest ω a try starts with (1/(1 − g) for a factor g = 0.75 per pass)


def stress_potential_scale(case: Any) -> float:
    """Ω/(RT) [1/Pa] of a validated two-way case: the change of ln c_s at equilibrium per pascal of φ."""
    return two_way_partial_molar_volume(case.material) / (R_GAS * float(case.temperature))


class StaggeredSteps:
    """The cell problem with the mechanics stagger iterated in every try (collective).

    Args:
        problem: the cell problem (with ``harmonic_hydrostatic``).
        coupling: the :class:`~ecmx.solver.fem.coupling.TwoWayCoupling` (``update(t)`` solves the
            mechanics at the problem's state and passes φ back).
        rtol: the integration tolerance (relative).
        potential_scale: Ω/(RT) [1/Pa] (:func:`stress_potential_scale`).
        atol, magnitude: the integrator's absolute tolerance and floor m of |θ| in the error weight
            atol + rtol max(|θ|, m) of θ (the measured response is weighted like the integrator's
            error; 0, 0: relative to θ).
        predictor: the weights of the integrator's predictor of a step of dt s on its last accepted
            levels, newest first, or None where it has none (:meth:`BdfIntegrator.predictor_weights`, which
            the runner's integrator must be fed the same accepted steps as this); None: every try starts
            from the last accepted φ.
    """

    def __init__(self, problem: Any, coupling: Any, rtol: float, potential_scale: float,
                 atol: float = 0.0, magnitude: float = 0.0,
                 predictor: Callable[[float], Sequence[float] | None] | None = None):
        self.problem, self.coupling = problem, coupling
        self.rtol, self.atol, self.magnitude = float(rtol), float(atol), float(magnitude)
        self.potential_scale = float(potential_scale)
        self._accepted_phi = problem.harmonic_hydrostatic.x.array.copy()  # φ at the start of the step
        self._predictor = predictor
        self._phi_levels: list[np.ndarray] = []  # φ of the accepted states, newest first
        self._fresh = True  # no try since the last accepted state
        self.stagger_iterations = 0  # cell solves (passes) in all tries
        self.time = 0.0  # of the last accepted state [s]
        self._dt = 0.0
        self._mechanics_current = False  # the mechanics was last solved at the problem's present state
        self._omega = 1.0  # the relaxation factor the last try ended with
        self._last_response: list[np.ndarray] | None = None  # of the last pass's state to δφ, per block

    def __getattr__(self, name: str) -> Any:
        return getattr(self.problem, name)

    def try_step(self, dt: float, weights: tuple[float, ...] | None = None,
                 guess: Sequence[np.ndarray] | None = None, budget: int | None = None) -> Any:
        """Solve the step from the predicted φ, then mechanics, and again until φ stops mattering;
        Newton starts from ``guess`` (None: the last accepted state), then from the last pass; ``budget``
        bounds each pass's Newton iterations (the cell problem's ``try_step``)."""
        self._dt = dt
        phi = self.problem.harmonic_hydrostatic.x.array
        if self._fresh:  # φ as the observers left it after the last accepted step
            self._accepted_phi[:] = phi
            self._phi_levels = [phi.copy(), *self._phi_levels][: MAX_ORDER + 1]
            self._fresh = False
        phi[:] = self._predicted(dt)
        iterations = 0
        relaxation = AitkenRelaxation(self.problem.comm, _owned(self.problem.harmonic_hydrostatic),
                                      omega=min(max(self._omega, 1.0), MAX_START_RELAXATION))
        for _ in range(MAX_STAGGER_ITERATIONS):
            used = phi.copy()
            self._mechanics_current = False
            outcome = self.problem.try_step(dt, weights, guess, budget)
            iterations += outcome.newton_iterations
            if not outcome.converged:
                return replace(outcome, newton_iterations=iterations)
            self.stagger_iterations += 1
            guess = self.problem.state()
            self.coupling.update(self.time + dt)
            self._mechanics_current = True
            if self._change(used, phi) <= 1.0:
                return replace(outcome, newton_iterations=iterations)
            phi[:] = relaxation.next(used, phi)
            self._omega = relaxation.omega
            guess = self._next_guess(guess, relaxation.omega)
        return replace(outcome, converged=False, newton_iterations=iterations,
                       reason=f"the two-way stagger did not settle in {MAX_STAGGER_ITERATIONS} iterations")

    def _predicted(self, dt: float) -> np.ndarray:
        """φ at the end of a step of ``dt`` s: the integrator's predictor weights on the φ of the accepted
        levels (the last accepted φ where it has none or wants more levels than are known here)."""
        weights = self._predictor(dt) if self._predictor is not None else None
        if weights is None or len(weights) > len(self._phi_levels):
            return self._phi_levels[0]
        predicted = np.zeros_like(self._phi_levels[0])
        for weight, phi in zip(weights, self._phi_levels, strict=False):
            predicted += weight * phi
        return predicted

    def _next_guess(self, state: list[np.ndarray], omega: float) -> list[np.ndarray]:
        """Newton's first iterate of the next pass, solved with φ_used + ω δφ: the last pass's ``state``
        plus ω times its measured first-order response to δφ (none measured: ``state``)."""
        if self._last_response is None:
            return state
        return [u + omega * du for u, du in zip(state, self._last_response, strict=True)]

    def _change(self, used: np.ndarray, returned: np.ndarray) -> float:
        """The weighted change of the concentration that solving again with ``returned`` instead of
        ``used`` would make (<= 1: within tolerance): the smaller of the equilibrium bound and the
        measured first-order response (see the module docstring)."""
        self._last_response = None
        bound = self._equilibrium_bound(used, returned)
        if bound <= 1.0:
            return bound
        return min(bound, self._response(used, returned) / MEASURED_FRACTION)

    def _equilibrium_bound(self, used: np.ndarray, returned: np.ndarray) -> float:
        """Ω (max δφ − min δφ)/(RT)/rtol: the most a δφ can move ln c_s at equilibrium, over rtol."""
        delta = returned - used
        high = self.problem.comm.allreduce(float(delta.max()) if delta.size else -np.inf, op=MPI.MAX)
        low = self.problem.comm.allreduce(float(delta.min()) if delta.size else np.inf, op=MPI.MIN)
        return self.potential_scale * max(high - low, 0.0) / self.rtol

    def _response(self, used: np.ndarray, returned: np.ndarray) -> float:
        """max |δθ|/(atol + rtol max(|θ|, m)), δθ the first-order change of the last pass's θ when its
        φ goes from ``used`` to ``returned`` (the problem's ``coefficient_response``; ``returned`` is
        the problem's φ array and holds its values again afterwards); inf when the problem cannot tell."""
        target = returned.copy()
        returned[:] = used
        response = self.problem.coefficient_response(self.problem.harmonic_hydrostatic, target)
        self._last_response = response
        if response is None:
            return np.inf
        theta = self.problem.state()[0]
        weight = self.atol + self.rtol * np.maximum(np.abs(theta), self.magnitude)
        local = float(np.max(np.abs(response[0]) / weight)) if theta.size else 0.0
        return self.problem.comm.allreduce(local, op=MPI.MAX)

    def accept(self) -> None:
        self.problem.accept()
        self._fresh = True
        self.time += self._dt

    def reject(self) -> None:
        self.problem.reject()
        self.problem.harmonic_hydrostatic.x.array[:] = self._accepted_phi
        self._mechanics_current = False

    # -- observer interface, in the coupling's place (time-loop observer) ------------------------
    def segment_started(self, segment: Any, index: int, count: int) -> None:
        self.coupling.segment_started(segment, index, count)

    def step_accepted(self, record: Any) -> None:
        """The coupling's update at an accepted state, unless the accepted try's last pass made it."""
        if not self._mechanics_current:
            self.coupling.step_accepted(record)
            self._mechanics_current = True

    def snapshot(self, depth_of_discharge: float, record: Any) -> None:
        self.coupling.snapshot(depth_of_discharge, record)


def _owned(function: Any) -> int:
    """The number of this rank's own entries at the start of ``function.x.array`` (no ghosts)."""
    return function.x.index_map.size_local * function.x.block_size


class AitkenRelaxation:
    """Aitken's Δ² relaxation of a fixed-point iteration φ ↦ G(φ) (Küttler & Wall, Comput. Mech. 43
    (2008) 61): with rₖ = G(φₖ) − φₖ, φₖ₊₁ = φₖ + ωₖ rₖ, ω₀ = ``omega`` and
    ωₖ = −ωₖ₋₁ ⟨rₖ₋₁, rₖ − rₖ₋₁⟩/|rₖ − rₖ₋₁|² (the inner products over the owned entries, all ranks).
    For an error that shrinks by a factor g per pass, ω → 1/(1 − g), the fixed point of that mode.

    Args:
        comm: the communicator φ is distributed over.
        owned: the number of owned entries at the start of each array (the rest are ghosts).
        omega: ω₀, the factor of the first relaxed pass (1: a plain pass).
    """

    def __init__(self, comm: MPI.Comm, owned: int, omega: float = 1.0) -> None:
        self.comm, self.owned = comm, int(owned)
        self.omega = float(omega)
        self._residual: np.ndarray | None = None

    def _dot(self, a: np.ndarray, b: np.ndarray) -> float:
        return float(self.comm.allreduce(float(np.dot(a[: self.owned], b[: self.owned])), op=MPI.SUM))

    def next(self, used: np.ndarray, returned: np.ndarray) -> np.ndarray:
        """The φ of the next pass after a pass solved with ``used`` gave ``returned`` [Pa]."""
        residual = returned - used
        if self._residual is not None:
            change = residual - self._residual
            denominator = self._dot(change, change)
            if denominator > 0.0:
                self.omega = -self.omega * self._dot(self._residual, change) / denominator
        self._residual = residual
        return used + self.omega * residual

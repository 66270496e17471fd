"""The two-way stagger iterated within a step (ecmx.solver.timeloop.staggered) on a two-node fixed point."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pytest
from mpi4py import MPI

from ecmx.solver.timeloop.integrators import BdfIntegrator
from ecmx.solver.timeloop.staggered import StaggeredSteps


@dataclass(frozen=True)
class Outcome:
    converged: bool
    newton_iterations: int
    reason: str = ""


class Problem:
    """θᵢ = θᵢⁿ + dt (aᵢ + φᵢ − φ̄), the 'cell solve' at a fixed φ (only the spread of φ acts,
    as only ∇φ enters the stress-assisted flux)."""

    differential = (True,)
    comm = MPI.COMM_WORLD
    drive = np.array([1.0, 2.0])

    def __init__(self):
        self.harmonic_hydrostatic = SimpleNamespace(x=SimpleNamespace(
            array=np.zeros(2), index_map=SimpleNamespace(size_local=2), block_size=1))
        self.theta, self.accepted_theta, self.solves = np.full(2, 0.5), np.full(2, 0.5), 0
        self.dt, self.responses, self.guesses = 0.0, 0, []

    def try_step(self, dt, weights=None, guess=None, budget=None):
        self.solves += 1
        self.dt = dt
        self.guesses.append(guess)
        phi = self.harmonic_hydrostatic.x.array
        self.theta = self.accepted_theta + dt * (self.drive + phi - phi.mean())
        return Outcome(True, 2)

    def state(self):
        return [self.theta.copy()]

    def coefficient_response(self, coefficient, values):
        """The change of θ a solve with φ = ``values`` would make: exact here (linear in φ)."""
        delta = values - coefficient.x.array
        coefficient.x.array[:] = values
        self.responses += 1
        return [self.dt * (delta - delta.mean())]

    def accept(self):
        self.accepted_theta = self.theta

    def reject(self):
        self.theta = self.accepted_theta


class Coupling:
    """The 'mechanics': φ = k θ (k = 0.5: the fixed point is a contraction with factor 0.5 dt), or a
    uniform φ = k θ̄ (a sphere: ∇φ = 0)."""

    def __init__(self, problem, uniform=False, k=0.5):
        self.problem, self.uniform, self.k = problem, uniform, k

    updates = 0

    def update(self, time_s):
        self.updates += 1
        theta = self.problem.theta
        self.problem.harmonic_hydrostatic.x.array[:] = self.k * (np.full(2, theta.mean()) if self.uniform else theta)


    def step_accepted(self, record):  # the observer: solve at the accepted state
        self.update(record.time_s)


def exact_difference(d0, dt):
    """θ₀ − θ₁ at the fixed point: d = d₀ + dt (−1 + 0.5 d)."""
    return (d0 - dt) / (1.0 - 0.5 * dt)


def test_stagger_iterates_to_the_tolerance_and_reject_restores_phi():
    problem = Problem()
    steps = StaggeredSteps(problem, Coupling(problem), rtol=1e-10, potential_scale=1.0)
    dt = 0.4
    outcome = steps.try_step(dt)
    assert outcome.converged
    d = problem.theta[0] - problem.theta[1]
    assert abs(d - exact_difference(0.0, dt)) <= 1e-10  # the lagged (one-pass) value is off by 0.04
    assert problem.theta.sum() == pytest.approx(1.0 + 3.0 * dt, rel=1e-14)  # the mean is not affected by φ
    # plain passes shrink the error by 0.5 dt = 0.2 each (from 0.04 to 1e-10: 12 passes); Aitken's ω
    # takes the one mode (only the spread of φ acts) to its fixed point at the third pass
    assert problem.solves <= 4 and outcome.newton_iterations == 2 * problem.solves
    steps.reject()
    assert np.all(problem.harmonic_hydrostatic.x.array == 0.0)  # φ of the last accepted state
    loose = StaggeredSteps(problem, Coupling(problem), rtol=1e-2, potential_scale=1.0)
    problem.solves = 0
    loose.try_step(dt)
    assert problem.solves < 5  # a loose tolerance needs fewer passes


def test_the_change_that_counts_is_scaled_by_omega_over_rt():
    """The same φ change passes or not by Ω/(RT): a weak coupling needs fewer passes."""
    solves = []
    for scale in (1.0, 1e-4):
        problem = Problem()
        StaggeredSteps(problem, Coupling(problem), rtol=1e-6, potential_scale=scale).try_step(0.4)
        solves.append(problem.solves)
    assert solves[1] < solves[0]


def test_a_uniform_phi_costs_one_cell_solve_per_try():
    """On a sphere (∇φ = 0) solving again changes nothing: one cell and one mechanics solve per try
    (the stagger used to solve the cell problem at least twice)."""
    problem = Problem()
    steps = StaggeredSteps(problem, Coupling(problem, uniform=True), rtol=1e-12, potential_scale=1.0)
    for _ in range(4):
        assert steps.try_step(0.1).converged
        steps.accept()
    assert problem.solves == 4


def _passes_per_step(steps: StaggeredSteps, problem: Problem, dt: float, count: int) -> list[int]:
    """Take ``count`` accepted steps of ``dt``: the cell solves (passes) each took."""
    passes = []
    for _ in range(count):
        before = problem.solves
        assert steps.try_step(dt).converged
        steps.accept()
        passes.append(problem.solves - before)
    return passes


def _integrated_passes(problem: Problem, steps: StaggeredSteps, integrator: BdfIntegrator, dt: float,
                       count: int) -> list[int]:
    """:func:`_passes_per_step` with ``integrator`` fed the accepted levels, as the runner feeds it."""
    integrator.restart(0.0, problem.state(), warped=False)
    passes = []
    for n in range(1, count + 1):
        passes += _passes_per_step(steps, problem, dt, 1)
        integrator.accepted(n * dt, problem.state())
    return passes


def test_the_predicted_phi_saves_the_second_pass():
    """φ changes smoothly from step to step: once the integrator's predictor has its levels, its weights on
    the accepted φ start the try so close that one pass is within the tolerance; a try started from the last
    accepted φ (no predictor) needs two or more at every step."""
    problem = Problem()
    integrator = BdfIntegrator(1e-6, 0.0, (True,), MPI.COMM_WORLD, fixed_order=2, warp=False)
    steps = StaggeredSteps(problem, Coupling(problem, k=0.05), rtol=1e-6, potential_scale=1.0,
                           predictor=integrator.predictor_weights)
    passes = _integrated_passes(problem, steps, integrator, 0.01, 6)
    assert passes[0] >= 2 and passes[-1] == 1
    unpredicted = Problem()
    assert min(_passes_per_step(StaggeredSteps(unpredicted, Coupling(unpredicted, k=0.05), rtol=1e-6,
                                               potential_scale=1.0), unpredicted, 0.01, 6)) >= 2
    d = problem.theta[0] - problem.theta[1]
    exact = 0.0
    for _ in range(6):
        exact = (exact - 0.01) / (1.0 - 0.05 * 0.01)
    assert abs(d - exact) <= 1e-6 * 0.5


def test_an_accepted_step_costs_no_second_mechanics_solve():
    """Observing in the coupling's place, the stagger solves the mechanics at an accepted state only
    when no try has (the initial state; after a reject): the accepted try's last pass has it, and
    the state it leaves is the one solving again gives."""
    problem = Problem()
    coupling = Coupling(problem, k=0.05)
    steps = StaggeredSteps(problem, coupling, rtol=1e-6, potential_scale=1.0)
    record = SimpleNamespace(time_s=0.0)
    steps.step_accepted(record)  # the initial state: solved
    assert coupling.updates == 1
    for _ in range(4):
        assert steps.try_step(0.01).converged
        steps.accept()
        passes, phi = coupling.updates, problem.harmonic_hydrostatic.x.array.copy()
        steps.step_accepted(record)
        assert coupling.updates == passes  # no second solve
        coupling.update(0.0)  # solving again changes nothing
        assert np.array_equal(problem.harmonic_hydrostatic.x.array, phi)
        coupling.updates -= 1
    steps.try_step(0.01)
    steps.reject()
    before = coupling.updates
    steps.step_accepted(record)  # not at a solved state: solved
    assert coupling.updates == before + 1


def test_aitken_relaxation_reaches_the_fixed_point_of_a_slowly_contracting_map():
    """φ ↦ g φ + b with g = 0.9 (plain passes: the error × 0.9 each) on two ranks' worth of owned
    entries plus a ghost: ω becomes 1/(1 − g) = 10 and the third iterate is the fixed point; the
    ghost entry does not enter the inner products."""
    from ecmx.solver.timeloop.staggered import AitkenRelaxation

    g, b = 0.9, np.array([1.0, -2.0, 3.0, 99.0])  # the last entry is a ghost
    fixed = b / (1.0 - g)
    relaxation = AitkenRelaxation(MPI.COMM_SELF, owned=3)
    phi = np.zeros(4)
    for _ in range(3):
        phi = relaxation.next(phi, g * phi + b)
    assert relaxation.omega == pytest.approx(10.0, rel=1e-12)
    assert phi[:3] == pytest.approx(fixed[:3], rel=1e-12)


def test_a_try_starts_with_the_relaxation_the_last_one_ended_with():
    """The contraction factor per pass is the same from try to try here (0.5 dt): the second try
    starts relaxed with the ω the first one found and needs fewer passes than the first."""
    problem = Problem()
    steps = StaggeredSteps(problem, Coupling(problem), rtol=1e-10, potential_scale=1.0)
    passes = _passes_per_step(steps, problem, 0.4, 2)
    assert passes[1] < passes[0]


def test_a_short_step_ends_on_the_measured_response_not_the_equilibrium_bound():
    """A step far shorter than the time θ takes to respond to φ: the equilibrium bound of the change
    (100 × the spread of δφ here) is 50 × the tolerance after the first pass, but the change a second
    pass would make (the problem's coefficient_response, dt × the spread of δφ) is 1e-3 of it, so the
    first try takes one cell solve and one response (the later ones start from the predicted φ, within
    the bound already), and θ is within the tolerance of the fixed point. The stagger that stopped on
    the bound alone took two passes in the first try."""
    problem = Problem()
    steps = StaggeredSteps(problem, Coupling(problem, k=0.05), rtol=1e-4, potential_scale=100.0)
    dt = 1e-3
    assert _passes_per_step(steps, problem, dt, 4) == [1, 1, 1, 1]
    assert problem.responses >= 1
    exact = 0.0
    for _ in range(4):
        exact = (exact - dt) / (1.0 - 0.05 * dt)
    assert abs(problem.theta[0] - problem.theta[1] - exact) <= 1e-4 * 0.5 * 1e-2


def test_without_a_measured_response_the_equilibrium_bound_decides():
    """A pass whose solve made no Newton iteration has no Jacobian of its own (coefficient_response
    None): the try goes on until the equilibrium bound is met (more passes than with the response)."""
    problem = Problem()
    problem.coefficient_response = lambda coefficient, values: coefficient.x.array.__setitem__(slice(None), values)
    steps = StaggeredSteps(problem, Coupling(problem, k=0.05), rtol=1e-4, potential_scale=100.0)
    passes = _passes_per_step(steps, problem, 1e-3, 4)
    assert passes[0] == 2 and min(passes) >= 1 and sum(passes) > 4
    exact = 0.0
    for _ in range(4):
        exact = (exact - 1e-3) / (1.0 - 0.05 * 1e-3)
    assert abs(problem.theta[0] - problem.theta[1] - exact) <= 1e-4 * 0.5 * 1e-2


def test_a_second_pass_starts_from_the_measured_response():
    """The pass after a measured response starts Newton from the last pass's state plus ω times its
    response to δφ (the relaxed φ's first-order solution; exact for this linear problem, and ω = 1 in
    the first pass of the first try), not from the last pass's state."""
    problem = Problem()
    steps = StaggeredSteps(problem, Coupling(problem), rtol=1e-10, potential_scale=1.0)
    dt = 0.4
    assert steps.try_step(dt).converged
    assert problem.solves >= 2 and problem.guesses[0] is None
    first = problem.accepted_theta + dt * problem.drive  # the first pass, with the predicted φ = 0
    phi = 0.5 * first  # the φ the mechanics returned after it
    second = problem.accepted_theta + dt * (problem.drive + phi - phi.mean())
    assert problem.guesses[1][0] == pytest.approx(second, rel=1e-14)
    assert not np.allclose(problem.guesses[1][0], first, rtol=1e-3)


class RecordingProblem(Problem):
    """The :class:`Problem` that keeps the φ of every cell solve."""

    def __init__(self):
        super().__init__()
        self.used = []

    def try_step(self, dt, weights=None, guess=None, budget=None):
        self.used.append(self.harmonic_hydrostatic.x.array.copy())
        return super().try_step(dt, weights, guess, budget)


def test_a_try_starts_from_the_predictor_weights_on_the_accepted_phi():
    """The first pass of a try is solved with Σ wᵢ φᵢ, the predictor's weights on the φ of the accepted
    levels (newest first); with fewer levels known than the predictor weighs (the first step, or after a
    resume), with the last accepted φ."""
    problem = RecordingProblem()
    steps = StaggeredSteps(problem, Coupling(problem), rtol=1e-10, potential_scale=1.0,
                           predictor=lambda dt: [2.0, -1.0])
    problem.harmonic_hydrostatic.x.array[:] = phi0 = np.array([1.0, 2.0])
    assert steps.try_step(0.1).converged
    assert np.array_equal(problem.used[0], phi0)
    steps.accept()
    phi1 = problem.harmonic_hydrostatic.x.array.copy()
    assert not np.allclose(phi1, phi0)
    first = len(problem.used)
    assert steps.try_step(0.1).converged
    assert np.allclose(problem.used[first], 2.0 * phi1 - phi0, rtol=1e-15, atol=0.0)

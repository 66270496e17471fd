"""The two-way stagger iterated within a step (ecmx.solver.timeloop.staggered) on a scalar fixed point."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
from mpi4py import MPI

from ecmx.solver.timeloop.staggered import StaggeredSteps


@dataclass(frozen=True)
class Outcome:
    converged: bool
    newton_iterations: int
    reason: str = ""


class Problem:
    """θ = θ₀ + dt (1 + 0.5 φ): the 'cell solve' at a fixed harmonic stress φ."""

    differential = (True,)
    comm = MPI.COMM_WORLD

    def __init__(self):
        self.harmonic_hydrostatic = SimpleNamespace(x=SimpleNamespace(array=np.zeros(1)))
        self.theta, self.accepted_theta, self.solves = 0.5, 0.5, 0

    def try_step(self, dt, weights=None):
        self.solves += 1
        self.theta = self.accepted_theta + dt * (1.0 + 0.5 * self.harmonic_hydrostatic.x.array[0])
        return Outcome(True, 2)

    def state(self):
        return [np.array([self.theta])]

    def accept(self):
        self.accepted_theta = self.theta

    def reject(self):
        self.theta = self.accepted_theta


class Coupling:
    """φ = θ − 0.5 (the 'mechanics'): the fixed point is a contraction with factor 0.5 dt."""

    def __init__(self, problem):
        self.problem = problem

    def update(self, time_s):
        self.problem.harmonic_hydrostatic.x.array[0] = self.problem.theta - 0.5


def test_stagger_iterates_to_the_tolerance_and_reject_restores_phi():
    problem = Problem()
    steps = StaggeredSteps(problem, Coupling(problem), rtol=1e-10, atol=1e-12)
    dt = 0.4
    outcome = steps.try_step(dt)
    assert outcome.converged
    exact = 0.5 + dt / (1.0 - 0.5 * dt)  # θ = θ₀ + dt (1 + 0.5 (θ − 0.5))
    assert abs(problem.theta - exact) <= 1e-10 * exact  # the lagged (one-pass) value is off by 0.5 dt²
    assert problem.solves > 5 and outcome.newton_iterations == 2 * problem.solves
    steps.reject()
    assert problem.harmonic_hydrostatic.x.array[0] == 0.0  # φ of the last accepted state
    loose = StaggeredSteps(problem, Coupling(problem), rtol=1e-2, atol=1e-4)
    problem.solves = 0
    loose.try_step(dt)
    assert problem.solves < 5  # a loose tolerance needs fewer passes

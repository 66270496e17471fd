"""Newton's first guess from the integrator's predictor (BdfIntegrator.predict, CellProblem.try_step)."""

from __future__ import annotations

import numpy as np
from mpi4py import MPI
from verification.test_verification_sphere import SphereRun

from ecmx.solver.timeloop.integrators import BdfIntegrator


def _steps(use_guess: bool) -> tuple[int, list[np.ndarray], list[np.ndarray]]:
    """20 BDF2 steps growing by 1.2 (as the controller grows them) of the constant-current sphere:
    the Newton iterations of all, the final state and the state one step before."""
    run = SphereRun(30)
    integrator = BdfIntegrator(1e-6, 1e-8, run.problem.differential, MPI.COMM_WORLD)
    integrator.restart(0.0, run.problem.state())
    assert integrator.predict(1.0) is None  # one level only: the last state is the guess
    time, dt, iterations = 0.0, 1e-4 * run.problem.scales.time, 0
    for _ in range(20):
        guess = integrator.predict(dt) if use_guess else None
        outcome = run.problem.try_step(dt, integrator.weights(dt), guess)
        assert outcome.converged
        iterations += outcome.newton_iterations
        run.problem.accept()
        time += dt
        integrator.accepted(time, run.problem.state())
        dt *= 1.2
    return iterations, integrator.states[0], integrator.states[1]


def test_the_predictor_saves_newton_iterations_and_changes_nothing():
    """Started from the extrapolation of the accepted levels, Newton takes fewer iterations than
    from the last state and lands on the same solution (to the Newton tolerance, a hundredth of the
    integration tolerance)."""
    plain, state, before = _steps(False)
    started, state_guessed, _ = _steps(True)
    print("Newton iterations from the last state", plain, "from the predictor", started)
    assert started <= 0.8 * plain
    for got, want, previous in zip(state_guessed, state, before, strict=True):
        if want.size:
            assert np.max(np.abs(got - want)) <= 1e-6 * np.max(np.abs(want - previous)) + 1e-12 * np.max(np.abs(want))

"""The step after a rejected try (issue 14): at a kink of U(θ) the error falls as dt^k, not dt^(k+1),
and a step rejected twice retries with the order its two errors measured."""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI

from ecmx.solver.timeloop.integrators import BdfIntegrator
from ecmx.solver.timeloop.stepping import SAFETY, StepController


def controller() -> StepController:
    return StepController(initial=1.0, maximum=1e4, minimum=1e-6)


def test_a_try_across_a_kink_retries_with_the_exponent_one_over_the_order():
    c = controller()
    assert c.rejected(100.0, 4.0, 2) == pytest.approx(100.0 * SAFETY * 4.0 ** (-1 / 3))  # smooth: e^(-1/(k+1))
    c.accepted(1.0, 0.5, 2)
    assert c.rejected(100.0, 4.0, 2, kinked=True) == pytest.approx(100.0 * SAFETY * 4.0 ** (-1 / 2))


def test_a_second_rejection_uses_the_measured_order_within_limits():
    c = controller()
    first = c.rejected(100.0, 8.0, 2)
    measured = math.log(8.0 / 1.5) / math.log(100.0 / first)  # the error fell as dt^p, 1 < p < 3
    assert 1.0 < measured < 3.0
    assert c.rejected(first, 1.5, 2) == pytest.approx(first * SAFETY * 1.5 ** (-1 / measured))
    c.accepted(1.0, 0.5, 2)  # a new step forgets the rejections of the last one
    again = c.rejected(100.0, 4.0, 2)
    assert c.rejected(again, 3.9, 2) == pytest.approx(again * SAFETY / 3.9)  # p below 1: taken as 1


def test_the_integrator_tells_whether_the_last_estimate_crossed_a_kink():
    where = np.array([True, False])
    integrator = BdfIntegrator(1e-6, 1e-8, [True], MPI.COMM_WORLD, kinks=[(np.array([0.5]), where)])
    integrator.restart(0.0, [np.array([0.40, 0.40])])
    integrator.accepted(1.0, [np.array([0.45, 0.45])])
    integrator.error(1.0, [np.array([0.49, 0.49])])
    assert not integrator.kinked
    integrator.error(1.0, [np.array([0.52, 0.49])])  # the surface node passes the knot 0.5
    assert integrator.kinked

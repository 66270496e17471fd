"""The per-try Newton budget of the time loop (issue 14: ProtocolRunner, TRY_NEWTON_BUDGET), on the fake cell.

A try of a step that can still be cut gets TRY_NEWTON_BUDGET iterations; when it runs out (``capped``) the step
is cut at once by CAPPED_CUT, and the next try of that step, like any try at the minimum step, gets the user's full budget.
"""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
from support.fakes import FakeCellProblem
from unit.test_run_driver import make_case, run

from ecmx.solver.errors import SolveError
from ecmx.solver.fem.newton import StepOutcome
from ecmx.solver.timeloop.runner import BUDGET_MARGIN, CAPPED_CUT, TRY_NEWTON_BUDGET


class StallingProblem(FakeCellProblem):
    """Newton 'stalls' on steps longer than ``stall_above`` [s] while it has a budget (capped failure),
    and converges with the full budget; records every try's (dt, budget)."""

    def __init__(self, case, stall_above: float, **kwargs):
        super().__init__(case, **kwargs)
        self.stall_above, self.budgets = stall_above, []

    def try_step(self, dt, weights=None, guess=None, budget=None):
        self.budgets.append((dt, budget))
        if budget is not None and dt > self.stall_above:
            return StepOutcome(False, budget, "stalled", capped=True)
        return super().try_step(dt, weights, guess, budget)


def _case(dod: float = 0.2, **time_step):
    return make_case([{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": dod}}],
                     solver={"time_step": {"initial": 1, "max": 50, **time_step}})


def test_a_capped_try_is_cut_and_its_retry_gets_the_full_budget():
    case = _case()
    problem = StallingProblem(case, stall_above=20.0)
    runner, log, _ = run(case, problem=problem)
    reference, reference_log, _ = run(case)
    assert case.solver.max_newton_iterations > TRY_NEWTON_BUDGET
    capped = [i for i, (dt, budget) in enumerate(problem.budgets) if budget is not None and dt > 20.0]
    assert capped  # the long steps ran out of their budget ...
    for i in capped:  # ... were cut, and their next try had the full budget
        assert problem.budgets[i + 1][0] == pytest.approx(CAPPED_CUT * problem.budgets[i][0])
        assert problem.budgets[i + 1][1] is None
    assert all(budget == TRY_NEWTON_BUDGET for dt, budget in problem.budgets[:3])  # ordinary tries: capped
    assert log.records[-1].depth_of_discharge == pytest.approx(0.2, abs=1e-9)
    assert log.records[-1].quantities["voltage_V"] == pytest.approx(
        reference_log.records[-1].quantities["voltage_V"], abs=2e-3)


def test_a_try_at_the_minimum_step_gets_the_full_budget():
    """A step at the minimum cannot be cut: no budget, so a Newton that would stall under one still converges."""
    case = _case(0.01, initial=0.05, min=0.05)
    problem = StallingProblem(case, stall_above=0.0)  # every budgeted try stalls
    _, log, _ = run(case, problem=problem)
    at_minimum = [budget for dt, budget in problem.budgets if dt <= 0.05 * (1 + 1e-9)]
    assert at_minimum and all(budget is None for budget in at_minimum)
    assert any(budget == TRY_NEWTON_BUDGET for _, budget in problem.budgets)
    assert log.records[-1].depth_of_discharge == pytest.approx(0.01, abs=1e-9)


def test_a_capped_failure_at_the_minimum_is_impossible():
    """A stall that the full budget does not cure either still stops the run at the minimum step."""
    case = _case(min=0.25)

    class Hopeless(StallingProblem):
        def try_step(self, dt, weights=None, guess=None, budget=None):
            self.budgets.append((dt, budget))
            return StepOutcome(False, budget or 25, "stalled", capped=budget is not None)

    problem = Hopeless(case, stall_above=0.0)
    with pytest.raises(SolveError, match="minimum time step"):
        run(case, problem=problem)
    assert problem.budgets[-1] == (pytest.approx(0.25), None)


def test_the_budget_grows_with_what_accepted_steps_needed():
    """A problem whose converged tries take many Newton iterations (a phase-separating particle, a stiff case)
    keeps room for them: after accepted steps of 12 iterations the budget is 1.5 x 12, not TRY_NEWTON_BUDGET."""
    case = _case(0.02)

    class ManyIterations(StallingProblem):
        def try_step(self, dt, weights=None, guess=None, budget=None):
            outcome = super().try_step(dt, weights, guess, budget)
            return replace(outcome, newton_iterations=12) if outcome.converged else outcome

    problem = ManyIterations(case, stall_above=1e9)
    runner, log, _ = run(case, problem=problem)
    assert problem.budgets[0][1] == TRY_NEWTON_BUDGET  # nothing accepted yet
    assert all(budget == math.ceil(BUDGET_MARGIN * 12) for _, budget in problem.budgets[1:])
    assert runner.try_budget() == 18 and log.records[-1].depth_of_discharge == pytest.approx(0.02, abs=1e-9)

"""The fallbacks of a failed Krylov solve in CoupledNewton.solve (issue 14): the fresh set-up, then MUMPS, except
under a per-try Newton budget, where the try ends capped (the step is cut) without the MUMPS solve."""

from __future__ import annotations

import pytest

from ecmx.solver.fem.newton import CoupledNewton, NewtonSettings, StepOutcome
from ecmx.solver.fem.preconditioner_reuse import ReuseRule

LINEAR_FAILURE = "Newton did not converge (DIVERGED_LINEAR_SOLVE)"


def _newton(reused: bool) -> tuple[CoupledNewton, list[tuple[str, int | None]]]:
    """A CoupledNewton whose every fieldsplit solve fails in its linear solve after 3 Newton iterations and
    whose MUMPS solve converges in 4; records (solver, budget) of each solve. The SNES objects are stand-ins:
    only the fallback logic of ``solve`` runs."""
    newton = object.__new__(CoupledNewton)
    newton.linear_solver, newton._settings = "fieldsplit", NewtonSettings(1e-8, 1e-10, 20)
    newton.reuse, newton._problem, newton._direct = ReuseRule(), "fieldsplit", None
    if reused:  # an earlier solve set the preconditioner up: the next one reuses it
        newton.reuse.before_solve()
        newton.reuse.after_solve(10, True)
    calls: list[tuple[str, int | None]] = []

    def solve_with(problem, reset, check, budget=None):
        calls.append((problem, budget))
        if problem == "mumps":
            return StepOutcome(True, 4, "CONVERGED_FNORM_ABS")
        newton.reuse.before_solve()  # the Krylov solve inside, as the KSP hooks report it: failed
        newton.reuse.after_solve(150, False)
        return StepOutcome(False, 3, LINEAR_FAILURE)

    newton._solve_with = solve_with
    newton._build = lambda linear_solver: linear_solver
    return newton, calls


@pytest.mark.parametrize("reused", [False, True])
def test_a_krylov_failure_under_a_budget_caps_the_try_without_the_mumps_solve(reused):
    newton, calls = _newton(reused)
    outcome = newton.solve(lambda: None, lambda: "", budget=8)
    assert not outcome.converged and outcome.capped
    assert "budget of 8" in outcome.reason
    assert [problem for problem, _ in calls] == ["fieldsplit"] * (2 if reused else 1)  # no MUMPS solve
    assert newton._direct is None
    assert outcome.newton_iterations == 3 * len(calls)


@pytest.mark.parametrize("budget", [None, 20])
def test_without_a_budget_a_krylov_failure_is_solved_again_with_mumps(budget):
    """No budget, or one that is not below the user's maximum (a step at the minimum): MUMPS, as before."""
    newton, calls = _newton(reused=False)
    outcome = newton.solve(lambda: None, lambda: "", budget=budget)
    assert outcome.converged and not outcome.capped
    assert [problem for problem, _ in calls] == ["fieldsplit", "mumps"]
    assert outcome.newton_iterations == 3 + 4
    assert "retried with MUMPS" in outcome.reason

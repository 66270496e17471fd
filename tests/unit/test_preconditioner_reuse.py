"""The rule that decides when the Krylov solvers set their preconditioner up again."""

from __future__ import annotations

from ecmx.solver.fem.preconditioner_reuse import ReuseRule


def _solve(rule: ReuseRule, iterations: int, converged: bool = True) -> bool:
    """One linear solve: whether the rule set the preconditioner up for it."""
    fresh = rule.before_solve()
    rule.after_solve(iterations, converged)
    return fresh


def test_first_solve_sets_up_then_reuses():
    rule = ReuseRule()
    rule.expect_operator((10.0, "current"))
    assert [_solve(rule, 10) for _ in range(4)] == [True, False, False, False]
    assert (rule.setups, rule.solves, rule.krylov_iterations) == (1, 4, 40)


def test_rebuilds_when_krylov_iterations_grow_beyond_twice_the_fresh_count():
    rule = ReuseRule()
    assert _solve(rule, 10)
    assert not _solve(rule, 20)  # twice: still kept
    assert not _solve(rule, 21)  # more than twice: set up before the next solve
    assert _solve(rule, 8)
    assert not _solve(rule, 16)
    assert rule.last_solve_reused


def test_rebuilds_after_a_failed_solve_with_a_reused_preconditioner():
    rule = ReuseRule()
    _solve(rule, 10)
    assert not _solve(rule, 1000, converged=False)
    assert rule.last_solve_reused
    assert _solve(rule, 10)
    assert not rule.last_solve_reused


def test_rebuilds_when_the_step_changes_by_more_than_a_factor_two_or_the_control_mode_changes():
    rule = ReuseRule()
    rule.expect_operator((10.0, "current"))
    _solve(rule, 10)
    rule.expect_operator((12.0, "current"))  # 20 % longer or shorter steps keep the preconditioner
    assert not _solve(rule, 10)
    rule.expect_operator((8.0, "current"))
    assert not _solve(rule, 10)
    rule.expect_operator((4.0, "current"))  # 2.5× longer than at the set-up
    assert _solve(rule, 10)
    rule.expect_operator((4.0, "voltage"))
    assert _solve(rule, 10)
    rule.expect_operator((4.0, "voltage"))
    assert not _solve(rule, 10)


def test_disabled_rule_sets_up_for_every_solve():
    rule = ReuseRule(enabled=False)
    assert all(_solve(rule, 10) for _ in range(3))
    assert rule.setups == 3


def test_step_change_is_measured_from_the_last_set_up():
    rule = ReuseRule()
    rule.expect_operator((10.0, "current"))
    _solve(rule, 10)
    _solve(rule, 30)  # grown: the next solve sets up again, at the step of then
    rule.expect_operator((6.0, "current"))
    assert _solve(rule, 10)
    rule.expect_operator((4.0, "current"))  # 1.5× from the last set-up (6), 2.5× from the first (10)
    assert not _solve(rule, 10)


def test_floor_keeps_factors_whose_fresh_solve_took_one_iteration():
    """An LU preconditioner converges in one iteration when fresh: kept until a solve needs more than the floor."""
    rule = ReuseRule(floor=6)
    assert _solve(rule, 1)
    assert [_solve(rule, n) for n in (3, 6, 7, 1)] == [False, False, False, True]

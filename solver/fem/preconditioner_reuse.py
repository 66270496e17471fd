"""When the Krylov solvers of the coupled Newton solve set their preconditioner up again.

Setting up the preconditioner (GAMG hierarchies of the fieldsplit blocks, or ILU factors) at every
Newton iteration is a large part of the linear solve and grows faster than the DOFs (measured on the
NVP sphere, fieldsplit, one rank: 4.3 of 10.8 ms at 3k DOFs, 116 of 246 ms at 26k, ∝ DOFs^1.5). The
Jacobian changes little between Newton iterations, and between steps of similar length, so one
preconditioner serves many linear solves: the Krylov solve still converges to its own tolerance
against the current Jacobian, so only its iteration count changes, never the Newton iterates
beyond round-off of the linear tolerance.

The rule (:class:`ReuseRule`): set the preconditioner up again before the next linear solve when

- the Krylov iterations of a solve with a reused preconditioner exceed ``growth`` times those of the
  first solve after the last set-up (the Jacobian has drifted away from the preconditioner's), and
  ``floor`` (an LU factorisation converges in one iteration when fresh: ``gmres-lu`` keeps it up to a
  few);
- a linear solve with a reused preconditioner failed;
- the operator's key changed: the caller's description of what scales the Jacobian (the time
  weights a₀, a₁, a₂ of the step and the control mode); numeric entries of the key are compared
  relative to those at the last set-up with ``key_tolerance``.

:func:`attach` applies the rule to the SNES of a ``dolfinx.fem.petsc.NonlinearProblem`` through the
KSP pre-solve hook and ``PCSetReusePreconditioner``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

from petsc4py import PETSc

GROWTH = 2.0
"""Rebuild when a solve takes more than this many times the Krylov iterations of the first solve after a set-up."""

KEY_TOLERANCE = 0.5
"""Relative change of a numeric key entry (the time weight a₀) that triggers a set-up: 0.5, a step more than
twice or less than half as long as at the last set-up. The error control changes the step at almost every
step; measured on cases/nvp.yaml (3k DOFs, 508 linear solves): any change → 372 set-ups and 6662 Krylov
iterations, 0.5 → 51 set-ups and 7431, control-mode changes only → 24 set-ups and 9039."""


def _same_key(a: Sequence[Any] | None, b: Sequence[Any] | None, tolerance: float) -> bool:
    """Whether two operator keys agree: numbers within ``tolerance`` relative, anything else equal."""
    if a is None or b is None or len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if isinstance(x, int | float) and isinstance(y, int | float):
            if abs(x - y) > tolerance * max(abs(x), abs(y)) and not math.isclose(x, y, rel_tol=1e-14, abs_tol=0.0):
                return False
        elif x != y:
            return False
    return True


@dataclass
class ReuseRule:
    """The decision to set the preconditioner up again, from Krylov iteration counts and operator keys.

    ``enabled = False`` sets the preconditioner up for every linear solve (no reuse). Counters (benchmarks,
    tests): ``setups`` set-ups, ``solves`` linear solves, ``krylov_iterations`` their Krylov iterations.
    """

    enabled: bool = True
    growth: float = GROWTH
    floor: int = 0
    key_tolerance: float = KEY_TOLERANCE
    setups: int = 0
    solves: int = 0
    krylov_iterations: int = 0
    _baseline: int = 0
    _rebuild: bool = True
    _key: tuple[Hashable, ...] | None = None  # the key at the last set-up
    _latest: tuple[Hashable, ...] | None = None
    _pending: bool = False
    _fresh: bool = True  # the pending (or last) solve ran with a freshly set-up preconditioner

    def expect_operator(self, key: Sequence[Hashable]) -> None:
        """The coming solves' operator is described by ``key``; a changed key forces a set-up."""
        self._latest = tuple(key)
        if not _same_key(self._key, self._latest, self.key_tolerance):
            self._rebuild = True

    def invalidate(self) -> None:
        """Force a set-up before the next linear solve."""
        self._rebuild = True

    def before_solve(self) -> bool:
        """Called before each linear solve: True when the preconditioner must be set up again."""
        fresh = self._rebuild or not self.enabled
        self._rebuild, self._pending, self._fresh = False, True, fresh
        if fresh:
            self._key = self._latest
        self.solves += 1
        self.setups += int(fresh)
        return fresh

    def after_solve(self, iterations: int, converged: bool) -> None:
        """Record the outcome of the last linear solve (a no-op when none is pending)."""
        if not self._pending:
            return
        self._pending = False
        self.krylov_iterations += iterations
        if self._fresh:
            self._baseline = max(iterations, 1)
            self._rebuild = not converged
        elif not converged or iterations > max(self.growth * self._baseline, self.floor):
            self._rebuild = True

    @property
    def last_solve_reused(self) -> bool:
        """Whether the last linear solve ran with a reused preconditioner."""
        return not self._fresh


def attach(problem: Any, rule: ReuseRule) -> None:
    """Let ``rule`` decide, before every linear solve of ``problem``'s SNES, whether its KSP sets the
    preconditioner up again (``PCSetReusePreconditioner`` from the KSP pre-solve hook: SNES resets that flag
    by its own lag setting when it computes the Jacobian), and hand it each solve's outcome (post-solve hook)."""
    ksp = problem.solver.getKSP()
    pc = ksp.getPC()

    def presolve(ksp_: PETSc.KSP, b: PETSc.Vec, x: PETSc.Vec) -> None:
        pc.setReusePreconditioner(not rule.before_solve())

    def postsolve(ksp_: PETSc.KSP, b: PETSc.Vec, x: PETSc.Vec) -> None:
        rule.after_solve(ksp_.getIterationNumber(), ksp_.getConvergedReason() > 0)

    ksp.setPreSolve(presolve)
    ksp.setPostSolve(postsolve)

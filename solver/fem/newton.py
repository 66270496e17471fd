"""The coupled Newton solve: PETSc option sets, the SNES of a blocked residual and its fallbacks.

``auto`` (default): ``fieldsplit`` on 3D meshes, ``mumps`` on 1D and 2D ones (see :func:`resolve_linear_solver`).
``mumps``: full Newton with a direct LU factorisation, robust for every case.
``ilu``: GMRES preconditioned with block Jacobi / ILU(0) per rank; cheaper per iteration on the
3D cases, weaker for badly scaled or very large problems.
``fieldsplit``: FGMRES with a multiplicative field split (c_s, c, φ_e with GAMG each, the voltage with
Jacobi; a phase-field particle's (θ, μ) as one split with MUMPS LU); :class:`CoupledNewton` attaches one
index set per split.
``gmres-lu``: GMRES preconditioned with a MUMPS LU factorisation of an earlier Jacobian, kept while GMRES
converges in a few iterations (:data:`LU_REFACTOR_ITERATIONS`): a direct solve's robustness at a fraction of
the factorisations.

The Krylov solvers keep their preconditioner across Newton iterations and steps and set it up again
by the rule of :mod:`ecmx.solver.fem.preconditioner_reuse` (Krylov iterations grown, a failed solve, a
changed step or control mode). A step whose Krylov solve fails with a reused preconditioner is
retried with a fresh one; one that fails with a fresh one (near a voltage cliff the Jacobian gets hard
for the preconditioners) is retried once with MUMPS, unless the try has a Newton budget (the step can still
be cut): then the try ends as out of its budget (:meth:`CoupledNewton.solve`).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from petsc4py import PETSc

from ecmx.solver.fem import preconditioner_reuse
from ecmx.solver.fem.block_jacobian import BlockJacobian
from ecmx.solver.fem.block_residual import BlockResidual
from ecmx.solver.fem.fused_jacobian import FusedJacobian, shared_space_groups
from ecmx.solver.fem.preconditioner_reuse import ReuseRule
from ecmx.solver.fem.sparsity import prune_unreached_entries

LINEAR_SOLVERS = ("mumps", "ilu", "fieldsplit", "gmres-lu")


def resolve_linear_solver(setting: str, mesh_dimension: int) -> str:
    """The option set for ``solver.linear_solver``: ``auto`` picks fieldsplit in 3D and MUMPS for the small
    1D and 2D systems, where a direct solve is cheap and exact.

    Measured in 3D (bench/bench_step_cost.py, one rank, CPU ms per Newton iteration, fieldsplit with its
    preconditioner reused): the NVP sphere at 3k / 10k / 26k DOFs 63 / 283 / 740 against 94 / 510 / 1900
    for MUMPS (a numeric factorisation per iteration); a widened-interface phase-field particle at 4k /
    14.5k DOFs 149 / 520 (with (θ, μ) as one split by LU, :data:`JOINED_SPLITS`) against 231 / 980. So no
    DOF threshold: MUMPS is slower at every size measured, and more so as the mesh grows.

    ``gmres-lu`` (MUMPS factors kept as GMRES's preconditioner) does not beat fieldsplit at any size measured
    either (one rank, CPU s; HE-V sphere of cases/hev.yaml): per Newton iteration of 5 s steps at 3k / 10k / 26k
    DOFs 0.039 / 0.147 / 0.524 against 0.035 / 0.114 / 0.293; whole runs of cases/hev.yaml 26.4-27.4 against
    19.6, of cases/nvp.yaml 10.7 against 9.4, of the fine HE-V (24k DOFs) 364 against 251. A 3D factorisation
    fills in ~330 entries a row at 3k DOFs and ~690 at 24k (there, MUMPS with METIS: 0.6-0.8 s a factorisation and
    30-37 ms a solve, the cost of ~4 fieldsplit iterations); at the 71k of the 3D sphere bench it would hold
    several hundred MB. The Krylov iterations HE-V needs beyond NVP were not the preconditioner's quality
    (12-21 fresh in both) but a few nearly singular Jacobians (:data:`FIELDSPLIT_MAX_ITERATIONS`).

    At 3k DOFs (the NVP sphere of cases/nvp.yaml, one rank, Nov 2026) a MUMPS factorisation of the Jacobian takes 17-23 ms
    (ICNTL(7) AMD, AMF, METIS or PORD; ~1M factor entries) and a solve with it 0.5 ms, against 250 ms and 1 ms for
    PETSc's own LU with nested dissection; at 12.8k DOFs 220-300 ms and 7 ms. A GMRES iteration with kept factors
    costs ~0.5 ms, more than one of the field split's (~0.2 ms), so keeping the factors longer does not pay either:
    whole runs of cases/hev.yaml with the factors kept up to 6 / 15 / 30 GMRES iterations (and through any change
    of the step) 6.41 / 6.29 / 6.84 s CPU (73 / 20 / 7 factorisations, 1178 / 2304 / 3779 Krylov iterations)
    against 5.83 s for fieldsplit, whose Krylov solves are ~0.9 s of the run."""
    if setting == "auto":
        return "fieldsplit" if mesh_dimension == 3 else "mumps"
    return setting

FIELDSPLIT_MAX_ITERATIONS = 150
"""``fieldsplit``: FGMRES iterations before a solve counts as failed (then set up again, then MUMPS or, in a try
with a Newton budget, the step is cut: :meth:`CoupledNewton.solve`). Healthy solves
take 12-21 iterations fresh and at most ~60 reused (the rule sets up again beyond twice the fresh count); the
Jacobians that need more are Newton iterates with overpotentials so large that the Butler–Volmer rows are ~1e8×
the bulk ones (condition ~1e15), where the multiplicative split stalls even with every block solved by LU.
Measured on cases/hev.yaml (3k DOFs, one rank): a cap of 1000 spent 4 500 of its 10 900 Krylov iterations on 15
such solves; 150 → 7 161 Krylov iterations, KSP CPU 9.2 → 5.5 s, the run 23.8 → 19.6 s CPU (133 instead of 132 Newton
solves, a few more steps solved by the MUMPS fallback), the same final voltage (to 1e-15 V)."""

LU_REFACTOR_ITERATIONS = 6
"""``gmres-lu``: the LU factors are kept while GMRES needs at most this many iterations (:class:`ReuseRule`'s
floor; the fresh factors converge in one)."""

LU_MAX_ITERATIONS = 50
"""``gmres-lu``: GMRES iterations before a solve with stale factors counts as failed (then refactorised)."""

MUMPS_CONTROLS = {
    14: 200,  # ICNTL(14): workspace headroom in %; coupled interface rows fill in more than MUMPS guesses
    24: 1,  # ICNTL(24): detect null pivots instead of failing silently
}


FIELDSPLIT_RESTART = 60
"""``fieldsplit``: FGMRES restarts after this many iterations. Its basis holds two vectors of the whole system per
iteration (1.1 MB each on the 71k-DOF sphere of bench/sphere3d.yaml), allocated as the iterations grow and kept
with the solver: restarting at the cap, 150, the few solves near the end of the hour's discharge that ran past
100 iterations added 99 + 19 MB to the resident set (traced around each solve; 20 MB with the restart at 60).
Healthy solves take 12-21 iterations fresh and fewer than twice that reused (then the preconditioner is set up
again), so they never restart: cases/nvp.yaml the same 1954 Krylov iterations at 60 as at 150, cases/hev.yaml
4535 against 4477, both with the same steps, Newton iterations and final voltage."""


def newton_options(rtol: float, atol: float, max_iterations: int, linear_solver: str = "mumps") -> dict[str, Any]:
    """SNES + KSP options (without prefix) for the coupled cell problem."""
    if linear_solver not in LINEAR_SOLVERS:
        raise ValueError(f"unknown linear solver {linear_solver!r}; expected one of {LINEAR_SOLVERS}")
    opts: dict[str, Any] = {
        "snes_type": "newtonls",
        "snes_linesearch_type": "basic",
        "snes_rtol": rtol,
        "snes_atol": atol,
        "snes_stol": 1e-12,  # roundoff-level Newton updates: converged even where tiny steps put atol out of reach
        "snes_max_it": max_iterations,
        "snes_divergence_tolerance": 1e12,
    }
    if linear_solver == "mumps":
        opts |= {
            "ksp_type": "preonly",
            "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps",
        }
    elif linear_solver == "ilu":
        opts |= {
            "ksp_type": "gmres",
            "ksp_gmres_restart": 200,
            "ksp_rtol": 1e-10,
            "ksp_atol": 1e-14,
            "ksp_max_it": 1000,
            "pc_type": "bjacobi",
            "sub_pc_type": "ilu",
            "sub_pc_factor_levels": 0,
        }
    elif linear_solver == "gmres-lu":
        opts |= {
            "ksp_type": "gmres",
            "ksp_pc_side": "right",  # the test on the true residual, as FGMRES's of fieldsplit
            "ksp_gmres_restart": LU_MAX_ITERATIONS,
            "ksp_rtol": 1e-10,
            "ksp_atol": 1e-14,
            "ksp_max_it": LU_MAX_ITERATIONS,
            "pc_type": "lu",
            "pc_factor_mat_solver_type": "mumps",
        }
    else:
        opts |= {
            "ksp_type": "fgmres",
            "ksp_gmres_restart": FIELDSPLIT_RESTART,
            "ksp_rtol": 1e-10,
            "ksp_atol": 1e-14,
            "ksp_max_it": FIELDSPLIT_MAX_ITERATIONS,
            "pc_type": "fieldsplit",
            "pc_fieldsplit_type": "multiplicative",
        }
    return opts


JOINED_SPLITS = frozenset({"chemical_potential"})
"""Unknown blocks solved together with the block before them in one split by MUMPS LU: μ with θ of a
phase-field particle (GAMG on the Cahn–Hilliard blocks needed 30 → 95 Krylov iterations per solve from
4k to 14.5k DOFs in 3D; the LU of the (θ, μ) block is kept with the preconditioner)."""


def fieldsplit_sub_options(split_names: list[str], prefix: str, direct: frozenset[str] = frozenset()) -> dict[str, Any]:
    """Options of each field split: GAMG for the PDE blocks, Jacobi for the one-dof voltage block, MUMPS
    LU for the splits named in ``direct``."""
    opts: dict[str, Any] = {}
    for name in split_names:
        p = f"{prefix}fieldsplit_{name}_"
        if name == "voltage":
            opts |= {f"{p}ksp_type": "preonly", f"{p}pc_type": "jacobi"}
        elif name in direct:
            opts |= {f"{p}ksp_type": "preonly", f"{p}pc_type": "lu", f"{p}pc_factor_mat_solver_type": "mumps"}
        else:
            opts |= {f"{p}ksp_type": "preonly", f"{p}pc_type": "gamg", f"{p}pc_gamg_threshold": 0.02}
    return opts


RESPONSE_RTOL = 1e-4
"""The relative tolerance of the Krylov solve of :meth:`CoupledNewton.linear_response` (an estimate; the
Newton solves keep theirs)."""

_PREFIXES = itertools.count(1)  # a unique options prefix per SNES


@dataclass(frozen=True)
class StepOutcome:
    """Result of one attempted time step."""

    converged: bool
    newton_iterations: int
    reason: str
    residual_norm: float = 0.0
    """‖F‖ of the last iterate (nondimensional residual units)."""
    relative: bool = False
    """Whether Newton converged by a relative test (‖F‖ ≤ rtol ‖F(first iterate)‖, or a round-off-size
    update), not by the absolute tolerance: its accuracy is then only as good as the first iterate's
    residual is small."""
    capped: bool = False
    """Whether the solve stopped unconverged at a per-try budget of Newton iterations below the user's
    ``max_iterations`` (:meth:`CoupledNewton.solve` ``budget``): the step was too large, not the problem
    unsolvable."""


@dataclass(frozen=True)
class NewtonSettings:
    """Tolerances of the coupled Newton solve (absolute tolerance in residual units)."""

    rtol: float
    atol: float
    max_iterations: int


class CoupledNewton:
    """The SNES of a blocked residual (one form per unknown block), with a MUMPS fallback.

    Args:
        residuals: one residual form per unknown.
        unknowns: the unknowns, in the order of the residual rows.
        split_names: one name per unknown (fieldsplit options ``fieldsplit_<name>_``).
        entity_maps: the submesh entity maps of the forms.
        settings: tolerances.
        linear_solver: ``mumps``, ``ilu`` or ``fieldsplit``.
        before_assembly: called with the unknowns set to each Newton iterate, before its residual is
            assembled (SNES assembles the Jacobian at the iterate of the last residual): updates the
            coefficients computed outside UFL (:mod:`ecmx.solver.fem.table_fields`).
    """

    def __init__(self, residuals: Sequence[ufl.Form], unknowns: Sequence[fem.Function], split_names: Sequence[str],
                 entity_maps: Sequence[Any], settings: NewtonSettings, linear_solver: str,
                 before_assembly: Callable[[], None] | None = None) -> None:
        self._before_assembly = before_assembly
        self._residuals, self._unknowns = list(residuals), list(unknowns)
        self._split_names, self._entity_maps = list(split_names), list(entity_maps)
        self._settings, self.linear_solver = settings, linear_solver
        self.reuse = ReuseRule(floor=LU_REFACTOR_ITERATIONS if linear_solver == "gmres-lu" else 0)  # unused with MUMPS
        groups = shared_space_groups(self._unknowns)  # unknowns on one space: their cell blocks in one kernel
        self._fused = FusedJacobian(self._residuals, self._unknowns, self._entity_maps, groups) if groups else None
        self._block_residuals: dict[int, BlockResidual] = {}
        self._problem = self._build(linear_solver)
        self._direct: dolfinx.fem.petsc.NonlinearProblem | None = None  # MUMPS fallback, built on demand
        self._last: dolfinx.fem.petsc.NonlinearProblem | None = None  # the SNES whose KSP holds the latest Jacobian
        self._operator_key: tuple[Any, ...] | None = None  # expect_operator's key of that Jacobian

    @property
    def forms(self) -> tuple[Sequence[fem.Form], Sequence[Sequence[fem.Form]]]:
        """The compiled residual blocks and the blocks of their Jacobian (linearisation, e.g.
        :mod:`ecmx.solver.fem.impedance`)."""
        return self._problem.F, self._problem.J

    def solve(self, reset: Callable[[], None], check: Callable[[], str], budget: int | None = None) -> StepOutcome:
        """Newton from the state ``reset`` restores; ``check`` names a state out of bounds ('' if none).

        ``budget``: at most this many Newton iterations (each solve of the fallbacks below), if fewer than
        ``settings.max_iterations``; a solve stopped by it is ``capped``. A Krylov solve that failed with a
        reused preconditioner is retried with a fresh one, one that failed with a fresh one once with MUMPS,
        except under a budget (a step that can still be cut): then the try ends ``capped``, so that the step is
        cut to a fifth and its next try, without a budget, has the MUMPS fallback. Those failures are Newton
        iterates far from the solution (on cases/hev.yaml ‖F‖ 1e4-1e6, contracting by e⁻¹ an iteration) whose
        MUMPS solve ran out of the budget too: 0.5 s CPU of the run's 10 s of cell solves, the same steps.
        Collective (the iteration count and the residual norms SNES tests are global).
        """
        outcome = self._solve_with(self._problem, reset, check, budget)
        if self.linear_solver != "mumps" and _linear_failure(outcome) and self.reuse.last_solve_reused:
            retry = self._solve_with(self._problem, reset, check, budget)  # the rule sets the preconditioner up again
            outcome = replace(retry, newton_iterations=outcome.newton_iterations + retry.newton_iterations)
        budgeted = budget is not None and budget < self._settings.max_iterations
        if _linear_failure(outcome) and self.linear_solver != "mumps" and budgeted:
            return replace(outcome, capped=True, reason=f"{outcome.reason}, with a fresh preconditioner, under the "
                                                        f"per-try budget of {budget} iterations: the step is cut")
        if _linear_failure(outcome) and self.linear_solver != "mumps":
            if self._direct is None:
                self._direct = self._build("mumps")
            retry = self._solve_with(self._direct, reset, check, budget)
            outcome = StepOutcome(retry.converged, outcome.newton_iterations + retry.newton_iterations,
                                  f"{retry.reason}; retried with MUMPS after the {self.linear_solver} solve failed",
                                  capped=retry.capped)
        return outcome

    def expect_operator(self, key: Sequence[Any]) -> None:
        """The coming solves' Jacobian is scaled by ``key`` (e.g. the step's time weights and the control
        mode): a changed key sets the Krylov preconditioner up again (:class:`ReuseRule`)."""
        self.reuse.expect_operator(key)
        if tuple(key) != self._operator_key:  # the Jacobian the KSP holds is not of this operator
            self._last, self._operator_key = None, tuple(key)

    def _solve_with(self, problem: dolfinx.fem.petsc.NonlinearProblem, reset: Callable[[], None],
                    check: Callable[[], str], budget: int | None = None) -> StepOutcome:
        reset()
        snes = problem.solver
        last, self._last = self._last, None
        capped = budget is not None and budget < self._settings.max_iterations
        snes.setTolerances(max_it=budget if capped else self._settings.max_iterations)
        try:
            self._block_residuals[id(problem)].solve(problem)  # problem.solve() without DOLFINx's wrappers
        except PETSc.Error as exc:  # e.g. a MUMPS failure on a singular Jacobian
            return StepOutcome(False, snes.getIterationNumber(), f"linear solver failed: {exc}")
        finally:
            snes.setTolerances(max_it=self._settings.max_iterations)
        reason = snes.getConvergedReason()
        its = snes.getIterationNumber()
        if reason <= 0:
            bad = check()  # often the cause: say so
            detail = f"; last iterate: {bad}" if bad else ""
            capped = capped and reason == PETSc.SNES.ConvergedReason.DIVERGED_MAX_IT
            budget_note = f" at the per-try budget of {budget} iterations" if capped else ""
            return StepOutcome(False, its, f"Newton did not converge ({_snes_reason(reason)}){budget_note}{detail}",
                               capped=capped)
        bad = check()
        if bad:
            return StepOutcome(False, its, bad)
        self._last = problem if its > 0 else last  # no iteration: the Jacobian of an earlier solve stays
        return StepOutcome(True, its, _snes_reason(reason), snes.getFunctionNorm(), reason in RELATIVE_REASONS)

    @property
    def settings(self) -> NewtonSettings:
        """The tolerances (absolute tolerance in residual units)."""
        return self._settings

    def residual_norm(self) -> float:
        """‖F‖ (l2, nondimensional residual units) at the present values of the unknowns. Collective."""
        problem = self._problem
        dolfinx.fem.petsc.assign(self._unknowns, problem.x)
        problem.solver.computeFunction(problem.x, problem.b)
        return problem.b.norm()

    def residual_rows(self, rows: Sequence[int]) -> PETSc.Vec:
        """A new vector with the residual blocks ``rows`` (nondimensional residual units) at the present
        values of the unknowns, the other blocks zero. Collective."""
        vector = self._problem.b.duplicate()
        self._block_residuals[id(self._problem)].assemble_rows(vector, rows)
        return vector

    def linear_response(self, residual_change: PETSc.Vec) -> list[np.ndarray] | None:
        """−J⁻¹ δF: the first-order change of the solution of the last solve when its residual changes
        by ``residual_change``, with the Jacobian of the latest Newton iteration of a solve with the
        present operator key (:meth:`expect_operator`: the time weights and the control mode), and its
        linear solver; the owned values per unknown block (as the unknowns' order). None when the last
        solve failed, there is no such Jacobian or the linear solve fails. Collective."""
        if self._last is None:
            return None
        ksp = self._last.solver.getKSP()
        correction = residual_change.duplicate()
        tolerances = ksp.getTolerances()
        ksp.setTolerances(rtol=RESPONSE_RTOL)  # an estimate: a Krylov solve to 1e-4 of the change is plenty
        try:
            ksp.solve(residual_change, correction)
        finally:
            ksp.setTolerances(*tolerances)
        if ksp.getConvergedReason() <= 0:
            correction.destroy()
            return None
        values = -correction.getArray(readonly=True)
        correction.destroy()
        sizes = [u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
                 for u in self._unknowns]
        return np.split(values, np.cumsum(sizes)[:-1])

    def _build(self, linear_solver: str) -> dolfinx.fem.petsc.NonlinearProblem:
        """The SNES of the residual with one of the linear-solver option sets."""
        settings = self._settings
        problem = dolfinx.fem.petsc.NonlinearProblem(
            self._residuals,
            self._unknowns,
            petsc_options_prefix=f"ecmx_cell{next(_PREFIXES)}_",
            petsc_options=newton_options(settings.rtol, settings.atol, settings.max_iterations, linear_solver),
            entity_maps=self._entity_maps,
        )
        if self._fused is not None:  # A preallocated with the entries it reaches, filled through PETSc's COO
            self._fused.attach(problem)
        else:  # DOLFINx's blocked Jacobian, prepared once
            prune_unreached_entries(problem, self._unknowns, self._entity_maps)  # before any assembly or set-up
            BlockJacobian.of(problem.J, self._unknowns).attach(problem)
        residual = BlockResidual(problem.F, self._unknowns, self._before_assembly)
        residual.attach(problem)
        self._block_residuals[id(problem)] = residual
        if linear_solver in ("mumps", "gmres-lu"):
            _configure_mumps(problem)
        elif linear_solver == "fieldsplit":
            self._setup_fieldsplit(problem)
        if linear_solver != "mumps":
            preconditioner_reuse.attach(problem, self.reuse)
        return problem

    def _setup_fieldsplit(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """Attach one index set per unknown block to the fieldsplit preconditioner and configure each
        split's solver, taking its options out of the global database again (PETSc lists unused
        options at exit)."""
        ksp = problem.solver.getKSP()
        pc = ksp.getPC()
        offset = problem.A.getOwnershipRange()[0]
        ranges: list[list[Any]] = []  # [name, first row, rows, joined] per split
        for name, u in zip(self._split_names, self._unknowns, strict=True):
            n = u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
            if name in JOINED_SPLITS and ranges:  # owned rows of consecutive blocks are contiguous
                ranges[-1][2:] = [ranges[-1][2] + n, True]
            else:
                ranges.append([name, offset, n, False])
            offset += n
        comm = self._unknowns[0].function_space.mesh.comm
        pc.setFieldSplitIS(*((name, PETSc.IS().createStride(n, first=first, step=1, comm=comm))
                             for name, first, n, _ in ranges))
        ksp.setFromOptions()
        opts = PETSc.Options()
        sub_options = fieldsplit_sub_options([r[0] for r in ranges], problem.solver.getOptionsPrefix(),
                                             frozenset(r[0] for r in ranges if r[3]))
        for k, val in sub_options.items():
            opts[k] = val
        for sub in pc.getFieldSplitSubKSP():
            sub.setFromOptions()
        for k in sub_options:
            opts.delValue(k)


def _linear_failure(outcome: StepOutcome) -> bool:
    """Whether a step failed because its Krylov solve did not converge."""
    return not outcome.converged and outcome.reason.endswith("(DIVERGED_LINEAR_SOLVE)")


def _configure_mumps(problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
    """MUMPS controls set on the factor matrix itself (no global options left behind)."""
    ksp = problem.solver.getKSP()
    ksp.setOperators(problem.A, problem.A)
    pc = ksp.getPC()
    pc.setFactorSetUpSolverType()
    factor = pc.getFactorMatrix()
    for icntl, val in MUMPS_CONTROLS.items():
        factor.setMumpsIcntl(icntl, val)


RELATIVE_REASONS = frozenset({PETSc.SNES.ConvergedReason.CONVERGED_FNORM_RELATIVE,
                              PETSc.SNES.ConvergedReason.CONVERGED_SNORM_RELATIVE})
"""SNES reasons that judge convergence relative to the first iterate rather than by the absolute tolerance."""

_SNES_REASONS = {v: k for k, v in PETSc.SNES.ConvergedReason.__dict__.items() if isinstance(v, int)}


def _snes_reason(reason: int) -> str:
    return _SNES_REASONS.get(reason, str(reason))

"""The PETSc option sets of the coupled Newton solve."""

from __future__ import annotations

from ecmx.solver.fem.newton import FIELDSPLIT_MAX_ITERATIONS, FIELDSPLIT_RESTART, LU_MAX_ITERATIONS, newton_options


def test_fieldsplit_gives_up_on_a_stalled_solve_within_a_few_hundred_iterations():
    """A Jacobian the split cannot precondition fails fast (then the fresh set-up, then MUMPS) instead of
    running FGMRES to 1000 iterations. FGMRES restarts only beyond what a healthy solve takes (21 iterations
    fresh, and the reuse rule sets the preconditioner up again past twice the fresh count), so that its basis,
    two vectors of the whole system an iteration, stays bounded well below the cap's."""
    opts = newton_options(1e-8, 1e-10, 20, "fieldsplit")
    assert opts["ksp_max_it"] == FIELDSPLIT_MAX_ITERATIONS <= 200
    assert opts["ksp_gmres_restart"] == FIELDSPLIT_RESTART
    assert 2 * 21 < FIELDSPLIT_RESTART <= FIELDSPLIT_MAX_ITERATIONS / 2


def test_gmres_lu_is_gmres_on_the_true_residual_with_mumps_factors():
    opts = newton_options(1e-8, 1e-10, 20, "gmres-lu")
    assert (opts["ksp_type"], opts["ksp_pc_side"], opts["pc_type"], opts["pc_factor_mat_solver_type"]) == (
        "gmres", "right", "lu", "mumps")
    assert opts["ksp_max_it"] == LU_MAX_ITERATIONS <= opts["ksp_gmres_restart"]
    assert opts["ksp_rtol"] == newton_options(1e-8, 1e-10, 20, "fieldsplit")["ksp_rtol"]

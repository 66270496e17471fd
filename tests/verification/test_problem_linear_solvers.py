"""The iterative linear-solver options reproduce the MUMPS solution (to the Newton tolerance)."""

from __future__ import annotations

import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, run_constant_current

from ecmx.solver.fem import newton
from ecmx.solver.fem.cell_problem import CellProblem


@pytest.fixture(scope="module")
def reference():
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4,
                     solver={"linear_solver": "mumps"})
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    return run_constant_current(problem, -5 * problem.capacity_C / 3600.0, 5.0, 6)


@pytest.mark.parametrize("linear_solver", ["ilu", "fieldsplit", "gmres-lu"])
def test_iterative_solver_matches_mumps(linear_solver, reference):
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4,
                     solver={"linear_solver": linear_solver})
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    history = run_constant_current(problem, -5 * problem.capacity_C / 3600.0, 5.0, 6)
    for a, b in zip(reference, history, strict=False):
        assert b["voltage_V"] == pytest.approx(a["voltage_V"], rel=1e-9)
        assert b["c_surface_mean"] == pytest.approx(a["c_surface_mean"], rel=1e-9)
        assert b["electrolyte_c_min"] == pytest.approx(a["electrolyte_c_min"], rel=1e-9)
        assert b["newton_iterations"] <= a["newton_iterations"] + 1


def test_fieldsplit_keeps_its_preconditioner_until_the_step_changes():
    """The field blocks PETSc's fieldsplit extracts (and GAMG sets up on) change only when the reuse rule
    sets the preconditioner up again: once for steps of one length, again after a 4× longer step."""
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4,
                     solver={"linear_solver": "fieldsplit"})
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    problem.set_control("current", -5 * problem.capacity_C / 3600.0)
    ksp = problem._newton._problem.solver.getKSP()

    def block_state() -> int:
        return ksp.getPC().getFieldSplitSubKSP()[0].getOperators()[0].stateGet()

    states, iterations = [], 0
    for dt in (5.0, 5.0, 5.0, 20.0, 20.0):
        outcome = problem.try_step(dt)
        assert outcome.converged
        problem.accept()
        states.append(block_state())
        iterations += outcome.newton_iterations
    assert states[0] == states[1] == states[2] < states[3] == states[4]
    assert problem._newton.reuse.setups == 2
    assert problem._newton.reuse.solves == iterations > 2


def test_gmres_lu_keeps_its_factors_across_newton_iterations_and_steps():
    """``gmres-lu`` factorises the Jacobian once for steps of one length (GMRES then iterates against each
    new Jacobian with those factors) and again after a 4× longer step; the numeric factorisations are
    counted by the state of MUMPS's factor matrix."""
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4,
                     solver={"linear_solver": "gmres-lu"})
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    problem.set_control("current", -5 * problem.capacity_C / 3600.0)
    pc = problem._newton._problem.solver.getKSP().getPC()
    states, iterations = [], 0
    for dt in (5.0, 5.0, 5.0, 20.0, 20.0):
        outcome = problem.try_step(dt)
        assert outcome.converged
        problem.accept()
        states.append(pc.getFactorMatrix().stateGet())
        iterations += outcome.newton_iterations
    assert states[0] == states[1] == states[2] == states[3] - 1 == states[4] - 1
    rule = problem._newton.reuse
    assert (rule.setups, rule.solves) == (2, iterations)
    assert iterations < rule.krylov_iterations <= newton.LU_REFACTOR_ITERATIONS * iterations  # stale factors: a few each


def _phase_field_problem(linear_solver: str) -> CellProblem:
    """A widened-interface phase-field particle (Ω_a = 4.05 RT, λ = 0.05 R) in its electrolyte box."""
    rt = 8.314462618 * 298.15
    omega = 4.05 * rt
    pf = {"interaction_energy": omega, "gradient_energy": 0.05e-6**2 * 13831.0 * omega, "reference_voltage": 3.4,
          "widened_interface": True}
    case = make_case("particle-in-electrolyte", theta0=0.1, solver={"linear_solver": linear_solver},
                     material={"open_circuit_voltage": None, "diffusivity": 1e-15, "phase_field": pf})
    return CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)


def test_fieldsplit_solves_the_phase_field_block_by_lu_and_matches_mumps():
    """(θ, μ) form one split with MUMPS LU (GAMG on the Cahn–Hilliard blocks converges poorly); the run
    reproduces the MUMPS one."""
    runs = {}
    for linear_solver in ("mumps", "fieldsplit"):
        problem = _phase_field_problem(linear_solver)
        runs[linear_solver] = run_constant_current(problem, -problem.capacity_C / 3600.0, 2.0, 4)
    pc = problem._newton._problem.solver.getKSP().getPC()
    subs = pc.getFieldSplitSubKSP()
    assert [sub.getPC().getType() for sub in subs] == ["lu", "gamg", "gamg", "jacobi"]
    assert subs[0].getOperators()[0].getSize()[0] == sum(u.x.index_map.size_global for u in problem.particle.unknowns)
    for a, b in zip(runs["mumps"], runs["fieldsplit"], strict=True):
        assert b["voltage_V"] == pytest.approx(a["voltage_V"], rel=1e-9)
        assert b["c_surface_mean"] == pytest.approx(a["c_surface_mean"], rel=1e-9)
    assert problem._newton.reuse.krylov_iterations < 20 * problem._newton.reuse.solves

"""The iterative linear-solver options reproduce the MUMPS solution (to the Newton tolerance)."""

from __future__ import annotations

import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, run_constant_current

from ecmx.solver.fem.cell_problem import CellProblem


@pytest.fixture(scope="module")
def reference():
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4,
                     solver={"linear_solver": "mumps"})
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    return run_constant_current(problem, -5 * problem.capacity_C / 3600.0, 5.0, 6)


@pytest.mark.parametrize("linear_solver", ["ilu", "fieldsplit"])
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

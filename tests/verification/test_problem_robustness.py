"""Newton converges across the parameter range the sweeps use: D_s 1e-17…1e-12 m²/s, 0.01C…10C,
on sphere-1d and a coarse 3D particle-in-electrolyte mesh (a full discharge from the charged state
with the NVP library material, a cut-and-grow step loop like the run driver's)."""

from __future__ import annotations

import pytest

from ecmx.meshes import load_mesh
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.fem.cell_problem import CellProblem

CUTOFF = 2.5  # V


def discharge(kind: str, diffusivity: float, c_rate: float, cache, max_steps: int, linear_solver: str = "mumps") -> dict:
    mesh = {"elements": 40} if kind == "sphere-1d" else {"size": 0.8e-6, "interface_size": 0.4e-6}
    case = case_from_dict({
        "name": "corner",
        "material": {"base": "nvp", "diffusivity": diffusivity},
        "geometry": {"kind": kind, "mesh": mesh},
        "initial": {"state_of_charge": 1.0},
        "protocol": [{"step": "discharge", "c_rate": c_rate, "until": {"voltage": CUTOFF}}],
        "solver": {"linear_solver": linear_solver},
    })
    problem = CellProblem(load_mesh(case.geometry, cache_dir=cache), case)
    problem.set_control("current", -c_rate * problem.capacity_C / 3600.0)
    dt, dt_min, failures, iterations, reached = 0.1, 0.1, 0, [], "steps"
    while len(iterations) < max_steps:
        outcome = problem.try_step(dt)
        if not outcome.converged:
            problem.reject()
            failures += 1
            dt *= 0.5
            dt_min = min(dt_min, dt)
            assert dt > 1e-6, f"step cut below 1 µs: {outcome.reason}"
            continue
        problem.accept()
        iterations.append(outcome.newton_iterations)
        q = problem.quantities()
        if q["voltage_V"] < CUTOFF:
            reached = "cutoff"
            break
        dt = min(1.5 * dt, 30.0, 3600.0 / c_rate / 40)
    lo, hi = case.material.stoichiometry_window
    return {"failures": failures, "iterations": iterations, "reached": reached, "dt_min": dt_min,
            "dod": (problem.quantities()["theta_mean"] - lo) / (hi - lo)}


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("meshes")


@pytest.mark.parametrize("diffusivity", [1e-17, 1e-15, 1e-12])
@pytest.mark.parametrize("c_rate", [0.01, 1.0, 10.0])
def test_sphere_1d_corners(diffusivity, c_rate, cache):
    result = discharge("sphere-1d", diffusivity, c_rate, cache, max_steps=200)
    print(diffusivity, c_rate, result["reached"], result["failures"], max(result["iterations"]), result["dod"])
    if c_rate >= 1.0:
        assert result["reached"] == "cutoff"
    mean_its = sum(result["iterations"]) / len(result["iterations"])
    assert mean_its < 6
    # cuts only where the voltage falls off the OCV cliff at the end of discharge
    assert result["failures"] <= 4


@pytest.mark.slow
@pytest.mark.parametrize("linear_solver", ["mumps", "fieldsplit"])
@pytest.mark.parametrize("diffusivity,c_rate", [(1e-17, 1.0), (1e-15, 10.0), (1e-12, 10.0), (1e-15, 0.01)])
def test_3d_corners(diffusivity, c_rate, linear_solver, cache):
    """Also with the fieldsplit preconditioner, whose failed Krylov solves near the voltage cliff are
    retried with MUMPS inside try_step."""
    result = discharge("particle-in-electrolyte", diffusivity, c_rate, cache, max_steps=200, linear_solver=linear_solver)
    print(diffusivity, c_rate, result["reached"], result["failures"], max(result["iterations"]), result["dod"])
    if c_rate >= 1.0:
        assert result["reached"] == "cutoff"
    assert result["failures"] == 0
    assert sum(result["iterations"]) / len(result["iterations"]) < 6

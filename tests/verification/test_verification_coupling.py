"""Interface coupling: the 3D and axisymmetric particle-in-electrolyte problems reproduce the
sphere-1d solution when the electrolyte is fast (docs/model.md §5), and every geometry kind conserves Na."""

from __future__ import annotations

import numpy as np
import pytest
from support.problem_helpers import make_case, run_constant_current

from ecmx.meshes import load_mesh
from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.units import F

FAST_ELECTROLYTE = {"cation_diffusivity": 1e-9, "anion_diffusivity": 1e-9}
C_RATE = 3.0
DT, STEPS = 5.0, 30  # τ = 1.5 with D_s = 1e-14 m²/s, R = 1 µm


@pytest.fixture(scope="module")
def mesh_cache(tmp_path_factory):
    return tmp_path_factory.mktemp("meshes")


def _problem(kind: str, mesh: dict, cache, **geometry) -> CellProblem:
    case = make_case(kind, material={"diffusivity": 1e-14}, electrolyte=FAST_ELECTROLYTE, theta0=0.5)
    geo = case.geometry.model_copy(update={"mesh": case.geometry.mesh.model_copy(update=mesh), **geometry})
    return CellProblem(load_mesh(geo, cache_dir=cache), case)


def _surface_and_centre(problem: CellProblem) -> tuple[float, float, list[dict]]:
    history = run_constant_current(problem, -C_RATE * problem.capacity_C / 3600.0, DT, STEPS)
    centre = problem.probe(np.zeros((1, 3)))["particle_concentration"][0]
    return history[-1]["c_surface_mean"], centre, history


@pytest.fixture(scope="module")
def sphere_reference(mesh_cache):
    problem = _problem("sphere-1d", {"elements": 200}, mesh_cache)
    surface, centre, _ = _surface_and_centre(problem)
    return surface, centre, 0.5 * problem.scales.particle_concentration


@pytest.mark.slow
@pytest.mark.parametrize(
    "kind,mesh",
    [
        ("particle-in-electrolyte", {"size": 0.4e-6, "interface_size": 0.2e-6}),
        ("axisymmetric-2d", {"size": 0.1e-6, "interface_size": 0.04e-6}),
    ],
)
def test_fast_electrolyte_matches_sphere_1d(kind, mesh, mesh_cache, sphere_reference):
    """Surface and centre c_s within 1 % of their change from c₀ in the sphere-1d run (τ = 1.5, 3C)."""
    s1, c1, c0 = sphere_reference
    problem = _problem(kind, mesh, mesh_cache)
    surface, centre, history = _surface_and_centre(problem)
    print(f"{kind}: surface {surface:.3f} vs {s1:.3f}, centre {centre:.3f} vs {c1:.3f} mol/m3")
    assert surface == pytest.approx(s1, abs=0.01 * abs(s1 - c0))
    assert centre == pytest.approx(c1, abs=0.01 * abs(c1 - c0))
    current = -C_RATE * problem.capacity_C / 3600.0
    for q in history[1:]:
        assert q["interface_current_A"] == pytest.approx(current, rel=1e-8, abs=0)


@pytest.mark.parametrize(
    "kind,mesh,geometry",
    [
        ("particle-in-electrolyte", {"size": 0.8e-6, "interface_size": 0.4e-6}, {}),
        ("axisymmetric-2d", {"size": 0.3e-6, "interface_size": 0.15e-6}, {}),
        ("agglomerate", {"size": 0.8e-6, "interface_size": 0.4e-6}, {"agglomerate": {"count": 3, "seed": 1}}),
    ],
)
def test_na_balance_every_step(kind, mesh, geometry, mesh_cache):
    """|Na balance error| ≤ 1e-8 of the charge passed and ∫_Γ i_loc = I_app, discharge then voltage hold."""
    case = make_case(kind, material={"diffusivity": 1e-15}, theta0=0.4)
    geo = case.geometry.model_copy(update={"mesh": case.geometry.mesh.model_copy(update=mesh)})
    if geometry:
        geo = geo.model_copy(update={"agglomerate": geo.agglomerate.model_copy(update=geometry["agglomerate"])})
    problem = CellProblem(load_mesh(geo, cache_dir=mesh_cache), case)
    if kind == "agglomerate":
        assert len(problem.pmesh.particle_tags) == 3
    i_app = -2.0 * problem.capacity_C / 3600.0
    prev = problem.quantities()
    for mode, value, dt, steps in (("current", i_app, 5.0, 4), ("voltage", None, 5.0, 3)):
        if value is None:
            value = prev["voltage_V"] - 0.01
        problem.set_control(mode, value)
        for _ in range(steps):
            outcome = problem.try_step(dt)
            assert outcome.converged, outcome.reason
            problem.accept()
            q = problem.quantities()
            passed = abs(q["counter_electrode_current_A"]) * dt / F
            error = q["na_total_mol"] - prev["na_total_mol"] - q["counter_electrode_current_A"] * dt / F
            assert abs(error) <= 1e-8 * passed
            assert q["counter_electrode_current_A"] == pytest.approx(-q["interface_current_A"], rel=1e-9, abs=0)
            if mode == "current":
                assert q["interface_current_A"] == pytest.approx(value, rel=1e-8, abs=0)
            prev = q

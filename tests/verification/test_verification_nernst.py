"""The open-circuit voltage does not depend on the salt concentration (docs/model.md §3).

φ_e is the electrostatic potential of the Nernst–Planck electrolyte, referred to the Na metal through
the mass-action law i_a = i₀,a [exp(α_a η̂_a) − (c/c_ref) exp(−α_c η̂_a)] (α_a + α_c = 1), which rests at
φ_e = −(RT/F) ln(c/c_ref). The particle's overpotential η = φ_s − φ_e − U(θ) − (RT/F) ln(c/c_ref)
carries the same Nernst term, so at rest V = U(θ) for any c₀; without it V = U(θ) − (RT/F) ln(c₀/c_ref),
−17.8 mV at 2 M. Each run discharges briefly, then rests until the particle and the salt are uniform
again (steps of many diffusion times), and compares V with U at the mean stoichiometry.
"""

from __future__ import annotations

import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem

SALTS = (500.0, 1000.0, 2000.0)  # mol/m³


def rest_voltage_error(problem: CellProblem, pulse_s: float, rest_s: float) -> float:
    """|V − U(θ_mean)| in V after a C/2 pulse of ``pulse_s`` and a rest of ``rest_s`` (3 steps)."""
    problem.set_control("current", -0.5 * problem.capacity_C / 3600.0)
    for dt in (pulse_s / 2, pulse_s / 2):
        outcome = problem.try_step(dt)
        assert outcome.converged, outcome.reason
        problem.accept()
    problem.set_control("current", 0.0)
    for dt in (rest_s / 100, rest_s / 10, rest_s):
        outcome = problem.try_step(dt)
        assert outcome.converged, outcome.reason
        problem.accept()
    q = problem.quantities()
    material = problem.case.material
    theta = q["theta_mean"]
    assert abs(q["c_surface_mean"] / material.max_concentration - theta) < 1e-9  # the particle is at rest
    return abs(q["voltage_V"] - float(material.ocv_at(theta)))


@pytest.mark.parametrize("salt", SALTS)
def test_rest_voltage_is_the_ocv_sphere_1d(salt):
    """sphere-1d (uniform electrolyte): |V − U(θ)| ≤ 1 µV at 0.5, 1 and 2 M."""
    case = make_case("sphere-1d", material={"diffusivity": 1e-13},
                     electrolyte={"concentration": salt}, theta0=0.5)
    problem = CellProblem(sphere_1d_mesh(elements=20), case)
    problem.set_initial_state()
    assert rest_voltage_error(problem, pulse_s=20.0, rest_s=1e4) <= 1e-6


@pytest.fixture(scope="module")
def box_mesh():
    return particle_in_box_mesh(thickness=1.0, margin=0.3, size=0.7, interface_size=0.5)


@pytest.mark.parametrize("salt", SALTS)
def test_rest_voltage_is_the_ocv_particle_in_electrolyte(salt, box_mesh):
    """3D particle in a resolved Nernst–Planck electrolyte: |V − U(θ)| ≤ 1 µV at 0.5, 1 and 2 M."""
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-13},
                     electrolyte={"concentration": salt}, theta0=0.5, solver={"linear_solver": "mumps"})
    problem = CellProblem(box_mesh, case)
    problem.set_initial_state()
    assert rest_voltage_error(problem, pulse_s=20.0, rest_s=1e4) <= 1e-6

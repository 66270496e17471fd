"""A probe exactly on the particle surface (r = R) of a 3D mesh returns the particle's values.

The faceted surface of a meshed sphere lies inside the true sphere, so most points with r = R fall
just outside the particle cells; they take the particle fields at the nearest particle point
(``PointEvaluator(snap=True)``). Checked against the series solution for a constant inward flux into
a sphere (docs/model.md §5) with a fast electrolyte (uniform surface flux), after a short 3C discharge.
"""

from __future__ import annotations

import numpy as np
import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, run_constant_current
from test_verification_sphere import series

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.fem.probes import PointEvaluator

D_S = 1e-14  # m²/s, R = 1 µm: τ = D t/R² = t/100 s
C_RATE, DT, STEPS = 3.0, 5.0, 6  # τ = 0.3
DIRECTIONS = np.array([[1.0, 0.0, 0.0], [0.6, 0.8, 0.0], [0.48, 0.6, 0.64], [-0.36, 0.48, -0.8], [0.0, -0.6, 0.8]])


def test_probe_on_the_surface_matches_the_sphere_series():
    mesh = particle_in_box_mesh(thickness=1.0, margin=0.3, size=0.5, interface_size=0.2)
    case = make_case("particle-in-electrolyte", material={"diffusivity": D_S},
                     electrolyte={"cation_diffusivity": 1e-9, "anion_diffusivity": 1e-9}, theta0=0.5,
                     solver={"linear_solver": "mumps"})
    problem = CellProblem(mesh, case)
    current = -C_RATE * problem.capacity_C / 3600.0
    run_constant_current(problem, current, DT, STEPS)
    points = DIRECTIONS / np.linalg.norm(DIRECTIONS, axis=1, keepdims=True)  # r = R = 1 µm exactly
    values = problem.probe(points)["particle_concentration"]
    # without the nearest-point rule some of these points hit no particle cell
    unsnapped = PointEvaluator(problem.particle_mesh).evaluate(problem.particle.fields(), points)
    assert np.isnan(unsnapped["particle_concentration"]).any()
    c_max = case.material.max_concentration
    flux = -current / problem.particle_area_m2 / 96485.33212  # mol/(m² s), into the particle
    expected = 0.5 * c_max + series(np.ones(1), D_S * DT * STEPS / 1e-12, flux * 1e-6 / D_S)[0]
    change = expected - 0.5 * c_max
    print(f"surface probes {values} vs series {expected:.2f} mol/m³ (change {change:.2f})")
    assert np.all(np.isfinite(values))
    assert values == pytest.approx(np.full(len(points), expected), abs=0.02 * abs(change))

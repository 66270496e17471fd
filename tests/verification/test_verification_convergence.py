"""Spatial convergence of the full coupled problem (particle, electrolyte, both kinetics, cell
voltage) on a discontinuous particle/electrolyte mesh: uniform refinement of the axisymmetric cell
(h = R/8, R/16, R/32), observed order from successive differences (Richardson) ≈ 2 for P1."""

from __future__ import annotations

import math

import numpy as np
from support.problem_helpers import make_case, run_constant_current

from ecmx.meshes import load_mesh
from ecmx.solver.fem.cell_problem import CellProblem

QUANTITIES = ("voltage_V", "c_surface_mean", "electrolyte_c_min", "electrolyte_c_max")


def solve(h: float, cache) -> list[float]:
    # a slow electrolyte (D± ~ 1e-12) so that its gradients matter
    case = make_case("axisymmetric-2d", material={"diffusivity": 1e-14}, theta0=0.5,
                     electrolyte={"cation_diffusivity": 2e-12, "anion_diffusivity": 3e-12})
    geo = case.geometry.model_copy(update={"mesh": case.geometry.mesh.model_copy(update={"size": h, "interface_size": h})})
    problem = CellProblem(load_mesh(geo, cache_dir=cache), case)
    q = run_constant_current(problem, -3 * problem.capacity_C / 3600.0, 5.0, 10)[-1]
    probe = problem.probe(np.array([[0.0, 0.0, 2.0]]))["electrolyte_concentration"][0]
    return [q[k] for k in QUANTITIES] + [probe]


def test_coupled_problem_converges_at_second_order(tmp_path):
    values = np.array([solve(1e-6 / k, tmp_path) for k in (8, 16, 32)])
    d = np.abs(np.diff(values, axis=0))
    orders = np.log2(d[0] / d[1])
    print("observed orders (voltage, c_surface_mean, electrolyte c min/max, electrolyte probe):", orders)
    for name, p in zip((*QUANTITIES, "electrolyte probe"), orders, strict=True):
        assert 1.7 < p < 2.4, f"{name}: observed order {p:.2f}"
    assert all(math.isfinite(v) for v in values.ravel())

"""Tables of any length: a measured OCV or D(θ) curve of 1000 points costs what a 20-point one does.

Tables are evaluated in numpy at the nodes (U) and quadrature points (D) of each Newton iterate
(:mod:`ecmx.solver.fem.table_fields`), not as one UFL conditional per knot (which hit a RecursionError
at ~200 knots and tripled a sphere-1d run at 100). The curves here are smooth, so a table's own
accuracy is its interpolation error, max |U_n − U| ~ h²|U''|/8: about 2 mV at 20 knots and below 1 µV
at 1000 (the 21-knot grid is the "20-knot" table: 20 intervals).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, run_constant_current, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.physics.tables import TableCurve


def ocv(theta: np.ndarray) -> np.ndarray:
    """A sloping, S-shaped open-circuit voltage [V]."""
    return 3.4 - 0.4 * (theta - 0.5) + 0.15 * np.tanh((0.5 - theta) / 0.12)


def diffusivity(theta: np.ndarray) -> np.ndarray:
    """D_s(θ) [m²/s] over a decade and a half, piecewise linear in log D with corners on the 21-knot
    grid, so that every table of it is exact and the OCV table alone sets the accuracy."""
    return 10.0 ** np.interp(theta, [0.0, 0.25, 0.5, 0.75, 1.0], [-13.5, -14.0, -15.0, -14.5, -14.0])


def material(knots: int) -> dict:
    theta = np.linspace(0.0, 1.0, knots)
    return {
        "open_circuit_voltage": {"stoichiometry": theta.tolist(), "voltage": ocv(theta).tolist()},
        "diffusivity": {"stoichiometry": theta.tolist(), "value": diffusivity(theta).tolist()},
    }


def table_error(knots: int, reference_knots: int = 20001) -> float:
    """max |U_knots − U| over the window [0.05, 0.95] [V] (the table's own accuracy)."""
    x = np.linspace(0.05, 0.95, reference_knots)
    theta = np.linspace(0.0, 1.0, knots)
    return float(np.max(np.abs(TableCurve(theta, ocv(theta)).value_and_slope(x)[0] - ocv(x))))


def discharge(knots: int) -> tuple[np.ndarray, list[int], float]:
    """Voltages and Newton iterations of a 2C discharge over 40 % of the window, and the wall time [s]
    of building the problem and running it."""
    start = time.perf_counter()
    case = make_case("sphere-1d", material=material(knots), theta0=0.3)
    problem = CellProblem(sphere_1d_mesh(elements=40), case)
    rows = run_constant_current(problem, -2.0 * problem.capacity_C / 3600.0, dt=9.0, steps=80)
    elapsed = time.perf_counter() - start
    return np.array([r["voltage_V"] for r in rows]), [r["newton_iterations"] for r in rows[1:]], elapsed


def test_long_tables_cost_and_accuracy():
    discharge(21)  # warm-up: form compilation (one generated code for every table length)
    v20, its20, t20 = discharge(21)
    v1000, its1000, t1000 = discharge(1001)
    # the faster of two runs each, so that a pause of the machine does not decide the cost ratio
    t20, t1000 = min(t20, discharge(21)[2]), min(t1000, discharge(1001)[2])
    v4000, _, _ = discharge(4001)
    print(f"20 knots {t20:.2f} s, 1000 knots {t1000:.2f} s ({t1000 / t20:.2f}x); Newton its "
          f"{sum(its20)} / {sum(its1000)}; |V1000 − V20| {np.max(np.abs(v1000 - v20)):.2e} V "
          f"(20-knot table error {table_error(21):.2e} V); |V4000 − V1000| {np.max(np.abs(v4000 - v1000)):.2e} V")
    assert t1000 <= 1.5 * t20
    # Newton converges as fast as with the short table: 3 iterations a step (a step whose surface
    # crosses many knots of a piecewise-linear table, each a kink of U, may take a fourth)
    assert max(its1000) <= 4 and sum(its1000) <= 1.15 * sum(its20)
    # the same result to the table's own accuracy
    assert np.max(np.abs(v1000 - v20)) <= 1.2 * table_error(21)
    assert np.max(np.abs(v4000 - v1000)) <= max(2 * table_error(1001), 1e-6)


@pytest.mark.parametrize("knots", [3, 50, 1000])
def test_table_curve_matches_numpy_and_its_slope(knots):
    """TableCurve: numpy.interp values (log-linear too) and the right-hand slope, 0 beyond the ends."""
    rng = np.random.default_rng(knots)
    xs = np.sort(rng.uniform(0, 1, knots))
    ys = rng.uniform(1, 2, knots)
    x = np.concatenate([rng.uniform(-0.1, 1.1, 500), xs])
    value, slope = TableCurve(xs, ys).value_and_slope(x)
    assert value == pytest.approx(np.interp(x, xs, ys), rel=1e-14)
    h = 1e-9
    inside = (x >= xs[0]) & (x < xs[-1] - h)
    right = (np.interp(x + h, xs, ys) - np.interp(x, xs, ys)) / h
    assert slope[inside] == pytest.approx(right[inside], rel=1e-5, abs=1e-5)
    assert np.all(slope[(x < xs[0]) | (x >= xs[-1])] == 0.0)
    log_value, log_slope = TableCurve(xs, ys, log=True).value_and_slope(x)
    assert log_value == pytest.approx(np.exp(np.interp(x, xs, np.log(ys))), rel=1e-13)
    assert log_slope[inside] == pytest.approx(log_value[inside] * TableCurve(xs, np.log(ys)).value_and_slope(x)[1][inside])


def test_long_tables_in_3d():
    """A 3D particle in electrolyte with 1001-knot tables (a RecursionError in UFL before) runs and
    agrees with the 21-knot run to that table's accuracy; Newton as fast."""
    mesh = particle_in_box_mesh(thickness=1.0, margin=0.3, size=0.7, interface_size=0.5)
    voltages, iterations = [], []
    for knots in (21, 1001):
        case = make_case("particle-in-electrolyte", material=material(knots), theta0=0.3,
                         solver={"linear_solver": "mumps"})
        problem = CellProblem(mesh, case)
        rows = run_constant_current(problem, -2.0 * problem.capacity_C / 3600.0, dt=20.0, steps=4)
        voltages.append(np.array([r["voltage_V"] for r in rows]))
        iterations.append(sum(r["newton_iterations"] for r in rows))
    print(f"3D: |V1001 − V21| {np.max(np.abs(voltages[1] - voltages[0])):.2e} V, Newton its {iterations}")
    assert np.max(np.abs(voltages[1] - voltages[0])) <= 1.2 * table_error(21)
    assert iterations[1] <= iterations[0] + 1

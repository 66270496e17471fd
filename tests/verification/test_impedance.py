"""The impedance of the linearised cell problem (``ecmx.solver.fem.impedance``) against the analytic
particle impedance of Meyers, Doyle, Darling and Newman, J. Electrochem. Soc. 147 (2000) 2930, per unit
area: Z = R_s + 1/(iωC_dl + 1/(R_ct + Z_d)), R_ct = RT/((α_a+α_c) F i₀),
Z_d = |dU/dc| (R/(F D)) tanh(s)/(s − tanh(s)), s = R √(iω/D); R_s is the Na-metal charge-transfer
resistance in series, RT/(F i₀,a) A_Γ/A_a (the well-mixed electrolyte of sphere-1d adds none).
Plus the low- and high-frequency limits, a 3D sphere in a fast electrolyte, and the impedance of a
small-amplitude sine run of the time loop."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import math

import numpy as np
import pytest
from support.problem_helpers import make_case, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.fem.impedance import Linearisation, impedance
from ecmx.solver.timeloop.integrators import bdf_weights
from ecmx.solver.units import R_GAS, F

D_S, RADIUS, C_MAX = 1e-14, 1e-6, 13831.0  # the problem helpers' material
DU_DC = 0.2 / 0.45 / C_MAX  # |dU/dc| at θ = 0.5 of its OCV table [V m³/mol]
I0 = 10.0  # A/m²: R_ct ≈ 2.6 mΩ m², the diffusion impedance is as large over most of the band
COUNTER = {"counter_electrode": {"exchange_current_density": 1000.0}}  # R_s ≈ 0.08 mΩ m²


def _material(capacitance: float | None) -> dict:
    material = {"exchange_current_density": I0}
    if capacitance is not None:
        material["double_layer_capacitance"] = capacitance
    return material


def _graded_sphere(elements: int = 40, power: float = 3.0):
    """sphere-1d mesh with x ↦ R (1 − (1 − x/R)^p): the first element under the surface is R/N^p thick, so
    the diffusion layer √(D/ω) is resolved up to 100 kHz."""
    pmesh = sphere_1d_mesh(elements=elements)
    x = pmesh.mesh.geometry.x
    x[:, 0] = 1.0 - (1.0 - x[:, 0]) ** power
    return pmesh


def _sphere_problem(capacitance: float | None) -> CellProblem:
    return CellProblem(_graded_sphere(), make_case(material=_material(capacitance), electrolyte=COUNTER))


def _series_resistance(problem: CellProblem, counter_area: float) -> float:
    """R_s [Ω m² of particle area]: the Na-metal kinetics, linear, at c = c_ref."""
    thermal = R_GAS * problem.case.temperature / F
    return thermal / problem.case.electrolyte.counter_electrode.exchange_current_density * (
        problem.particle_area_m2 / counter_area)


def meyers(f: np.ndarray, thermal: float, capacitance: float, i0: float = I0) -> np.ndarray:
    """The analytic particle impedance [Ω m²] (without R_s)."""
    w = 2 * np.pi * np.asarray(f)
    s = RADIUS * np.sqrt(1j * w / D_S)
    z_d = DU_DC * RADIUS / (F * D_S) * np.tanh(s) / (s - np.tanh(s))
    return 1.0 / (1j * w * capacitance + 1.0 / (thermal / i0 + z_d))


@pytest.mark.parametrize("capacitance", [None, 0.2])
def test_sphere_matches_the_analytic_particle_impedance(capacitance):
    """1 mHz to 100 kHz: within 0.5 % in |Z| and 0.5° in phase (measured: 4e-5 and 0.001°)."""
    problem = _sphere_problem(capacitance)
    f = np.logspace(-3, 5, 33)
    z = impedance(problem, f) * problem.particle_area_m2
    thermal = R_GAS * problem.case.temperature / F
    expected = _series_resistance(problem, 4e-12) + meyers(f, thermal, capacitance or 0.0)
    assert np.abs(z) == pytest.approx(np.abs(expected), rel=5e-3)
    assert np.degrees(np.angle(z)) == pytest.approx(np.degrees(np.angle(expected)), abs=0.5)
    assert np.all(z.real > 0) and np.all(z.imag < 0)  # Z = δV/δI, I anodic positive
    if capacitance:  # the double layer shorts the interface: Z → R_s + 1/(iωC_dl)
        assert z[-1] - z[-1].real == pytest.approx(1 / (2j * math.pi * f[-1] * capacitance), rel=1e-3)


def test_low_and_high_frequency_limits():
    """f → 0: Z_d → 3|dU/dc|/(iωFR) + R|dU/dc|/(5FD) (the particle's capacity); f → ∞: the Warburg
    impedance W = |dU/dc|/(F√(iωD)) of a semi-infinite layer, Z_d → W/(1 − 1/s) (tanh s → 1). The
    high frequencies on a mesh graded to R/200³ under the surface: ≥ 10 elements per diffusion length
    √(D/ω) up to 100 kHz."""
    problem = _sphere_problem(None)
    thermal = R_GAS * problem.case.temperature / F
    series = _series_resistance(problem, 4e-12) + thermal / I0
    low = np.array([1e-6, 1e-5])  # ωR²/D = 6e-4, 6e-3
    z_d = impedance(problem, low) * problem.particle_area_m2 - series
    w = 2 * np.pi * low
    assert z_d.imag == pytest.approx(-3 * DU_DC / (w * F * RADIUS), rel=1e-4)
    assert z_d.real == pytest.approx(RADIUS * DU_DC / (5 * F * D_S), rel=2e-3)
    fine = CellProblem(_graded_sphere(elements=200), make_case(material=_material(None), electrolyte=COUNTER))
    high = np.array([1e2, 1e3, 1e4, 1e5])
    z_d = impedance(fine, high) * fine.particle_area_m2 - series
    w = 2 * np.pi * high
    s = RADIUS * np.sqrt(1j * w / D_S)
    warburg = DU_DC / (F * np.sqrt(1j * w * D_S))
    assert np.abs(z_d / (warburg / (1 - 1 / s)) - 1) == pytest.approx(0, abs=5e-3)
    assert np.degrees(np.angle(z_d)) == pytest.approx(-45.0, abs=0.5)


def test_rest_state_is_an_equilibrium_and_the_control_is_restored():
    problem = _sphere_problem(0.2)
    problem.set_control("current", 1e-12)
    linear = Linearisation(problem)
    assert linear.rest_residual < 1e-12
    assert problem.control == ("current", 1e-12)


@pytest.mark.slow
def test_sphere_in_a_fast_electrolyte_3d(mesh_cache):
    """The default particle-in-electrolyte mesh (13.5k DOFs; about 2 min here) with 10⁵× faster ions
    (no electrolyte resistance) and a fast Na metal: the analytic sphere within 2 % in |Z| and 1° in
    phase, 1 mHz to 100 kHz, with a double layer (measured: 0.8 % and 0.36°, the faceted sphere and the
    diffusion layer on R/10 elements)."""
    from ecmx.meshes import load_mesh
    from ecmx.solver.config.geometry import Geometry

    pmesh = load_mesh(Geometry(kind="particle-in-electrolyte", particle={"radius": RADIUS}), cache_dir=mesh_cache)
    fast = COUNTER | {"cation_diffusivity": 2e-6, "anion_diffusivity": 2e-6}
    material = _material(0.2) | {"exchange_current_density": 1.0}
    problem = CellProblem(pmesh, make_case("particle-in-electrolyte", material=material, electrolyte=fast))
    f = np.array([1e-3, 1e-2, 1e-1, 1.0, 10.0, 1e3, 1e5])
    z = impedance(problem, f) * problem.particle_area_m2
    thermal = R_GAS * problem.case.temperature / F
    expected = _series_resistance(problem, pmesh.counter_electrode_area) + meyers(f, thermal, 0.2, i0=1.0)
    assert np.abs(z) == pytest.approx(np.abs(expected), rel=2e-2)
    assert np.degrees(np.angle(z)) == pytest.approx(np.degrees(np.angle(expected)), abs=1.0)


def _sine_run(problem: CellProblem, frequency: float, amplitude: float, periods: int, steps: int):
    """Drive the time loop with I(t) = amplitude sin(2πft) (BDF2, fixed steps); times, currents, voltages."""
    dt = 1.0 / (frequency * steps)
    times, voltages, currents = [0.0], [problem.quantities()["voltage_V"]], [0.0]
    for n in range(1, periods * steps + 1):
        t = n * dt
        current = amplitude * math.sin(2 * math.pi * frequency * t)
        problem.set_control("current", current)
        weights = bdf_weights([t, *times[-2:][::-1]]) if n > 1 else None
        outcome = problem.try_step(dt, weights)
        assert outcome.converged, outcome.reason
        problem.accept()
        times.append(t)
        currents.append(current)
        voltages.append(problem.quantities()["voltage_V"])
    return np.array(times), np.array(currents), np.array(voltages)


def test_small_sine_in_the_time_loop_gives_the_same_impedance():
    """A 10 Hz sine of amplitude 1 % of i₀ through the ordinary time loop (BDF2, 100 steps per period,
    4 periods): V fitted on the last two periods by a + b t + c sin + d cos gives Z within 1 % of the
    linearised one, in magnitude and (as |ΔZ|/|Z|) in phase."""
    problem = _sphere_problem(0.2)
    frequency = 10.0
    z_linear = impedance(problem, [frequency])[0]
    problem.set_initial_state()
    amplitude = 0.01 * I0 * problem.particle_area_m2
    t, _, v = _sine_run(problem, frequency, amplitude, periods=4, steps=100)
    last = t >= t[-1] - 2.0 / frequency
    w = 2 * math.pi * frequency
    columns = np.column_stack([np.ones(last.sum()), t[last], np.sin(w * t[last]), np.cos(w * t[last])])
    _, _, in_phase, quadrature = np.linalg.lstsq(columns, v[last], rcond=None)[0]
    z_time = complex(in_phase, quadrature) / amplitude  # V = Re(Z) I sin + Im(Z)·(−I cos)·(−1)
    assert abs(z_time - z_linear) <= 1e-2 * abs(z_linear)

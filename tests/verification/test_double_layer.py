"""The double layer (``double_layer_capacitance``): the RC charging transient of the interface after a
current step, and the Na balance (the capacitive charge is not Na)."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import math

import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.units import R_GAS, F

I0 = 1.0  # A/m², at θ = 0.5
C_DL = 1.0  # F/m²: τ = R_ct C_dl ≈ 26 ms, far below the diffusion time R²/D = 100 s
# a nearly flat OCV around θ = 0.5: the surface θ drifts but U(θ) hardly moves (|dU/dθ| = 2.2 mV)
FLAT = {"stoichiometry": [0.0, 0.05, 0.95, 1.0], "voltage": [4.2, 3.401, 3.399, 2.0]}


def _problem(capacitance: float | None) -> CellProblem:
    material = {"open_circuit_voltage": FLAT, "exchange_current_density": I0}
    if capacitance is not None:
        material["double_layer_capacitance"] = capacitance
    return CellProblem(sphere_1d_mesh(elements=40), make_case(material=material))


def _step_response(problem: CellProblem, current_density: float, dt: float, steps: int) -> list[dict]:
    area = problem.particle_area_m2
    problem.set_control("current", current_density * area)
    out = []
    for _ in range(steps):
        outcome = problem.try_step(dt)
        assert outcome.converged, outcome.reason
        out.append(problem.quantities())
        problem.accept()
    return out


def test_current_step_charges_the_double_layer_with_time_constant_rct_cdl():
    """η(t) = R_ct i (1 − e^(−t/τ)), τ = R_ct C_dl (linear kinetics: i = 0.1 i₀); the faradaic current
    follows i (1 − e^(−t/τ)). Backward Euler at τ/100 is within 0.5 % of R_ct i of the exponential."""
    problem = _problem(C_DL)
    thermal = R_GAS * problem.case.temperature / F
    r_ct = thermal / I0  # α_a + α_c = 1
    tau = r_ct * C_DL
    i_app = 0.1 * I0
    dt = tau / 100
    records = _step_response(problem, i_app, dt, 300)
    for n in (10, 50, 100, 200, 299):
        t = (n + 1) * dt
        expected = r_ct * i_app * (1 - math.exp(-t / tau))
        assert records[n]["overpotential_V"] == pytest.approx(expected, abs=5e-3 * r_ct * i_app)
        faradaic = records[n]["interface_current_A"] / problem.particle_area_m2
        assert faradaic == pytest.approx(i_app * (1 - math.exp(-t / tau)), abs=5e-3 * i_app)
        capacitive = records[n]["double_layer_current_A"] / problem.particle_area_m2
        assert faradaic + capacitive == pytest.approx(i_app, rel=1e-8)


def test_without_a_double_layer_the_overpotential_jumps():
    """The same step without the key: η = R_ct i after the first step (no transient)."""
    problem = _problem(None)
    r_ct = R_GAS * problem.case.temperature / F / I0
    records = _step_response(problem, 0.1 * I0, 2.6e-4, 1)
    assert records[0]["overpotential_V"] == pytest.approx(r_ct * 0.1 * I0, rel=1e-2)
    assert "double_layer_current_A" not in records[0]


def test_capacitive_charge_is_not_na():
    """The particle's Na changes by the faradaic charge only; particle + electrolyte Na⁺ change by the
    Na-metal charge (the recorder's balance, na_rate dt against −I dt/F), exactly, every step."""
    problem = _problem(C_DL)
    area = problem.particle_area_m2
    problem.set_control("current", 0.1 * I0 * area)
    dt = 2.6e-3
    particle_na_0 = problem.quantities()["c_mean"] * problem.particle_volume_m3
    faradaic_charge = 0.0
    for _ in range(40):
        assert problem.try_step(dt).converged
        q = problem.quantities()
        problem.accept()
        passed = -q["current_A"] * dt / F
        assert q["na_rate_mol_per_s"] * dt == pytest.approx(passed, rel=1e-9, abs=0)
        assert q["counter_electrode_current_A"] == pytest.approx(-q["current_A"], rel=1e-9, abs=0)
        faradaic_charge += q["interface_current_A"] * dt
    particle_na = problem.quantities()["c_mean"] * problem.particle_volume_m3
    total_charge = 40 * dt * 0.1 * I0 * area
    assert particle_na_0 - particle_na == pytest.approx(faradaic_charge / F, rel=1e-9, abs=0)
    assert faradaic_charge < 0.9 * total_charge  # the double layer took a visible share


def test_resolved_electrolyte_takes_up_anions_and_keeps_the_na_balance():
    """Particle in a box of electrolyte: per step the Na of particle + electrolyte changes by the Na-metal
    charge (the recorder's balance), the particle's Na by the faradaic charge only, so the electrolyte's
    Na⁺ (= its anions) changes by −I_dl dt/F: the double layer's anions come out of the electrolyte."""
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4),
                          make_case("particle-in-electrolyte", material={"double_layer_capacitance": C_DL}))
    current = 0.1 * I0 * problem.particle_area_m2
    problem.set_control("current", current)
    dt, before = 5e-3, problem.quantities()
    capacitive_charge = 0.0
    for _ in range(6):
        assert problem.try_step(dt).converged
        q = problem.quantities()
        problem.accept()
        assert q["na_rate_mol_per_s"] * dt == pytest.approx(-current * dt / F, rel=1e-7, abs=0)
        assert q["interface_current_A"] + q["double_layer_current_A"] == pytest.approx(current, rel=1e-7, abs=0)
        capacitive_charge += q["double_layer_current_A"] * dt
    after = problem.quantities()
    particle = (after["c_mean"] - before["c_mean"]) * problem.particle_volume_m3
    electrolyte = after["na_total_mol"] - before["na_total_mol"] - particle
    assert capacitive_charge > 0.5 * current * 6 * dt  # mostly charging the double layer so far
    assert electrolyte == pytest.approx(-capacitive_charge / F, rel=1e-6, abs=0)

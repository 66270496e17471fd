"""Verification of the particle model on ``sphere-1d`` against closed forms (docs/model.md §5).

- constant-flux diffusion in a sphere (series solution) at τ = 0.036, 0.36, 1.8;
- observed convergence orders in h (P1: 2) and Δt (backward Euler: 1);
- small-current Butler–Volmer at the particle and at the Na metal;
- Na balance and ∫_Γ i_loc = I_app at every step, also across control switches.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from support.problem_helpers import make_case, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.units import R_GAS, F

D_S = 1e-14  # m²/s
RADIUS = 1e-6  # m
THETA0 = 0.5

_ROOTS = np.array([brentq(lambda a: math.tan(a) - a, n * math.pi + 1e-9, (n + 0.5) * math.pi - 1e-9) for n in range(1, 400)])


def series(x: np.ndarray, tau: float, amplitude: float) -> np.ndarray:
    """c − c₀ for a constant inward flux N₀ into a sphere; amplitude = N₀R/D (docs/model.md §5)."""
    x = np.maximum(x, 1e-12)
    terms = np.sin(np.outer(x, _ROOTS)) / (_ROOTS**2 * np.sin(_ROOTS)) * np.exp(-(_ROOTS**2) * tau)
    return amplitude * (3 * tau + x**2 / 2 - 3 / 10 - (2 / x) * terms.sum(axis=1))


class SphereRun:
    """A 1C constant-current discharge of a sphere-1d particle with constant D, driven in τ units."""

    def __init__(self, elements: int) -> None:
        case = make_case("sphere-1d", material={"diffusivity": D_S}, theta0=THETA0)
        self.problem = CellProblem(sphere_1d_mesh(elements=elements), case)
        self.current = -self.problem.capacity_C / 3600.0
        inward_flux = -self.current / (F * self.problem.particle_area_m2)
        self.amplitude = inward_flux * RADIUS / D_S
        self.problem.set_control("current", self.current)
        self.x = self.problem.fields["particle_concentration"].function_space.tabulate_dof_coordinates()[:, 0]
        self.tau = 0.0
        self.c0 = THETA0 * case.material.max_concentration

    def advance(self, dtau: float, steps: int) -> None:
        for _ in range(steps):
            outcome = self.problem.try_step(dtau * self.problem.scales.time)
            assert outcome.converged, outcome.reason
            self.problem.accept()
            self.tau += dtau

    def error(self) -> np.ndarray:
        """Nodal c − c_exact, mol/m³."""
        c = self.problem.fields["particle_concentration"].x.array - self.c0
        return c - series(self.x, self.tau, self.amplitude)

    def swing(self) -> float:
        exact = series(np.array([0.0, 1.0]), self.tau, self.amplitude)
        return abs(exact[1] - exact[0])


def test_time_scale_is_r2_over_d():
    run = SphereRun(10)
    assert run.problem.scales.time == pytest.approx(RADIUS**2 / D_S)


def test_constant_flux_sphere_series():
    """Within 0.5 % of the surface-to-centre swing at τ = 0.036, 0.36 and 1.8."""
    run = SphereRun(100)
    errors = {}
    for tau_end, dtau in ((0.036, 0.0005), (0.36, 0.003), (1.8, 0.012)):
        run.advance(dtau, round((tau_end - run.tau) / dtau))
        assert run.tau == pytest.approx(tau_end)
        errors[tau_end] = np.max(np.abs(run.error())) / run.swing()
    print("max |c - c_exact| / swing:", errors)
    for tau, err in errors.items():
        assert err < 5e-3, f"tau={tau}: error {err:.2e} of the swing"


def _order(errors: list[float], ratio: float = 2.0) -> list[float]:
    return [math.log(errors[i] / errors[i + 1]) / math.log(ratio) for i in range(len(errors) - 1)]


def test_convergence_order_in_h():
    """At τ = 1.8 the transients (and with them the time error) have decayed: a pure spatial error."""
    max_err, surface_err = [], []
    for n in (20, 40, 80):
        run = SphereRun(n)
        run.advance(0.012, 150)
        err = np.abs(run.error())
        max_err.append(err.max())
        surface_err.append(err[np.argmax(run.x)])
    p_max, p_surface = _order(max_err), _order(surface_err)
    print(f"observed order in h: max-norm {p_max}, surface {p_surface}")
    assert 1.7 < p_max[-1] < 2.3
    assert 1.9 < p_surface[-1] < 2.1


def test_convergence_order_in_dt():
    """Backward Euler at τ = 0.36 against a fine-step solution on the same mesh (no spatial error)."""
    reference = SphereRun(50)
    reference.advance(0.36 / 1280, 1280)
    ref = reference.error()
    errors = []
    for k in (20, 40, 80, 160):
        run = SphereRun(50)
        run.advance(0.36 / k, k)
        errors.append(np.max(np.abs(run.error() - ref)))
    p = _order(errors)
    print(f"observed order in dt: {p}")
    assert 0.85 < p[-1] < 1.3


@pytest.mark.parametrize("salt", [500.0, 1000.0, 2000.0])
def test_small_current_butler_volmer(salt):
    """η = RT/(F i₀) i at the particle and at the Na metal, within 1 %, at 0.5, 1 and 2 M.

    Reference (docs/model.md §3, c_rel = c₀/c_ref, RT/F units, α_a = α_c = 1/2):
    - particle: i₀ = i₀,ref c_rel^½ ((1−θ_s)/½)^½ (θ_s/½)^½ and η = i_loc/i₀ to first order, where η now
      carries the Nernst term: η = V − φ_e − U(θ_s) − ln c_rel;
    - Na metal: i_a = i₀,a [e^{α_a η̂_a} − c_rel e^{−α_c η̂_a}] vanishes at η̂_a = ln c_rel (α_a + α_c = 1);
      with η̂_a = ln c_rel + δ it is i₀,a c_rel^{α_a} (e^{α_a δ} − e^{−α_c δ}) ≈ i₀,a c_rel^½ δ, so
      −φ_e = η_a = ln c_rel + i_a/(i₀,a c_rel^½);
    - hence V = U(θ_s) + η + φ_e + ln c_rel exactly, the voltage of a cell at rest being U(θ_s).
    """
    i0, i0_metal = 0.2, 10.0
    case = make_case(
        "sphere-1d",
        material={"diffusivity": 1e-12, "exchange_current_density": i0},
        electrolyte={"concentration": salt, "counter_electrode": {"exchange_current_density": i0_metal}},
        theta0=0.5,
    )
    problem = CellProblem(sphere_1d_mesh(elements=20), case)
    current = -0.01 * problem.capacity_C / 3600.0
    problem.set_control("current", current)
    outcome = problem.try_step(1.0)
    assert outcome.converged, outcome.reason
    q = problem.quantities()
    vt = R_GAS * case.temperature / F
    c_rel = salt / 1000.0
    theta_s = q["c_surface_mean"] / case.material.max_concentration
    i_loc = current / problem.particle_area_m2
    # i₀ at the surface state (θ_s ≈ 0.5 gives i₀,ref c_rel^½ to within (θ_s − 0.5)²)
    i0_s = i0 * math.sqrt(c_rel) * math.sqrt((1 - theta_s) / 0.5 * theta_s / 0.5)
    assert q["overpotential_V"] == pytest.approx(vt * i_loc / i0_s, rel=1e-2)
    assert q["overpotential_V"] < 0  # discharge: cathodic
    i_metal = -current / problem.pmesh.counter_electrode_area
    eta_metal = vt * (math.log(c_rel) + i_metal / (i0_metal * math.sqrt(c_rel)))
    assert -q["electrolyte_potential_V"] == pytest.approx(eta_metal, rel=1e-2, abs=1e-2 * vt * i_metal / i0_metal)
    nernst = vt * math.log(c_rel)
    expected_v = float(case.material.ocv_at(theta_s)) + q["overpotential_V"] + q["electrolyte_potential_V"] + nernst
    assert q["voltage_V"] == pytest.approx(expected_v, abs=1e-10)


def test_balance_every_step_and_control_switch():
    """|Na balance error| ≤ 1e-8 of the charge passed and ∫_Γ i_loc = I_app at every step, through
    a discharge, a voltage hold and a rest (control switched without a rebuild)."""
    case = make_case("sphere-1d", material={"diffusivity": 1e-15}, theta0=0.3)
    problem = CellProblem(sphere_1d_mesh(elements=30), case)
    i_1c = problem.capacity_C / 3600.0
    schedule = [("current", -2 * i_1c, 5.0, 10), ("voltage", None, 5.0, 6), ("current", 0.0, 20.0, 5), ("current", 1.0 * i_1c, 10.0, 5)]
    prev = problem.quantities()
    for mode, value, dt, steps in schedule:
        if mode == "voltage":
            value = prev["voltage_V"] - 0.02
        problem.set_control(mode, value)
        for _ in range(steps):
            outcome = problem.try_step(dt)
            assert outcome.converged, outcome.reason
            problem.accept()
            q = problem.quantities()
            charge = abs(q["counter_electrode_current_A"]) * dt / F
            error = q["na_total_mol"] - prev["na_total_mol"] - q["counter_electrode_current_A"] * dt / F
            scale = max(charge, 1e-6 * q["na_total_mol"])  # at rest: round-off of the Na content
            assert abs(error) <= 1e-8 * scale, (mode, error / scale)
            if mode == "current":
                assert q["interface_current_A"] == pytest.approx(value, rel=1e-8, abs=1e-8 * i_1c)
            else:
                assert q["voltage_V"] == pytest.approx(value, abs=1e-12)
                assert q["current_A"] == q["interface_current_A"]
            assert q["counter_electrode_current_A"] == pytest.approx(-q["interface_current_A"], rel=1e-8, abs=1e-10 * i_1c)
            prev = q


@pytest.mark.parametrize("diffusivity", [1e-17, 1e-12])
@pytest.mark.parametrize("c_rate", [0.01, 10.0])
def test_current_and_balance_accuracy_across_scales(diffusivity, c_rate):
    """∫_Γ i_loc = I_app and the Na balance (with the applied current, as the run driver checks it)
    to 1e-8 relative, at both ends of the D_s and C-rate ranges (the Newton tolerance is in units of
    the 1C current, not of the R²/D_s time scale)."""
    case = make_case("sphere-1d", material={"diffusivity": diffusivity, "exchange_current_density": 0.2}, theta0=0.5)
    problem = CellProblem(sphere_1d_mesh(elements=30), case)
    current = -c_rate * problem.capacity_C / 3600.0
    problem.set_control("current", current)
    prev = problem.quantities()
    long = 0.2 * 3600.0 / c_rate / 100  # 1 % of the window in 5 steps
    for dt in (1.0, long, long, long, long):
        outcome = problem.try_step(dt)
        assert outcome.converged, outcome.reason
        problem.accept()
        q = problem.quantities()
        assert q["interface_current_A"] == pytest.approx(current, rel=1e-8, abs=0)
        passed = -q["current_A"] * dt / F
        assert abs(q["na_total_mol"] - prev["na_total_mol"] - passed) <= 1e-8 * abs(passed)
        prev = q

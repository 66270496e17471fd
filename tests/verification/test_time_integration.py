"""Error-controlled BDF, orders 1-3 (ecmx.solver.timeloop.integrators), on the constant-flux sphere (sphere-1d).

- observed order in time with fixed steps (after the two backward-Euler start steps): BDF2 on t and on
  the √t clock >= 1.9, BDF3 on the √t clock >= 2.8;
- the time error falls with solver.rtol over three decades;
- at the default tolerances, with no time-step settings: the concentration within 0.5 % of jR/D and
  the centre radial stress within 1 % of its peak over the whole transient (after the first second);
  the rest after a galvanostatic step follows the series within 2 % for NVP and HE-V diffusivities;
- the capacity at a voltage cut-off at 0.5-20C within 1e-3 DOD of a fine reference;
- the Na balance of every step (with the scheme's discrete rate) within 1e-10 of the charge passed.

The centre radial stress of a linear-elastic sphere with a chemical strain linear in c is
σ_r(0) = 2ΩE/(9(1 − ν)) (c̄ − c(0)) (docs/model.md §5), so its error relative to its peak (the steady
value 0.3 jR/D of c̄ − c(0)) is that of c(0) relative to 0.3 jR/D; c̄ is exact by conservation.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from mpi4py import MPI
from support.problem_helpers import ELECTROLYTE, MATERIAL, sphere_1d_mesh
from verification.test_verification_sphere import SphereRun, series

from ecmx.solver.config.case import case_from_dict
from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.timeloop.integrators import BdfIntegrator
from ecmx.solver.timeloop.protocol import build_protocol
from ecmx.solver.timeloop.runner import ProtocolRunner
from ecmx.solver.timeloop.stepping import StepController
from ecmx.solver.units import F

RADIUS = 1e-6  # m


def sphere_case(protocol: list[dict], diffusivity: float = 1e-14, solver: dict | None = None, **material) -> object:
    return case_from_dict({
        "name": "t", "material": dict(MATERIAL) | {"diffusivity": diffusivity} | material, "electrolyte": ELECTROLYTE,
        "geometry": {"kind": "sphere-1d"}, "initial": {"stoichiometry": 0.5}, "protocol": protocol,
        "solver": solver or {}})


class Trace:
    """Observer keeping the time, θ nodal values and quantities of every accepted step."""

    def __init__(self, problem: CellProblem):
        self.problem, self.records, self.states = problem, [], []

    def segment_started(self, *args):
        pass

    def snapshot(self, *args):
        pass

    def step_accepted(self, record):
        self.records.append(record)
        self.states.append(self.problem.fields["particle_concentration"].x.array.copy())


def run(case, elements: int = 40) -> tuple[CellProblem, Trace, ProtocolRunner]:
    problem = CellProblem(sphere_1d_mesh(elements=elements), case)
    trace = Trace(problem)
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    integrator = BdfIntegrator.for_problem(problem, case.solver.rtol, case.solver.atol, MPI.COMM_WORLD)  # as `ecmx run`
    runner = ProtocolRunner(problem, steps, StepController.from_settings(case.solver.time_step),
                            capacity_C=problem.capacity_C, stoichiometry_window=case.material.stoichiometry_window,
                            observer=trace, integrator=integrator)
    runner.run()
    return problem, trace, runner


def amplitude(problem: CellProblem, current: float, diffusivity: float) -> float:
    """jR/D [mol/m³] of an inward flux j carrying ``current`` [A] (< 0: discharge)."""
    return -current / (F * problem.particle_area_m2) * RADIUS / diffusivity


def _fixed_step_solution(k: int, order: int, warp: bool) -> np.ndarray:
    """θ at τ = 0.36 after k steps of the BDF of ``order`` (after its two backward-Euler start steps),
    equal on t, or on s = √t where ``warp`` (tₙ = τ (n/k)²)."""
    run = SphereRun(30)
    integrator = BdfIntegrator(1e-4, 1e-6, run.problem.differential, MPI.COMM_WORLD, warp=warp)
    integrator.restart(0.0, run.problem.state())
    integrator.chosen_order = order
    end = 0.36 * run.problem.scales.time
    times = [end * (n / k) ** (2 if warp else 1) for n in range(k + 1)]
    for n in range(1, k + 1):
        dt = times[n] - times[n - 1]
        assert run.problem.try_step(dt, integrator.weights(dt)).converged
        run.problem.accept()
        integrator.accepted(times[n], run.problem.state())
    run.tau = 0.36
    return run.error()


@pytest.mark.parametrize(("order", "warp", "least"), [(2, False, 1.9), (2, True, 1.9), (3, True, 2.8)])
def test_observed_order_with_fixed_steps(order, warp, least):
    """Fixed steps, k = 20, 40, 80, against k = 1280 of the same scheme on the same mesh: BDF2 on t order
    >= 1.9 (backward Euler: 1); on the √t clock, with steps equal in s, BDF2 >= 1.9 and BDF3 >= 2.8. (BDF3
    on t shows no third order here: the √t start limits it.)"""
    reference = _fixed_step_solution(1280, order, warp)
    errors = [np.max(np.abs(_fixed_step_solution(k, order, warp) - reference)) for k in (20, 40, 80)]
    orders = [math.log2(errors[i] / errors[i + 1]) for i in range(2)]
    print(f"BDF{order} ({'√t' if warp else 't'} clock) errors", errors, "orders", orders)
    assert min(orders) >= least


def _transient_error(rtol: float) -> tuple[float, int]:
    """Max |θ − θ_ref| over the nodes at t = 20 s (the centre front) of a 1C discharge, and the steps."""
    protocol = [{"step": "discharge", "c_rate": 1.0, "duration": 20.0}]
    problem, trace, runner = run(sphere_case(protocol, solver={"rtol": rtol, "atol": 1e-2 * rtol}), elements=20)
    reference = FINE.setdefault("transient", run(sphere_case(protocol, solver={"rtol": 1e-9, "atol": 1e-11}),
                                                 elements=20)[1].states[-1])
    return float(np.max(np.abs(trace.states[-1] - reference))), runner.steps_accepted


FINE: dict = {}


@pytest.mark.slow
def test_error_falls_with_rtol_over_three_decades():
    """The time error (against a reference at rtol 1e-9) falls by at least 1.5x per decade of rtol and
    by at least 50x over the three decades 1e-4 .. 1e-7 (control of the error per step: the global
    error goes as rtol^(2/3) for BDF2, 4.6x per decade, and faster where BDF3 takes over; measured
    0.23, 0.13, 0.032, 2.1e-4 mol/m³ with 10, 17, 29, 47 steps with BDF1-3 on the √t clock, BDF2 on t:
    1.0, 0.26, 0.058, 0.013 with 15, 25, 44, 85 steps; jR/D = 115 mol/m³)."""
    results = {rtol: _transient_error(rtol) for rtol in (1e-4, 1e-5, 1e-6, 1e-7)}
    print({rtol: f"{e:.3e} ({n} steps)" for rtol, (e, n) in results.items()})
    errors = [e for e, _ in results.values()]
    for coarse, fine in zip(errors, errors[1:], strict=False):
        assert coarse / fine >= 1.5
    assert errors[0] / errors[-1] >= 50.0
    steps = [n for _, n in results.values()]
    assert steps == sorted(steps)


def test_defaults_sphere_concentration_and_centre_stress_over_the_transient():
    """Default solver settings: |c − c_exact| <= 0.5 % of jR/D and the centre σ_r within 1 % of its peak
    at every accepted step from 1 s to the steady state (τ = 3)."""
    problem, trace, _ = run(sphere_case([{"step": "discharge", "c_rate": 1.0, "duration": 300.0}]))
    x = problem.fields["particle_concentration"].function_space.tabulate_dof_coordinates()[:, 0]
    current = -problem.capacity_C / 3600.0
    amp = amplitude(problem, current, 1e-14)
    c0 = 0.5 * problem.case.material.max_concentration
    centre = int(np.argmin(x))
    worst_c = worst_stress = 0.0
    for record, c in zip(trace.records, trace.states, strict=True):
        if record.time_s < 1.0:
            continue
        exact = series(x, record.time_s / problem.scales.time, amp)
        worst_c = max(worst_c, np.max(np.abs(c - c0 - exact)) / amp)
        worst_stress = max(worst_stress, abs(c[centre] - c0 - exact[centre]) / (0.3 * amp))
    print(f"defaults: {len(trace.records) - 1} steps, max c error {worst_c:.2%} of jR/D, "
          f"centre stress {worst_stress:.2%} of peak")
    assert worst_c <= 5e-3
    assert worst_stress <= 1e-2


@pytest.mark.parametrize(("material", "diffusivity", "pulse_s", "rest_s"),
                         [("NVP", 1e-15, 300.0, 100.0), ("HE-V", 1e-14, 60.0, 10.0)])
def test_defaults_rest_relaxation_follows_the_series(material, diffusivity, pulse_s, rest_s):
    """After a 1C pulse, c(R) − c̄ (∝ the surface hoop and von Mises stress) relaxes like the series
    S(t) − S(t − t₁) within 2 % at every step of the first two relaxation times (τ₁ = R²/(20.19 D):
    50 s for NVP, 5 s for HE-V; the issue's NVP checks at 30, 60 and 90 s lie inside)."""
    protocol = [{"step": "discharge", "c_rate": 1.0, "duration": pulse_s}, {"step": "rest", "duration": rest_s}]
    problem, trace, _ = run(sphere_case(protocol, diffusivity=diffusivity))
    x = problem.fields["particle_concentration"].function_space.tabulate_dof_coordinates()[:, 0]
    amp = amplitude(problem, -problem.capacity_C / 3600.0, diffusivity)
    t0, surface = problem.scales.time, int(np.argmax(x))
    checked = 0
    for record, c in zip(trace.records, trace.states, strict=True):
        if record.time_s <= pulse_s:
            continue
        tau, tau1 = record.time_s / t0, pulse_s / t0
        exact = series(x, tau, amp) - series(x, tau - tau1, amp)
        numeric = c[surface] - record.quantities["c_mean"]
        expected = exact[surface] - 3 * tau1 * amp  # c̄ − c₀ = 3τ₁ jR/D after the pulse
        assert abs(numeric - expected) <= 0.02 * abs(expected), (material, record.time_s, numeric, expected)
        checked += 1
    assert checked >= 5


CUTOFF_V = 3.25  # θ_s ≈ 0.84 on the test material's OCV, reached before the end of the window at 0.5C


def _cutoff_dod(c_rate: float, solver: dict | None) -> tuple[float, ProtocolRunner, Trace]:
    protocol = [{"step": "discharge", "c_rate": c_rate, "until": {"voltage": CUTOFF_V, "depth_of_discharge": 1.0}}]
    _, trace, runner = run(sphere_case(protocol, solver=solver), elements=10)
    return trace.records[-1].depth_of_discharge, runner, trace


@pytest.mark.parametrize("c_rate", [0.5, pytest.param(5.0, marks=pytest.mark.slow), pytest.param(20.0, marks=pytest.mark.slow)])
def test_defaults_capacity_at_voltage_cutoff(c_rate):
    """The DOD at a 3.25 V cut-off at defaults is within 1e-3 of a reference at rtol 1e-8, the cut-off
    is landed on within its tolerance (dense output, few rejected tries: measured 10, 11 and 5 of 48, 66
    and 61 tries at 0.5, 5 and 20C; BDF2 on t took 57, 96 and 112 tries, 5, 7 and 3 rejected), and the
    Na balance of every step (the scheme's discrete rate) closes to 1e-10 of the charge passed."""
    dod, runner, trace = _cutoff_dod(c_rate, None)
    reference, _, _ = _cutoff_dod(c_rate, {"rtol": 1e-8, "atol": 1e-10})
    print(f"{c_rate}C: DOD {dod:.6f} vs {reference:.6f}, {runner.steps_accepted} steps, {runner.tries} tries")
    assert abs(dod - reference) <= 1e-3
    assert trace.records[-1].quantities["voltage_V"] == pytest.approx(CUTOFF_V, abs=1e-4)
    assert runner.tries - runner.steps_accepted <= 12
    assert max(abs(r.na_balance_error) for r in trace.records) <= 1e-10


def test_theta_error_weight_does_not_depend_on_the_level():
    """θ enters the error norm on its range (atol + rtol max(|θ|, 1)), so the same constant-flux
    transient (linear diffusion: the same θ − θ₀ at every level) takes the same steps from θ₀ = 0.25
    as from θ₀ = 0.75, within 0.5 % of jR/D of the series at both. With the weight relative to θ the
    Na-poor start was held three times tighter: measured 1.4x the steps."""
    counts = {}
    for theta0 in (0.25, 0.75):
        case = sphere_case([{"step": "discharge", "c_rate": 1.0, "duration": 100.0}])
        case = case.model_copy(update={"initial": case.initial.model_copy(update={"stoichiometry": theta0})})
        problem, trace, runner = run(case)
        x = problem.fields["particle_concentration"].function_space.tabulate_dof_coordinates()[:, 0]
        amp = amplitude(problem, -problem.capacity_C / 3600.0, 1e-14)
        c0 = theta0 * problem.case.material.max_concentration
        worst = max(np.max(np.abs(c - c0 - series(x, r.time_s / problem.scales.time, amp))) / amp
                    for r, c in zip(trace.records, trace.states, strict=True) if r.time_s >= 1.0)
        print(f"θ0 = {theta0}: {runner.steps_accepted} steps, {runner.tries} tries, max error {worst:.3%} of jR/D")
        assert worst <= 5e-3
        counts[theta0] = runner.steps_accepted
    assert abs(counts[0.25] - counts[0.75]) <= 1

"""Cyclic voltammetry (the ``voltage_sweep`` protocol step) against thin-layer voltammetry.

With fast solid diffusion and fast kinetics at both electrodes (sphere-1d, uniform electrolyte at
c_ref) and a Nernstian open-circuit voltage U = U₀ + (RT/F) ln((1−θ)/θ), the particle stays at
equilibrium with the swept voltage, θ = 1/(1 + exp(F(V − U₀)/RT)), and the current is
I = Q ν (F/RT) θ(1 − θ) for a particle holding Q = F c_s,max V_p over the window (docs/model.md):
the peak lies at U₀, its height is F ν Q/(4RT), its full width at half maximum 2 ln(3 + 2√2) RT/F
= 3.53 RT/F (90.6 mV at 25 °C), and the anodic peak mirrors the cathodic one. The OCV table is dense
(0.25 mV between knots): a piecewise-linear U(θ) makes the current a staircase whose steps are
(F/RT)(1 − 2θ) times the knot spacing (3 % at 1 mV, below 1 % here). The error control (rtol 1e-4)
chooses the steps, about 1.5 s (3 mV) near the peaks; the measured peak is within 0.1 mV of U₀,
0.3 % of its height and 0.4 % of its width (at rtol 1e-3 the rows are too sparse for 1 %).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest

from ecmx.postprocess.rundata import load_run
from ecmx.postprocess.voltammetry import cyclic_voltammogram
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.run import run_case
from ecmx.solver.timeloop.protocol import SweepStep, build_protocol
from ecmx.solver.units import R_GAS, F

T = 298.15
THERMAL = R_GAS * T / F  # RT/F [V]
U0 = 3.4  # V
HALF_WINDOW = 0.25  # V: the limits are U₀ ± 0.25 V, where θ(1 − θ) < 6e-5
RATE = 2e-3  # V/s
SAMPLING_S = 0.5  # s between the rows of timeseries_times.csv the peaks are measured on (1 mV)
RADIUS = 1e-6  # m
C_MAX = 13831.0  # mol/m³
CHARGE = F * C_MAX * 4.0 / 3.0 * math.pi * RADIUS**3  # Q [C]


def equilibrium_stoichiometry(voltage: np.ndarray | float) -> np.ndarray | float:
    """θ of the Nernstian particle at rest at ``voltage`` [V]."""
    return 1.0 / (1.0 + np.exp((np.asarray(voltage) - U0) / THERMAL))


def nernst_material() -> dict:
    """A material with the Nernstian OCV as a 0.25 mV table over U₀ ± 0.3 V and fast diffusion and kinetics."""
    voltage = np.linspace(U0 + 0.3, U0 - 0.3, 2401)
    theta = equilibrium_stoichiometry(voltage)
    return {
        "name": "nernstian", "density": 3000.0, "molar_mass": 0.4, "max_concentration": C_MAX,
        "stoichiometry_window": [float(theta[0]), float(theta[-1])], "diffusivity": 1e-10,
        "open_circuit_voltage": {"stoichiometry": theta.tolist(), "voltage": voltage.tolist()},
        "exchange_current_density": 1e4, "youngs_modulus": 80e9, "poissons_ratio": 0.26,
        "chemical_expansion": {"volume_change": 0.0, "over": [0.1, 0.9]},
    }


def sweep_case(step: dict | None = None, **extra) -> dict:
    """A sphere-1d thin-layer case with one voltage_sweep step (``step`` updates it)."""
    return {
        "name": "cv-thin-layer", "temperature": T, "material": nernst_material(),
        "electrolyte": {"name": "fast", "concentration": 1000.0, "cation_diffusivity": 2e-11,
                        "anion_diffusivity": 2e-11, "counter_electrode": {"exchange_current_density": 1e5}},
        "geometry": {"kind": "sphere-1d", "particle": {"radius": RADIUS}, "mesh": {"elements": 10}},
        "initial": {"stoichiometry": float(equilibrium_stoichiometry(U0 + HALF_WINDOW))},
        "protocol": [{"step": "voltage_sweep", "rate": f"{RATE * 1e3} mV/s",
                      "limits": [f"{U0 - HALF_WINDOW} V", f"{U0 + HALF_WINDOW} V"], "start": "down"} | (step or {})],
        "mechanics": {"enabled": False},
        "solver": {"rtol": 1e-4},
        "output": {"fields_interval": 1e6, "snapshots": {"depth_of_discharge": []}, "times": {"every": SAMPLING_S}},
    } | extra


@pytest.fixture(scope="module")
def voltammogram(tmp_path_factory) -> tuple[dict[str, np.ndarray], Path]:
    """The timeseries of one thin-layer cycle: down from U₀ + 0.25 V to U₀ − 0.25 V and back (~160
    steps, ~5 s)."""
    out = tmp_path_factory.mktemp("cv") / "run"
    run_case(case_from_dict(sweep_case()), out, progress=False)
    data = np.genfromtxt(out / "timeseries.csv", delimiter=",", names=True)
    return {name: np.asarray(data[name]) for name in data.dtype.names}, out


def sampled(out: Path) -> dict[str, np.ndarray]:
    """The rows of ``timeseries_times.csv``: the run's dense output every SAMPLING_S."""
    data = np.genfromtxt(out / "timeseries_times.csv", delimiter=",", names=True)
    return {name: np.asarray(data[name]) for name in data.dtype.names}


def branches(ts: dict[str, np.ndarray]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(V, |I|) of the cathodic (falling V) and anodic (rising V) sweeps, rows of the steps only."""
    t, v, current = ts["time_s"], ts["voltage_V"], ts["current_A"]
    vertex = 2.0 * HALF_WINDOW / RATE
    down, up = (t > 0.0) & (t <= vertex), t > vertex
    return {"cathodic": (v[down], np.abs(current[down])), "anodic": (v[up], np.abs(current[up]))}


def peak(v: np.ndarray, current: np.ndarray) -> tuple[float, float]:
    """(voltage [V], height [A]) of the peak: the vertex of the parabola through the largest sample
    and its neighbours (about 3 mV apart, where the peak's quartic term is below 1e-4 of its height)."""
    k = int(np.argmax(current))
    a, b, c = np.polyfit(v[k - 1:k + 2], current[k - 1:k + 2], 2)
    return -b / (2 * a), c - b * b / (4 * a)


def full_width_at_half_maximum(v: np.ndarray, current: np.ndarray) -> float:
    """The width [V] between the two half-height crossings, linearly interpolated between rows."""
    half = 0.5 * peak(v, current)[1]
    above = np.flatnonzero(current >= half)
    first, last = above[0], above[-1]

    def cross(i: int, j: int) -> float:
        return v[i] + (half - current[i]) * (v[j] - v[i]) / (current[j] - current[i])

    return abs(cross(last, last + 1) - cross(first - 1, first))


def test_applied_voltage_is_the_triangle(voltammogram):
    """V(t) follows V₀ − νt to the lower vertex, then rises at ν, to 1 µV; the vertex is a row."""
    ts, _ = voltammogram
    t, v = ts["time_s"], ts["voltage_V"]
    v0 = v[0]
    vertex = (v0 - (U0 - HALF_WINDOW)) / RATE
    expected = np.where(t <= vertex, v0 - RATE * t, U0 - HALF_WINDOW + RATE * (t - vertex))
    assert np.max(np.abs(v - expected)) < 1e-6
    assert np.min(np.abs(t - vertex)) < 1e-9 * vertex
    assert abs(v[-1] - v0) < 1e-6 and abs(t[-1] - 2 * vertex) < 1e-6


def test_thin_layer_peaks(voltammogram):
    """Peaks at U₀ within 1 mV, height F ν Q/(4RT) within 1 %, FWHM 3.53 RT/F within 1 %."""
    ts = sampled(voltammogram[1])
    height = RATE * CHARGE / (4.0 * THERMAL)
    width = 2.0 * math.log(3.0 + 2.0 * math.sqrt(2.0)) * THERMAL
    assert abs(width - 0.0906) < 1e-4
    for name, (v, current) in branches(ts).items():
        v_peak, i_peak = peak(v, current)
        assert abs(v_peak - U0) < 1e-3, name
        assert abs(i_peak / height - 1.0) < 0.01, name
        assert abs(full_width_at_half_maximum(v, current) / width - 1.0) < 0.01, name


def test_thin_layer_shape_and_symmetry(voltammogram):
    """Each branch follows Q ν (F/RT) θ(1 − θ) within 1 % of the peak, and the anodic branch
    mirrors the cathodic one (the same |I| at the same V) within 1 % of the peak; the currents
    have the signs of discharge (I < 0, V falling) and charge (I > 0, V rising)."""
    ts = sampled(voltammogram[1])
    height = RATE * CHARGE / (4.0 * THERMAL)
    grid = np.linspace(U0 - 0.2, U0 + 0.2, 201)
    curves = {}
    for name, (v, current) in branches(ts).items():
        theta = equilibrium_stoichiometry(v)
        ideal = CHARGE * RATE / THERMAL * theta * (1.0 - theta)
        assert np.max(np.abs(current - ideal)) < 0.01 * height, name
        order = np.argsort(v)
        curves[name] = np.interp(grid, v[order], current[order])
    assert np.max(np.abs(curves["cathodic"] - curves["anodic"])) < 0.01 * height
    t, current = ts["time_s"], ts["current_A"]
    vertex = 2.0 * HALF_WINDOW / RATE
    assert np.all(current[(t > 1.0) & (t < vertex)] < 0.0) and np.all(current[t > vertex + 1.0] > 0.0)


def test_charge_passed_is_the_capacity_swept(voltammogram):
    """Each sweep moves the Na the Nernstian particle holds between the limits, Q (θ(V_low) − θ(V_high)):
    the particle's Na content (at rest at the vertices) within 1e-6 of it (a vertex missed by 0.5 mV
    is 1e-6), and ∫I dt of the rows (trapezoid) within 0.5 % (the current is the derivative of the
    error-controlled state: 0.1 % off at rtol 1e-4); the stoichiometry returns to its start."""
    ts, _ = voltammogram
    t, current, c_mean = ts["time_s"], ts["current_A"], ts["c_mean"]
    vertex = 2.0 * HALF_WINDOW / RATE
    swept = CHARGE * float(equilibrium_stoichiometry(U0 - HALF_WINDOW) - equilibrium_stoichiometry(U0 + HALF_WINDOW))
    k = int(np.argmin(np.abs(t - vertex)))
    inserted, extracted = (c_mean[k] - c_mean[0]) / C_MAX * CHARGE, (c_mean[k] - c_mean[-1]) / C_MAX * CHARGE
    assert abs(inserted / swept - 1.0) < 1e-6 and abs(extracted / swept - 1.0) < 1e-6
    assert abs(-np.trapezoid(current[:k + 1], t[:k + 1]) / swept - 1.0) < 5e-3
    assert abs(np.trapezoid(current[k:], t[k:]) / swept - 1.0) < 5e-3
    assert abs(c_mean[-1] - c_mean[0]) / C_MAX < 1e-6


def test_voltammogram_figure(voltammogram, tmp_path):
    """The current–voltage plot (``ecmx report``'s ``figures/cyclic_voltammogram.png``) draws the
    sweep's rows in pA (the peak is 0.11 nA); a run without a voltage_sweep gets none."""
    _, out = voltammogram
    run = load_run(out)
    fig = cyclic_voltammogram([run], tmp_path / "cv.png")
    assert (tmp_path / "cv.png").stat().st_size > 1000 and (tmp_path / "cv.pdf").is_file()
    (line,) = fig.axes[0].get_lines()[:1]
    rows = run.timeseries["step"] == 1
    assert np.allclose(line.get_xdata(), run.timeseries["voltage_V"][rows])
    assert np.allclose(line.get_ydata(), 1e12 * run.timeseries["current_A"][rows])
    assert "(pA" in fig.axes[0].get_ylabel()
    run.case.protocol[0].step = "hold"
    assert cyclic_voltammogram([run], tmp_path / "none.png") is None and not (tmp_path / "none.png").exists()


# -- the step as the time loop sees it --------------------------------------------------------------
def sweep_step(**keys) -> SweepStep:
    case = case_from_dict(sweep_case(keys))
    (step,) = build_protocol(case.protocol, 1.0, 1.0)
    return step


@pytest.mark.parametrize(("start", "v0", "ends"), [
    ("down", 3.5, [3.15, 3.65, 3.5]),
    ("up", 3.5, [3.65, 3.15, 3.5]),
    (None, 3.5, [3.15, 3.65, 3.5]),  # default: towards the farther limit
    (None, 3.2, [3.65, 3.15, 3.2]),
    ("down", 3.65, [3.15, 3.65]),  # a start at a vertex: no empty leg
])
def test_sweep_legs(start, v0, ends):
    """Legs from V₀ to the first vertex, the second, and back to V₀, at ±ν, each ended by a time
    event at its vertex; ``cycles`` repeats them."""
    step = sweep_step(start=start, cycles=3)
    legs = step.segments_at(v0)
    assert step.repeat == 3
    starts = [v0, *ends[:-1]]
    assert [leg.control.at(leg.events[0].target) for leg in legs] == pytest.approx(ends, abs=1e-12)
    assert [leg.control.value for leg in legs] == pytest.approx(starts, abs=1e-12)
    for leg, a, b in zip(legs, starts, ends, strict=True):
        assert leg.control.mode == "voltage" and leg.control.rate == pytest.approx(math.copysign(RATE, b - a))
        assert leg.events[0].quantity == "time" and leg.events[0].scope == "segment"


def test_sweep_until_ends_the_step():
    """``until`` and ``duration`` of a sweep end the whole step, checked in every leg."""
    legs = sweep_step(until={"time": 100.0}, duration=300.0).segments_at(3.5)
    for leg in legs:
        assert [(e.quantity, e.target, e.scope) for e in leg.events[1:]] == [("time", 100.0, "step"), ("time", 300.0, "step")]


@pytest.mark.parametrize(("keys", "key", "words"), [
    ({"limits": [3.0, 3.0]}, "protocol.0.limits", "apart"),
    ({"limits": [3.0, 3.0004]}, "protocol.0.limits", "apart"),
    ({"limits": [3.0, 11.0]}, "protocol.0.limits.1", "less than or equal to 10"),
    ({"limits": [-1.0, 3.0]}, "protocol.0.limits.0", "greater than or equal to 0"),
    ({"limits": [3.0]}, "protocol.0.limits.1", "missing"),
    ({"limits": [3.0, "nan"]}, "protocol.0.limits.1", ""),
    ({"limits": ["3 A", 4.0]}, "protocol.0.limits.0", "V"),
    ({"rate": 0.0}, "protocol.0.rate", "greater than 0"),
    ({"rate": "-1 mV/s"}, "protocol.0.rate", "greater than 0"),
    ({"rate": "1 mV"}, "protocol.0.rate", "V/s"),
    ({"rate": "1000 V/s"}, "protocol.0.rate", "less than or equal to 100"),
    ({"rate": "1e-12 V/s"}, "protocol.0", "raise 'rate'"),
    ({"cycles": 0}, "protocol.0.cycles", "greater than or equal to 1"),
    ({"cycles": 1.5}, "protocol.0.cycles", ""),
    ({"cycles": 10**6}, "protocol.0.cycles", "less than or equal to 10000"),
    ({"start": "sideways"}, "protocol.0.start", "down"),
    ({"rate": None}, "protocol.0", "'rate'"),
    ({"limits": None}, "protocol.0", "'limits'"),
    ({"c_rate": 1.0}, "protocol.0", "c_rate"),
    ({"voltage": 3.4}, "protocol.0", "voltage"),
])
def test_bad_sweep_is_one_case_error(keys, key, words):
    """A bad voltage_sweep is one CaseError naming its key and what was expected."""
    data = sweep_case()
    data["protocol"][0] = {k: v for k, v in (data["protocol"][0] | keys).items() if v is not None}
    with pytest.raises(CaseError) as info:
        case_from_dict(data, file=Path("cv.yaml"))
    assert info.value.key == key
    assert words in str(info.value) and "cv.yaml" in str(info.value)


def test_sweep_keys_only_on_a_sweep():
    """rate, limits, cycles and start on another step kind are refused, by name."""
    data = sweep_case({"step": "rest", "duration": 10.0})
    with pytest.raises(CaseError, match="rate, limits, start"):
        case_from_dict(data)


def test_progress_of_a_sweep_moves_with_its_time():
    """The progress bar measures a sweep by its length, 2 × cycles × |limits| / rate."""
    from ecmx.solver.studies.progress import ProtocolProgress

    case = case_from_dict(sweep_case({"cycles": 2}))
    length = 2 * 2 * 2 * HALF_WINDOW / RATE
    measure = ProtocolProgress(case.protocol)
    assert measure.fraction(1, 0.0, 1.0) == 0.0
    assert measure.fraction(1, 0.25 * length, 0.5) == pytest.approx(0.25)
    assert measure.fraction(1, length, 1.0) == pytest.approx(1.0)


# -- the time loop on a fast fake cell --------------------------------------------------------------
class Records:
    """An observer that keeps every accepted record."""

    def __init__(self):
        self.records = []

    def segment_started(self, segment, index, count) -> None:
        pass

    def step_accepted(self, record) -> None:
        self.records.append(record)

    def snapshot(self, depth_of_discharge, record) -> None:
        pass


def run_fake(step: dict, rest_s: float = 600.0):
    """A rest, then ``step`` on the two-compartment fake cell; (runner, records of the sweep)."""
    from support.cases import ELECTROLYTE, MATERIAL
    from support.fakes import FakeCellProblem

    from ecmx.solver.timeloop.runner import ProtocolRunner
    from ecmx.solver.timeloop.stepping import StepController

    case = case_from_dict({"name": "fake", "material": MATERIAL, "electrolyte": ELECTROLYTE,
                           "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
                           "initial": {"state_of_charge": 0.5}, "mechanics": {"enabled": False},
                           "protocol": [{"step": "rest", "duration": rest_s}, {"step": "voltage_sweep"} | step]})
    problem = FakeCellProblem(case)
    observer = Records()
    runner = ProtocolRunner(problem, build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2),
                            StepController.from_settings(case.solver.time_step), capacity_C=problem.capacity_C,
                            stoichiometry_window=case.material.stoichiometry_window, observer=observer)
    runner.run()
    return runner, [r for r in observer.records if r.step == 2]


def test_cycles_on_a_fake_cell_follow_the_triangle():
    """Two cycles from the rest voltage V₀ = 3.336 V (default direction: towards the farther limit, 3.6 V):
    six legs, each ending on its vertex at the exact time, and the set voltage on the triangle at
    every accepted step."""
    runner, records = run_fake({"rate": "1 mV/s", "limits": ["3.3 V", "3.6 V"], "cycles": 2})
    legs = [s for s in runner.segment_log if s["step"] == 2]
    v0 = legs[0]["value"]
    assert 3.3 < v0 < 3.6 and v0 - 3.3 < 3.6 - v0
    ends = [3.6, 3.3, v0] * 2
    starts = [v0, 3.6, 3.3] * 2
    assert [s["kind"] for s in legs] == ["sweep-up", "sweep-down", "sweep-up"] * 2
    assert [s["value"] for s in legs] == pytest.approx(starts, abs=1e-12)
    for leg, a, b in zip(legs, starts, ends, strict=True):
        assert leg["end_s"] - leg["start_s"] == pytest.approx(abs(b - a) / 1e-3, rel=1e-9)
        assert leg["ended_by"] == f"vertex {b:.6g} V"
    assert records[-1].time_s == pytest.approx(legs[-1]["end_s"], rel=1e-12)
    for r in records:
        leg = next(s for s in legs if s["start_s"] < r.time_s <= s["end_s"] * (1 + 1e-12))
        rate = 1e-3 if leg["kind"] == "sweep-up" else -1e-3
        assert r.quantities["voltage_V"] == pytest.approx(leg["value"] + rate * (r.time_s - leg["start_s"]), abs=1e-9)


def test_until_ends_the_sweep_on_a_fake_cell():
    """``until: {time}`` ends the whole sweep in its first leg; ``until: {state_of_charge}`` as soon
    as the state of charge falls to it (a hold's direction: decided by the side it starts on; the
    fake cell's slow kinetics let it fall from 0.5 to 0.455 on the way down to 3.3 V)."""
    runner, records = run_fake({"rate": "1 mV/s", "limits": ["3.3 V", "3.6 V"], "until": {"time": "100 s"}})
    assert records[-1].time_s == pytest.approx(600.0 + 100.0, rel=1e-9)
    assert runner.segment_log[-1]["ended_by"] == "time 100 s"
    runner, records = run_fake({"rate": "1 mV/s", "limits": ["3.3 V", "3.6 V"], "start": "down",
                                "until": {"state_of_charge": 0.47}})
    assert records[-1].state_of_charge == pytest.approx(0.47, abs=1e-6)
    assert runner.segment_log[-1]["ended_by"] == "SOC 0.47" and runner.segment_log[-1]["kind"] == "sweep-down"


def test_no_checkpoint_inside_a_sweep():
    """A checkpoint inside a sweep could not resume it (its legs are built from the start voltage):
    the checkpointer treats the sweep's legs as a GITT train."""
    from ecmx.solver.studies.resume import Checkpointer

    (leg, *_) = sweep_step().segments_at(3.5)
    checkpointer = Checkpointer.__new__(Checkpointer)
    checkpointer.runner, checkpointer.cut_start, checkpointer.offset = type("R", (), {"time": 0.0})(), None, 0
    checkpointer.segment_started(leg, 0, 1)
    assert checkpointer.in_train


@pytest.mark.slow
def test_nvp_example_two_cycles(tmp_path):
    """cases/cv-nvp.yaml (mechanics off; ~1300 steps, ~20 s): the NVP plateau at 3.40 V gives a
    cathodic and an anodic peak whose midpoint is the plateau (within 2 mV) and whose separation is
    the particle's diffusion and kinetics (tens of mV); each cathodic sweep inserts the window's
    capacity (0.5 %), every leg conserves Na (the trapezoidal integral of the recorded current within
    2e-4 of the capacity: that quadrature's own error over the recorded steps, 1.3e-4 at most over the
    1316 steps of BDF1-3, below 1e-4 over the 1796 shorter ones of BDF2), and the second cycle repeats
    the first."""
    from ecmx.solver.config.case import load_case

    root = Path(__file__).resolve().parents[2]
    case = load_case(root / "cases" / "cv-nvp.yaml", overrides=["mechanics.enabled=false"])
    result = run_case(case, tmp_path / "run", progress=False)
    data = np.genfromtxt(tmp_path / "run" / "timeseries.csv", delimiter=",", names=True)
    t, current, voltage, c_mean = data["time_s"], data["current_A"], data["voltage_V"], data["c_mean"]
    material = case.material
    volume = 4.0 / 3.0 * math.pi * case.geometry.particle.radius**3
    capacity = F * material.max_concentration * (material.stoichiometry_window[1] - material.stoichiometry_window[0]) * volume
    legs = [s for s in result.summary["protocol"] if s["step"] == 2]
    assert [s["kind"] for s in legs] == ["sweep-down", "sweep-up", "sweep-down"] * 2
    peaks = []
    for leg in legs:
        rows = (t >= leg["start_s"]) & (t <= leg["end_s"])
        passed = np.trapezoid(current[rows], t[rows])
        assert abs(passed + F * volume * (c_mean[rows][-1] - c_mean[rows][0])) < 2e-4 * capacity
        if leg["ended_by"] == "vertex 2.5 V":
            assert abs(-passed / capacity - 1.0) < 5e-3
        k = int(np.argmax(np.abs(current[rows])))
        peaks.append((voltage[rows][k], current[rows][k]))
    (v_c, i_c), (v_a, i_a) = peaks[0], peaks[1]
    assert v_c < 3.4 < v_a and 0.01 < v_a - v_c < 0.2
    assert abs(0.5 * (v_a + v_c) - float(material.ocv_at(0.5))) < 2e-3
    assert abs(i_a / -i_c - 1.0) < 0.01
    for first, second in zip(peaks[:3], peaks[3:], strict=True):
        assert abs(second[0] - first[0]) < 1e-4 and abs(second[1] / first[1] - 1.0) < 1e-3


def _has_double_layer() -> bool:
    from ecmx.solver.config.materials import Material

    return "double_layer_capacitance" in Material.model_fields


@pytest.mark.skipif(not _has_double_layer(), reason="needs the double layer (material key double_layer_capacitance)")
def test_double_layer_is_the_baseline(tmp_path):
    """With a double layer C_dl the current is the faradaic thin-layer current plus ν C_dl A_Γ, negative
    going down and positive going up: where the faradaic part is small (|V − U₀| > 0.2 V, 10 s from a
    vertex) the current is the capacitive baseline within 2 % (C_dl = 100 F/m², unphysically large so
    that the baseline is 20 times the faradaic current there; its R_ct C_dl = 0.3 ms)."""
    capacitance = 100.0  # F/m²
    data = sweep_case()
    data["material"]["double_layer_capacitance"] = capacitance
    data["solver"]["time_step"] = {"max": 1.0}  # samples of the baseline region (the error control alone takes few there)
    run_case(case_from_dict(data), tmp_path / "run", progress=False)
    ts = np.genfromtxt(tmp_path / "run" / "timeseries.csv", delimiter=",", names=True)
    t, current, v = ts["time_s"], ts["current_A"], ts["voltage_V"]
    vertex = 2.0 * HALF_WINDOW / RATE
    sign = np.where(t <= vertex, -1.0, 1.0)
    theta = equilibrium_stoichiometry(v)
    faradaic = sign * CHARGE * RATE / THERMAL * theta * (1.0 - theta)
    baseline = RATE * capacitance * 4.0 * math.pi * RADIUS**2
    far = (np.abs(v - U0) > 0.2) & (np.abs(t - vertex) > 10.0) & (t > 10.0) & (t < 2 * vertex - 10.0)
    assert far.sum() > 10
    assert np.max(np.abs(current[far] - faradaic[far] - sign[far] * baseline)) < 0.02 * baseline


def test_report_describes_the_sweep():
    """The report's protocol line names the sweep's rate, limits and cycles."""
    from ecmx.postprocess.report import protocol_text

    text = protocol_text(case_from_dict(sweep_case({"cycles": 2})))
    assert text == "voltage_sweep at 2 mV/s between 3.15 V and 3.65 V, 2 cycle(s)"

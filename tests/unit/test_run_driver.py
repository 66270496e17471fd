"""Time stepping, protocols and result files, driven on a fake (0D) cell problem.

The fake (tests/support/fakes.py) has the CellProblem interface, conserves Na exactly and can inject Newton
failures, so these tests check the run layer alone: cut-back and retry, the minimum-step stop,
landing on events and snapshot states, GITT, holds and rests, and the files a run writes.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import meshio
import numpy as np
import pytest
import pyvista as pv
from support.cases import ELECTROLYTE, MATERIAL
from support.fakes import F, FakeCellProblem, FakeMechanics

from ecmx.postprocess.run_files import PROBE_COLUMNS, TIMESERIES_COLUMNS
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.studies.run import run_problem
from ecmx.solver.timeloop.protocol import VOLTAGE_TOLERANCE, build_protocol
from ecmx.solver.timeloop.runner import ProtocolRunner
from ecmx.solver.timeloop.stepping import StepController


def make_case(protocol: list[dict], **extra) -> object:
    data = {"name": "fake", "material": MATERIAL, "electrolyte": ELECTROLYTE,
            "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
            "protocol": protocol, "mechanics": {"enabled": False}}
    data.update(extra)
    return case_from_dict(data)


class Log:
    """Observer that keeps every record and snapshot."""

    def __init__(self):
        self.records, self.snapshots, self.segments = [], [], []

    def segment_started(self, segment, position, count):
        self.segments.append(segment)

    def step_accepted(self, record):
        self.records.append(record)

    def snapshot(self, dod, record):
        self.snapshots.append((dod, record))


def run(case, problem=None, snapshots=(), **fake):
    problem = problem or FakeCellProblem(case, **fake)
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    log = Log()
    runner = ProtocolRunner(problem, steps, StepController.from_settings(case.solver.time_step),
                            capacity_C=problem.capacity_C, stoichiometry_window=case.material.stoichiometry_window,
                            snapshot_dods=snapshots, observer=log)
    runner.run()
    return runner, log, problem


# -- step controller -------------------------------------------------------------------------------

def test_controller_follows_the_error_estimate_and_stops_at_minimum():
    """dt·min(growth, max(0.2, 0.9 e^(-1/(k+1)))): growth capped at 2 (BDF2 stability) and at the
    maximum, rejection below the tried step, Newton failures cut by ``cut``, the minimum is a stop."""
    c = StepController(initial=1.0, maximum=4.0, minimum=0.25, growth=3.0, cut=0.5)
    c.accepted(1.0, 1e-6, 2)
    assert c.dt == 2.0  # tiny error: the BDF2 ratio limit, not growth = 3
    c.accepted(2.0, 1e-6, 2)
    c.accepted(4.0, 1e-6, 2)
    assert c.dt == 4.0  # capped at the maximum
    c.accepted(2.0, 1.0, 2)
    assert c.dt == pytest.approx(2.0 * 0.9)  # at the tolerance: the safety factor
    c.accepted(2.0, 0.5, 1)
    assert c.dt == pytest.approx(2.0 * 0.9 * 0.5 ** -0.5)  # order 1: e^(-1/2)
    assert c.rejected(2.0, 8.0, 2) == pytest.approx(2.0 * 0.9 / 2.0)
    assert c.rejected(2.0, 1e9, 2) == pytest.approx(0.4)  # at most a cut to 0.2
    c.restart()
    assert c.dt == 1.0
    assert c.failed(2.0, "x") == 1.0
    assert c.failed(0.5, "x") == 0.25
    with pytest.raises(SolveError, match="minimum time step"):
        c.failed(0.25, "diverged")
    with pytest.raises(SolveError, match="local time-integration error"):
        c.rejected(0.25, 2.0, 2)


def test_controller_milestone_clips_and_the_next_step_keeps_the_bdf2_ratio():
    c = StepController(initial=10.0, maximum=100.0, minimum=1e-3, growth=1.5, cut=0.5)
    assert c.propose(3.0) == 3.0
    assert c.propose(11.0) == 11.0  # within 20 %: take the milestone whole
    assert c.propose(50.0) == 10.0
    c.accepted(3.0, 1e-9, 2)  # a short landing step: the next one at most `growth` times it
    assert c.dt == 4.5


# -- protocol events -------------------------------------------------------------------------------

def test_discharge_lands_on_voltage_cutoff_and_snapshots():
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"voltage": "3.2 V"}}])
    runner, log, problem = run(case, snapshots=[0.1, 0.5, 0.9])
    last = log.records[-1]
    assert abs(last.quantities["voltage_V"] - 3.2) <= VOLTAGE_TOLERANCE
    assert last.quantities["voltage_V"] <= 3.2 + VOLTAGE_TOLERANCE
    assert [e.quantity for e in last.events] == ["voltage"]
    # every earlier state is above the cut-off
    assert all(r.quantities["voltage_V"] > 3.2 for r in log.records[1:-1])
    assert [d for d, _ in log.snapshots] == [0.1, 0.5, 0.9]
    for dod, record in log.snapshots:
        assert abs(record.depth_of_discharge - dod) < 1e-9
        # constant current: DOD is linear in time, 1C -> DOD = t/3600
        assert record.time_s == pytest.approx(dod * 3600.0, rel=1e-9)
    # Na balance from the quantities is exact for the fake
    assert max(abs(r.na_balance_error) for r in log.records) < 1e-9
    assert runner.tries - runner.steps_accepted < 15  # landing took few retries


def test_depth_of_discharge_event_is_exact_and_time_event():
    case = make_case([{"step": "discharge", "c_rate": 2, "until": {"depth_of_discharge": 0.37}},
                      {"step": "rest", "duration": "123.4 s"}])
    runner, log, _ = run(case)
    ends = {entry["step"]: entry for entry in runner.segment_log}
    assert ends[1]["ended_by"] == "DOD 0.37"
    assert ends[1]["end_s"] == pytest.approx(0.37 * 1800.0, rel=1e-10)
    assert ends[2]["end_s"] - ends[2]["start_s"] == pytest.approx(123.4, rel=1e-12)
    end_discharge = [r for r in log.records if r.step == 1][-1]
    assert end_discharge.depth_of_discharge == pytest.approx(0.37, abs=1e-9)


def test_hold_ends_at_c_rate_within_tolerance():
    case = make_case([{"step": "charge", "c_rate": 1, "until": {"voltage": "3.5 V"}},
                      {"step": "hold", "voltage": "3.5 V", "until": {"c_rate": 0.05}}],
                     initial={"state_of_charge": 0.2})
    runner, log, problem = run(case)
    hold = [r for r in log.records if r.step == 2]
    c_rate = [abs(r.quantities["current_A"]) / (problem.capacity_C / 3600) for r in hold]
    assert c_rate[-1] == pytest.approx(0.05, rel=1e-3)
    assert all(c > 0.05 for c in c_rate[:-1])
    assert all(r.quantities["voltage_V"] == 3.5 for r in hold)
    assert np.all(np.diff(c_rate) < 0)  # the current decays under the hold


def test_rest_until_voltage_relaxation():
    """After a discharge the surface refills from the core: the rest voltage rises to the target."""
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}},
                      {"step": "rest", "duration": "1 h", "until": {"voltage": "3.33 V"}}])
    runner, log, _ = run(case, exchange_rate=2e-3)
    rest = [r for r in log.records if r.step == 2]
    assert rest[0].quantities["voltage_V"] < 3.33
    assert rest[-1].quantities["voltage_V"] == pytest.approx(3.33, abs=VOLTAGE_TOLERANCE)
    assert runner.segment_log[-1]["ended_by"] == "voltage 3.33 V"


def test_gitt_pulse_train():
    case = make_case([{"step": "gitt", "c_rate": 0.5, "duration": "60 s", "rest_duration": "5 min", "repeat": 3}])
    runner, log, problem = run(case)
    kinds = [(e["kind"], round(e["end_s"] - e["start_s"], 9)) for e in runner.segment_log]
    assert kinds == [("gitt-pulse", 60.0), ("gitt-rest", 300.0)] * 3
    assert runner.time == pytest.approx(3 * 360.0, rel=1e-12)
    assert log.records[-1].depth_of_discharge == pytest.approx(3 * 60 * 0.5 / 3600, rel=1e-9)
    # pulses discharge, rests carry no current
    assert all(r.quantities["current_A"] < 0 for r in log.records if r.segment and r.segment.kind == "gitt-pulse")
    assert all(r.quantities["current_A"] == 0 for r in log.records if r.segment and r.segment.kind == "gitt-rest")


def test_gitt_until_ends_the_train():
    case = make_case([{"step": "gitt", "c_rate": 1, "duration": "100 s", "rest_duration": "100 s",
                       "until": {"depth_of_discharge": 0.1}}])
    runner, log, _ = run(case)
    # 0.1 DOD at 1C is 360 s of current: three full pulses and 60 s of the fourth
    assert [e["kind"] for e in runner.segment_log] == ["gitt-pulse", "gitt-rest"] * 3 + ["gitt-pulse"]
    assert runner.segment_log[-1]["ended_by"] == "DOD 0.1"
    assert runner.time == pytest.approx(660.0, rel=1e-12)


# -- failures --------------------------------------------------------------------------------------

def test_cut_back_and_retry_when_long_steps_fail():
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}}],
                     solver={"time_step": {"initial": 1, "max": 100}})
    runner, log, problem = run(case, fail_above_dt=7.0)
    assert max(r.dt_s for r in log.records) <= 7.0
    assert runner.tries > runner.steps_accepted  # some tries failed and were retried
    assert log.records[-1].depth_of_discharge == pytest.approx(0.5, abs=1e-9)


def test_hard_window_cuts_then_grows_again():
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}}],
                     solver={"time_step": {"initial": 1, "max": 30}})
    runner, log, _ = run(case, fail_window=(500.0, 520.0, 0.5))
    inside = [r.dt_s for r in log.records if 500.0 < r.time_s <= 520.0]
    assert inside and max(inside) <= 0.5
    assert max(r.dt_s for r in log.records if r.time_s > 1000.0) == pytest.approx(30.0)


def test_stop_at_minimum_step():
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}}],
                     solver={"time_step": {"initial": 1, "max": 30, "min": 0.01}})
    with pytest.raises(SolveError, match="minimum time step"):
        run(case, fail_after=200.0)


# -- result files ----------------------------------------------------------------------------------

def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)


def probe_case(**extra):
    return make_case([{"step": "discharge", "c_rate": 1, "until": {"voltage": "3.2 V"}},
                      {"step": "rest", "duration": "5 min"}],
                     output={"snapshots": {"depth_of_discharge": [0.1, 0.5]},
                             "probes": [{"name": "centre", "point": [0, 0, 0]},
                                        {"name": "outside", "point": ["2 um", 0, 0]}], **extra.pop("output", {})},
                     **extra)


def test_run_writes_all_files(tmp_path):
    case = probe_case(output={"fields_every": 5})
    out = tmp_path / "res"
    result = run_problem(FakeCellProblem(case), case, out)
    assert result.directory == out.absolute()
    assert not (tmp_path / "res.partial").exists()
    names = {p.name for p in out.iterdir()}
    assert {"case.yaml", "timeseries.csv", "probes.csv", "summary.json", "fields", "snapshots"} <= names
    assert (out / "fields" / "particle.pvd").is_file() and (out / "fields" / "electrolyte.pvd").is_file()

    header, rows = read_csv(out / "timeseries.csv")
    assert tuple(header) == TIMESERIES_COLUMNS
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert len(rows) == summary["steps"]["accepted"] + 1  # plus the initial state
    assert rows[0]["time_s"] == "0.0" and rows[0]["step"] == "0"
    assert {r["step"] for r in rows[1:]} == {"1", "2"}
    assert all(r["von_mises_max"] == "" and r["hydrostatic_min"] == "" for r in rows)  # mechanics off: empty
    assert max(abs(float(r["na_balance_error"])) for r in rows) < 1e-9
    times = [float(r["time_s"]) for r in rows]
    assert np.allclose(np.diff(times), [float(r["dt_s"]) for r in rows[1:]], rtol=1e-9, atol=1e-9)

    header, prows = read_csv(out / "probes.csv")
    assert tuple(header) == PROBE_COLUMNS
    assert len(prows) == 2 * len(rows)
    centre = [r for r in prows if r["probe"] == "centre"]
    outside = [r for r in prows if r["probe"] == "outside"]
    assert all(r["c"] != "" and r["electrolyte_c"] == "" for r in centre)
    assert all(r["c"] == "" and float(r["electrolyte_c"]) == 1000.0 for r in outside)

    assert summary["versions"]["ecmx"] and summary["versions"]["dolfinx"].startswith("0.11")
    assert [s["name"] for s in summary["snapshots"]] == ["dod_0.10", "dod_0.50"]
    assert summary["snapshots"][1]["particle"] == "snapshots/dod_0.50/particle.pvd"
    assert summary["files"]["fields"] == {"particle": "fields/particle.pvd", "electrolyte": "fields/electrolyte.pvd"}
    assert summary["dofs"]["particle_concentration"] == 9
    assert summary["results"]["discharge_capacity_mAh_per_g"] > 0
    assert (out / "case.yaml").read_text().startswith("# ecmx resolved case")


def read_pvd(path: Path) -> list[tuple[float, list[Path]]]:
    """(time, .vtu pieces) of each step of a .pvd time series written by DOLFINx."""
    steps = []
    for ds in ET.parse(path).getroot().iter("DataSet"):
        file = path.parent / ds.get("file")
        if file.suffix == ".pvtu":
            pieces = [file.parent / p.get("Source") for p in ET.parse(file).getroot().iter("Piece")]
        else:
            pieces = [file]
        steps.append((float(ds.get("timestep")), pieces))
    return steps


def test_field_files_read_back_with_meshio(tmp_path):
    case = probe_case(output={"fields_every": 10})
    out = tmp_path / "res"
    run_problem(FakeCellProblem(case), case, out)
    _, rows = read_csv(out / "timeseries.csv")
    written = list(range(0, len(rows), 10))
    if written[-1] != len(rows) - 1:
        written.append(len(rows) - 1)  # the final state is always written
    steps = read_pvd(out / "fields" / "particle.pvd")
    assert [t for t, _ in steps] == pytest.approx([float(rows[k]["time_s"]) for k in written])
    for (_, pieces), k in zip(steps, written, strict=True):
        mesh = meshio.read(pieces[0])
        assert mesh.points[:, 0].max() == pytest.approx(1.0)  # micrometres
        c = mesh.point_data["particle_concentration"]
        # the fake's profile: surface value at r = R equals c_surface_mean of that row
        assert c[np.argmax(mesh.points[:, 0])] == pytest.approx(float(rows[k]["c_surface_mean"]), rel=1e-12)
    (_, pieces), = read_pvd(out / "snapshots" / "dod_0.50" / "particle.pvd")[:1]
    snap = meshio.read(pieces[0])
    assert np.all(snap.point_data["particle_concentration"] > 0)
    assert read_pvd(out / "snapshots" / "dod_0.50" / "particle.pvd")[0][0] == pytest.approx(1800.0)
    electrolyte = meshio.read(read_pvd(out / "fields" / "electrolyte.pvd")[0][1][0])
    assert {"electrolyte_concentration", "electrolyte_potential"} <= set(electrolyte.point_data)
    grid = pv.get_reader(str(out / "fields" / "particle.pvd"))
    assert grid.time_values == pytest.approx([t for t, _ in steps])


def test_existing_directory_is_not_overwritten(tmp_path):
    """An existing directory needs overwrite, and overwrite only replaces a directory ecmx wrote."""
    case = probe_case()
    out = tmp_path / "res"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(CaseError, match="already exists"):
        run_problem(FakeCellProblem(case), case, out)
    with pytest.raises(CaseError, match="not an ecmx results directory"):
        run_problem(FakeCellProblem(case), case, out, overwrite=True)
    assert (out / "keep.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["res"]  # no .partial, no leftovers
    mine = tmp_path / "mine"
    first = run_problem(FakeCellProblem(case), case, mine)
    (mine / "extra.txt").write_text("old run")
    second = run_problem(FakeCellProblem(case), case, mine, overwrite=True)
    assert second.directory == first.directory
    assert not (mine / "extra.txt").exists() and (mine / "summary.json").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mine", "res"]  # no *.old-PID or .partial left


def test_failed_run_keeps_complete_files(tmp_path):
    case = probe_case(solver={"time_step": {"initial": 1, "max": 30, "min": 0.01}})
    out = tmp_path / "res"
    with pytest.raises(SolveError, match="minimum time step") as info:
        run_problem(FakeCellProblem(case, fail_after=1000.0), case, out)
    assert str(out.absolute()) in str(info.value)
    assert not (tmp_path / "res.partial").exists()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "minimum time step" in summary["reason"]
    header, rows = read_csv(out / "timeseries.csv")
    assert tuple(header) == TIMESERIES_COLUMNS
    assert all(len(r) == len(TIMESERIES_COLUMNS) and None not in r.values() for r in rows)
    assert float(rows[-1]["time_s"]) <= 1000.0 and float(rows[-1]["time_s"]) > 900.0
    assert summary["results"]["final_time_s"] == pytest.approx(float(rows[-1]["time_s"]))
    assert (out / "fields" / "particle.pvd").exists()
    assert [s["name"] for s in summary["snapshots"]] == ["dod_0.10"] and summary["missed_snapshots"] == ["dod_0.50"]


def test_rows_are_flushed_and_results_appear_only_at_the_end(tmp_path):
    """While the run goes, <out> does not exist and <out>.partial holds every accepted row so far."""
    case = probe_case()
    out = tmp_path / "res"
    seen = []

    class Watching(FakeCellProblem):
        def accept(self):
            super().accept()
            _, rows = read_csv(tmp_path / "res.partial" / "timeseries.csv")
            seen.append(len(rows))
            assert not out.exists()

    problem = Watching(case)
    run_problem(problem, case, out)
    # at each accept, the rows of all earlier states (initial + accepted steps) are on disk
    assert seen == list(range(1, len(seen) + 1))
    assert out.is_dir()


def test_mechanics_fills_stress_columns_and_field_files(tmp_path):
    case = probe_case()
    problem = FakeCellProblem(case)
    mechanics = FakeMechanics(problem)
    out = tmp_path / "res"
    run_problem(problem, case, out, mechanics=mechanics)
    _, rows = read_csv(out / "timeseries.csv")
    assert mechanics.solves == len(rows)  # one stationary solve per recorded state
    for r in rows:
        swing = float(r["c_max"]) - float(r["c_min"])
        assert float(r["von_mises_max"]) == pytest.approx(1e3 * swing)
        assert float(r["hydrostatic_min"]) == pytest.approx(-1e3 * swing / 3)
    _, probes = read_csv(out / "probes.csv")
    assert all(r["von_mises"] != "" and r["tangential_stress"] != "" for r in probes)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["results"]["peak_von_mises_Pa"] == pytest.approx(max(float(r["von_mises_max"]) for r in rows))
    assert summary["results"]["min_hydrostatic_Pa"] == pytest.approx(min(float(r["hydrostatic_min"]) for r in rows))
    assert summary["snapshots"][0]["von_mises_max"] > 0
    steps = read_pvd(out / "fields" / "particle.pvd")
    grid = meshio.read(steps[-1][1][0])
    assert grid.cell_data["von_mises"][0] == pytest.approx(np.full(8, float(rows[-1]["von_mises_max"])))
    assert grid.point_data["displacement"].shape == (9, 3)  # P2 vector -> vertex values, padded to 3D
    assert grid.point_data["displacement"][:, 0] == pytest.approx(1e-9 * grid.points[:, 0])


def test_failed_mechanics_solve_stops_the_run_with_files(tmp_path):
    case = probe_case()
    problem = FakeCellProblem(case)
    out = tmp_path / "res"
    with pytest.raises(SolveError, match="mechanics solve failed"):
        run_problem(problem, case, out, mechanics=FakeMechanics(problem, fail_at_solve=20))
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "KSP" in summary["reason"]
    _, rows = read_csv(out / "timeseries.csv")
    assert len(rows) == 19


def test_step_currents_and_signs():
    case = make_case([{"step": "discharge", "c_rate": 2, "until": {"voltage": "3 V"}},
                      {"step": "charge", "current_density": "0.5 A/m^2", "until": {"voltage": "4 V"}},
                      {"step": "gitt", "current": "1e-12 A", "duration": 10, "rest_duration": 20,
                       "direction": "charge", "until": {"state_of_charge": 0.9}}])
    capacity, area = 3600.0e-9, 2.0e-11
    steps = build_protocol(case.protocol, capacity, area)
    assert steps[0].segments[0].control.value == pytest.approx(-2e-9)
    assert steps[1].segments[0].control.value == pytest.approx(1e-11)
    gitt = steps[2]
    assert gitt.repeat is None  # runs until its until-event
    assert [s.kind for s in gitt.segments] == ["gitt-pulse", "gitt-rest"]
    assert gitt.segments[0].control.value == pytest.approx(1e-12) and gitt.segments[1].control.value == 0.0
    soc = [e for e in gitt.segments[0].events if e.quantity == "state_of_charge"]
    assert soc[0].direction == +1 and soc[0].scope == "step"


def test_cutoff_already_passed_ends_the_step_at_once():
    """Discharging 'until 3.5 V' from a rest voltage below 3.5 V: one minimal step, then the next step."""
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"voltage": "3.5 V"}},
                      {"step": "rest", "duration": "1 min"}],
                     solver={"time_step": {"initial": "1 s", "min": "1e-4 s"}})
    runner, log, _ = run(case)
    first = [r for r in log.records if r.step == 1]
    assert len(first) == 1 and first[0].dt_s <= 2e-4
    assert runner.segment_log[0]["ended_by"] == "voltage 3.5 V"
    assert runner.segment_log[1]["end_s"] - runner.segment_log[1]["start_s"] == pytest.approx(60.0)
    assert runner.tries < 30


def test_milestone_round_off_does_not_change_the_steps():
    """A milestone a few ulps beyond the maximum step (as computed on another MPI partition) is taken
    in one step, exactly like one a few ulps short of it."""
    for remaining in (60.0 * (1 - 1e-14), 60.0, 60.0 * (1 + 1e-14)):
        controller = StepController(initial=60.0, maximum=60.0, minimum=1e-6)
        assert controller.propose(remaining) == remaining
    controller = StepController(initial=60.0, maximum=60.0, minimum=1e-6)
    assert controller.propose(66.0) == 33.0  # genuinely longer: two halves, no sliver


@pytest.mark.parametrize("times", [{"every": "50 s"}, ["5 s", "17.5 s", "600 s", "1 min"]])
def test_output_times_rows_are_interpolated_between_steps(tmp_path, times):
    """output.times: timeseries_times.csv has one row per requested time inside the run, with the
    timeseries.csv columns; c_mean, linear in time under a constant current (Na conservation), is
    reproduced by the dense output to round-off, and is constant through the rest."""
    case = make_case([{"step": "discharge", "c_rate": 1, "duration": "10 min"}, {"step": "rest", "duration": "5 min"}],
                     output={"fields_every": 1000, "snapshots": {"depth_of_discharge": []}, "times": times})
    out = tmp_path / "res"
    problem = FakeCellProblem(case)
    run_problem(problem, case, out)
    header, rows = read_csv(out / "timeseries_times.csv")
    _, steps = read_csv(out / "timeseries.csv")
    assert tuple(header) == TIMESERIES_COLUMNS
    expected = [50.0 * k for k in range(19)] if isinstance(times, dict) else [5.0, 17.5, 60.0, 600.0]
    assert [float(r["time_s"]) for r in rows] == pytest.approx(expected)
    assert len(steps) > len(rows) or isinstance(times, list)
    c0 = float(steps[0]["c_mean"])
    rate = problem.capacity_C / 3600.0 / (F * problem.volume)  # mol/m³/s at 1C
    for r in rows:
        t = float(r["time_s"])
        assert float(r["c_mean"]) == pytest.approx(c0 + rate * min(t, 600.0), rel=1e-12, abs=1e-9 * c0)
        assert r["na_balance_error"] == ""
    assert json.loads((out / "summary.json").read_text())["files"]["timeseries_times"] == "timeseries_times.csv"

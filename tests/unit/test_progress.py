"""Progress: by simulated time or charge (not per protocol step), with an ETA; a bar per compared
case read from its timeseries.csv; a text bar in Jupyter."""

from __future__ import annotations

import io
import sys
import time
import types
from pathlib import Path

import pytest
from support.cases import ELECTROLYTE, MATERIAL
from support.fakes import FakeCellProblem

from ecmx.solver.config.case import case_from_dict
from ecmx.solver.studies.progress import (
    CasesProgress,
    ProgressDisplay,
    ProtocolProgress,
    RunProgress,
    _NotebookBars,
    end_rows,
)
from ecmx.solver.timeloop.protocol import build_protocol
from ecmx.solver.timeloop.runner import ProtocolRunner
from ecmx.solver.timeloop.stepping import StepController


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def make_case(protocol: list[dict]):
    return case_from_dict({"name": "fake", "material": MATERIAL, "electrolyte": ELECTROLYTE, "protocol": protocol,
                           "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
                           "mechanics": {"enabled": False}})


class Recording(ProgressDisplay):
    """A display that keeps every position of its bar, with the state of charge it was shown at."""

    def __init__(self):
        super().__init__("run", 1.0, enabled=False)
        self.positions: list[tuple[float, float]] = []
        self.soc = 1.0

    def update(self, *, completed=None, title=None, state=None) -> None:
        if completed is not None:
            if state and "SOC=" in state:
                self.soc = float(state.split("SOC=")[1].split()[0])
            self.positions.append((completed, self.soc))


def _run_with_progress(case) -> list[tuple[float, float]]:
    problem = FakeCellProblem(case)
    problem.set_initial_state()
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    runner = ProtocolRunner(problem, steps, StepController.from_settings(case.solver.time_step),
                            capacity_C=problem.capacity_C, stoichiometry_window=case.material.stoichiometry_window)
    display = Recording()
    shown = RunProgress(runner, display, case.protocol)
    runner.observer = shown
    runner.run()
    shown.finished()
    return display.positions


def test_discharge_to_a_voltage_cutoff_moves_with_the_charge_passed():
    """The old bar sat at 0 % until the voltage knee (each step weighed by its voltage); now the
    bar follows the state of charge, and ends at 100 %."""
    positions = _run_with_progress(make_case([{"step": "discharge", "c_rate": 1, "until": {"voltage": "3.2 V"}}]))
    fractions = [f for f, _ in positions]
    assert fractions == sorted(fractions) and fractions[-1] == 1.0
    for fraction, soc in positions[1:-1]:
        assert fraction == pytest.approx(1.0 - soc, abs=0.02)
    half = next(f for f, soc in positions if soc <= 0.5)
    assert 0.45 < half < 0.6


def test_protocol_fraction_by_time_charge_and_gitt():
    case = make_case([{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}},
                      {"step": "rest", "duration": "10 min"},
                      {"step": "gitt", "c_rate": 1, "duration": "60 s", "rest_duration": "240 s", "repeat": 10}])
    measure = ProtocolProgress(case.protocol)
    assert measure.fraction(1, 0.0, 1.0) == 0.0
    assert measure.fraction(1, 900.0, 0.75) == pytest.approx(0.5 / 3)  # half way to SOC 0.5
    assert measure.fraction(1, 1800.0, 0.5) == pytest.approx(1 / 3)
    assert measure.fraction(2, 2100.0, 0.5) == pytest.approx(1.5 / 3)  # 5 of 10 min, from the step's start
    assert measure.fraction(2, 2400.0, 0.5) == pytest.approx(2 / 3)
    assert measure.fraction(3, 2400.0 + 1500.0, 0.45) == pytest.approx(2.5 / 3)  # 1500 s of 3000 s
    assert measure.fraction(3, 2400.0 + 100.0, 0.45) == pytest.approx(2.5 / 3), "the bar never moves back"


def test_terminal_bar_has_an_eta():
    stream = Terminal()
    with ProgressDisplay("run", 1.0, stream=stream) as display:
        display.update(completed=0.5, state="t=1 s")
    assert "ETA" in stream.getvalue() and "50%" in stream.getvalue()


def test_notebook_bar_updates_in_place(monkeypatch: pytest.MonkeyPatch):
    shown: list[str] = []

    class Handle:
        def update(self, data, raw=False):
            shown.append(data["text/plain"])

    class ZMQInteractiveShell:
        pass

    ipython = types.ModuleType("IPython")
    ipython.get_ipython = ZMQInteractiveShell
    display_module = types.ModuleType("IPython.display")
    display_module.display = lambda data, raw=False, display_id=False: Handle()
    monkeypatch.setitem(sys.modules, "IPython", ipython)
    monkeypatch.setitem(sys.modules, "IPython.display", display_module)
    display = ProgressDisplay("run", 1.0, stream=io.StringIO())
    assert display.renderer is _NotebookBars
    with display:
        display.update(completed=0.25, state="t=5 s")
    assert shown and "25%" in shown[-1] and "ETA" in shown[-1] and "t=5 s" in shown[-1]
    assert ProgressDisplay("run", 1.0, stream=io.StringIO(), enabled=False).renderer is None


def test_end_rows_skip_a_line_being_written(tmp_path: Path):
    path = tmp_path / "timeseries.csv"
    path.write_text("time_s,step,state_of_charge\n0.0,0,1.0\n10.0,1,0.9\n20.0,1,0.")
    assert end_rows(path) == [{"time_s": "0.0", "step": "0", "state_of_charge": "1.0"},
                              {"time_s": "10.0", "step": "1", "state_of_charge": "0.9"}]
    assert end_rows(tmp_path / "missing.csv") == []
    path.write_text("time_s,step,state_of_charge\n0.0,0")
    assert end_rows(path) == []


def test_compare_shows_a_bar_per_case_from_its_files(tmp_path: Path):
    cases = [types.SimpleNamespace(name=n, protocol=make_case(
        [{"step": "discharge", "c_rate": 1, "until": {"voltage": "3.2 V"}}]).protocol) for n in ("a", "b")]
    dirs = [tmp_path / "a", tmp_path / "b"]
    (tmp_path / "a.partial").mkdir()
    header = "time_s,step,voltage_V,state_of_charge\n"
    (tmp_path / "a.partial" / "timeseries.csv").write_text(header + "0.0,0,3.4,1.0\n900.0,1,3.35,0.75\n")
    with CasesProgress(cases, dirs, period=0.05, stream=Terminal()) as display:
        deadline = time.monotonic() + 10
        tasks = display._bars.progress.tasks
        while time.monotonic() < deadline and tasks[1].completed == 0:
            time.sleep(0.05)
        assert [t.description.strip() for t in tasks] == ["compare", "a", "b"]
        assert tasks[1].completed == pytest.approx(0.25) and tasks[2].completed == 0
        display.advance("b")
        assert tasks[2].completed == 1.0 and tasks[0].completed == 1

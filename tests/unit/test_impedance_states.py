"""`ecmx impedance` over several states of charge: option errors name the option; states computed in a
worker pool equal single-state runs to round-off; a failed state is reported and the others written."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from typer.testing import CliRunner

import ecmx.solver.studies.impedance_states as states_module
from ecmx.solver.cli import app
from ecmx.solver.config.case import load_case
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.studies.impedance import parse_frequencies, parse_states_of_charge, run_impedance, state_labels
from ecmx.solver.studies.impedance_states import BY_STATE_COLUMNS, compute_state, run_impedance_states

ENV = {"COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
FAILING = 0.3
"""The state of charge that :func:`failing_compute` makes fail."""


def failing_compute(task, comm=MPI.COMM_SELF):
    """compute_state, with the solve of state FAILING raising SolveError (picklable, for worker processes)."""
    if task.state_of_charge != FAILING:
        return compute_state(task, comm)

    def broken(*args, **kwargs):
        raise SolveError("injected failure of the linear solve")

    real, states_module.compute_spectrum = states_module.compute_spectrum, broken  # in this worker process only
    try:
        return compute_state(task, comm)
    finally:
        states_module.compute_spectrum = real


@pytest.mark.parametrize(("text", "expected"), [
    ("0.5", [0.5]),
    ("0.2, 0.5,0.8", [0.2, 0.5, 0.8]),
    ("0.1:0.9:5", [0.1, 0.3, 0.5, 0.7, 0.9]),
    ("0:1:3,0.25", [0.0, 0.5, 1.0, 0.25]),
])
def test_states_of_charge_parse(text, expected):
    assert parse_states_of_charge(text) == pytest.approx(expected, abs=1e-15)


@pytest.mark.parametrize(("text", "says"), [
    ("abc", "START:STOP:COUNT"),
    ("0.2,", "START:STOP:COUNT"),
    ("0.1:0.9", "START:STOP:COUNT"),
    ("0.1:0.9:1", "COUNT from 2 to 100"),
    ("0.1:0.9:2.5", "START:STOP:COUNT"),
    ("0.1:0.9:101", "COUNT from 2 to 100"),
    ("0.5,1.5", "from 0 to 1"),
    ("-0.1", "from 0 to 1"),
    ("nan", "from 0 to 1"),
    ("0.2,inf", "from 0 to 1"),
    ("0.5,0.2,0.5", "given twice"),
    (",".join(f"{i / 1000:.3f}" for i in range(1, 102)), "at most 100"),
    ("0.5" * 10_000, "at most 100"),
])
def test_bad_states_of_charge_name_the_option(text, says):
    with pytest.raises(CaseError) as info:
        parse_states_of_charge(text)
    assert info.value.key == "--state-of-charge"
    assert says in str(info.value)


def test_state_labels_are_distinct():
    assert state_labels([0.2, 0.5]) == ["soc-0.20", "soc-0.50"]
    assert state_labels([0.5, 0.501]) == ["soc-0.500", "soc-0.501"]


def test_bad_workers_refused_before_writing(case_dir):
    case = load_case(case_dir / "case.yaml")
    with pytest.raises(CaseError) as info:
        run_impedance_states(case, [0.3, 0.7], parse_frequencies("1:10", 2), out_dir=case_dir / "eis", workers=0)
    assert info.value.key == "--workers"
    assert not (case_dir / "eis").exists() and not (case_dir / "eis.partial").exists()


def test_cli_option_errors_exit_2_and_write_nothing(case_dir, monkeypatch):
    monkeypatch.chdir(case_dir)
    for args, key in ((["--state-of-charge", "0.2,1.2"], "--state-of-charge"), (["--workers", "0",
                      "--state-of-charge", "0.2,0.4"], "--workers")):
        result = CliRunner().invoke(app, ["impedance", "case.yaml", "--points", "2", "--out", "eis", *args], env=ENV)
        assert result.exit_code == 2, result.output
        assert key in result.output and "Traceback" not in result.output
        assert not (case_dir / "eis").exists() and not (case_dir / "eis.partial").exists()


def _table(path: Path) -> list[dict[str, float]]:
    with open(path, newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


def _z(rows: list[dict[str, float]]) -> np.ndarray:
    return np.array([complex(r["Z_real_Ohm"], r["Z_imag_Ohm"]) for r in rows])


def _names(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if not p.name.startswith("."))


@pytest.mark.slow  # spawns two workers that each import DOLFINx; ~35 s of CPU
def test_states_in_a_pool_equal_single_runs_and_a_failure_is_reported(case_dir, mesh_cache):
    """Two workers over three states, one of which fails: the two others equal single-state runs."""
    case = load_case(case_dir / "case.yaml")
    grid = parse_frequencies("1e-2:1e4", 3)
    result = run_impedance_states(case, [0.7, FAILING, 0.5], grid, out_dir=case_dir / "eis", workers=2,
                                  cache_dir=mesh_cache, compute=failing_compute)
    out = result.directory
    assert [o.ok for o in result.outcomes] == [True, False, True]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and summary["states_failed"] == 1
    assert [s["status"] for s in summary["states"]] == ["completed", "failed", "completed"]
    assert "injected failure" in summary["states"][1]["reason"]
    failed = json.loads((out / "soc-0.30" / "summary.json").read_text())
    assert failed["status"] == "failed" and not (out / "soc-0.30" / "impedance.csv").exists()
    combined = _table(out / "impedance_by_state.csv")
    assert list(combined[0]) == list(BY_STATE_COLUMNS)
    assert [r["state_of_charge"] for r in combined] == [0.7] * 3 + [0.5] * 3
    for name in ("nyquist.png", "bode.pdf", "soc-0.70/nyquist.png", "soc-0.50/case.yaml"):
        assert (out / name).stat().st_size > 0
    for soc, label in ((0.7, "soc-0.70"), (0.5, "soc-0.50")):
        single_dir, _ = run_impedance(case, soc, grid, out_dir=case_dir / f"single-{soc}", cache_dir=mesh_cache)
        single = _table(single_dir / "impedance.csv")
        assert _names(single_dir) == _names(out / label) and "impedance.csv" in _names(single_dir)
        for rows in (_table(out / label / "impedance.csv"), [r for r in combined if r["state_of_charge"] == soc]):
            assert np.all(np.abs(_z(rows) - _z(single)) <= 1e-12 * np.abs(_z(single)))
    assert not np.allclose(_z(combined[:3]), _z(combined[3:]), rtol=1e-3)  # the states differ


def test_cli_reports_a_failed_state_and_writes_the_others(case_dir, mesh_cache, monkeypatch):
    """In this process (--workers 1): exit 1, '1 of 2 states not ok', the other state written."""
    real = states_module.compute_spectrum

    def compute_spectrum(case, frequencies, comm, cache_dir=None):
        if case.initial.state_of_charge == FAILING:
            raise SolveError("injected failure of the linear solve")
        return real(case, frequencies, comm, mesh_cache)

    monkeypatch.setattr(states_module, "compute_spectrum", compute_spectrum)
    monkeypatch.chdir(case_dir)
    result = CliRunner().invoke(app, ["impedance", "case.yaml", "--state-of-charge", f"{FAILING},0.6", "--points", "2",
                                      "--frequencies", "1:100", "--workers", "1", "--out", "eis"], env=ENV)
    assert result.exit_code == 1, result.output
    assert "1 of 2 states not ok" in result.output
    assert len(_table(case_dir / "eis" / "soc-0.60" / "impedance.csv")) == 2
    assert json.loads((case_dir / "eis" / "soc-0.30" / "summary.json").read_text())["status"] == "failed"
    assert not (case_dir / "eis.partial").exists()


def test_docs_describe_several_states():
    docs = Path(__file__).resolve().parents[2] / "docs"
    outputs, cli = (docs / "outputs.md").read_text(encoding="utf-8"), (docs / "cli.md").read_text(encoding="utf-8")
    assert all(f"`{c}`" in outputs for c in ("impedance_by_state.csv", "state_of_charge", "soc-0.20/", "states_failed"))
    assert "`--workers N`" in cli and "START:STOP:COUNT" in cli and "states not ok" in cli

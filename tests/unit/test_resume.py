"""``ecmx run --resume``: a run interrupted mid-way continues from its last checkpoint; its files continue
the old ones (no repeated rows) and its results equal an uninterrupted run's.

On the fake (0D) cell problem (two protocol steps, snapshots, fields every 3 steps), and once on a
real sphere-1d discharge through ``run_case``.
"""

from __future__ import annotations

import csv
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from mpi4py import MPI
from support.cases import ELECTROLYTE, MATERIAL
from support.fakes import FakeCellProblem

from ecmx.solver.collective import DeferredInterrupt
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.errors import CaseError
from ecmx.solver.studies import resume
from ecmx.solver.studies.resume import CHECKPOINT, resume_point
from ecmx.solver.studies.run import ResumedDirectory, run_problem

NUMBERS = ("time_s", "voltage_V", "c_mean", "c_min", "c_max", "state_of_charge", "dt_s", "current_A")


def fake_case(**output):
    return case_from_dict({
        "name": "fake", "material": MATERIAL, "electrolyte": ELECTROLYTE,
        "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}}, "mechanics": {"enabled": False},
        "protocol": [{"step": "discharge", "c_rate": 1, "until": {"voltage": "3.2 V"}},
                     {"step": "rest", "duration": "5 min"}],
        "output": {"snapshots": {"depth_of_discharge": [0.1, 0.5]}, "fields_every": 3,
                   "probes": [{"name": "centre", "point": [0, 0, 0]}], **output}})


def interrupt_after(monkeypatch: pytest.MonkeyPatch, tries: int) -> None:
    """Ctrl-C (as the ranks agree on it) before the ``tries``-th try of a step."""
    calls = {"n": 0}

    def check(self) -> None:
        calls["n"] += 1
        if calls["n"] >= tries:
            raise KeyboardInterrupt

    monkeypatch.setattr(DeferredInterrupt, "check", check)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def pvd_entries(path: Path) -> list[tuple[float, str]]:
    return [(float(d.get("timestep")), d.get("file")) for d in ET.parse(path).getroot().iter("DataSet")]


def assert_same_run(resumed: Path, reference: Path, rtol: float) -> None:
    got, want = rows(resumed / "timeseries.csv"), rows(reference / "timeseries.csv")
    assert len(got) == len(want)
    for column in NUMBERS:
        a = np.array([float(r[column]) for r in got])
        b = np.array([float(r[column]) for r in want])
        assert np.allclose(a, b, rtol=rtol, atol=rtol * np.abs(b).max()), column
    assert [r["step"] for r in got] == [r["step"] for r in want]
    assert len(rows(resumed / "probes.csv")) == len(rows(reference / "probes.csv"))
    for group in ("particle", "electrolyte"):
        pvd = Path("fields") / f"{group}.pvd"
        if (reference / pvd).is_file():
            times_got, times_want = pvd_entries(resumed / pvd), pvd_entries(reference / pvd)
            assert [f for _, f in times_got] == [f for _, f in times_want]
            assert np.allclose([t for t, _ in times_got], [t for t, _ in times_want], rtol=rtol)
            assert sorted(p.name for p in (resumed / "fields").glob(f"{group}_*.vtu")) == [f for _, f in times_want]
    s_got, s_want = (json.loads((d / "summary.json").read_text()) for d in (resumed, reference))
    assert s_got["status"] == "completed"
    assert s_got["steps"]["accepted"] == s_want["steps"]["accepted"]
    assert [s["name"] for s in s_got["snapshots"]] == [s["name"] for s in s_want["snapshots"]]
    assert sorted(p.name for p in (resumed / "snapshots").iterdir()) == sorted(
        p.name for p in (reference / "snapshots").iterdir())
    assert [(e["step"], e["kind"]) for e in s_got["protocol"]] == [(e["step"], e["kind"]) for e in s_want["protocol"]]
    for key in ("discharge_capacity_mAh_per_g", "final_voltage_V", "final_time_s", "max_newton_iterations"):
        assert s_got["results"][key] == pytest.approx(s_want["results"][key], rel=rtol), key


def _resume_fake(case, out: Path):
    directory = ResumedDirectory(out, MPI.COMM_WORLD, case_file=case.source_path)
    return run_problem(FakeCellProblem(case), case, directory, resumed=resume_point(directory, case, MPI.COMM_WORLD))


@pytest.mark.parametrize(("tries", "interval"), [(7, 0.0), (25, 0.0), (40, 0.0), (40, resume.INTERVAL_S)])
def test_fake_run_resumes_to_the_uninterrupted_result(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      tries: int, interval: float) -> None:
    """From a checkpoint at every field output (interval 0), or at the first one and the snapshots."""
    monkeypatch.setattr(resume, "INTERVAL_S", interval)
    case = fake_case()
    reference = run_problem(FakeCellProblem(case), case, tmp_path / "ref").directory
    out = tmp_path / "res"
    with monkeypatch.context() as patch:
        interrupt_after(patch, tries)
        with pytest.raises(KeyboardInterrupt):
            run_problem(FakeCellProblem(case), case, out)
    partial = tmp_path / "res.partial"
    assert (partial / CHECKPOINT / "state.json").is_file()
    cut = json.loads((partial / CHECKPOINT / "state.json").read_text())["recorder"]["records"]
    assert len(rows(partial / "timeseries.csv")) >= cut
    result = _resume_fake(case, out)
    assert result.directory == out.absolute() and not partial.exists()
    assert_same_run(out, reference, rtol=1e-12)


def test_resume_refusals(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    case = fake_case()
    with pytest.raises(CaseError, match="nothing to resume"):
        _resume_fake(case, tmp_path / "none")
    with monkeypatch.context() as patch:
        interrupt_after(patch, 15)
        with pytest.raises(KeyboardInterrupt):
            run_problem(FakeCellProblem(case), case, tmp_path / "res")
    with pytest.raises(CaseError, match="the case changed since"):
        _resume_fake(fake_case(fields_every=2), tmp_path / "res")
    with monkeypatch.context() as patch:
        interrupt_after(patch, 1)
        with pytest.raises(KeyboardInterrupt):
            run_problem(FakeCellProblem(case), case, tmp_path / "early")
    with pytest.raises(CaseError, match="holds no checkpoint"):
        _resume_fake(case, tmp_path / "early")
    _resume_fake(case, tmp_path / "res")
    with pytest.raises(CaseError, match="only an interrupted run resumes"):
        _resume_fake(case, tmp_path / "res")


@pytest.mark.slow
def test_sphere_1d_run_resumes_to_the_uninterrupted_result(case_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                          mesh_cache: Path) -> None:
    from ecmx.solver.config.case import load_case
    from ecmx.solver.studies.run import run_case

    case = load_case(case_dir / "case.yaml", ["output.snapshots.depth_of_discharge=[0.3, 0.6]"])
    reference = run_case(case, out_dir=case_dir / "ref", progress=False, cache_dir=mesh_cache).directory
    accepted = json.loads((reference / "summary.json").read_text())["steps"]["accepted"]
    with monkeypatch.context() as patch:
        interrupt_after(patch, accepted // 2)
        with pytest.raises(KeyboardInterrupt):
            run_case(case, out_dir=case_dir / "res", progress=False, cache_dir=mesh_cache)
    state = json.loads((case_dir / "res.partial" / CHECKPOINT / "state.json").read_text())
    assert 0 < state["time_s"] < json.loads((reference / "summary.json").read_text())["results"]["final_time_s"]
    result = run_case(case, out_dir=case_dir / "res", progress=False, cache_dir=mesh_cache, resume=True)
    assert_same_run(result.directory, reference, rtol=1e-8)

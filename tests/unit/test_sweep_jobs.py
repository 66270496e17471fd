"""Sweeps as a job array: ``--point K`` in separate processes, then ``--collect`` (stand-in runner)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cases import write_yaml
from support.sweep_fakes import calls, fake_run

from ecmx.postprocess.sweep_summary import read_summary
from ecmx.solver.config.studies import load_sweep
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.outdir import DirectoryLock
from ecmx.solver.studies.sweep import run_sweep
from ecmx.solver.studies.sweep_jobs import POINT_LOCKS, collect_sweep, run_one_point

TESTS = Path(__file__).resolve().parents[1]
VALUES = [1e-15, 1e-14, 1e-17]  # the last one fails (sweep_fakes.FAIL_BELOW)
POINT_SCRIPT = """
import sys
from support.sweep_fakes import fake_run
from ecmx.solver.config.studies import load_sweep
from ecmx.solver.studies.sweep_jobs import run_one_point
row = run_one_point(load_sweep(sys.argv[1]), int(sys.argv[2]), runner=fake_run)
print(row["status"])
"""
VOLATILE = ("wall_time_s", "directory", "reason")


def _sweep(case_dir: Path, name: str) -> Path:
    spec = {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": VALUES},
            "output": {"directory": str(case_dir / f"out-{name}")}}
    return write_yaml(case_dir / f"{name}.yaml", spec)


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in VOLATILE} for row in rows]


def test_three_point_jobs_in_parallel_collect_the_local_summary(case_dir):
    path = _sweep(case_dir, "array")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    jobs = [subprocess.Popen([sys.executable, "-c", POINT_SCRIPT, str(path), str(k)], env=env, cwd=case_dir,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for k in range(3)]
    outputs = [job.communicate(timeout=120) for job in jobs]
    assert [out.strip() for out, _ in outputs] == ["ok", "ok", "failed"], [err for _, err in outputs]
    study = load_sweep(path)
    assert not (study.directory / "summary.csv").exists(), "a point job writes no summary"
    collected = collect_sweep(study, plots=True)
    assert len(calls(study.directory)) == 3
    assert [p.status for p in collected.points] == ["ok", "ok", "failed"]
    assert sorted(p.name for p in (study.directory / "figures").iterdir())
    local = run_sweep(load_sweep(_sweep(case_dir, "local")), workers=1, runner=fake_run, progress=False, plots=False)
    assert _comparable(read_summary(collected.summary_path)) == _comparable(read_summary(local.summary_path))


def test_point_job_skips_a_complete_point_and_collect_lists_missing_ones(case_dir):
    study = load_sweep(_sweep(case_dir, "partial"))
    assert run_one_point(study, 1, runner=fake_run)["status"] == "ok"
    again = run_one_point(study, 1, runner=fake_run)
    assert again["status"] == "ok" and "already complete" in again["reason"]
    assert len(calls(study.directory)) == 1
    rows = collect_sweep(study, plots=False).rows
    assert [r["status"] for r in rows] == ["pending", "ok", "pending"]
    assert "not run yet" in rows[0]["reason"]


def test_point_job_refusals(case_dir):
    study = load_sweep(_sweep(case_dir, "refused"))
    with pytest.raises(CaseError, match="expected 0 to 2"):
        run_one_point(study, 3, runner=fake_run)
    label = study.points[0].label
    DirectoryLock.create(study.directory, "sweep").release()  # the sweep directory, as a first job makes it
    with DirectoryLock.create(study.directory / POINT_LOCKS / label, "sweep point"):
        with pytest.raises(CaseError, match="in use by another ecmx sweep point"):
            run_one_point(study, 0, runner=fake_run)
        assert "running (another ecmx sweep point" in collect_sweep(study, plots=False).rows[0]["reason"]
    with DirectoryLock.acquire(study.directory, "sweep"), pytest.raises(CaseError, match="a whole sweep runs there"):
        run_one_point(study, 0, runner=fake_run)
    assert calls(study.directory) == []


@pytest.mark.slow
def test_job_array_of_real_sphere_1d_points_collects_the_local_summary(case_dir, mesh_cache, monkeypatch):
    """Through the CLI: two `ecmx sweep FILE --point K` processes at once, then `--collect`; the
    summary equals an in-process local sweep's (real sphere-1d runs)."""
    monkeypatch.setenv("ECMX_CACHE_DIR", str(mesh_cache))
    env = dict(os.environ, NO_COLOR="1")
    spec = {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": [1e-15, 1e-14]}}
    path = write_yaml(case_dir / "array.yaml", {**spec, "output": {"directory": str(case_dir / "out-array")}})
    ecmx = [sys.executable, "-m", "ecmx.solver.cli", "sweep", str(path)]
    jobs = [subprocess.Popen([*ecmx, "--point", str(k)], env=env, cwd=case_dir, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for k in range(2)]
    outputs = [job.communicate(timeout=600) for job in jobs]
    assert [job.returncode for job in jobs] == [0, 0], outputs
    assert all(": ok" in out for out, _ in outputs)
    collect = subprocess.run([*ecmx, "--collect"], env=env, cwd=case_dir, capture_output=True, text=True, timeout=300)
    assert collect.returncode == 0, collect.stderr
    local_path = write_yaml(case_dir / "local.yaml", {**spec, "output": {"directory": str(case_dir / "out-local")}})
    local = run_sweep(load_sweep(local_path), workers=1, progress=False, plots=False)
    collected = _comparable(read_summary(case_dir / "out-array" / "summary.csv"))
    expected = _comparable(read_summary(local.summary_path))
    assert [r["status"] for r in collected] == ["ok", "ok"] and len(expected) == 2
    for got, want in zip(collected, expected, strict=True):
        assert got.keys() == want.keys()
        for key, value in want.items():
            assert got[key] == (pytest.approx(value, rel=1e-9) if isinstance(value, float) else value), key


@pytest.mark.mpi
def test_point_job_under_mpiexec_runs_its_point_on_all_ranks(case_dir):
    from support.mpi import mpiexec

    path = _sweep(case_dir, "mpi")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    # the ranks' statuses gathered and printed once by rank 0 (two ranks printing can interleave their lines)
    script = POINT_SCRIPT.replace('print(row["status"])', 'from mpi4py import MPI\nstatuses = MPI.COMM_WORLD.gather(row["status"])\n'
                                  'if MPI.COMM_WORLD.rank == 0:\n    print(*statuses)')
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-c", script, str(path), "1"], env=env, cwd=case_dir,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["ok", "ok"]
    study = load_sweep(path)
    lines = (study.directory / "runner-calls.txt").read_text().split()
    assert lines[0] == study.points[1].label and lines[2] == "2", "one call, on a communicator of two ranks"
    assert [r["status"] for r in collect_sweep(study, plots=False).rows] == ["pending", "ok", "pending"]

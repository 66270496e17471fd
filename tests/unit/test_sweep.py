"""Sweep engine with stand-in runners: point directories, resume, failures, crashes, workers, MPI groups.

The solver-backed checks (σ*/15 and MPI against local mode with real runs) are in
test_sweep_solver.py.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
import support.sweep_fakes as sweep_fakes
import yaml
from support.cases import write_yaml
from support.mpi import mpiexec
from support.sweep_fakes import calls, crashing_run, fake_run

import ecmx.solver.studies.sweep as sweep_module
from ecmx.postprocess.reference import steady_surface_von_mises
from ecmx.postprocess.sweep_summary import read_summary, spread_key
from ecmx.solver.config.studies import load_sweep
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.sweep import COMPLETE_MARKER, FAILED_MARKER, run_sweep

VENV_BIN = Path(sys.executable).parent


def _sweep_file(case_dir: Path, values, name: str = "sweep.yaml", **extra) -> Path:
    spec = {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": values, **extra},
            "output": {"directory": str(case_dir / f"out-{Path(name).stem}")}}
    return write_yaml(case_dir / name, spec)


SEVEN = {"log_space": [1e-17, 1e-14], "num": 7, "unit": "m^2/s"}


def test_seven_points_directories_and_summary(case_dir):
    study = load_sweep(_sweep_file(case_dir, SEVEN))
    result = run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    rows = read_summary(result.summary_path)
    assert len(rows) == 7 and result.solved == 7
    ds = [r["material.diffusivity"] for r in rows]
    assert ds == pytest.approx([1e-17 * 10 ** (k / 2) for k in range(7)], rel=1e-9)  # SI, from the resolved case
    for point, row in zip(study.points, rows, strict=True):
        directory = study.directory / point.label
        assert row["label"] == point.label and Path(row["directory"]) == directory
        assert (directory / "case.yaml").is_file() and (directory / "summary.json").is_file()
        assert row["peak_von_mises_Pa"] == pytest.approx(row["steady_surface_von_mises_Pa"], rel=1e-12)
        assert row[spread_key(0.5)] == pytest.approx(0.5e-12 / row["material.diffusivity"], rel=1e-9)
    assert (study.directory / "sweep.yaml").is_file()


def test_rerun_does_no_solves_and_force_reruns(case_dir):
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14, 1e-13]))
    first = run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    assert len(calls(study.directory)) == 3 and first.solved == 3
    summary_before = first.summary_path.read_text()
    second = run_sweep(study, workers=2, runner=fake_run, progress=False, plots=False)
    assert len(calls(study.directory)) == 3, "a rerun of a finished sweep must not run any point"
    assert second.solved == 0 and second.summary_path.read_text() == summary_before
    forced = run_sweep(study, workers=1, force=True, runner=fake_run, progress=False, plots=False)
    assert forced.solved == 3 and len(calls(study.directory)) == 6


def test_interrupted_and_changed_points_run_again(case_dir):
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14, 1e-13]))
    run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    # An interrupted point has no marker; a changed base case invalidates every marker.
    (study.directory / study.points[1].label / COMPLETE_MARKER).unlink()
    again = run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    assert [p.ran for p in again.points] == [False, True, False]
    spec = _load(case_dir / "sweep.yaml")
    spec["sweep"]["set"] = ["protocol.0.c_rate=2"]
    write_yaml(case_dir / "sweep.yaml", spec)
    changed = run_sweep(load_sweep(case_dir / "sweep.yaml"), workers=1, runner=fake_run, progress=False, plots=False)
    assert changed.solved == 3


def test_failing_point_is_recorded_and_others_finish(case_dir):
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-17, 1e-14]))
    result = run_sweep(study, workers=2, runner=fake_run, progress=False, plots=False)
    rows = read_summary(result.summary_path)
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "time step fell below the minimum" in rows[1]["reason"]
    failed_dir = study.directory / study.points[1].label
    assert (failed_dir / FAILED_MARKER).is_file() and not (failed_dir / COMPLETE_MARKER).exists()
    # A rerun retries only the failed point.
    before = len(calls(study.directory))
    again = run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    assert calls(study.directory)[before:] == [study.points[1].label]
    assert [p.status for p in again.points] == ["ok", "failed", "ok"]


def test_crashed_worker_fails_only_its_point(case_dir):
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-17, 1e-14, 1e-13]))
    result = run_sweep(study, workers=2, runner=crashing_run, progress=False, plots=False)
    assert [p.status for p in result.points] == ["ok", "failed", "ok", "ok"]
    assert "worker process" in result.points[1].row["reason"]


class _PoolBrokenAfterFirstResult(cf.ThreadPoolExecutor):
    """A pool that breaks (as when a worker dies) between a result coming back and the next submit."""

    def __init__(self, workers: int):
        super().__init__(workers)
        self.submitted = 0

    def submit(self, fn, /, *args, **kwargs):
        self.submitted += 1
        if self.submitted > 2:
            raise cf.process.BrokenProcessPool("a child process terminated abruptly")
        return super().submit(fn, *args, **kwargs)


def test_pool_breaking_before_the_next_submit_reruns_the_rest(case_dir, monkeypatch):
    @contextlib.contextmanager
    def breaking_pool(workers):
        with _PoolBrokenAfterFirstResult(workers) as pool:
            yield pool

    monkeypatch.setattr(sweep_module, "process_pool", breaking_pool)
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14, 1e-13, 1e-12]))
    result = run_sweep(study, workers=2, runner=fake_run, progress=False, plots=False)
    assert [p.status for p in result.points] == ["ok"] * 4


def test_workers_run_in_separate_processes(case_dir):
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14, 1e-13, 1e-12]))
    run_sweep(study, workers=2, runner=sweep_fakes.busy_run, progress=False, plots=False)
    pids = {line.split()[1] for line in (study.directory / sweep_fakes.CALLS_FILE).read_text().splitlines()}
    assert len(pids) == 2 and str(os.getpid()) not in pids


def test_material_grid_replaces_the_material(case_dir):
    other = {**_load(case_dir / "mat.yaml"), "name": "othermat", "chemical_expansion": {"volume_change": 0.022, "over": [1 / 3, 1.0]}}
    write_yaml(case_dir / "other.yaml", other)
    spec = {"sweep": {"base": "case.yaml", "parameters": [
        {"parameter": "material", "values": ["mat.yaml", "other.yaml"]},
        {"parameter": "material.diffusivity", "values": [1e-15, 1e-14]}]},
        "output": {"directory": str(case_dir / "grid")}}
    study = load_sweep(write_yaml(case_dir / "grid.yaml", spec))
    rows = run_sweep(study, workers=1, runner=fake_run, progress=False).rows
    assert [(r["material"], r["material.diffusivity"]) for r in rows] == [
        ("testmat", 1e-15), ("testmat", 1e-14), ("othermat", 1e-15), ("othermat", 1e-14)]
    ratio = rows[0]["steady_surface_von_mises_Pa"] / rows[2]["steady_surface_von_mises_Pa"]
    assert ratio == pytest.approx(0.0826 / 0.022, rel=1e-12)
    # One figure per quantity holds both materials.
    from ecmx.postprocess.sweep_plots import _groups, _x_key

    summary = read_summary(study.directory / "summary.csv")
    assert _x_key(summary) == "diffusivity_m2_s" and list(_groups(summary, "diffusivity_m2_s")) == ["testmat", "othermat"]
    for name in ("peak_von_mises.png", "concentration_spread.png", "capacity.png"):
        assert (study.directory / "figures" / name).stat().st_size > 10_000


def test_axis_order_does_not_drop_the_diffusivity(case_dir):
    write_yaml(case_dir / "other.yaml", {**_load(case_dir / "mat.yaml"), "name": "othermat"})
    spec = {"sweep": {"base": "case.yaml", "parameters": [
        {"parameter": "material.diffusivity", "values": [1e-15, 1e-14]},
        {"parameter": "material", "values": ["mat.yaml", "other.yaml"]}]}}
    study = load_sweep(write_yaml(case_dir / "reversed.yaml", spec))
    assert [(p.case.material.name, p.case.material.diffusivity) for p in study.points] == [
        ("testmat", 1e-15), ("othermat", 1e-15), ("testmat", 1e-14), ("othermat", 1e-14)]


def _load(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def test_radius_sweep_reports_si_values_and_plots_against_radius(case_dir):
    spec = {"sweep": {"base": "case.yaml", "parameter": "geometry.particle.radius", "values": ["0.5 um", "1 um", "2 um"]},
            "output": {"directory": str(case_dir / "radius")}}
    study = load_sweep(write_yaml(case_dir / "radius.yaml", spec))
    rows = read_summary(run_sweep(study, workers=1, runner=fake_run, progress=False).summary_path)
    assert [r["geometry.particle.radius"] for r in rows] == pytest.approx([5e-7, 1e-6, 2e-6], rel=1e-12)
    # At a fixed C-rate N0 ∝ R, so σ*/15 ∝ R².
    assert rows[2]["steady_surface_von_mises_Pa"] / rows[0]["steady_surface_von_mises_Pa"] == pytest.approx(16.0, rel=1e-12)
    from ecmx.postprocess.sweep_plots import _x_key

    assert _x_key(rows) == "geometry.particle.radius"


def test_steady_surface_von_mises_formula(case_dir):
    case = load_sweep(_sweep_file(case_dir, [1e-15])).points[0].case
    m, radius = case.material, 1e-6
    omega = 0.0826 / ((1 - 1 / 3) * 20747)
    flux = (1.0 * m.usable_concentration * 4 / 3 * math.pi * radius**3 * 96485.33212 / 3600) / (96485.33212 * 4 * math.pi * radius**2)
    expected = omega * 80e9 * flux * radius / ((1 - 0.26) * 1e-15) / 15
    assert steady_surface_von_mises(case) == pytest.approx(expected, rel=1e-12)


def test_group_size_must_divide_the_ranks(case_dir):
    study = load_sweep(_sweep_file(case_dir, [1e-15]))
    with pytest.raises(CaseError, match="must divide"):
        run_sweep(study, mpi=True, ranks_per_point=2, runner=fake_run, progress=False, plots=False)


@pytest.mark.mpi
def test_several_ranks_without_mpi_flag_is_an_error(case_dir):
    path = _sweep_file(case_dir, [1e-15])
    script = ("import sys\nfrom ecmx.solver.config.studies import load_sweep\nfrom ecmx.solver.studies.sweep import run_sweep\n"
              "from ecmx.solver.errors import CaseError\n"
              "try:\n    run_sweep(load_sweep(sys.argv[1]), progress=False)\nexcept CaseError as e:\n    print('CaseError', e)\n")
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-c", script, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.stdout.count("without --mpi") == 2, proc.stdout + proc.stderr
    assert not (case_dir / "out-sweep").exists()


MPI_SCRIPT = """
import sys
from ecmx.solver.config.studies import load_sweep
from ecmx.solver.studies.sweep import run_sweep
from support.sweep_fakes import fake_run
run_sweep(load_sweep(sys.argv[1]), mpi=True, ranks_per_point=int(sys.argv[2]), runner=fake_run, progress=False, plots=False)
"""


@pytest.mark.mpi
@pytest.mark.parametrize("ranks_per_point", [1, 2])
def test_mpi_groups_match_local_mode(case_dir, ranks_per_point):
    values = [1e-15, 1e-17, 1e-14, 1e-13, 3e-15]
    local = run_sweep(load_sweep(_sweep_file(case_dir, values, "local.yaml")), workers=1, runner=fake_run, progress=False, plots=False)
    path = _sweep_file(case_dir, values, "mpi.yaml")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1])}
    proc = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-c", MPI_SCRIPT, str(path), str(ranks_per_point)],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    study = load_sweep(path)
    mpi_rows = read_summary(study.directory / "summary.csv")
    local_rows = read_summary(local.summary_path)
    assert _comparable(mpi_rows) == _comparable(local_rows)
    sizes = {line.split()[0]: line.split()[2] for line in (study.directory / sweep_fakes.CALLS_FILE).read_text().splitlines()}
    assert set(sizes.values()) == {str(ranks_per_point)} and len(sizes) == len(values)


def _comparable(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("wall_time_s", "directory")} for r in rows]

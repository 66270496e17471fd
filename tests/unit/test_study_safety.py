"""Sweeps and comparisons touch only what they wrote: study directories that are not ecmx's are
refused, derived directories stay inside, a second study on one directory refuses, completion
markers are written (and trusted) only with their files, Ctrl-C stops promptly with the points
recorded as interrupted, and worker processes die with their parent.

The runs are stand-ins (tests/support/sweep_fakes.py, tests/support/fake_runs.py). Subprocess tests start the
sweep through the ``ecmx`` command line with the stand-in runner patched in (``CLI_SCRIPT``).
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import support.sweep_fakes as sweep_fakes
import yaml
from support.cases import write_yaml
from support.fake_runs import comparison_files, fake_runner, unreadable_runner
from support.mpi import mpiexec
from support.signals import default_sigint
from support.sweep_fakes import fake_run, lossy_run

from ecmx.postprocess.sweep_summary import read_summary
from ecmx.solver.config.studies import load_comparison, load_sweep
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.studies.compare import run_comparison
from ecmx.solver.studies.outdir import MARKER, DirectoryInUse
from ecmx.solver.studies.sweep import COMPLETE_MARKER, run_sweep

TESTS = Path(__file__).parents[1]  # the tests root (imports support.*)
LINUX = Path("/proc/self/stat").exists()

# `ecmx` with the sweep's and the comparison's runner replaced by a stand-in from sweep_fakes
CLI_SCRIPT = """
import functools, sys
import support.sweep_fakes as sweep_fakes
import ecmx.solver.studies.compare as compare
import ecmx.solver.studies.sweep as sweep
runner = getattr(sweep_fakes, sys.argv[1])
sweep.run_sweep = functools.partial(sweep.run_sweep, runner=runner, plots=False, progress=False)
compare.run_comparison = functools.partial(compare.run_comparison, runner=runner)
from ecmx.solver.cli import main
sys.argv = ["ecmx", *sys.argv[2:]]
main()
"""


def _sweep_file(case_dir: Path, values: list[float], out: str = "out") -> Path:
    spec = {"sweep": {"base": "case.yaml", "parameter": "material.diffusivity", "values": values},
            "output": {"directory": str(case_dir / out)}}
    return write_yaml(case_dir / "sweep.yaml", spec)


def _start_cli(runner: str, *args: str, launcher: tuple[str, ...] = ()) -> subprocess.Popen:
    """``ecmx ARGS`` with the stand-in ``runner`` (under ``launcher``, e.g. mpiexec), in its own session
    (so that a signal can go to its whole process group)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    command = [*launcher, sys.executable, "-c", CLI_SCRIPT, runner, *args]
    return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, preexec_fn=default_sigint)


def _wait_for(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


def _alive(pid: int) -> bool:
    """True while process ``pid`` runs (a zombie has finished)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def _started_points(directory: Path, count: int) -> dict[str, int]:
    """Wait until ``count`` points have started in ``directory``; {label: pid of its process}."""
    _wait_for(lambda: len(sweep_fakes.calls(directory)) >= count, f"{count} point(s) to start")
    lines = (directory / sweep_fakes.CALLS_FILE).read_text().splitlines()
    return {line.split()[0]: int(line.split()[1]) for line in lines}


def _end(proc: subprocess.Popen, pids: list[int] = ()) -> None:
    """Kill what a test left running: the subprocess and the worker processes it started."""
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    if proc.poll() is None:
        proc.kill()
    proc.communicate(timeout=30)


# --------------------------------------------------------------------------------------------
# Directories that are not ecmx's


def test_sweep_refuses_a_directory_holding_a_users_files(case_dir: Path) -> None:
    out = case_dir / "out"
    (out / "figures").mkdir(parents=True)
    mine = {out / "summary.csv": "my,data\n", out / "sweep.yaml": "mine: true\n", out / "figures" / "plot.png": "png"}
    for path, text in mine.items():
        path.write_text(text)
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14]))
    with pytest.raises(CaseError, match="not an ecmx results directory") as error:
        run_sweep(study, workers=1, runner=fake_run, progress=False)
    assert error.value.key == "output.directory" and error.value.file == study.path
    assert {path: path.read_text() for path in mine} == mine
    assert sorted(p.name for p in out.iterdir()) == ["figures", "summary.csv", "sweep.yaml"]


@pytest.mark.parametrize("overwrite", [False, True])
def test_compare_refuses_a_directory_holding_a_users_files(tmp_path: Path, overwrite: bool) -> None:
    study = load_comparison(comparison_files(tmp_path))
    out = tmp_path / "out"
    (out / "figures").mkdir(parents=True)
    mine = {out / "report.md": "# my report\n", out / "table.csv": "a,b\n", out / "figures" / "grid.png": "png"}
    for path, text in mine.items():
        path.write_text(text)
    with pytest.raises(CaseError, match="not an ecmx results directory"):
        run_comparison(study, workers=1, overwrite=overwrite, runner=fake_runner)
    assert {path: path.read_text() for path in mine} == mine
    assert sorted(p.name for p in out.iterdir()) == ["figures", "report.md", "table.csv"]


@pytest.mark.slow
def test_overwrite_keeps_a_case_directory_that_is_not_an_ecmx_run(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path))
    run_comparison(study, workers=1, runner=fake_runner)
    (tmp_path / "out" / "nvp" / MARKER).unlink()  # now a directory ecmx did not write (as far as it knows)
    with pytest.raises(CaseError, match="not an ecmx results directory") as error:
        run_comparison(study, workers=1, overwrite=True, runner=fake_runner)
    assert error.value.key == "name" and error.value.file == study.case_paths[0]
    assert (tmp_path / "out" / "nvp" / "summary.json").is_file()


def test_an_empty_directory_is_adopted_and_marked(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path))
    (tmp_path / "out").mkdir()
    run_comparison(study, workers=1, runner=fake_runner)
    assert (tmp_path / "out" / MARKER).is_file() and (tmp_path / "out" / "report.md").is_file()


@pytest.mark.parametrize("name", ["../victim", "/abs/victim", "figures"])
def test_case_name_must_name_a_directory_inside_the_comparison(tmp_path: Path, name: str) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    study = load_comparison(comparison_files(tmp_path))
    name = name.replace("/abs", str(tmp_path))
    study.cases[0] = study.cases[0].model_copy(update={"name": name})
    with pytest.raises(CaseError, match="does not name a directory inside") as error:
        run_comparison(study, workers=1, overwrite=True, runner=fake_runner)
    assert error.value.key == "name" and error.value.file == study.case_paths[0]
    assert [p.name for p in victim.iterdir()] == ["thesis.tex"]
    assert not (tmp_path / "out").exists()


def test_case_name_with_dot_dot_in_a_case_file_is_refused(tmp_path: Path) -> None:
    """Wherever it is caught (the case schema, or the comparison), ``name: ../victim`` writes nothing."""
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "thesis.tex").write_text("years of work")
    path = comparison_files(tmp_path)
    case = yaml.safe_load((tmp_path / "nvp.yaml").read_text())
    (tmp_path / "nvp.yaml").write_text(yaml.safe_dump({**case, "name": "../victim"}))
    with pytest.raises(CaseError, match="name"):
        run_comparison(load_comparison(path), workers=1, overwrite=True, runner=fake_runner)
    assert [p.name for p in victim.iterdir()] == ["thesis.tex"]


def test_a_point_directory_that_leads_outside_is_refused(case_dir: Path) -> None:
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14]))
    run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    elsewhere = case_dir / "elsewhere"
    elsewhere.mkdir()
    point = study.directory / study.points[1].label
    os.rename(point, elsewhere / "point")
    point.symlink_to(elsewhere / "point")
    with pytest.raises(CaseError, match="does not name a directory inside"):
        run_sweep(study, workers=1, force=True, runner=fake_run, progress=False, plots=False)
    assert (elsewhere / "point" / "timeseries.csv").is_file()


# --------------------------------------------------------------------------------------------
# Outputs


def test_outputs_get_the_users_umask(case_dir: Path) -> None:
    old = os.umask(0o027)
    try:
        study = load_sweep(_sweep_file(case_dir, [1e-15]))
        run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    finally:
        os.umask(old)
    for name in ("summary.csv", "sweep.yaml", f"{study.points[0].label}/{COMPLETE_MARKER}"):
        assert stat.S_IMODE((study.directory / name).stat().st_mode) == 0o640, name


def test_zero_point_sweep_is_an_error(case_dir: Path) -> None:
    study = load_sweep(_sweep_file(case_dir, [1e-15]))
    study.points = []
    with pytest.raises(CaseError, match="no points"):
        run_sweep(study, workers=1, runner=fake_run, progress=False)
    assert not study.directory.exists()


def test_failed_post_processing_keeps_the_previous_outputs(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path))
    run_comparison(study, workers=1, runner=fake_runner)
    out = tmp_path / "out"
    before = {p: p.read_bytes() for p in [out / "report.md", out / "table.csv", out / "figures" / "grid.png"]}
    with pytest.raises(SolveError, match="post-processing of the comparison failed"):
        run_comparison(study, workers=1, overwrite=True, runner=unreadable_runner)
    assert {p: p.read_bytes() for p in before} == before
    assert not list(out.glob(".ecmx-staging-*"))


# --------------------------------------------------------------------------------------------
# Completion markers


def test_marker_only_for_a_point_whose_files_are_all_there(case_dir: Path) -> None:
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14]))
    result = run_sweep(study, workers=1, runner=lossy_run, progress=False, plots=False)
    assert [p.status for p in result.points] == ["failed", "failed"]
    assert "timeseries.csv" in result.points[0].row["reason"]
    assert not any((study.directory / p.label / COMPLETE_MARKER).exists() for p in study.points)


def test_a_marker_whose_files_went_missing_is_not_trusted(case_dir: Path) -> None:
    study = load_sweep(_sweep_file(case_dir, [1e-15, 1e-14, 1e-13]))
    run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    (study.directory / study.points[0].label / "timeseries.csv").unlink()
    (study.directory / study.points[2].label / "fields" / "particle_000000.vtu").unlink()
    again = run_sweep(study, workers=1, runner=fake_run, progress=False, plots=False)
    assert [p.ran for p in again.points] == [True, False, True]
    assert [p.status for p in again.points] == ["ok"] * 3


# --------------------------------------------------------------------------------------------
# Concurrency, interrupts, parent death (subprocesses)


def test_a_second_sweep_on_the_same_directory_refuses(case_dir: Path) -> None:
    path = _sweep_file(case_dir, [1e-15, 1e-14])
    first = _start_cli("slow_run", "sweep", str(path), "--workers", "1")
    try:
        _started_points(case_dir / "out", 1)
        with pytest.raises(DirectoryInUse, match=f"in use by another ecmx sweep \\(pid {first.pid} "):
            run_sweep(load_sweep(path), workers=1, runner=fake_run, progress=False, plots=False)
        assert sweep_fakes.calls(case_dir / "out") == [load_sweep(path).points[0].label]
    finally:
        _end(first)


@pytest.mark.skipif(not LINUX, reason="reads process states from /proc")
def test_ctrl_c_stops_the_sweep_and_records_interrupted_points(case_dir: Path) -> None:
    path = _sweep_file(case_dir, [1e-15, 1e-14, 1e-13])
    proc = _start_cli("slow_run", "sweep", str(path), "--workers", "2")
    pids: list[int] = []
    try:
        pids = list(_started_points(case_dir / "out", 2).values())
        interrupted = time.monotonic()
        os.killpg(proc.pid, signal.SIGINT)  # as Ctrl-C in a terminal: the whole process group
        _, stderr = proc.communicate(timeout=sweep_fakes.SLOW_RUN_S - 10)
        assert time.monotonic() - interrupted < 10
    finally:
        _end(proc, pids)
    assert proc.returncode == 130, stderr
    assert "interrupted" in stderr and "2 point(s) interrupted, 1 not started" in stderr and "Traceback" not in stderr
    rows = read_summary(case_dir / "out" / "summary.csv")
    assert sorted(r["status"] for r in rows) == ["interrupted", "interrupted", "pending"]
    assert not any(_alive(pid) for pid in pids)
    assert not any((Path(r["directory"]) / COMPLETE_MARKER).exists() for r in rows)


@pytest.mark.mpi
def test_ctrl_c_under_mpi_records_interrupted_points(case_dir: Path) -> None:
    """``mpiexec -n 2 ecmx sweep --mpi``: mpiexec passes Ctrl-C to both ranks; each group records its
    running point as interrupted (not as a failed solve) and the job exits with 130."""
    path = _sweep_file(case_dir, [1e-15, 1e-14, 1e-13, 1e-12])
    proc = _start_cli("slow_run", "sweep", str(path), "--mpi", launcher=(mpiexec(), "-n", "2"))
    try:
        _started_points(case_dir / "out", 2)
        os.kill(proc.pid, signal.SIGINT)  # to mpiexec, which forwards it to the ranks
        _, stderr = proc.communicate(timeout=sweep_fakes.SLOW_RUN_S - 10)
    finally:
        _end(proc)
    assert proc.returncode == 130, stderr
    assert stderr.count("sweep stopped: 2 point(s) interrupted, 2 not started") == 1, stderr
    rows = read_summary(case_dir / "out" / "summary.csv")
    assert [r["status"] for r in rows] == ["interrupted", "interrupted", "pending", "pending"]
    assert all(r["reason"].startswith("interrupted by the user") for r in rows[:2])


@pytest.mark.skipif(not LINUX, reason="reads process states from /proc")
def test_ctrl_c_stops_the_comparison(tmp_path: Path) -> None:
    path = comparison_files(tmp_path)
    proc = _start_cli("slow_run", "compare", str(path), "--workers", "2")
    pids: list[int] = []
    try:
        pids = list(_started_points(tmp_path / "out", 2).values())
        os.killpg(proc.pid, signal.SIGINT)
        _, stderr = proc.communicate(timeout=sweep_fakes.SLOW_RUN_S - 10)
    finally:
        _end(proc, pids)
    assert proc.returncode == 130 and "comparison stopped" in stderr, stderr
    assert not (tmp_path / "out" / "report.md").exists()
    assert not any(_alive(pid) for pid in pids)


@pytest.mark.skipif(not LINUX, reason="reads process states from /proc")
def test_workers_exit_when_the_sweep_process_is_killed(case_dir: Path) -> None:
    path = _sweep_file(case_dir, [1e-15, 1e-14])
    proc = _start_cli("slow_run", "sweep", str(path), "--workers", "2")
    pids: list[int] = []
    try:
        pids = list(_started_points(case_dir / "out", 2).values())
        assert proc.pid not in pids and all(_alive(pid) for pid in pids)
        proc.kill()
        proc.wait(timeout=30)
        _wait_for(lambda: not any(_alive(pid) for pid in pids), "the orphaned workers to exit", timeout=10)
    finally:
        _end(proc, pids)

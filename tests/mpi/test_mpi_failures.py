"""Failures of a run under ``mpiexec -n 2`` end on every rank within seconds (issue 9).

Each failure class the run layer handles is run on two ranks with a timeout: a bad output
directory (seen by rank 0 only in the old code), a full disk on rank 0 only, a failed solve, Ctrl-C
reaching one rank only and Ctrl-C through mpiexec. The fake problem (tests/mpi_run_failures.py)
keeps each run to a few seconds; the bad output directory goes through the real ``ecmx run``.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.mpi import mpiexec

TESTS = Path(__file__).resolve().parent
LIMIT_S = 60

pytestmark = pytest.mark.mpi


def mpirun(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1")
    return subprocess.run([mpiexec(), "-n", "2", sys.executable, *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=LIMIT_S)


def driver(mode: str, cwd: Path) -> subprocess.CompletedProcess:
    return mpirun(str(TESTS / "mpi_run_failures.py"), mode, "out", cwd=cwd)


def status(directory: Path) -> str:
    return json.loads((directory / "summary.json").read_text())["status"]


def test_bad_output_directory_ends_on_both_ranks(case_dir):
    """The output directory lies under a file: refused on both ranks before the mesh, exit 2."""
    (case_dir / "a-file").write_text("x")
    result = mpirun("-m", "ecmx.solver.cli", "run", "case.yaml", "--out", "a-file/out", "--no-progress", cwd=case_dir)
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("error:") == 1 and "a-file is not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_full_disk_on_rank0_only(tmp_path):
    result = driver("io-error", tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("run failed:") == 1 and "No space left on device" in result.stderr
    assert "out.partial" in result.stderr and "Traceback" not in result.stderr
    assert status(tmp_path / "out.partial") == "failed" and not (tmp_path / "out").exists()


def test_solve_failure(tmp_path):
    result = driver("solve-failure", tmp_path)
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("run failed:") == 1 and "minimum time step" in result.stderr
    assert status(tmp_path / "out") == "failed"


def test_interrupt_on_one_rank_stops_both(tmp_path):
    result = driver("interrupt-rank1", tmp_path)
    assert result.returncode == 130, result.stderr
    assert "interrupted" in result.stderr and "did not converge" not in result.stderr
    assert status(tmp_path / "out.partial") == "interrupted" and not (tmp_path / "out").exists()
    summary = json.loads((tmp_path / "out.partial" / "summary.json").read_text())
    assert summary["steps"]["accepted"] == 10  # both ranks stopped before the same try


def test_ctrl_c_through_mpiexec(tmp_path):
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1")
    command = [mpiexec(), "-n", "2", sys.executable, str(TESTS / "mpi_run_failures.py"), "ctrl-c", "out"]
    run = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                           start_new_session=True)
    timeseries = tmp_path / "out.partial" / "timeseries.csv"
    try:
        deadline = time.monotonic() + LIMIT_S
        while not (timeseries.exists() and len(timeseries.read_text().splitlines()) > 5):
            assert run.poll() is None and time.monotonic() < deadline, "the run did not start"
            time.sleep(0.1)
        run.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does: mpiexec forwards it
        _, stderr = run.communicate(timeout=LIMIT_S)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert run.returncode == 130, stderr
    assert "interrupted" in stderr and "did not converge" not in stderr and "Traceback" not in stderr
    assert status(tmp_path / "out.partial") == "interrupted"


def test_completed_run_on_two_ranks(tmp_path):
    """The collective writers and the lock do not disturb a normal run."""
    result = driver("completed", tmp_path)
    assert result.returncode == 0, result.stderr
    assert status(tmp_path / "out") == "completed" and not (tmp_path / "out.partial").exists()
    assert (tmp_path / "out" / ".ecmx-owner").is_file()

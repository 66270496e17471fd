"""``run --resume`` on two MPI ranks: every rank restores its own part; the result equals a whole run."""

from __future__ import annotations

import csv
import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

HERE = Path(__file__).resolve().parent
pytestmark = pytest.mark.mpi


def mpirun(mode: str, out: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1")
    return subprocess.run([mpiexec(), "-n", "2", sys.executable, str(HERE / "mpi_resume_run.py"), mode, out], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=120)


def rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_resume_on_two_ranks_equals_the_whole_run(tmp_path: Path) -> None:
    assert mpirun("reference", "ref", tmp_path).returncode == 0
    interrupted = mpirun("interrupt", "out", tmp_path)
    assert interrupted.returncode == 130, interrupted.stderr
    assert len(list((tmp_path / "out.partial" / "checkpoint").glob("rank-00001-*.npz"))) == 1
    resumed = mpirun("resume", "out", tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    got, want = rows(tmp_path / "out" / "timeseries.csv"), rows(tmp_path / "ref" / "timeseries.csv")
    assert [r["time_s"] for r in got] == [r["time_s"] for r in want]
    assert [r["voltage_V"] for r in got] == [r["voltage_V"] for r in want]
    assert len(rows(tmp_path / "out" / "probes.csv")) == len(rows(tmp_path / "ref" / "probes.csv"))

"""``mpiexec -n 2 ecmx compare``: the cases run one after the other on both ranks and the results
match the serial comparison (same table to solver tolerance), for a 3D and a sphere-1d case (whose
field files, gathered from two ranks, repeat the nodes on the rank boundary); a failure of the
post-processing on rank 0 ends both ranks."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from support.cases import coarse_comparison
from support.fake_runs import comparison_files
from support.mpi import mpiexec

BIN = Path(sys.executable).parent
TESTS = Path(__file__).parents[1]  # the tests root (imports support.*)


def _run(command: list[str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``command`` in its own process group; on timeout kill the whole group (every MPI rank)
    and fail."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"{' '.join(command)} did not end within {timeout} s (hung):\n{stderr[-3000:]}")
    return subprocess.CompletedProcess(command, proc.returncode, stdout, stderr)


def _table(directory: Path) -> list[dict[str, str]]:
    with open(directory / "table.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize(("overrides", "timeout"), [((), 600), (("geometry.kind=sphere-1d",), 180)],
                         ids=["3d", "sphere-1d"])
def test_compare_under_mpiexec_matches_serial(tmp_path: Path, overrides: tuple[str, ...], timeout: float) -> None:
    launcher = mpiexec()
    spec = coarse_comparison(*overrides)
    results = {}
    for label, prefix in (("serial", []), ("mpi", [launcher, "-n", "2"])):
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump({**spec, "output": {"directory": str(tmp_path / label)}}))
        proc = _run([*prefix, str(BIN / "ecmx"), "compare", str(path), "--workers", "1"], timeout=timeout)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.count("comparison written to") == 1  # printed by rank 0 only
        results[label] = _table(tmp_path / label)
    assert len(results["mpi"]) == len(results["serial"]) == 2
    for a, b in zip(results["serial"], results["mpi"], strict=True):
        assert a["case"] == b["case"]
        for column in ("concentration_spread", "von_mises_max_MPa", "voltage_V"):
            assert float(b[column]) == pytest.approx(float(a[column]), rel=1e-6)


FAILING_POST_PROCESSING = """
import sys
from mpi4py import MPI
from support.fake_runs import unreadable_runner
from ecmx.solver.studies.compare import run_comparison
from ecmx.solver.errors import SolveError
from ecmx.solver.config.studies import load_comparison
try:
    run_comparison(load_comparison(sys.argv[1]), runner=unreadable_runner)
except SolveError as exc:
    print(f"rank {MPI.COMM_WORLD.rank}: SolveError: {exc}", flush=True)
"""


@pytest.mark.mpi
def test_post_processing_failure_on_rank_0_ends_every_rank(tmp_path: Path) -> None:
    path = comparison_files(tmp_path)
    proc = _run([mpiexec(), "-n", "2", sys.executable, "-c", FAILING_POST_PROCESSING, str(path)], timeout=60)
    assert proc.returncode == 0, proc.stderr[-3000:]
    for rank in (0, 1):  # (the ranks' lines may interleave)
        expected = f"rank {rank}: SolveError: the post-processing of the comparison failed"
        assert expected in proc.stdout, proc.stdout + proc.stderr

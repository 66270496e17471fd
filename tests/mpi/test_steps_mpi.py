"""The error-controlled integrator takes the same steps on 1 and 2 MPI ranks (sphere-1d)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

HERE = Path(__file__).parent


def _run(ranks: int, out: Path) -> dict:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, str(HERE / "mpi_steps_run.py"), str(out)]
    result = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.mpi
def test_same_steps_on_one_and_two_ranks(tmp_path):
    one, two = _run(1, tmp_path / "one.json"), _run(2, tmp_path / "two.json")
    assert len(one["steps"]) == len(two["steps"]) > 20
    assert one["tries"] == two["tries"]
    # Newton starts from the predictor and stops within its tolerance (1e-2 rtol) at an iterate that
    # the ranks' round-off decides, so the error estimates, and the steps they choose, agree to
    # 1e-8 rather than to round-off (measured: 8.4e-9).
    for a, b in zip(one["steps"], two["steps"], strict=True):
        assert b["order"] == a["order"]
        assert b["dt_s"] == pytest.approx(a["dt_s"], rel=1e-7, abs=1e-12)
        assert b["voltage_V"] == pytest.approx(a["voltage_V"], rel=1e-9)
        assert b["error_norm"] == pytest.approx(a["error_norm"], rel=1e-5, abs=1e-9)

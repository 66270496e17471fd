"""`ecmx fit` and `ecmx gitt` run serial model evaluations: under mpiexec they are refused on every
rank with one clear error (exit 2), nothing written."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec


@pytest.mark.mpi
@pytest.mark.parametrize("verb", ["fit", "gitt"])
def test_serial_verb_refused_under_mpiexec(tmp_path: Path, verb: str) -> None:
    source = tmp_path / "input.yaml"
    source.write_text("fit: {}\n")
    cmd = [mpiexec(), "-n", "2", sys.executable, "-m", "ecmx.solver.cli", verb, str(source)]
    result = subprocess.run(cmd, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert result.returncode == 2, result.stdout[-2000:] + result.stderr[-2000:]
    assert "without mpiexec" in result.stdout + result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["input.yaml"]

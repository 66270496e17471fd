"""The phase-field particle gives the same run on 1 and 2 MPI ranks (seeded initial perturbation,
nucleation under current): relative differences ≤ 1e-8."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

HERE = Path(__file__).parent


def _run(ranks: int, out: Path, *variant: str) -> list[dict]:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, str(HERE / "mpi_phase_field_run.py"), str(out), *variant]
    result = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return json.loads(out.read_text())


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("variant", [(), ("wetting",)])
def test_phase_field_run_independent_of_ranks(tmp_path, variant: tuple[str, ...]):
    """Neutral wetting, and surface wetting 1.1 w_c (the surface term on the rank that owns Γ)."""
    one = _run(1, tmp_path / "one.json", *variant)
    two = _run(2, tmp_path / "two.json", *variant)
    assert len(one) == len(two) == 13
    assert one[-1]["c_max"] / 13831.0 > 0.5  # the Na-rich phase nucleated
    for a, b in zip(one, two, strict=True):
        for key, value in a.items():
            assert b[key] == pytest.approx(value, rel=1e-8), key


@pytest.mark.mpi
@pytest.mark.slow
def test_profile_start_independent_of_ranks(tmp_path):
    """A run from a core–shell ``initial.profile`` (interpolated by distance from the centre on each rank's
    nodes) is the same on 1 and 2 ranks, from its first state on."""
    one = _run(1, tmp_path / "one.json", "profile")
    two = _run(2, tmp_path / "two.json", "profile")
    assert one[0]["c_min"] / 13831.0 == pytest.approx(0.1, abs=1e-5)
    assert one[0]["c_max"] / 13831.0 == pytest.approx(0.85, abs=1e-3)
    for a, b in zip(one, two, strict=True):
        for key, value in a.items():
            assert b[key] == pytest.approx(value, rel=1e-8), key

"""`ecmx impedance` over several states of charge on 2 MPI ranks: the states run one after the other on
both ranks (no worker pool) and give the spectra of a 1-rank run to round-off (|ΔZ| ≤ 1e-5 |Z|)."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec


def _by_state(ranks: int, case_dir: Path, out: str) -> list[dict[str, float]]:
    cmd = [mpiexec(), "-n", str(ranks), sys.executable, "-m", "ecmx.solver.cli", "impedance", "case.yaml",
           "--state-of-charge", "0.3,0.7", "--points", "3", "--frequencies", "1e-2:1e4", "--out", out]
    result = subprocess.run(cmd, cwd=case_dir, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    summary = json.loads((case_dir / out / "summary.json").read_text())
    assert summary["mpi_ranks"] == ranks and summary["status"] == "completed"
    with open(case_dir / out / "impedance_by_state.csv", newline="") as handle:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(handle)]


@pytest.mark.mpi
@pytest.mark.slow
def test_states_under_mpi_equal_one_rank(case_dir):
    one = _by_state(1, case_dir, "one")
    two = _by_state(2, case_dir, "two")
    assert [r["state_of_charge"] for r in two] == [0.3] * 3 + [0.7] * 3
    for a, b in zip(one, two, strict=True):
        assert (b["state_of_charge"], b["frequency_Hz"]) == (a["state_of_charge"], a["frequency_Hz"])
        z1, z2 = complex(a["Z_real_Ohm"], a["Z_imag_Ohm"]), complex(b["Z_real_Ohm"], b["Z_imag_Ohm"])
        assert abs(z2 - z1) <= 1e-5 * abs(z1), (z1, z2)

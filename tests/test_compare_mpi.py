"""``mpiexec -n 2 ecmx compare``: the cases run one after the other on both ranks and the results
match the serial comparison (same table to solver tolerance)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from conftest import coarse_comparison

BIN = Path(sys.executable).parent
SPEC = coarse_comparison()


def _table(directory: Path) -> list[dict[str, str]]:
    with open(directory / "table.csv") as fh:
        return list(csv.DictReader(fh))


@pytest.mark.mpi
@pytest.mark.slow
def test_compare_under_mpiexec_matches_serial(tmp_path: Path) -> None:
    mpiexec = shutil.which("mpiexec", path=str(BIN)) or shutil.which("mpiexec")
    if mpiexec is None:
        pytest.skip("mpiexec not found")
    results = {}
    for label, prefix in (("serial", []), ("mpi", [mpiexec, "-n", "2"])):
        path = tmp_path / f"{label}.yaml"
        path.write_text(yaml.safe_dump({**SPEC, "output": {"directory": str(tmp_path / label)}}))
        proc = subprocess.run([*prefix, str(BIN / "ecmx"), "compare", str(path), "--workers", "1"],
                              capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert proc.stdout.count("comparison written to") == 1  # printed by rank 0 only
        results[label] = _table(tmp_path / label)
    assert len(results["mpi"]) == len(results["serial"]) == 2
    for a, b in zip(results["serial"], results["mpi"], strict=True):
        assert a["case"] == b["case"]
        for column in ("concentration_spread", "von_mises_max_MPa", "voltage_V"):
            assert float(b[column]) == pytest.approx(float(a[column]), rel=1e-6)

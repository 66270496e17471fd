"""The mesh partition balances the particle cells and the electrolyte cells over the ranks separately
(meshes/partition.py): a partition of the whole mesh put most particle cells on one rank."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

HERE = Path(__file__).parent


@pytest.mark.mpi
def test_particle_and_electrolyte_cells_balanced_on_two_ranks(tmp_path):
    out = tmp_path / "counts.json"
    cmd = [mpiexec(), "-n", "2", sys.executable, str(HERE / "mpi_partition_run.py"), str(tmp_path / "meshes"), str(out),
           "0.3", "0.15"]  # a mesh that a partition of all cells splits 1760 / 2898 particle cells
    result = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    counts = json.loads(out.read_text())
    for domain in ("particle", "electrolyte"):
        a, b = (rank[domain] for rank in counts)
        assert min(a, b) > 0.9 * max(a, b), (domain, counts)

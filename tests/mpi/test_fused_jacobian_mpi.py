"""The fused Jacobian (:mod:`ecmx.solver.fem.fused_jacobian`) on two MPI ranks: ghost rows and columns of
the fused electrolyte blocks land where the blocked assembly puts them (relative difference ≤ 1e-13), into
the pruned pattern (:mod:`ecmx.solver.fem.sparsity`): no dense row or column but the cell voltage's, no
malloc, fewer stored entries than DOLFINx's pattern."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.mpi import mpiexec

HERE = Path(__file__).parent


@pytest.mark.mpi
def test_fused_jacobian_equals_blocked_assembly_on_two_ranks():
    cmd = [mpiexec(), "-n", "2", sys.executable, str(HERE / "mpi_fused_jacobian_run.py")]
    result = subprocess.run(cmd, cwd=HERE, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    line = next(line for line in result.stdout.splitlines() if line.startswith("RESULT "))
    difference, ghosts, ranks, row, column, mallocs, dolfinx_stored, stored, reached = line.split()[1:]
    assert int(ranks) == 2 and int(ghosts) > 0  # a real partition, with electrolyte dofs shared between the ranks
    assert float(difference) <= 1e-13
    assert int(row) < 150 and int(column) < 150  # DOLFINx's pattern: rows and columns of several hundred
    assert int(mallocs) == 0  # the pattern holds every entry the assembly adds, other ranks' included
    assert int(stored) < 0.95 * int(dolfinx_stored)
    assert int(reached) == 1  # the COO pattern: the reached entries of all ranks' entities and the diagonal

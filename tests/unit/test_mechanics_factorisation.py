"""The mechanics' direct solver (issue 14): the block low-rank (BLR) MUMPS factorisation of
``LINEAR_SOLVERS["direct"]`` gives the stresses of the full-rank factorisation, and the per-step P1 fields
copied by :func:`~ecmx.solver.fem.mechanics_nodes.nodal_indices` are those of DOLFINx's interpolation."""

from __future__ import annotations

from types import SimpleNamespace

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.config.materials import ChemicalExpansion
from ecmx.solver.fem import mechanics
from ecmx.solver.fem.factor_cache import FACTORS, RESPONSES
from ecmx.solver.fem.mechanics import MechanicsProblem
from ecmx.solver.fem.mechanics_nodes import nodal_indices

E, NU, OMEGA, C_MAX = 80e9, 0.26, 5.97e-6, 13831.0
MATERIAL = SimpleNamespace(youngs_modulus=E, poissons_ratio=NU, max_concentration=C_MAX,
                           chemical_expansion=ChemicalExpansion(partial_molar_volume=OMEGA))


def _block(n: int) -> tuple[dolfinx.mesh.Mesh, fem.Function]:
    """A free unit cube of n³ × 6 tetrahedra with a smooth, non-symmetric concentration."""
    msh = dolfinx.mesh.create_unit_cube(MPI.COMM_SELF, n, n, n)
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="particle_concentration")
    c.interpolate(lambda x: C_MAX * (0.5 + 0.05 * x[0] ** 2 - 0.03 * x[1] * x[2] + 0.02 * np.sin(3 * x[2])))
    return msh, c


def _stress(msh: dolfinx.mesh.Mesh, c: fem.Function, options: dict[str, object]) -> np.ndarray:
    FACTORS.clear()
    RESPONSES.clear()
    problem = MechanicsProblem(msh, "cartesian", MATERIAL, c, 0.5 * C_MAX, degree=2, linear_solver="direct",
                               petsc_options=options)
    problem.solve()
    FACTORS.clear()
    RESPONSES.clear()
    return problem.fields["stress"].x.array.copy()


@pytest.mark.skipif(MPI.COMM_WORLD.size > 1, reason="serial factorisation")
def test_the_blr_factorisation_gives_the_full_rank_stresses(monkeypatch: pytest.MonkeyPatch) -> None:
    """8 × 8 × 8 P2 cube (14 739 DOFs, BLR from 0 DOFs on): its largest fronts are compressed (a loose
    CNTL(7) moves the stresses), and with the BLR options the stresses stay within 1e-9 of the full-rank
    ones (measured 8e-11)."""
    monkeypatch.setattr(mechanics, "BLR_MIN_DOFS", 0)
    msh, c = _block(8)
    full_rank = _stress(msh, c, {"mat_mumps_icntl_35": 0})  # the old factorisation
    peak = np.abs(full_rank).max()
    blr = _stress(msh, c, {})
    assert np.abs(blr - full_rank).max() <= 1e-9 * peak
    assert mechanics.BLR_OPTIONS["mat_mumps_icntl_35"] != 0
    loose = _stress(msh, c, {"mat_mumps_cntl_7": 1e-4})  # the test sees BLR when it compresses
    assert np.abs(loose - full_rank).max() > 1e-7 * peak


def test_nodal_copies_are_the_interpolation() -> None:
    msh, c = _block(3)
    V2 = fem.functionspace(msh, ("Lagrange", 2, (3,)))
    V1 = fem.functionspace(msh, ("Lagrange", 1, (3,)))
    u = fem.Function(V2)
    u.interpolate(lambda x: np.array([x[0] ** 2 + x[1], np.sin(x[2]) * x[0], x[1] * x[2] - 0.3]))
    reference = fem.Function(V1)
    reference.interpolate(u)
    copied = u.x.array[nodal_indices(V1, V2)]
    assert np.allclose(copied, reference.x.array, rtol=0.0, atol=1e-14)
    W1 = fem.functionspace(msh, ("Lagrange", 1))
    assert np.array_equal(c.x.array[nodal_indices(W1, c.function_space)], c.x.array)
    with pytest.raises(ValueError, match="not nodes"):
        nodal_indices(W1, fem.functionspace(msh, ("DG", 0)))

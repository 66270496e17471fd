"""The work of the one-way mechanics at every accepted step (issue 14), unchanged in its values:
interpolations without DOLFINx's per-call ``singledispatch`` wrapper, the vertex averaging of the
stress with ``np.bincount`` instead of ``np.add.at``, the peak stresses in one reduction.

Measured (sphere-1d, 40 P2 elements, CPU per accepted step): solve 1.07 -> 0.68 ms, quantities
0.50 -> 0.40 ms; 3D (cases/nvp.yaml) averaging 1.13 -> 0.26 ms.
"""

from __future__ import annotations

from types import SimpleNamespace

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.config.materials import ChemicalExpansion
from ecmx.solver.fem import models
from ecmx.solver.fem.mechanics import EXTREMES, MechanicsProblem

E, NU, OMEGA, C_MAX = 80e9, 0.26, 5.97e-6, 13831.0


@pytest.fixture(scope="module")
def solved() -> MechanicsProblem:
    """A sphere-1d particle (40 P2 elements) with a parabolic concentration, solved once."""
    msh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, 40, [0.0, 1.0])
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="particle_concentration")
    c.interpolate(lambda x: 0.5 * C_MAX + 0.05 * C_MAX * x[0] ** 2)
    material = SimpleNamespace(youngs_modulus=E, poissons_ratio=NU, max_concentration=C_MAX,
                               chemical_expansion=ChemicalExpansion(partial_molar_volume=OMEGA))
    problem = MechanicsProblem(msh, "spherical", material, c, 0.5 * C_MAX, degree=2)
    problem.solve()
    return problem


def test_interpolate_gives_what_function_interpolate_gives(solved: MechanicsProblem) -> None:
    target, reference = (fem.Function(solved.fields["displacement"].function_space) for _ in range(2))
    reference.interpolate(solved.u_hat)
    models.interpolate(target, solved.u_hat)
    assert np.array_equal(target.x.array, reference.x.array) and np.abs(target.x.array).max() > 0.0
    recovery = solved._recovery
    expected = fem.Function(recovery._stress_dg.function_space)
    expected.interpolate(recovery._stress_expr)
    models.interpolate(recovery._stress_dg, recovery._stress_expr)
    assert np.array_equal(recovery._stress_dg.x.array, expected.x.array)


def test_a_solve_bypasses_the_interpolation_wrapper(solved: MechanicsProblem, monkeypatch: pytest.MonkeyPatch) -> None:
    before = {name: f.x.array.copy() for name, f in solved.fields.items()}

    def wrapper(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("fem.Function.interpolate called at a step")

    monkeypatch.setattr(fem.Function, "interpolate", wrapper)
    solved.solve()  # the same concentration: the same fields, bit for bit
    for name, f in solved.fields.items():
        assert np.array_equal(f.x.array, before[name]), name


def test_vertex_average_and_peaks_are_those_of_the_plain_formulas(solved: MechanicsProblem) -> None:
    recovery = solved._recovery
    summed = np.zeros_like(recovery.fields["stress"].x.array).reshape(-1, 9)
    np.add.at(summed, recovery._p1_cell_dofs, recovery._stress_dg.x.array.reshape(-1, 9)[recovery._dg_cell_dofs])
    averaged = summed / recovery._p1_count[:, None]  # one rank: no ghosts to add
    assert np.array_equal(recovery.fields["stress"].x.array.reshape(-1, 9), averaged)
    q = solved.quantities()
    for key, name, kind in EXTREMES:
        values = solved.fields[name].x.array
        assert q[key] == float(values.max() if kind == "max" else values.min()), key
    assert q["hydrostatic_min"] < q["hydrostatic_max"]


def test_a_quadrature_table_refreshes_without_the_wrapper(monkeypatch: pytest.MonkeyPatch) -> None:
    """D(θ) tables sample θ at the quadrature points before every residual assembly."""
    from ecmx.solver.fem.table_fields import QuadratureTable
    from ecmx.solver.physics.tables import TableCurve

    msh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, 8, [0.0, 1.0])
    theta = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    theta.interpolate(lambda x: 0.2 + 0.6 * x[0] ** 2)
    table = QuadratureTable(theta, TableCurve([0.0, 0.5, 1.0], [1e-15, 1e-14, 1e-16], log=True), degree=2)
    expected = fem.Function(table._frozen.function_space)
    expected.interpolate(table._at_points)

    def wrapper(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("fem.Function.interpolate called before a residual")

    monkeypatch.setattr(fem.Function, "interpolate", wrapper)
    table.refresh()
    assert np.array_equal(table._frozen.x.array, expected.x.array) and table._frozen.x.array.max() > 0.2


def _square_inode_matrices(log: str, rows: int) -> int:
    """How many matrices of ``rows`` × ``rows`` PETSc's info log says it multiplies with inode rows (a matrix's
    "Matrix size" line comes before its inode line)."""
    size, found = "", 0
    for line in log.splitlines():
        if "Matrix size:" in line:
            size = line.split("Matrix size:")[1].split(";")[0].strip()
        elif "Using Inode routines" in line and size == f"{rows} X {rows}":
            found += 1
    return found


def test_the_stiffness_matrix_is_multiplied_without_inode_rows(tmp_path) -> None:
    """PETSc's inode product (the rows of a node's components together) was the slower one for the P2 stiffness
    matrix (MechanicsProblem._init_operator): the matrix is stored without. PETSc's info log says
    which matrices it multiplies with inodes; the same form assembled by default does use them."""
    from petsc4py import PETSc

    msh = dolfinx.mesh.create_unit_cube(MPI.COMM_SELF, 3, 3, 3)
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="particle_concentration")
    c.interpolate(lambda x: 0.5 * C_MAX + 0.05 * C_MAX * x[0] ** 2)
    material = SimpleNamespace(youngs_modulus=E, poissons_ratio=NU, max_concentration=C_MAX,
                               chemical_expansion=ChemicalExpansion(partial_molar_volume=OMEGA))
    logs = []
    for name in ("problem", "default"):
        PETSc.Sys.infoAllow(True, str(tmp_path / name))
        try:
            if name == "problem":
                problem = MechanicsProblem(msh, "cartesian", material, c, 0.5 * C_MAX, degree=2, linear_solver="iterative")
            else:
                default = dolfinx.fem.petsc.assemble_matrix(problem._a, bcs=problem.bcs)
                default.assemble()
                default.destroy()
        finally:
            PETSc.Sys.infoAllow(False)
        logs.append(next(tmp_path.glob(f"{name}*")).read_text())
    rows = problem._A.getSize()[0]
    assert rows == 3 * 7**3
    assert _square_inode_matrices(logs[0], rows) == 0
    assert _square_inode_matrices(logs[1], rows) == 1

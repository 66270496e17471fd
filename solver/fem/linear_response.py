"""The displacement of a load linear in c_s as one dense product: u = R (Z c_s + z₀) (issue 14).

When the chemical strain is linear in the particle concentration (the library's isotropic
``partial_molar_volume``/``volume_change`` laws with the linear strain), so are the load
b(c) = B c + b₀ of :class:`~ecmx.solver.fem.mechanics.MechanicsProblem` and its displacement
u(c) = R K⁺ P b(c) (P: the null space removed from the load, K⁺: the factorised stiffness, R: the
rigid part removed in the volume sense). :class:`LinearResponse` solves once for the columns of
Z = K⁺ P B (one MUMPS solve with all n_c right-hand sides at once, BLAS-3), takes
z₀ = u(c₀) − Z c₀ from one ordinary solve at the present c₀, and then gives every displacement as
R (Z c + z₀), a dense matrix-vector product: on cases/nvp.yaml's particle (6 624 P2 DOFs, 354 P1 nodes, 2.1M factor
entries) 0.9-1.0 ms instead of 8-10 ms for the back-substitution and 0.4 ms for the load assembly,
for 0.3-0.4 s of set-up (break-even after about 50 solves; a 3D case makes 85-117). The displacement
agrees with the back-substitution to 1e-14 of its peak (round-off of a different order of sums).

:class:`LinearLoad` (b = B c + b₀, one sparse product) is the load of every solve of such a law, also where
Z is not built (the iterative solver, several ranks, Z too large), e.g. on the fine comparison's particle.

Z is used by :class:`~ecmx.solver.fem.mechanics.MechanicsProblem` for the direct solver on one rank, when
the load's derivative in c_s no longer depends on c_s and the load reads no other time-dependent coefficient (not for the
finite strain, tables, or nodally sampled laws), and when Z holds at most :data:`MAX_ENTRIES` values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc
from ufl.algorithms import expand_derivatives, extract_coefficients
from ufl.algorithms.analysis import extract_constants

from ecmx.solver.fem.factor_cache import LastEntry, content_key, matrix_parts

MAX_ENTRIES = 8_000_000
"""Largest Z (n_u × n_c values, 64 MB) built; beyond it the back-substitution per solve stays."""


def load_derivative(load: ufl.Form, concentration: fem.Function, constant: Sequence[fem.Function]) -> ufl.Form | None:
    """dL/dc (a bilinear form: load test function × P1 trial on c's space) when the load ``load`` is linear
    in ``concentration`` (the derivative does not depend on it) and reads no coefficient besides it and
    the time-constant ``constant`` ones, and no Constant; None otherwise."""
    coefficients = set(extract_coefficients(load))
    if concentration not in coefficients or coefficients - {concentration, *constant} or extract_constants(load):
        return None  # a Constant may change between solves
    derivative = expand_derivatives(ufl.derivative(load, concentration, ufl.TrialFunction(concentration.function_space)))
    if not derivative.integrals() or concentration in extract_coefficients(derivative):
        return None
    return derivative


class LinearLoad:
    """The load of a solve, b(c) = B c + b₀, as one sparse product (issue 14) for a load linear in c_s.

    B = dL/dc is assembled once with the rows of the held dofs zero; b₀ = b(c₀) − B c₀ from the load
    ``current`` assembled the ordinary way at the present concentration c₀ (held rows zero). On the fine
    comparison's particle (96 777 P2 DOFs, 4 696 P1 nodes) the product replaces the assembly of the
    load at every accepted step. The same vector to round-off (the integrand is linear in c_s, so both are
    exact for their quadrature). Collective.

    Args:
        derivative: dL/dc (:func:`load_derivative`).
        concentration: c_s (read at every :meth:`assemble`).
        bcs: the Dirichlet conditions (their rows of the load are zero).
        current: the load at the present concentration (owned part read).
    """

    def __init__(self, derivative: ufl.Form, concentration: fem.Function, bcs: list[fem.DirichletBC],
                 current: PETSc.Vec) -> None:
        self._concentration = concentration
        self.matrix = dolfinx.fem.petsc.assemble_matrix(fem.form(derivative))
        self.matrix.assemble()
        n_owned = self.matrix.getLocalSize()[0]
        self.held = [dofs[dofs < n_owned] for dofs in (bc.dof_indices()[0] for bc in bcs)]
        if self.held:
            start = self.matrix.getOwnershipRange()[0]
            self.matrix.zeroRows(np.concatenate(self.held).astype(PETSc.IntType) + start, diag=0.0)
        self._c = self.matrix.createVecRight()
        self._offset = self.matrix.createVecLeft()
        self._offset.array[:] = current.array_r[:n_owned]
        self._read_concentration()
        product = self.matrix.createVecLeft()
        self.matrix.mult(self._c, product)
        self._offset.axpy(-1.0, product)  # b0 = b(c0) - B c0
        product.destroy()

    def _read_concentration(self) -> None:
        self._c.array[:] = self._concentration.x.array[: self._c.getLocalSize()]

    def assemble(self, out: PETSc.Vec) -> None:
        """out ← B c + b₀ at the present concentration (owned entries; ``out`` has the matrix's row layout)."""
        self._read_concentration()
        self.matrix.multAdd(self._c, self._offset, out)


class LinearResponse:
    """u = R (Z c + z₀) for a load linear in the concentration (serial, direct solver; see the module docstring).

    Args:
        load: the load B c + b₀ (:class:`LinearLoad`: B with the held rows zero).
        concentration: c_s (read at every :meth:`displacement`).
        factor_ksp: the set-up direct solver of the stiffness matrix (its factor solves for Z).
        nullspace: the stiffness matrix's null space (removed from the load), or None.
        rigid: the rigid-body modes (:class:`~ecmx.solver.fem.rigid_modes.RigidBodyModes`): R, the removal
            of the rigid part (a projection), applied to every displacement.
        current: the displacement (Vec, rigid part removed) of the present concentration, solved the
            ordinary way.
        cache: (the entry, the factorisation's key) where Z is kept for a later problem with the same
            factorisation, load derivative, held dofs and null space
            (:mod:`ecmx.solver.fem.factor_cache`); None: not kept.
    """

    def __init__(self, load: LinearLoad, concentration: fem.Function, factor_ksp: PETSc.KSP,
                 nullspace: PETSc.NullSpace | None, rigid: Any, current: PETSc.Vec,
                 cache: tuple[LastEntry, str] | None = None) -> None:
        self._concentration, self._rigid = concentration, rigid
        B, held = load.matrix, load.held
        null = np.array([v.array_r for v in nullspace.getVecs()]) if nullspace is not None else np.zeros((0, 0))
        entry, key = (None, None) if cache is None else (cache[0], content_key([cache[1], *matrix_parts(B), *held, null]))
        self._Z = entry.get(key) if entry is not None else None
        if self._Z is None:
            if entry is not None:
                entry.clear()  # not two responses held at once
            self._Z = _response(factor_ksp, _dense_load(B, null))
            if entry is not None:
                entry.put(key, self._Z)
        self._c = self._Z.createVecRight()
        self._c.array[:] = concentration.x.array[: self._c.getLocalSize()]
        self._offset = current.duplicate()
        self._Z.mult(self._c, self._offset)
        self._offset.aypx(-1.0, current)  # z0 = u(c0) - Z c0: R (Z c + z0) = u(c) as R u(c0) = u(c0)

    def displacement(self, out: PETSc.Vec) -> None:
        """out ← R (Z c + z₀) at the present concentration."""
        self._c.array[:] = self._concentration.x.array[: self._c.getLocalSize()]
        self._Z.multAdd(self._c, self._offset, out)
        self._rigid.remove(out)


def _response(factor_ksp: PETSc.KSP, load: np.ndarray) -> PETSc.Mat:
    """Z = K⁺ (P B): the factor's solution for every column of the dense load, in one (BLAS-3) solve."""
    comm = MPI.COMM_SELF
    rhs = PETSc.Mat().createDense(load.shape, array=load, comm=comm)
    Z = PETSc.Mat().createDense(load.shape, comm=comm)
    Z.setUp()
    factor_ksp.getPC().getFactorMatrix().matSolve(rhs, Z)
    rhs.destroy()
    return Z


def _dense_load(B: PETSc.Mat, null: np.ndarray) -> np.ndarray:
    """B = dL/dc (its held rows already zero: :class:`LinearLoad`) as a column-major dense array, the null
    space (rows of ``null``, orthonormal) removed from every column (as the load of a solve is treated)."""
    indptr, columns, values = B.getValuesCSR()
    dense = np.zeros(B.getSize(), order="F")
    dense[np.repeat(np.arange(indptr.size - 1), np.diff(indptr)), columns] = values
    if null.size:
        dense -= null.T @ (null @ dense)
    return dense

"""A PETSc matrix assembled from several DOLFINx CSR matrices through PETSc's COO interface.

Each part of the Jacobian (a fused group of :mod:`ecmx.solver.fem.fused_jacobian`, or one block outside
the groups) is assembled by its kernel into its own DOLFINx :class:`~dolfinx.la.MatrixCSR` (DOLFINx's own
insertion: a binary search in a short row). Where each of their values goes in the global matrix A (its
local row and column, −1 for a value that is not added: a node where an unknown has no dof, a block without
cell integrals in a fused group, an entry that no integration entity reaches) is worked out once, and A is
preallocated once with all of them (``MatSetPreallocationCOO``, global indices, the diagonal of every owned
row added with a zero value). Each Jacobian is then one ``MatSetValuesCOO`` of the parts' values,
concatenated: PETSc sums the values of one entry and sends those of rows owned by other ranks, and A needs
no zeroing and no assembly pass of its own. The stored pattern is the entries some value reaches plus the
diagonal: with the reached filter of :func:`~ecmx.solver.fem.sparsity.local_reached_entries` the pattern
:func:`~ecmx.solver.fem.sparsity.prune_unreached_entries` preallocates.

Measured on cases/nvp.yaml's mesh (3 053 DOFs, one rank, process time): adding the parts' values to A row by
row (``MatSetValuesLocal`` per row of each fused group, a local submatrix per cell for the other blocks, then
``MatAssembly``) cost 2.4 ms of an 11 ms Jacobian alone (bench/bench_jacobian_blocks.py) and 3.5 ms of 15 ms
inside a run (bench/bench_overhead.py); the copy into one buffer and ``MatSetValuesCOO`` 0.3 and 0.85 ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.la
import numpy as np
from dolfinx import fem
from dolfinx.cpp.fem import assemble_matrix as _assemble_csr
from dolfinx.cpp.fem import pack_coefficients, pack_constants
from petsc4py import PETSc

from ecmx.solver.fem.sparsity import Pattern


def _csr_nodes(matrix: dolfinx.la.MatrixCSR, axis: int, local: np.ndarray, space: fem.FunctionSpace) -> np.ndarray:
    """The local nodes of ``space`` of the CSR matrix's local rows (axis 0) or columns (1), −1 for the columns
    the sparsity took from other ranks (never assembled here: no local entity touches them)."""
    return space.dofmap.index_map.global_to_local(matrix.index_map(axis).local_to_global(local.astype(np.int32)))


def _targets_of(nodes: np.ndarray, targets: np.ndarray, n: int) -> np.ndarray:
    """(nodes, n): ``targets[node·n + k]`` of every node and component k, −1 for a node −1."""
    out = targets[np.maximum(nodes, 0)[:, None] * n + np.arange(n)]
    out[nodes < 0] = -1
    return out


def csr_entries(matrix: dolfinx.la.MatrixCSR, spaces: tuple[fem.FunctionSpace, fem.FunctionSpace],
                targets: tuple[np.ndarray, np.ndarray], pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A's local (row, column) of every value of ``matrix.data``, −1 where it is not added.

    ``matrix``: a (block) CSR matrix of a form on the test and trial ``spaces`` (n0 × n1 values per pair of
    nodes, row major; n0, n1 the shape of ``pairs``); ``targets``: for each local dof (node m, component k →
    m·n + k) of each space, its local index in A (−1 where none); only the component pairs (i, j) with
    ``pairs[i, j]`` are added."""
    n0, n1 = pairs.shape
    csr_rows = np.repeat(np.arange(matrix.indptr.size - 1), np.diff(matrix.indptr))
    rows = _targets_of(_csr_nodes(matrix, 0, csr_rows, spaces[0]), targets[0], n0)[:, :, None]
    cols = _targets_of(_csr_nodes(matrix, 1, matrix.indices, spaces[1]), targets[1], n1)[:, None, :]
    rows, cols = np.broadcast_arrays(rows, cols)
    skip = ~pairs[None] | (rows < 0) | (cols < 0)
    return np.where(skip, -1, rows).ravel(), np.where(skip, -1, cols).ravel()


@dataclass
class CsrPart:
    """One part of the matrix: a compiled bilinear form, its CSR matrix, and what :func:`csr_entries` needs to
    say where each of the matrix's values goes in A: ``targets``, A's local index of each local dof of the test
    and trial spaces (−1 where none), and ``pairs``, the component pairs added."""

    form: fem.Form
    matrix: dolfinx.la.MatrixCSR
    targets: tuple[np.ndarray, np.ndarray]
    pairs: np.ndarray

    def entries(self) -> tuple[np.ndarray, np.ndarray]:
        """A's local (row, column) of every value of the CSR matrix, −1 where it is not added (:func:`csr_entries`)."""
        spaces = self.form.function_spaces
        return csr_entries(self.matrix, (spaces[0], spaces[1]), self.targets, self.pairs)

    def assemble(self) -> None:
        """The form's values into its CSR matrix (zeroed first) at the present coefficients."""
        form = self.form._cpp_object
        self.matrix.data[:] = 0.0
        _assemble_csr(self.matrix._cpp_object, form, pack_constants(form), pack_coefficients(form), [])


def _drop_unreached(rows: np.ndarray, columns: np.ndarray, reached: Pattern | None) -> None:
    """Set to −1 (in place) the (row, column) pairs (local indices) that are not in ``reached`` (None: keep all)."""
    if reached is None:
        return
    n = reached.indptr.size - 1
    keys = reached.rows() * n + reached.indices
    valid = np.flatnonzero((rows >= 0) & (columns >= 0))
    wanted = rows[valid].astype(np.int64) * n + columns[valid]
    found = np.minimum(np.searchsorted(keys, wanted), keys.size - 1)
    lost = valid[keys[found] != wanted] if keys.size else valid
    rows[lost] = -1
    columns[lost] = -1


class CooAssembly:
    """The values of CSR parts into a PETSc AIJ matrix by one ``MatSetValuesCOO``.

    Args:
        parts: the parts, in the order their values are concatenated.

    Where the values go (A's indices of every value, 4 bytes × 2 a value: 27 MB for the 3.4M values of the
    71k-DOF sphere) is worked out for each matrix :meth:`preallocate` sets up and not kept: PETSc keeps its own
    map from the values to A's entries, and a second matrix (a fallback solver's) is rare.
    """

    def __init__(self, parts: Sequence[CsrPart]) -> None:
        self.parts = list(parts)
        ends = np.cumsum([p.matrix.data.size for p in self.parts])
        self._slices = [slice(end - p.matrix.data.size, end) for p, end in zip(self.parts, ends, strict=True)]
        self._values: np.ndarray | None = None  # the parts' values, then a zero for every owned diagonal entry

    def preallocate(self, A: PETSc.Mat, reached: Pattern | None) -> None:
        """Set A's pattern to the entries the parts reach and the owned diagonal (replaces A's pattern): the
        parts' values that fall outside ``reached`` (A's (local row, local column) pairs that may hold a value;
        None: keep every value) are dropped, being zero. Collective."""
        entries = [part.entries() for part in self.parts]
        local_rows = np.concatenate([rows for rows, _ in entries]).astype(PETSc.IntType)
        local_columns = np.concatenate([columns for _, columns in entries]).astype(PETSc.IntType)
        del entries
        _drop_unreached(local_rows, local_columns, reached)
        row_map, column_map = A.getLGMap()
        start, end = A.getOwnershipRange()
        diagonal = np.arange(start, end, dtype=PETSc.IntType)
        rows = np.concatenate([row_map.apply(local_rows), diagonal]).astype(PETSc.IntType)
        columns = np.concatenate([column_map.apply(local_columns), diagonal]).astype(PETSc.IntType)
        del local_rows, local_columns
        A.setPreallocationCOO(rows, columns)
        if self._values is None:
            self._values = np.zeros(rows.size, dtype=PETSc.ScalarType)

    def set_values(self, A: PETSc.Mat) -> None:
        """A's values set to the sums of the parts' present values (each part assembled before). Collective."""
        values = self._values
        for part, where in zip(self.parts, self._slices, strict=True):
            values[where] = part.matrix.data
        A.setValuesCOO(values, addv=PETSc.InsertMode.INSERT_VALUES)

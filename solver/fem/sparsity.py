"""The sparsity of the coupled Jacobian without the entries that no integral reaches.

DOLFINx 0.11's sparsity builder gives a one-sided interface integral (a particle-only or an
electrolyte-only quantity restricted to Γ, whose other side is not a cell of that unknown's submesh)
the couplings of local dof 0 of the submesh's space in place of the missing cell: one structurally
dense row and column per submesh block, with zero values. On the NVP sphere (one rank) they are 13 % of
the stored entries at 3k DOFs and 16 % at 10k, every matrix product and every GAMG level carries them,
and the Galerkin products of the field splits fill in around them: the linear solve of a Newton
iteration was 30 % slower with them at 10k DOFs (bench/bench_step_cost.py).

:func:`prune_unreached_entries` preallocates the matrix again with the entries that some integration
entity of some Jacobian block couples (a cell: the dofs of that cell in each unknown's space; a facet:
those of the cells on both sides), the diagonal kept. The matrix ignores the zeros the assembler still
adds where a cell is missing (adding zero changes no value) and takes any other new entry (never
needed, but values never depend on the pattern). In parallel a rank integrates its own entities only,
and an owned row also takes couplings from the entities of other ranks (the rows of ghost dofs): each rank
sends the entries of rows it does not own to their owners, which preallocate the union.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
from dolfinx import fem
from dolfinx.cpp.la.petsc import create_index_sets
from petsc4py import PETSc

_TYPES = fem.IntegralType


def _same_cells(a: Any, b: Any) -> bool:
    """Whether two topologies have the same cells (the same mesh)."""
    tdim = a.dim
    return b.dim == tdim and np.array_equal(a.connectivity(tdim, 0).array, b.connectivity(tdim, 0).array)


def _parent_to_space_cells(space: fem.FunctionSpace, entity_maps: Sequence[Any]) -> np.ndarray:
    """For each local cell of the parent mesh (the forms' mesh), the cell of ``space``'s mesh, −1 if none."""
    parent = entity_maps[0].topology
    tdim = parent.dim
    cells = np.arange(parent.index_map(tdim).size_local + parent.index_map(tdim).num_ghosts, dtype=np.int32)
    topology = space.mesh.topology._cpp_object
    if _same_cells(topology, parent):
        return cells
    for emap in entity_maps:
        if _same_cells(emap.sub_topology, topology):
            return emap.sub_topology_to_topology(cells, True)
    raise ValueError("no entity map leads to the mesh of an unknown's space")


def cell_dofs(u: fem.Function, entity_maps: Sequence[Any], indices: np.ndarray) -> np.ndarray:
    """(parent cells, dofs per cell): ``indices`` (the matrix's or vector's local index of each local dof of
    ``u``) of ``u``'s dofs of each parent cell, −1 where the cell is not in ``u``'s mesh."""
    space = u.function_space
    sub = _parent_to_space_cells(space, entity_maps)
    local = np.asarray(indices)[space.dofmap.list]
    out = np.full((sub.size, local.shape[1]), -1, dtype=np.int64)
    out[sub >= 0] = local[sub[sub >= 0]]
    return out


def _entity_cells(form: Any, kind: Any, i: int) -> np.ndarray:
    """(entities, cells per entity) of integral ``i`` of one type of a compiled form: the parent cells of
    each cell (one), exterior facet (one) or interior facet (two)."""
    entities = np.asarray(form.domains(kind, i))
    if kind == _TYPES.cell:
        return entities.reshape(-1, 1)
    if kind == _TYPES.interior_facet:
        return entities.reshape(-1, 2, 2)[:, :, 0]
    return entities.reshape(-1, 2)[:, :1]


class Pattern(NamedTuple):
    """A sparsity pattern in CSR form: ``indptr`` (rows + 1) and ``indices`` (the columns, sorted and each
    once in every row)."""

    indptr: np.ndarray
    indices: np.ndarray

    def rows(self) -> np.ndarray:
        """The row of every entry (the COO rows of ``indices``)."""
        return np.repeat(np.arange(self.indptr.size - 1, dtype=np.int64), np.diff(self.indptr))


def _pattern_of_keys(keys: np.ndarray, shape: tuple[int, int]) -> Pattern:
    """The CSR pattern of ``shape`` of the sorted, unique keys row·shape[1] + column (int64)."""
    unique_rows, unique_columns = np.divmod(keys, shape[1])
    indptr = np.zeros(shape[0] + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(np.bincount(unique_rows, minlength=shape[0]))
    return Pattern(indptr, unique_columns)


def _pattern(rows: np.ndarray, columns: np.ndarray, shape: tuple[int, int]) -> Pattern:
    """The (row, column) pairs as a CSR pattern of ``shape``: each pair once, columns sorted in each row.
    Numpy only (one sort of the row·n + column keys: 13 ms for the 0.45M pairs of cases/nvp.yaml, scipy's
    COO → CSR conversion 23 ms), so that a run does not import scipy.sparse (0.25 s of start-up)."""
    return _pattern_of_keys(np.unique(rows.astype(np.int64) * shape[1] + columns.astype(np.int64)), shape)


def reached_entries(jacobian: Sequence[Sequence[fem.Form | None]], dofs: Sequence[np.ndarray], n: int) -> Pattern:
    """The pattern (n × n, the matrix's local indices) of every entry some integration entity of a block of
    ``jacobian`` couples; ``dofs`` from :func:`cell_dofs` per unknown.

    Each integral's pairs are reduced to their distinct keys before the next: on the 71k-DOF sphere of
    bench/sphere3d.yaml the pairs of all integrals at once (10M, with the cells' repeats) held 400 MB for a
    moment, more than the whole time loop adds later."""
    distinct = [np.empty(0, dtype=np.int64)]
    for i, row in enumerate(jacobian):
        for j, form in enumerate(row):
            if form is None:
                continue
            cpp = form._cpp_object
            for kind in cpp.integral_types:
                for k in range(cpp.num_integrals(kind, 0)):
                    cells = _entity_cells(cpp, kind, k)
                    rows = dofs[i][cells].reshape(cells.shape[0], cells.shape[1] * dofs[i].shape[1])
                    cols = dofs[j][cells].reshape(cells.shape[0], cells.shape[1] * dofs[j].shape[1])
                    keys = rows[:, :, None] * n + cols[:, None, :]
                    keys = keys[(rows >= 0)[:, :, None] & (cols >= 0)[:, None, :]]
                    distinct.append(np.unique(keys))
    return _pattern_of_keys(np.unique(np.concatenate(distinct)), (n, n))


def _owned_entries(A: PETSc.Mat, rows: np.ndarray, columns: np.ndarray) -> Pattern:
    """The pattern of the rows this rank owns (local rows, global columns): its own ``rows``/``columns``
    (global indices) and those the other ranks send it, the diagonal included. Collective."""
    comm = A.comm.tompi4py()
    ranges = np.asarray(A.getOwnershipRanges(), dtype=np.int64)
    owner = np.searchsorted(ranges, rows, side="right") - 1
    received = comm.alltoall([np.stack([rows[owner == rank], columns[owner == rank]]) for rank in range(comm.size)])
    start, end = A.getOwnershipRange()
    diagonal = np.arange(start, end, dtype=np.int64)
    owned_rows = np.concatenate([*(r[0] for r in received), diagonal]) - start
    owned_columns = np.concatenate([*(r[1] for r in received), diagonal])
    return _pattern(owned_rows, owned_columns, (end - start, A.getSize()[1]))


def local_reached_entries(problem: dolfinx.fem.petsc.NonlinearProblem, unknowns: Sequence[fem.Function],
                          entity_maps: Sequence[Any]) -> Pattern | None:
    """:func:`reached_entries` of ``problem``'s Jacobian forms in the matrix's local indices (owned and ghost
    rows of every block); None without entity maps or with an unknown of block size > 1 (not worked out)."""
    if not entity_maps or any(u.function_space.dofmap.index_map_bs != 1 for u in unknowns):
        return None
    index_sets = create_index_sets([(u.function_space.dofmap.index_map, 1) for u in unknowns])
    dofs = [cell_dofs(u, entity_maps, iset.getIndices()) for u, iset in zip(unknowns, index_sets, strict=True)]
    n_local = sum(iset.getSize() for iset in index_sets)  # owned and ghost indices of every block
    return reached_entries(problem.J, dofs, n_local)


def prune_unreached_entries(problem: dolfinx.fem.petsc.NonlinearProblem, unknowns: Sequence[fem.Function],
                            entity_maps: Sequence[Any]) -> int:
    """Preallocate ``problem``'s Jacobian matrix again without the entries no integral reaches (unknowns of
    block size 1); returns how many stored entries were removed on all ranks. Collective."""
    A = problem.A
    local = local_reached_entries(problem, unknowns, entity_maps)
    if local is None:
        return 0
    row_map, column_map = A.getLGMap()
    owned = _owned_entries(A, row_map.apply(local.rows().astype(PETSc.IntType)).astype(np.int64),
                           column_map.apply(local.indices.astype(PETSc.IntType)).astype(np.int64))
    before = int(A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_allocated"])
    A.setPreallocationCSR((owned.indptr.astype(PETSc.IntType), owned.indices.astype(PETSc.IntType)))
    A.assemble()
    A.setOption(PETSc.Mat.Option.IGNORE_ZERO_ENTRIES, True)
    A.setOption(PETSc.Mat.Option.NEW_NONZERO_ALLOCATION_ERR, False)
    return before - int(A.getInfo(PETSc.Mat.InfoType.GLOBAL_SUM)["nz_allocated"])

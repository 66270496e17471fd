"""The SNES Jacobian of a blocked system where no block is fused: DOLFINx's blocked assembly, prepared once.

DOLFINx's ``NonlinearProblem`` Jacobian (``dolfinx.fem.petsc.assemble_jacobian``) works out at every call
what does not change between calls: the function spaces of every block and their index sets, the
packing of every block's constants and coefficients through the Python wrappers (a type check per
block), a flush of the matrix and a second pass over all blocks to set the diagonal of Dirichlet rows
(the coupled cell problem has none). On a small system that is most of the cost: measured on a
sphere-1d run (43 DOFs, nine blocks, one rank) 0.62–0.68 ms per Jacobian through DOLFINx, 0.25–0.33 ms here.

:class:`BlockJacobian` assembles the same compiled Jacobian blocks (:attr:`NonlinearProblem.J`) in the same
order through the same kernels into the same local submatrices (x copied into the unknowns by
:class:`~ecmx.solver.fem.block_residual.BlockArrays`), so the matrix is DOLFINx's bit for bit; it
is the Jacobian callback where :class:`~ecmx.solver.fem.fused_jacobian.FusedJacobian` fuses nothing, and
holds the blocks that one does not fuse, the unknowns' index sets and the copy of x into the unknowns
(:meth:`BlockJacobian.assign`) for it (it assembles those blocks into CSR matrices of their own and puts
all values into A through PETSc's COO interface). Collective.
"""

from __future__ import annotations

from collections.abc import Sequence

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
from dolfinx import fem
from dolfinx.cpp.fem import pack_coefficients, pack_constants
from dolfinx.cpp.fem.petsc import assemble_matrix as _assemble_block
from dolfinx.cpp.la.petsc import create_index_sets
from petsc4py import PETSc

from ecmx.solver.fem.block_residual import BlockArrays


class BlockJacobian:
    """Jacobian blocks of a blocked system, assembled block by block into a blocked AIJ matrix.

    Args:
        blocks: (row, column, compiled block form) of every block to assemble, in assembly order.
        unknowns: the unknowns, in block order (set to x before assembly).
    """

    def __init__(self, blocks: Sequence[tuple[int, int, fem.Form]], unknowns: Sequence[fem.Function]) -> None:
        self._unknowns = list(unknowns)
        self.blocks: list[tuple[int, int, fem.Form]] = list(blocks)
        """The blocks assembled: (row, column, compiled form)."""
        self._compiled = [(i, j, form._cpp_object) for i, j, form in self.blocks]
        index_sets = create_index_sets([(u.function_space.dofmap.index_map, u.function_space.dofmap.index_map_bs)
                                        for u in self._unknowns])
        self.index_sets: list[PETSc.IS] = list(index_sets)
        """Each unknown's local indices in the blocked matrix (owned and ghost)."""
        self._arrays: BlockArrays | None = None

    @classmethod
    def of(cls, jacobian: Sequence[Sequence[fem.Form | None]], unknowns: Sequence[fem.Function]) -> BlockJacobian:
        """All blocks of ``jacobian`` (rows by unknowns; None for an empty block), row by row."""
        return cls([(i, j, form) for i, row in enumerate(jacobian) for j, form in enumerate(row) if form is not None],
                   unknowns)

    def attach(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """Make this the Jacobian callback of ``problem``'s SNES (its matrix A, no separate preconditioner)."""
        if problem.P_mat is not None:
            raise ValueError("a block Jacobian does not assemble a separate preconditioner matrix")
        self.prepare(problem)
        problem.solver.setJacobian(self._assemble, problem.A)

    def prepare(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """Work out the copies from ``problem``'s x into the unknowns (before :meth:`assign`)."""
        self._arrays = BlockArrays(problem.x, self._unknowns)

    def assign(self, x: PETSc.Vec) -> None:
        """The unknowns set to x (ghosts updated; after :meth:`prepare`). Collective."""
        self._arrays.assign(x)

    def _assemble(self, _snes: PETSc.SNES, x: PETSc.Vec, A: PETSc.Mat, _P: PETSc.Mat) -> None:
        """The Jacobian at x into A (unknowns set to x first, as DOLFINx does), block by block through local
        submatrices. Collective."""
        self.assign(x)
        A.zeroEntries()
        iss = self.index_sets
        for i, j, form in self._compiled:
            sub = A.getLocalSubMatrix(iss[i], iss[j])
            _assemble_block(sub, form, pack_constants(form), pack_coefficients(form), [], True)
            A.restoreLocalSubMatrix(iss[i], iss[j], sub)
        A.assemble()

"""The Jacobian of the coupled residual, with one cell kernel per group of unknowns that share a space.

DOLFINx assembles a blocked Jacobian block by block: every (row, column) block of unknowns runs its
own kernel over the cells and adds its values through a local submatrix of the global AIJ matrix.
Where several unknowns live on one function space (ĉ and φ̂_e of the resolved electrolyte, θ and μ̂
of a phase-field particle) their 2×2 cell blocks cost four passes over the same cells, and inserting
values through a local submatrix whose columns are not sorted in the global numbering is slow. Here
the cell integrals of such a group are assembled as one form on the blocked space (the unknowns as
the components of a vector): one kernel and one pass per cell, into DOLFINx's own block CSR matrix
(one n × n block per pair of nodes: a fifth to a quarter cheaper than its expanded, scalar layout).

The interface (Γ, interior-facet) integrals of all blocks are one more such group: one form on the
blocked P1 space of the parent mesh, one component per unknown, whose nodes are mapped onto each
unknown's dofs (θ on the particle side, ĉ and φ̂_e on the electrolyte side, the one dof of the real
V̂ at every node: the P1 basis sums to one). Every Γ block had evaluated the Butler–Volmer flux and the
OCV table again; measured on the NVP sphere at 9 701 DOFs (one rank): the eleven Γ blocks 43 ms, the Γ
group 11 ms (kernel and insertion), the Jacobian 65 → 43 ms. Exterior-facet integrals, and every block
outside a group, are assembled block by block, each into a DOLFINx CSR matrix of its own.

All these parts' values go into the global matrix at once through PETSc's COO interface
(:class:`~ecmx.solver.fem.coo_assembly.CooAssembly`: A preallocated once with the entries they reach and
the diagonal, then one ``MatSetValuesCOO`` per Jacobian); before, each group added its values row by row
(``MatSetValuesLocal``) and the other blocks went through local submatrices, cell by cell.

Measured on cases/nvp.yaml's mesh (3 053 DOFs, 5 547 electrolyte cells, one rank, CPU time):
the four electrolyte cell blocks 17.4 ms, the fused kernel 5.7 ms + 1.5 ms to add its values row by row;
with the COO interface all parts' values go into A in 0.3-0.4 ms (:mod:`~ecmx.solver.fem.coo_assembly`).

The values are those of the blocked assembly up to the order of floating-point additions (round-off),
and the Jacobian forms (:attr:`dolfinx.fem.petsc.NonlinearProblem.J`, which the impedance linearises)
are unchanged; only the SNES Jacobian callback differs. Collective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import basix.ufl
import dolfinx.fem.petsc
import dolfinx.la
import numpy as np
import ufl
from dolfinx import fem
from dolfinx.fem.forms import derivative_block
from petsc4py import PETSc
from ufl.algorithms.apply_algebra_lowering import apply_algebra_lowering
from ufl.algorithms.apply_derivatives import apply_derivatives

from ecmx.solver.fem.block_jacobian import BlockJacobian
from ecmx.solver.fem.coo_assembly import CooAssembly, CsrPart
from ecmx.solver.fem.interface_space import interface_space, interface_targets, split_interface
from ecmx.solver.fem.sparsity import local_reached_entries


def shared_space_groups(unknowns: Sequence[fem.Function]) -> list[tuple[int, int]]:
    """(first, count) of each run of ≥ 2 consecutive unknowns on one (not real) function space."""
    groups, start = [], 0
    for i in range(1, len(unknowns) + 1):
        if i == len(unknowns) or unknowns[i].function_space is not unknowns[start].function_space:
            space = unknowns[start].function_space
            if i - start >= 2 and not getattr(space.ufl_element(), "is_real", False):
                groups.append((start, i - start))
            start = i
    return groups


def jacobian_blocks(residuals: Sequence[ufl.Form], unknowns: Sequence[fem.Function]) -> list[list[ufl.Form | None]]:
    """The Jacobian blocks dF_i/du_j with their derivatives applied: UFL's ``expand_derivatives`` of each
    block, with its algebra lowering done once per residual instead of once per block (the same forms, to
    their signatures: the same compiled kernels; on cases/nvp.yaml 0.34 -> 0.29 s of set-up)."""
    lowered = [apply_algebra_lowering(f) for f in residuals]
    return [[apply_derivatives(f) if f is not None else None for f in row]
            for row in derivative_block(lowered, list(unknowns))]


def _explicit_degrees(jacobian: Sequence[Sequence[ufl.Form | None]], group: tuple[int, int]) -> bool:
    """Whether every cell integral of the group's blocks sets its quadrature degree. UFL estimates a degree
    per sum of integrands with the same measure, so fusing blocks without one would integrate each block
    at the largest degree of all of them (other values); such a group is assembled block by block."""
    start, count = group
    return all("quadrature_degree" in integral.metadata()
               for row in jacobian[start:start + count] for form in row[start:start + count] if form is not None
               for integral in form.integrals() if integral.integral_type() == "cell")


def _split_cell(form: ufl.Form | None) -> tuple[ufl.Form | None, ufl.Form | None]:
    """(cell integrals, other integrals) of a form (derivatives applied: zero blocks have no integral);
    None where there are none."""
    if form is None:
        return None, None
    cell = [i for i in form.integrals() if i.integral_type() == "cell"]
    other = [i for i in form.integrals() if i.integral_type() != "cell"]
    return (ufl.Form(cell) if cell else None), (ufl.Form(other) if other else None)


def _form_of(integrals: list[ufl.Integral]) -> ufl.Form | None:
    """The form of ``integrals``; None where there are none."""
    return ufl.Form(integrals) if integrals else None


def _local_targets(space: fem.FunctionSpace, blocked: fem.FunctionSpace, index_sets: Sequence[PETSc.IS]) -> np.ndarray:
    """For each local dof (node m, component k → m·n + k) of the blocked space, the local index
    of the same node of unknown k in the global matrix (the node numberings are matched cell by cell)."""
    node = np.empty(blocked.dofmap.index_map.size_local + blocked.dofmap.index_map.num_ghosts, dtype=np.int64)
    node[blocked.dofmap.list.ravel()] = space.dofmap.list.ravel()
    n = len(index_sets)
    targets = np.empty(n * node.size, dtype=PETSc.IntType)
    for k, iset in enumerate(index_sets):
        targets[k::n] = iset.getIndices()[node]
    return targets


def _block_part(i: int, j: int, form: fem.Form, index_sets: Sequence[PETSc.IS]) -> CsrPart:
    """The CSR part of the Jacobian block (i, j) (rows of unknown i, columns of unknown j)."""
    matrix = fem.create_matrix(form, block_mode=dolfinx.la.BlockMode.compact)
    spaces = form.function_spaces
    pairs = np.ones((spaces[0].dofmap.index_map_bs, spaces[1].dofmap.index_map_bs), dtype=bool)
    return CsrPart(form, matrix, (index_sets[i].getIndices(), index_sets[j].getIndices()), pairs)


class FusedJacobian:
    """The SNES Jacobian of a blocked residual with the cell blocks of each shared-space group fused.

    Args:
        residuals: one UFL residual form per unknown (the rows).
        unknowns: the unknowns, in block order.
        entity_maps: the submesh entity maps of the forms.
        groups: (first, count) of the groups to fuse (:func:`shared_space_groups`); not empty.
    """

    def __init__(self, residuals: Sequence[ufl.Form], unknowns: Sequence[fem.Function], entity_maps: Sequence[Any],
                 groups: Sequence[tuple[int, int]]) -> None:
        self._unknowns = list(unknowns)
        self._entity_maps = list(entity_maps)
        self._spaces: dict[tuple[int, int], fem.FunctionSpace] = {}
        jacobian = jacobian_blocks(residuals, self._unknowns)
        groups = [g for g in groups if _explicit_degrees(jacobian, g)]
        fused: list[list[ufl.Integral]] = [[] for _ in groups]  # one Form of each list at the end (a Form per
        # sum would traverse every integrand again)
        self._pairs = [np.zeros((count, count), dtype=bool) for _, count in groups]  # blocks with cell integrals
        blocks: list[tuple[int, int, fem.Form]] = []
        n = len(self._unknowns)
        parent = interface_space(self._unknowns, jacobian)  # P1 on the parent mesh: all Γ blocks in one kernel
        interface: list[ufl.Integral] = []
        interface_pairs = np.zeros((n, n), dtype=bool)  # blocks with Γ (interior-facet) integrals
        for i, row in enumerate(jacobian):
            for j, form in enumerate(row):
                g = next((n for n, (s, c) in enumerate(groups) if s <= i < s + c and s <= j < s + c), None)
                cell, other = _split_cell(form) if g is not None else (None, form if form and form.integrals() else None)
                if cell is not None:
                    start, count = groups[g]
                    fused[g] += self._component_integrals(cell, self._unknowns[start].function_space, count,
                                                          (i - start, j - start))
                    self._pairs[g][i - start, j - start] = True
                facet, other = split_interface(other) if parent is not None else (None, other)
                if facet is not None:
                    interface += self._component_integrals(facet, parent, n, (i, j))
                    interface_pairs[i, j] = True
                compiled = fem.form(other, entity_maps=self._entity_maps) if other is not None else None
                if compiled is not None and compiled._cpp_object.integral_types:  # zero blocks compile to no integral
                    blocks.append((i, j, compiled))
        self._fused_ufl = [(self._group_targets(group), form, pairs)
                           for group, form, pairs in zip(groups, map(_form_of, fused), self._pairs, strict=True)
                           if form is not None]
        if interface:
            blocked, unknowns, maps = self._blocked_space(parent, n), self._unknowns, self._entity_maps
            self._fused_ufl.append((lambda iss: interface_targets(blocked, unknowns, maps, [i.getIndices() for i in iss]),
                                    ufl.Form(interface), interface_pairs))
        self._rest = BlockJacobian(blocks, self._unknowns)  # the blocks outside the fused groups
        self._groups: list[CsrPart] = []  # the fused groups, compiled with the first matrix
        self._coo: CooAssembly | None = None

    def _component_integrals(self, block: ufl.Form, space: fem.FunctionSpace, count: int,
                             components: tuple[int, int]) -> list[ufl.Integral]:
        """The integrals of a Jacobian block with its test and trial functions replaced by the ``components``
        (test, trial) of the blocked space of ``count`` components of ``space``."""
        blocked = self._blocked_space(space, count)
        test, trial = sorted(block.arguments(), key=lambda a: a.number())
        mapping = {test: ufl.TestFunction(blocked)[components[0]], trial: ufl.TrialFunction(blocked)[components[1]]}
        return [i.reconstruct(integrand=ufl.replace(i.integrand(), mapping)) for i in block.integrals()]

    def _group_targets(self, group: tuple[int, int]) -> Callable[[Sequence[PETSc.IS]], np.ndarray]:
        """The targets (:func:`_local_targets`) of a group of unknowns on one space, from all unknowns' index sets."""
        start, count = group
        space = self._unknowns[start].function_space
        blocked = self._blocked_space(space, count)
        return lambda index_sets: _local_targets(space, blocked, index_sets[start:start + count])

    def _blocked_space(self, space: fem.FunctionSpace, count: int) -> fem.FunctionSpace:
        """The space of ``count`` components of ``space``'s element (one per unknown of a group)."""
        key = (id(space), count)
        if key not in self._spaces:
            element = basix.ufl.blocked_element(space.ufl_element(), shape=(count,))
            self._spaces[key] = fem.functionspace(space.mesh, element)
        return self._spaces[key]

    def attach(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """Make this the Jacobian callback of ``problem``'s SNES (its matrix A, no separate preconditioner) and
        preallocate A with the entries the Jacobian reaches (:class:`~ecmx.solver.fem.coo_assembly.CooAssembly`)."""
        if problem.P_mat is not None:
            raise ValueError("a fused Jacobian does not assemble a separate preconditioner matrix")
        self._rest.prepare(problem)
        if self._coo is None:
            self._coo = self._build_parts()
        self._coo.preallocate(problem.A, local_reached_entries(problem, self._unknowns, self._entity_maps))
        problem.solver.setJacobian(self._assemble, problem.A)

    def _build_parts(self) -> CooAssembly:
        """Compile the fused forms and give every part its CSR matrix and A's local index of each of its dofs."""
        index_sets = self._rest.index_sets
        for targets_of, form, pairs in self._fused_ufl:
            compiled = fem.form(form, entity_maps=self._entity_maps)
            matrix = fem.create_matrix(compiled, block_mode=dolfinx.la.BlockMode.compact)
            targets = targets_of(index_sets)
            self._groups.append(CsrPart(compiled, matrix, (targets, targets), pairs))
        blocks = [_block_part(i, j, form, index_sets) for i, j, form in self._rest.blocks]
        return CooAssembly(blocks + self._groups)

    def _assemble(self, _snes: PETSc.SNES, x: PETSc.Vec, A: PETSc.Mat, _P: PETSc.Mat) -> None:
        """The Jacobian at x into A: every part into its CSR matrix, then all their values into A at once."""
        self._rest.assign(x)
        for part in self._coo.parts:
            part.assemble()
        self._coo.set_values(A)

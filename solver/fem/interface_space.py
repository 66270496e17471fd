"""The interface Γ as one kernel: the Γ (interior-facet) integrals of every unknown block written on the
blocked P1 space of the parent mesh, one component per unknown.

The unknowns live on the particle submesh (θ, μ̂), the electrolyte submesh (ĉ, φ̂_e) or are real (V̂, one
dof). On Γ each is a P1 function of the parent mesh's nodes on its side (a submesh cell keeps the parent
cell's vertex order) or, for a real unknown, the sum of all the parent P1 basis functions (they sum to
one). So the Γ integrals of all Jacobian blocks are one form on the parent space
with n components, assembled by one kernel that evaluates the Butler–Volmer flux and the OCV table once
per quadrature point, and its values are mapped onto the unknowns' dofs by :func:`interface_targets`
(:mod:`ecmx.solver.fem.fused_jacobian`). Measured and not adopted for the residual: there each row
evaluates the flux once (three Γ rows, not eleven Γ blocks), and the one Γ kernel with the mapping of its
values cost as much as the three rows' Γ integrals (≈ 2.2 ms at 9 701 DOFs).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import basix
import numpy as np
import ufl
from dolfinx import fem
from petsc4py import PETSc

from ecmx.solver.fem.sparsity import cell_dofs


def split_interface(form: ufl.Form | None) -> tuple[ufl.Form | None, ufl.Form | None]:
    """(interior-facet integrals, other integrals) of a form; None where there are none."""
    if form is None:
        return None, None
    facet = [i for i in form.integrals() if i.integral_type() == "interior_facet"]
    other = [i for i in form.integrals() if i.integral_type() != "interior_facet"]
    return (ufl.Form(facet) if facet else None), (ufl.Form(other) if other else None)


def _is_real(u: fem.Function) -> bool:
    return bool(getattr(u.function_space.ufl_element(), "is_real", False))


def _is_p1(u: fem.Function) -> bool:
    element = u.function_space.element.basix_element
    return u.function_space.dofmap.index_map_bs == 1 and element.degree == 1 and element.family == basix.ElementFamily.P


def interface_space(unknowns: Sequence[fem.Function],
                    forms: Sequence[Sequence[ufl.Form | None]]) -> fem.FunctionSpace | None:
    """The scalar P1 space of the parent mesh (the mesh of a real unknown) when the interior-facet (Γ)
    integrals of all ``forms`` (residual rows or Jacobian blocks, in rows) can share one kernel on its
    blocked space: every unknown scalar P1 (on the parent mesh or a submesh of it) or real, and every
    such integral with its quadrature degree set (UFL would otherwise integrate the sum at its largest
    estimated degree); None otherwise."""
    facets = [i for row in forms for form in row if form is not None for i in form.integrals()
              if i.integral_type() == "interior_facet"]
    reals = [u for u in unknowns if _is_real(u)]
    p1 = all(_is_real(u) or _is_p1(u) for u in unknowns)
    if not facets or not reals or not p1 or not all("quadrature_degree" in i.metadata() for i in facets):
        return None
    return fem.functionspace(reals[0].function_space.mesh, ("Lagrange", 1))


def interface_targets(blocked: fem.FunctionSpace, unknowns: Sequence[fem.Function], entity_maps: Sequence[Any],
                      indices: Sequence[np.ndarray]) -> np.ndarray:
    """For each local dof (node m, component k → m·n + k) of the blocked parent P1 space, the index
    ``indices[k][d]`` (the place in the global matrix or vector) of unknown k's local dof d at that node:
    the one dof of a real unknown at every node, −1 where the node is not in unknown k's (sub)mesh (nodes
    matched cell by cell: a submesh cell keeps the parent cell's vertex order)."""
    n, nodes = len(unknowns), blocked.dofmap.list
    index_map = blocked.dofmap.index_map
    targets = np.full(n * (index_map.size_local + index_map.num_ghosts), -1, dtype=PETSc.IntType)
    for k, (u, index) in enumerate(zip(unknowns, indices, strict=True)):
        dofs = cell_dofs(u, entity_maps, index)
        if dofs.shape[1] == 1:  # a real unknown
            targets[k::n] = dofs[0, 0]
            continue
        present = dofs[:, 0] >= 0
        targets[nodes[present].ravel() * n + k] = dofs[present].ravel()
    return targets

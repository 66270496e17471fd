"""Nodal copies between Lagrange spaces of one mesh, for the mechanics' per-step field updates (issue 14).

A P1 space's nodes are the mesh vertices, which are nodes of every Lagrange space of degree ≥ 1 on the
same mesh: interpolating a P_k function into P1 takes its values there. :func:`nodal_indices` finds, once,
the source dof at every target dof, so that each later interpolation is one numpy gather
(``target.x.array[:] = source.x.array[indices]``): on the fine comparison's particle (96 777 P2 DOFs) the
P2 → P1 displacement took 10-28 ms per accepted step through DOLFINx's generic interpolation.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
from dolfinx import fem

from ecmx.solver.fem.models import interpolate


def nodal_indices(target: fem.FunctionSpace, source: fem.FunctionSpace) -> np.ndarray:
    """For every local (owned and ghost, blocked) dof of the P1 space ``target``, the local dof of
    ``source`` (a Lagrange space of degree ≥ 1 on the same mesh, same block size) at the same node and
    component, so that ``target.x.array[:] = source.x.array[indices]`` is the interpolation.

    Raises:
        ValueError: a target node that is not a node of ``source``.
    """
    index = fem.Function(source)
    index.x.array[:] = np.arange(index.x.array.size, dtype=float)
    found = fem.Function(target)
    interpolate(found, index)
    indices = np.rint(found.x.array).astype(np.int64)
    bs = target.dofmap.index_map_bs
    if source.dofmap.index_map_bs != bs or not np.array_equal(indices % bs, np.arange(indices.size) % bs):
        raise ValueError("the target space's nodes are not nodes of the source space (components differ)")
    at = source.tabulate_dof_coordinates()[indices[::bs] // bs]
    if not np.allclose(at, target.tabulate_dof_coordinates(), rtol=0.0, atol=1e-9 * max(np.abs(at).max(), 1.0)):
        raise ValueError("the target space's nodes are not nodes of the source space")
    return indices

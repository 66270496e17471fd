"""A cell partitioner that balances the particle and the electrolyte cells over the ranks separately.

The graph partitioner balances the number of cells per rank. A particle in its electrolyte box is one
compact region, so a partition of the whole mesh puts most particle cells on some ranks: measured on
bench/sphere3d.yaml (194k tetrahedra, 2 ranks) 30 965 against 10 745 particle cells with 98k and 96k
cells in all. The particle unknowns (θ, and the P2 displacement of the mechanics, most of the DOFs)
then sit mostly on one rank: resident memory after the first mechanics solve 742 against 425 MB, and
that rank does most of the particle work.

:func:`domain_balanced_partitioner` partitions the dual graph of the particle cells and that of the
electrolyte cells each with the default graph partitioner, and ghosts every cell on the ranks that own
a facet neighbour (shared-facet ghosting, as interface integrals on process boundaries need). It
applies when one rank holds every cell (the mesh is read on rank 0); otherwise it defers to the
default graph partitioner.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import dolfinx
import dolfinx.graph
import numpy as np
from mpi4py import MPI


def domain_balanced_partitioner(in_particle: np.ndarray) -> Callable[..., Any]:
    """A DOLFINx cell partitioner (shared-facet ghosting) that balances each domain over the ranks.

    Args:
        in_particle: on the rank that holds the cells, whether each input cell (in the order given to
            ``create_mesh``) is a particle cell; an empty array on the other ranks.
    """
    base = dolfinx.graph.partitioner()

    def partition(comm: MPI.Comm, nparts: int, graph: Any, ghosting: bool) -> Any:
        holders = comm.allreduce(int(graph.num_nodes > 0), op=MPI.SUM)
        matches = comm.allreduce(int(graph.num_nodes == in_particle.size), op=MPI.MIN)
        if nparts == 1 or holders != 1 or not matches:
            return base(comm, nparts, graph, ghosting)
        offsets, targets = np.asarray(graph.offsets), np.asarray(graph.array)
        sources = np.repeat(np.arange(graph.num_nodes), np.diff(offsets))
        owner = np.zeros(graph.num_nodes, dtype=np.int32)
        for domain in (True, False):
            cells = np.flatnonzero(in_particle == domain) if graph.num_nodes else np.empty(0, dtype=np.int64)
            if comm.allreduce(cells.size, op=MPI.SUM):
                owner[cells] = _owners(comm, nparts, base, cells, sources, targets, graph.num_nodes)
        return _destinations(owner, sources, targets, ghosting)

    return dolfinx.mesh.create_cell_partitioner(partition, dolfinx.mesh.GhostMode.shared_facet, 2)


def _owners(comm: MPI.Comm, nparts: int, base: Any, cells: np.ndarray, sources: np.ndarray, targets: np.ndarray,
            num_nodes: int) -> np.ndarray:
    """The owning rank of each of ``cells`` from the base partitioner on their own dual graph (collective)."""
    number = np.full(num_nodes, -1, dtype=np.int64)
    number[cells] = np.arange(cells.size)
    keep = (number[sources] >= 0) & (number[targets] >= 0) if cells.size else np.zeros(0, dtype=bool)
    sub_sources, sub_targets = number[sources[keep]], number[targets[keep]]
    sub_offsets = np.zeros(cells.size + 1, dtype=np.int32)
    np.cumsum(np.bincount(sub_sources, minlength=cells.size), out=sub_offsets[1:])
    sub = dolfinx.cpp.graph.AdjacencyList_int64(sub_targets.astype(np.int64), sub_offsets)
    parts = base(comm, nparts, sub, False)
    return np.asarray(parts.array, dtype=np.int32)[np.asarray(parts.offsets)[:-1]] if cells.size else np.empty(0, np.int32)


def _destinations(owner: np.ndarray, sources: np.ndarray, targets: np.ndarray, ghosting: bool) -> Any:
    """Each cell's owner, then (with ghosting) every other rank that owns one of its facet neighbours."""
    n = owner.size
    if ghosting:
        other = owner[targets] != owner[sources]
        pairs = np.unique(np.stack([sources[other], owner[targets[other]]]), axis=1)
    else:
        pairs = np.empty((2, 0), dtype=np.int64)
    cells = np.concatenate([np.arange(n), pairs[0]])
    ranks = np.concatenate([owner, pairs[1]]).astype(np.int32)
    order = np.lexsort((np.concatenate([np.zeros(n), np.ones(pairs.shape[1])]), cells))  # owner first per cell
    offsets = np.zeros(n + 1, dtype=np.int32)
    np.cumsum(np.bincount(cells, minlength=n), out=offsets[1:])
    return dolfinx.cpp.graph.AdjacencyList_int32(ranks[order], offsets)

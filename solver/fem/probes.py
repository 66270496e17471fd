"""Point evaluation of finite-element functions, collective over the mesh communicator.

:class:`PointEvaluator` builds the bounding-box tree of a mesh once (probes are evaluated every
step) and locates a set of points in the cells once (the mesh does not move; the last set's cells
are kept); :meth:`PointEvaluator.evaluate` evaluates every function given on that mesh. A point
takes the value of the first owned cell found on the lowest-ranked process that owns one; NaN where
no rank does. Every rank gets the same arrays.

With ``snap=True`` (particle meshes), a point that lies in no cell but within ``SNAP_FRACTION`` of
the nearest cell's diameter of the mesh takes the value at the nearest point of the mesh: the
faceted surface of a meshed sphere lies inside the true sphere (by the sagitta h²/(8R), a small
fraction of h for any mesh that resolves the particle), so a probe placed exactly on the particle
surface (r = R) falls just outside it between the vertices. A point farther away (e.g. in the
electrolyte half a cell off the particle) is not the particle's.
"""

from __future__ import annotations

from collections.abc import Mapping

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
from dolfinx import fem

SNAP_FRACTION = 0.25
"""Largest distance of a snapped point from the mesh, as a fraction of the nearest cell's diameter."""


class PointEvaluator:
    """Evaluates functions on one mesh at points in mesh coordinates.

    Args:
        mesh: the mesh the functions live on (a submesh for submesh functions).
        padding: bounding-box padding in mesh units (catches points on a cell boundary).
        snap: points in no cell but within ``SNAP_FRACTION`` of a cell diameter of the mesh take the
            value at the nearest point of the nearest cell (else NaN).
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, padding: float = 1e-10, snap: bool = False) -> None:
        self.mesh = mesh
        self._tree = dolfinx.geometry.bb_tree(mesh, mesh.topology.dim, padding=padding)
        self._snap = snap
        self._owned_tree: dolfinx.geometry.BoundingBoxTree | None = None
        self._midpoints: dolfinx.geometry.BoundingBoxTree | None = None
        self._located: tuple[bytes, tuple[np.ndarray, np.ndarray]] | None = None  # (points, their cells)

    def _owned_cells(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Indices of the points inside a cell owned by this rank, and those cells (the last call's
        result again for the same points)."""
        key = points.tobytes()
        if self._located is None or self._located[0] != key:
            self._located = (key, self._locate(points))
        return self._located[1]

    def _locate(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        msh = self.mesh
        candidates = dolfinx.geometry.compute_collisions_points(self._tree, points)
        colliding = dolfinx.geometry.compute_colliding_cells(msh, candidates, points)
        n_owned = msh.topology.index_map(msh.topology.dim).size_local
        found, cells = [], []
        for i in range(points.shape[0]):
            links = colliding.links(i)
            owned = links[links < n_owned]
            if owned.size:
                found.append(i)
                cells.append(owned[0])
        return np.asarray(found, dtype=np.int64), np.asarray(cells, dtype=np.int32)

    def evaluate(self, functions: Mapping[str, fem.Function], points: np.ndarray) -> dict[str, np.ndarray]:
        """Values of each function at points (N, k), k ≤ 3, in mesh coordinates (missing columns 0).

        Returns (N,) for a scalar function and (N, value size) otherwise; NaN where no rank owns a
        cell at the point. Collective.
        """
        given = np.asarray(points, dtype=float).reshape(len(points), -1)
        pts = np.zeros((given.shape[0], 3))
        pts[:, : given.shape[1]] = given
        found, cells = self._owned_cells(pts)
        out = self._combine(functions, self._values(functions, pts, found, cells))
        unfound = np.all([np.isnan(v.reshape(len(pts), -1)[:, 0]) for v in out.values()], axis=0)
        missing = np.flatnonzero(unfound & np.all(np.isfinite(pts), axis=1))
        if self._snap and missing.size and out:
            snapped = self._snapped(functions, pts[missing])
            for name, values in snapped.items():
                out[name][missing] = values
        return out

    @staticmethod
    def _values(functions: Mapping[str, fem.Function], pts: np.ndarray, found: np.ndarray,
                cells: np.ndarray) -> dict[str, np.ndarray]:
        """(N, size) values at pts[found] in ``cells`` (owned by this rank), NaN elsewhere."""
        local = {}
        for name, f in functions.items():
            size = int(np.prod(f.ufl_shape)) if f.ufl_shape else 1
            values = np.full((pts.shape[0], size), np.nan)
            if found.size:
                values[found] = f.eval(pts[found], cells).reshape(found.size, size)
            local[name] = values
        return local

    def _combine(self, functions: Mapping[str, fem.Function], local: dict[str, np.ndarray],
                 priority: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Every rank's values, each point from the rank with the lowest ``priority`` (default: the
        lowest rank) that has one; NaN where none has. On one rank: its own values, nothing gathered
        (the probes of every accepted step)."""
        if self.mesh.comm.size == 1:
            return {name: values if functions[name].ufl_shape else values[:, 0] for name, values in local.items()}
        gathered = self.mesh.comm.allgather((local, priority))
        out = {}
        for name, values in local.items():
            result = np.full_like(values, np.nan)
            best = np.full(values.shape[0], np.inf)
            for part, rank_priority in ((rank[name], p) for rank, p in gathered):
                key = np.zeros(values.shape[0]) if rank_priority is None else rank_priority
                take = ~np.isnan(part[:, 0]) & (np.isnan(result[:, 0]) | (key < best))
                result[take], best[take] = part[take], key[take]
            out[name] = result if functions[name].ufl_shape else result[:, 0]
        return out

    def _snapped(self, functions: Mapping[str, fem.Function], pts: np.ndarray) -> dict[str, np.ndarray]:
        """Values at the nearest point of the mesh for points within SNAP_FRACTION of a cell diameter of it
        (the nearest owned cell on each rank; the closest over the ranks wins). Collective."""
        msh, tdim = self.mesh, self.mesh.topology.dim
        n_owned = msh.topology.index_map(tdim).size_local
        if self._owned_tree is None:
            owned = np.arange(n_owned, dtype=np.int32)
            self._owned_tree = dolfinx.geometry.bb_tree(msh, tdim, entities=owned)
            self._midpoints = dolfinx.geometry.create_midpoint_tree(msh, tdim, owned)
        near = np.zeros(pts.shape[0], dtype=np.int32)
        distance = np.full(pts.shape[0], np.inf)
        if n_owned:
            near = dolfinx.geometry.compute_closest_entity(self._owned_tree, self._midpoints, msh, pts)
            distance = np.sqrt(dolfinx.geometry.squared_distance(msh, tdim, near, pts))
            distance[distance > SNAP_FRACTION * msh.h(tdim, near)] = np.inf
        close = np.flatnonzero(np.isfinite(distance))
        nearest = pts.copy()
        geometry = msh.geometry
        for i in close:
            vertices = geometry.x[geometry.dofmaps[0][near[i]]]
            nearest[i] = pts[i] + dolfinx.geometry.compute_distance_gjk(vertices, pts[i : i + 1])
        return self._combine(functions, self._values(functions, nearest, close, near[close]), distance)

"""Point evaluation of finite-element functions, collective over the mesh communicator.

:class:`PointEvaluator` builds the bounding-box tree of a mesh once (probes are evaluated every
step) and locates a set of points once (the mesh does not move; the last set's cells are kept);
:meth:`PointEvaluator.evaluate` evaluates every function given on that mesh. A point takes the
value of the first owned cell found on the lowest-ranked process that owns one; NaN where no rank
does. Every rank gets the same arrays.
"""

from __future__ import annotations

from collections.abc import Mapping

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
from dolfinx import fem


class PointEvaluator:
    """Evaluates functions on one mesh at points in mesh coordinates.

    Args:
        mesh: the mesh the functions live on (a submesh for submesh functions).
        padding: bounding-box padding in mesh units (catches points on a cell boundary).
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, padding: float = 1e-10) -> None:
        self.mesh = mesh
        self._tree = dolfinx.geometry.bb_tree(mesh, mesh.topology.dim, padding=padding)
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
        local = {}
        for name, f in functions.items():
            size = int(np.prod(f.ufl_shape)) if f.ufl_shape else 1
            values = np.full((pts.shape[0], size), np.nan)
            if found.size:
                values[found] = f.eval(pts[found], cells).reshape(found.size, size)
            local[name] = values
        gathered = self.mesh.comm.allgather(local)
        out = {}
        for name, values in local.items():
            result = np.full_like(values, np.nan)
            for part in (rank[name] for rank in gathered):
                take = np.isnan(result[:, 0]) & ~np.isnan(part[:, 0])
                result[take] = part[take]
            out[name] = result if functions[name].ufl_shape else result[:, 0]
        return out

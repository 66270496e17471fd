"""The phase boundary of a P1 stoichiometry field: the θ = 0.5 level set, measured cell by cell.

Within each cell θ is linear, so the level set is a point (interval), a straight segment (triangle)
or a plane triangle or quadrilateral (tetrahedron), and the region θ > 0.5 is a simplex, a simplex
minus a simplex, or a wedge. Both are measured exactly for the P1 field, with the measure weight of
the mesh's coordinate system (:mod:`ecmx.solver.physics.coordinates`: 4πr² for the radial interval
of ``sphere-1d``, 2πr for the axisymmetric meridian plane, 1 in 3D), so that the area and volumes are
true 3D amounts. Owned cells only, summed over the ranks (collective).

Sign convention: discharge inserts Na, so a two-phase particle forms a Na-rich shell (θ > 0.5)
around a Na-poor core (θ < 0.5). The equivalent front radius of that core–shell picture is
r_f = R (V_{θ<0.5}/V)^{1/3}: the radius of the sphere whose volume fraction of the particle
equals the core's (R the particle radius; for a sphere r_f is the front radius itself).
"""

from __future__ import annotations

from dataclasses import dataclass

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.physics.coordinates import CoordinateSystem

LEVEL = 0.5
"""The θ of the phase boundary (the symmetric regular solution's spinodal midpoint)."""


@dataclass(frozen=True)
class PhaseBoundary:
    """The θ = level set of a particle field, SI.

    Attributes:
        area_m2: area of the level set [m²].
        volume_m3: the particle volume [m³].
        volume_above_m3: the volume where θ > level (the Na-rich phase) [m³].
        radius_m: the equivalent core–shell front radius R (V_{θ<level}/V)^{1/3} [m].
    """

    area_m2: float
    volume_m3: float
    volume_above_m3: float
    radius_m: float


def measure_phase_boundary(theta: fem.Function, coordinates: CoordinateSystem, length_unit: float,
                           radius_m: float, level: float = LEVEL, scale: float = 1.0) -> PhaseBoundary:
    """Measure the θ = ``level`` set of a P1 field on its (particle sub)mesh. Collective.

    Args:
        theta: a P1 field on an interval, triangle or tetrahedron mesh: θ, or c_s with ``scale``.
        coordinates: the mesh's coordinate system (its measure weight).
        length_unit: metres per mesh unit.
        radius_m: the particle radius R [m] of the front radius.
        level: the θ of the boundary.
        scale: θ = theta/scale (c_s,max for a concentration field in mol/m³).
    """
    msh = theta.function_space.mesh
    tdim = msh.topology.dim
    owned = msh.topology.index_map(tdim).size_local
    nodes = msh.geometry.dofmaps[0][:owned, : tdim + 1]
    x = msh.geometry.x[nodes] * length_unit
    f = theta.x.array[theta.function_space.dofmap.list[:owned]] / scale - level
    measure = _MEASURES[tdim]
    area, volume, above = measure(x, f, coordinates)
    area, volume, above = msh.comm.allreduce(np.array([area, volume, above]), op=MPI.SUM)
    core = max(volume - above, 0.0) / volume if volume > 0 else 0.0
    return PhaseBoundary(float(area), float(volume), float(above), float(radius_m * core ** (1.0 / 3.0)))


def _ordered(x: np.ndarray, f: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vertices of each cell reordered with those where f > 0 first; (x, f, count above)."""
    order = np.argsort(f <= 0, axis=1, kind="stable")
    xs = np.take_along_axis(x, order[:, :, None], axis=1)
    return xs, np.take_along_axis(f, order, axis=1), np.count_nonzero(f > 0, axis=1)


def _cut(xa: np.ndarray, fa: np.ndarray, xb: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """Where f = 0 on the edge a–b (fa > 0 ≥ fb), by linear interpolation."""
    t = fa / (fa - fb)
    return xa + t[:, None] * (xb - xa)


def _weight(r: np.ndarray, coordinates: CoordinateSystem) -> np.ndarray:
    """The measure weight at radius r [m] (1, 2πr or 4πr²)."""
    return coordinates.angular_factor * r**coordinates.weight_degree


def _intervals(x: np.ndarray, f: np.ndarray, coordinates: CoordinateSystem) -> tuple[float, float, float]:
    """(area, volume, volume above) of radial intervals: the level set is a point r*, weighted
    w(r*); ∫ w dr = a r^(k+1)/(k+1) for w = a r^k."""
    a, k = coordinates.angular_factor, coordinates.weight_degree
    r = x[:, :, 0]

    def primitive(s: np.ndarray) -> np.ndarray:
        return a * s ** (k + 1) / (k + 1)

    xs, fs, n_above = _ordered(r[:, :, None], f)
    rs = xs[:, :, 0]
    volume = np.abs(primitive(r[:, 1]) - primitive(r[:, 0]))
    one = n_above == 1
    rc = _cut(rs[one, 0:1], fs[one, 0], rs[one, 1:2], fs[one, 1])[:, 0]
    above = volume[n_above == 2].sum() + np.abs(primitive(rs[one, 0]) - primitive(rc)).sum()
    return float(_weight(rc, coordinates).sum()), float(volume.sum()), float(above)


def _triangle_area(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    return 0.5 * np.linalg.norm(np.cross(b - a, c - a), axis=1)


def _triangle_measure(a: np.ndarray, b: np.ndarray, c: np.ndarray, coordinates: CoordinateSystem) -> np.ndarray:
    """∫ w dA over triangles (exact: area × w at the centroid for w = 1 or 2πr)."""
    return _triangle_area(a, b, c) * _weight((a[:, 0] + b[:, 0] + c[:, 0]) / 3.0, coordinates)


def _triangles(x: np.ndarray, f: np.ndarray, coordinates: CoordinateSystem) -> tuple[float, float, float]:
    """(area, volume, volume above) of meridian triangles: the level set is a segment, weighted by
    w at its midpoint (exact for w linear in r)."""
    xs, fs, n_above = _ordered(x, f)
    full = _triangle_measure(x[:, 0], x[:, 1], x[:, 2], coordinates)
    area, above = 0.0, float(full[n_above == 3].sum())
    for count, apex in ((1, 0), (2, 2)):  # the lone vertex: above (count 1) or below (count 2)
        sel = n_above == count
        p, fp = xs[sel, apex], fs[sel, apex]
        others = [i for i in range(3) if i != apex]
        q = [_cut(p, fp, xs[sel, i], fs[sel, i]) if count == 1 else _cut(xs[sel, i], fs[sel, i], p, fp)
             for i in others]
        length = np.linalg.norm(q[1] - q[0], axis=1)
        area += float((length * _weight(0.5 * (q[0][:, 0] + q[1][:, 0]), coordinates)).sum())
        corner = _triangle_measure(p, q[0], q[1], coordinates)
        above += float(corner.sum() if count == 1 else (full[sel] - corner).sum())
    return area, float(full.sum()), above


def _tet_volume(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> np.ndarray:
    return np.abs(np.einsum("ij,ij->i", np.cross(b - a, c - a), d - a)) / 6.0


def _tetrahedra(x: np.ndarray, f: np.ndarray, coordinates: CoordinateSystem) -> tuple[float, float, float]:
    """(area, volume, volume above) of tetrahedra (weight 1): the level set is a triangle (one vertex
    on its own side) or a quadrilateral (two and two), the region above a corner tetrahedron, the
    cell minus one, or a wedge split into three tetrahedra."""
    xs, fs, n_above = _ordered(x, f)
    full = _tet_volume(x[:, 0], x[:, 1], x[:, 2], x[:, 3])
    area, above = 0.0, float(full[n_above == 4].sum())
    for count, apex in ((1, 0), (3, 3)):
        sel = n_above == count
        p, fp = xs[sel, apex], fs[sel, apex]
        q = [_cut(p, fp, xs[sel, i], fs[sel, i]) if count == 1 else _cut(xs[sel, i], fs[sel, i], p, fp)
             for i in range(4) if i != apex]
        area += float(_triangle_area(*q).sum())
        corner = _tet_volume(p, *q)
        above += float(corner.sum() if count == 1 else (full[sel] - corner).sum())
    sel = n_above == 2
    (p1, p2, n1, n2), (f1, f2, g1, g2) = (xs[sel, i] for i in range(4)), (fs[sel, i] for i in range(4))
    q11, q12, q21, q22 = _cut(p1, f1, n1, g1), _cut(p1, f1, n2, g2), _cut(p2, f2, n1, g1), _cut(p2, f2, n2, g2)
    area += float((_triangle_area(q11, q12, q22) + _triangle_area(q11, q22, q21)).sum())
    wedge = _tet_volume(p1, q11, q12, p2) + _tet_volume(q11, q12, p2, q21) + _tet_volume(q12, p2, q21, q22)
    above += float(wedge.sum())
    return area, float(full.sum()), above


_MEASURES = {1: _intervals, 2: _triangles, 3: _tetrahedra}

"""Coordinate systems of the reduced meshes: one object per system instead of string comparisons.

ecmx solves one set of equations on three kinds of mesh:

- ``cartesian``: a 3D mesh, coordinates (x, y, z);
- ``axisymmetric``: a 2D mesh of the meridian half-plane, coordinates (r, z) with r = x ≥ 0, the
  symmetry axis at r = 0;
- ``spherical``: a 1D mesh of the radius, coordinate r ≥ 0 from the particle centre.

Convention, the one used everywhere: the **measure weight** w turns an integral over the reduced
mesh into the 3D integral, ∫_Ω f dV = ∫ f w dx, with w = 1, 2πr and 4πr² (r in the length unit
of the integral). Weak forms, means and totals all use this weight; the 2π and 4π cancel in weak
forms and means, and totals (volumes, currents, energies) come out in 3D units without a further
factor.

Nothing here depends on a mesh library: the weight is a UFL expression of a spatial coordinate,
and point mapping works on numpy arrays.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import ufl


@dataclass(frozen=True)
class CoordinateSystem:
    """A coordinate system of the reduced meshes (use the module constants, or :func:`by_name`).

    Attributes:
        name: ``"cartesian"``, ``"axisymmetric"`` or ``"spherical"`` (as written to summary.json).
        mesh_dimension: geometric dimension of its meshes (3, 2 or 1).
        weight_degree: polynomial degree of the measure weight in r (0, 1 or 2), for quadrature.
        angular_factor: 1, 2π or 4π: the weight is ``angular_factor · r**weight_degree``.
    """

    name: str
    mesh_dimension: int
    weight_degree: int
    angular_factor: float

    @property
    def is_reduced(self) -> bool:
        """True for the axisymmetric and spherical systems (a hoop strain u_r/r appears)."""
        return self.weight_degree > 0

    def measure_weight(self, x: Any, scale: Any = 1.0) -> Any:
        """The measure weight w(x) (UFL): 1, 2π(s·r) or 4π(s·r)², where r = x[0] in mesh units and
        ``scale`` s converts mesh units to the length unit of the integral."""
        if self.weight_degree == 0:
            return ufl.as_ufl(1.0)
        return self.angular_factor * (scale * x[0]) ** self.weight_degree

    def to_mesh_coordinates(self, points: np.ndarray, centre: Any = (0.0, 0.0, 0.0)) -> np.ndarray:
        """Cartesian points (N, 3) in the mesh's own coordinates, padded to 3 columns.

        Spherical: (|p − centre|, 0, 0); axisymmetric: (√(x² + y²), z, 0); cartesian: unchanged.
        Points with fewer than 3 columns are taken as already in mesh coordinates.
        """
        pts = np.asarray(points, dtype=float)
        pts = pts.reshape(-1, pts.shape[-1] if pts.ndim > 1 else 3)
        out = np.zeros((pts.shape[0], 3))
        if pts.shape[1] == 3 and self.name == "spherical":
            out[:, 0] = np.linalg.norm(pts - np.asarray(centre, dtype=float), axis=1)
        elif pts.shape[1] == 3 and self.name == "axisymmetric":
            out[:, 0] = np.hypot(pts[:, 0], pts[:, 1])
            out[:, 1] = pts[:, 2]
        else:
            k = min(pts.shape[1], self.mesh_dimension)
            out[:, :k] = pts[:, :k]
        return out


CARTESIAN = CoordinateSystem("cartesian", mesh_dimension=3, weight_degree=0, angular_factor=1.0)
AXISYMMETRIC = CoordinateSystem("axisymmetric", mesh_dimension=2, weight_degree=1, angular_factor=2.0 * math.pi)
SPHERICAL = CoordinateSystem("spherical", mesh_dimension=1, weight_degree=2, angular_factor=4.0 * math.pi)
SYSTEMS = {system.name: system for system in (CARTESIAN, AXISYMMETRIC, SPHERICAL)}


def by_name(name: str | CoordinateSystem) -> CoordinateSystem:
    """The coordinate system called ``name`` (a CoordinateSystem passes through).

    Raises:
        ValueError: an unknown name.
    """
    if isinstance(name, CoordinateSystem):
        return name
    try:
        return SYSTEMS[name]
    except KeyError:
        raise ValueError(f"coordinate system must be one of {', '.join(SYSTEMS)}, got {name!r}") from None

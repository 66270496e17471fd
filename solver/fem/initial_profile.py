"""The case's radial initial profile θ(r) (``initial.profile``) as a concentration field on the particle mesh.

Every point takes θ at its distance from the centre of the nearest particle (in the mesh's own
coordinates: r for sphere-1d, √(r² + (z − z_c)²) for axisymmetric-2d, |x − x_c| in 3D), times
c_s,max [mol/m³]. On sphere meshes the case loader has checked that the profile reaches the
radius; for other shapes (ellipsoids, irregular particles, agglomerates, mesh files) the farthest
particle node is checked here.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from ecmx.solver.config.profile import KEY, RadialProfile
from ecmx.solver.errors import CaseError
from ecmx.solver.fem.models import PointFunction


def mesh_centres(pmesh: Any) -> np.ndarray:
    """The particle centres (n, 3) in the mesh's own coordinates [mesh units]."""
    centres = np.asarray(pmesh.particle_centres, dtype=float).reshape(-1, 3)
    return np.vstack([pmesh.coordinates.to_mesh_coordinates(c[None, :], c)[0] for c in centres])


def centre_distance(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """Distance [mesh units] of the points x (3, n) [mesh units] from the nearest of ``centres`` (k, 3)."""
    d2 = ((x.T[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    return np.sqrt(d2.min(axis=1))


def profile_concentration(profile: RadialProfile, pmesh: Any, particle_mesh: Any, max_concentration: float,
                          case_file: Path | None = None) -> PointFunction:
    """c_s(x) = c_s,max θ(|x − x_c|) [mol/m³] for points x (3, n) in mesh units. Raises CaseError (naming
    ``case_file`` and initial.profile.radius) when a particle node lies beyond the profile's last radius.
    Collective."""
    centres, metres = mesh_centres(pmesh), float(pmesh.length_unit)
    nodes = particle_mesh.geometry.x
    local = float(centre_distance(nodes.T, centres).max()) * metres if nodes.size else 0.0
    farthest = particle_mesh.comm.allreduce(local, op=MPI.MAX)
    if farthest > profile.radius[-1] * (1.0 + 1e-9):
        raise CaseError(f"the profile ends at r = {profile.radius[-1]:g} m, the particle reaches {farthest:g} m from its"
                        " centre: expected radii covering [0, R]", file=case_file, key=f"{KEY}.radius")

    def field(x: np.ndarray) -> np.ndarray:
        return max_concentration * profile.at(centre_distance(x, centres) * metres)

    return field

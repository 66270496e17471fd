"""Geometry parameters of a case, converted to mesh units and hashed for the mesh cache.

The builders read only a :class:`MeshSpec`. Its values come from a validated
``ecmx.solver.config.Geometry`` (SI metres), whose schema has already checked every range, so this
module only converts units and resolves the mesh-file path.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

from ecmx.solver.config.geometry import MAX_MESH_CELLS

if TYPE_CHECKING:
    from ecmx.solver.config import Geometry

LENGTH_UNIT = 1e-6
"""Metres per mesh unit: meshes are in micrometres."""

BUILDER_VERSION = f"ecmx-meshes-5/gmsh-{version('gmsh')}"
"""Part of every cache key: bump it whenever a builder changes the meshes it makes.

The gmsh version comes from the package metadata, so importing this module does not load gmsh.
"""

MAX_CELLS = MAX_MESH_CELLS
"""Most cells (tetrahedra, triangles or intervals) in a mesh that ecmx builds or reads.

The schema's mesh estimate refuses larger meshes before gmsh runs; the builders and the mesh-file
reader check gmsh's own count against it after meshing or reading.
"""


@dataclass(frozen=True)
class MeshSpec:
    """Everything that determines a mesh; lengths in micrometres, None = builder default."""

    kind: str
    shape: str = "sphere"
    radius: float = 1.0
    semi_axes: tuple[float, float, float] | None = None
    seed: int = 0
    roughness: float = 0.15
    modes: int = 6
    thickness: float = 3.0
    width: float | None = None
    margin: float | None = None
    count: int = 4
    radius_mean: float = 1.0
    radius_std: float = 0.2
    min_gap: float = 0.1
    agglomerate_seed: int = 0
    size: float | None = None
    interface_size: float | None = None
    particle_size: float | None = None
    elements: int = 40
    order: int = 1
    file: str | None = None

    def cache_key(self) -> str:
        """sha256 of the parameters that matter for this kind and of the builder version."""
        relevant = set(_RELEVANT[self.kind])
        if self.shape != "ellipsoid":
            relevant -= {"semi_axes"}
        if self.shape != "irregular":
            relevant -= {"seed", "roughness", "modes"}
        if self.particle_size is None:  # the keys of meshes made before particle_size existed
            relevant -= {"particle_size"}
        data = {k: v for k, v in asdict(self).items() if k in relevant}
        text = json.dumps({"spec": data, "builder": BUILDER_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


_PARTICLE = {"shape", "radius", "semi_axes", "seed", "roughness", "modes"}
_BOX = {"thickness", "width", "margin"}
_SIZES = {"size", "interface_size", "particle_size", "order"}
_RELEVANT = {
    "sphere-1d": {"kind", "radius", "elements", "order", "width", "margin"},
    "axisymmetric-2d": {"kind"} | _PARTICLE | _BOX | _SIZES,
    "particle-in-electrolyte": {"kind"} | _PARTICLE | _BOX | _SIZES,
    "agglomerate": {"kind", "count", "radius_mean", "radius_std", "min_gap", "agglomerate_seed"}
    | _BOX
    | _SIZES,
    "mesh-file": {"kind", "file"},
}


def _um(value: float | None) -> float | None:
    return None if value is None else float(value) / LENGTH_UNIT


def _resolve(path: Path, source: str | Path | None) -> Path:
    """A relative mesh file path is relative to the case file (or, without one, the working dir)."""
    path = path.expanduser()
    if not path.is_absolute() and source is not None:
        path = Path(source).parent / path
    return path.resolve()


def spec_from_geometry(geometry: Geometry, source: str | Path | None = None) -> MeshSpec:
    """Convert a validated ``Geometry`` (SI) into a :class:`MeshSpec` (µm).

    A relative ``geometry.file`` is taken relative to `source` (the case file).
    """
    particle, electrolyte, agglomerate, mesh = geometry.particle, geometry.electrolyte, geometry.agglomerate, geometry.mesh
    semi_axes = particle.semi_axes
    return MeshSpec(
        kind=geometry.kind,
        shape=particle.shape,
        radius=_um(particle.radius),
        semi_axes=None if semi_axes is None else tuple(float(a) / LENGTH_UNIT for a in semi_axes),
        seed=particle.seed,
        roughness=particle.roughness,
        modes=particle.modes,
        thickness=_um(electrolyte.thickness),
        width=_um(electrolyte.width),
        margin=_um(electrolyte.margin),
        count=agglomerate.count,
        radius_mean=_um(agglomerate.radius_mean),
        radius_std=_um(agglomerate.radius_std),
        min_gap=_um(agglomerate.min_gap),
        agglomerate_seed=agglomerate.seed,
        size=_um(mesh.size),
        interface_size=_um(mesh.interface_size),
        particle_size=_um(mesh.particle_size),
        elements=mesh.elements,
        order=mesh.order,
        file=None if geometry.file is None else str(_resolve(Path(geometry.file), source)),
    )

"""Particle/electrolyte geometries: gmsh builders, a mesh cache, loading into DOLFINx, quality.

Coordinates are in micrometres (``ParticleMesh.length_unit = 1e-6`` m per mesh unit).

- :func:`build_mesh` (one rank): the cached .msh of a ``Geometry`` as a :class:`MeshFile`.
- :func:`load_mesh` (collective): build on rank 0 and load into DOLFINx as a :class:`ParticleMesh`.
- :func:`mesh_report` (collective): cells, vertices, minimum quality, particle volume, interface area.
"""

from ecmx.meshes.cache import MeshFile, build_mesh
from ecmx.meshes.loading import ParticleMesh, load_mesh, mesh_report, read_mesh

__all__ = ["MeshFile", "ParticleMesh", "build_mesh", "load_mesh", "mesh_report", "read_mesh"]

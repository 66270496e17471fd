"""Particle/electrolyte geometries: gmsh builders, a mesh cache, loading into DOLFINx, quality.

Coordinates are in micrometres (``ParticleMesh.length_unit = 1e-6`` m per mesh unit).

Geometry kinds (``geometry.kind``):

- ``particle-in-electrolyte``: one particle centred at the origin (sphere; ellipsoid with semi-axes
  a, b, c along x, y, z; irregular = seeded smooth random star-shaped perturbation of a sphere, see
  :class:`~ecmx.meshes.shapes.RadialPerturbation`) in a square box of side W (default: particle
  extent + 2 margin, margin 0.5 R), bottom wall a margin below the particle, Na-metal face
  ``thickness`` above its top.
- ``agglomerate``: N spheres, radii from a truncated normal distribution, placed without overlap at
  least ``min_gap`` apart (seeded random sequential placement), in one electrolyte box.
- ``axisymmetric-2d``: the (r, z) half plane, x[0] = r, x[1] = z; the axis r = 0 is part of ``walls``.
- ``sphere-1d``: the interval r in [0, R], graded toward r = R; the interface is the point r = R.
- ``mesh-file``: a user's .msh in micrometres with the same physical group names.

Physical groups: ``particle_1..particle_N`` (cell tags 1..N), ``electrolyte`` (1000), ``interface``
(1001), ``na_metal`` (1002), ``walls`` (1003). Built meshes are cached by a hash of their parameters
in ``./.ecmx-cache/meshes`` (or ``$ECMX_CACHE_DIR/meshes``, or ``cache_dir``).

- :func:`build_mesh` (one rank): the cached .msh of a ``Geometry`` as a :class:`MeshFile`.
- :func:`load_mesh` (collective): build on rank 0 and load into DOLFINx as a :class:`ParticleMesh`.
- :func:`mesh_report` (collective): cells, vertices, minimum quality, particle volume, interface area.
- :func:`~ecmx.meshes.meshfile.check_mesh_file`: refuse anything but a gmsh MSH file, without gmsh.

The names above are imported on first use, so ``ecmx.meshes.meshfile`` and ``ecmx.meshes.spec``
can be imported (by ``ecmx validate`` and the schema) without loading gmsh or DOLFINx.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "MeshFile": "cache",
    "build_mesh": "cache",
    "ParticleMesh": "loading",
    "load_mesh": "loading",
    "mesh_report": "loading",
    "read_mesh": "loading",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    """Import the submodule that defines `name` on first access (PEP 562)."""
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{_EXPORTS[name]}"), name)

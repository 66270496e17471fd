"""The geometry schema: particle shape, electrolyte box, agglomerate, mesh settings (lengths in m).

Every length lies in [:data:`MIN_LENGTH`, :data:`MAX_LENGTH`]. The cost of a generated mesh is
estimated from the domain and the mesh sizes (:meth:`Geometry.estimated_cells`) and refused above
:data:`MAX_MESH_CELLS` before gmsh runs; the mesh builders (``ecmx.meshes``) share the default
mesh sizes (:func:`default_mesh_sizes`) and the cell limit with this module.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, model_validator

from ecmx.solver.config.schema import Schema, Seed
from ecmx.solver.units import Length

MIN_LENGTH, MAX_LENGTH = 1e-9, 1e-3
"""Accepted geometry lengths (radii, semi-axes, box sizes, gaps, mesh sizes), m."""

MAX_SPHERE_ELEMENTS = 20_000
"""Most elements of a sphere-1d mesh."""

MAX_MESH_CELLS = 2_000_000
"""Most cells a generated 2D or 3D mesh may have by :meth:`Geometry.estimated_cells`, refused before
gmsh runs (a 3D mesh this size needs several GB to build and solve)."""

GeometryLength = Annotated[
    Length,
    Field(ge=MIN_LENGTH, le=MAX_LENGTH, description=f"a length in m, within [{MIN_LENGTH:g}, {MAX_LENGTH:g}] m"),
]


class ParticleShape(Schema):
    """One particle: a sphere, an ellipsoid or a seeded irregular (perturbed) sphere."""

    shape: Literal["sphere", "ellipsoid", "irregular"] = Field(
        "sphere", description="sphere (radius), ellipsoid (semi_axes) or irregular (radius, seed, roughness, modes)"
    )
    radius: GeometryLength = Field(1e-6, description="radius of a sphere, mean radius of an irregular particle, m")
    semi_axes: tuple[GeometryLength, GeometryLength, GeometryLength] | None = Field(
        None, description="[a, b, c] of an ellipsoid along x, y, z (z is the axis of axisymmetric-2d), m"
    )
    seed: Seed = Field(0, description="random seed of an irregular surface")
    roughness: Annotated[float, Field(ge=0, lt=0.5)] = Field(
        0.15, description="largest relative radius deviation of an irregular particle, dimensionless"
    )
    # degrees 0 and 1 only rescale or shift a sphere
    modes: Annotated[int, Field(ge=2, le=12)] = Field(
        6, description="highest spherical-harmonic degree of an irregular surface (from degree 2)"
    )

    @model_validator(mode="after")
    def _axes(self) -> ParticleShape:
        if self.shape == "ellipsoid" and self.semi_axes is None:
            raise ValueError("an ellipsoid needs semi_axes: [a, b, c]")
        return self


class ElectrolyteRegion(Schema):
    """The electrolyte box around the particle(s)."""

    thickness: GeometryLength = Field(3e-6, description="from the top of the particles to the Na-metal face, m")
    width: GeometryLength | None = Field(
        None, description="lateral width of the box, m (default: the particles' extent plus two margins)"
    )
    margin: GeometryLength | None = Field(
        None, description="electrolyte below and beside the particles, m (default: half the largest radius)"
    )


class Agglomerate(Schema):
    """N non-overlapping particles with a seeded size distribution."""

    count: Annotated[int, Field(ge=1, le=200)] = Field(4, description="number of particles, 1 to 200")
    radius_mean: GeometryLength = Field(1e-6, description="mean particle radius, m")
    radius_std: Annotated[Length, Field(ge=0, le=MAX_LENGTH, description="standard deviation of the radii, m")] = 0.2e-6
    min_gap: GeometryLength = Field(0.1e-6, description="smallest gap between two particles, m")
    seed: Seed = Field(0, description="random seed of the radii and the placement")


class MeshSettings(Schema):
    """Mesh sizes (None: defaults from the particle radius) and sphere-1d element count."""

    size: GeometryLength | None = Field(None, description="cell size away from the interface, m (default: by kind)")
    interface_size: GeometryLength | None = Field(
        None, description="cell size at the particle surface, m (default: by kind)"
    )
    particle_size: GeometryLength | None = Field(
        None, description="cell size throughout the particle volume, m (default: none, the particle is graded from"
        " interface_size at its surface to size inside; a phase boundary that moves through the particle needs it)",
    )
    elements: Annotated[
        int, Field(ge=2, le=MAX_SPHERE_ELEMENTS, description=f"sphere-1d elements, 2 to {MAX_SPHERE_ELEMENTS}")
    ] = 40
    order: Literal[1] = Field(1, description="geometric order of the mesh (1: straight-sided cells)")


GeometryKind = Literal["sphere-1d", "axisymmetric-2d", "particle-in-electrolyte", "agglomerate", "mesh-file"]

DEFAULT_MESH_SIZE_FACTORS = {
    "particle-in-electrolyte": (1 / 2, 1 / 10),
    "agglomerate": (1 / 2, 1 / 6),
    "axisymmetric-2d": (1 / 4, 1 / 20),
}
"""(size, interface_size) of a generated mesh as fractions of the particle radius, by geometry kind."""

CELLS_PER_SIZE_CUBED = 6.5
"""Tetrahedra per size³ of volume in gmsh's meshes (calibrated on the built-in geometries)."""

CELLS_PER_SIZE_SQUARED = 3.0
"""Triangles per size² of area in gmsh's meshes (calibrated on the built-in geometries)."""


def default_mesh_sizes(kind: str, size: float | None, interface_size: float | None, radius: float) -> tuple[float, float]:
    """(size far from the interface, interface_size) for a particle of characteristic ``radius``.

    Any length unit (the result is in the unit of the inputs). Defaults (DEFAULT_MESH_SIZE_FACTORS):
    one 3D particle R/2 and R/10, which puts the default sphere's volume and area within 0.4 % of
    4/3 πR³ and 4πR² at about 38k cells; agglomerates R/2 and R/6 of the mean radius (about 1 %
    volume error, ~40k cells for 4 particles); axisymmetric R/4 and R/20 (cheap in 2D). A given size
    alone caps the default interface_size; a given interface_size alone raises the default size.
    """
    far, near = DEFAULT_MESH_SIZE_FACTORS[kind]
    if interface_size is None:
        interface_size = radius * near if size is None else min(radius * near, size)
    if size is None:
        size = max(radius * far, interface_size)
    return size, interface_size


def _ellipsoid_area(a: float, b: float, c: float) -> float:
    """Surface area of an ellipsoid (Knud Thomsen's formula, within 1.1 %)."""
    p = 1.6075
    return 4.0 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3.0) ** (1.0 / p)


class Geometry(Schema):
    """The cell geometry: which mesh to build (or read) and its dimensions, m."""

    kind: GeometryKind = Field(
        "particle-in-electrolyte",
        description="sphere-1d (radial particle, uniform electrolyte), axisymmetric-2d, particle-in-electrolyte (3D),"
        " agglomerate (3D) or mesh-file (a gmsh MSH file)",
    )
    particle: ParticleShape = Field(ParticleShape(), description="the particle (all kinds but agglomerate, mesh-file)")
    electrolyte: ElectrolyteRegion = Field(ElectrolyteRegion(), description="the electrolyte box (2D and 3D kinds)")
    agglomerate: Agglomerate = Field(Agglomerate(), description="the particles of kind agglomerate")
    mesh: MeshSettings = Field(MeshSettings(), description="mesh sizes and the sphere-1d element count")
    file: Path | None = Field(None, description="the gmsh MSH file of kind mesh-file (relative to the case file)")

    @model_validator(mode="after")
    def _kind_needs(self) -> Geometry:
        if self.kind == "mesh-file" and self.file is None:
            raise ValueError("geometry kind 'mesh-file' needs 'file: path/to/mesh.msh'")
        if self.kind in ("sphere-1d", "axisymmetric-2d") and self.particle.shape == "irregular":
            raise ValueError(f"geometry kind {self.kind!r} needs an axisymmetric particle (sphere or ellipsoid)")
        axes = self.particle.semi_axes
        if self.kind == "axisymmetric-2d" and self.particle.shape == "ellipsoid" and abs(axes[0] - axes[1]) > 1e-9 * max(axes):
            raise ValueError("axisymmetric-2d needs a spheroid: semi_axes a == b (c along the axis)")
        return self

    @model_validator(mode="after")
    def _mesh_affordable(self) -> Geometry:
        if self.kind in DEFAULT_MESH_SIZE_FACTORS:
            _, interface_size, radius = self._sizes()
            if interface_size > radius:
                raise ValueError(
                    f"mesh interface_size {interface_size:.3g} m is larger than the particle radius {radius:.3g} m:"
                    " expected at most the radius, so that the particle is resolved"
                )
            cells = self.estimated_cells()
            if cells > MAX_MESH_CELLS:
                raise ValueError(
                    f"the mesh would have about {cells:.3g} cells (from the domain size and the mesh sizes);"
                    f" expected at most {MAX_MESH_CELLS:.3g}: choose a larger geometry.mesh.size or"
                    " interface_size, or a smaller domain"
                )
        return self

    def _characteristic_radius(self) -> float:
        """The radius the default mesh sizes scale with (as the mesh builders use it), m."""
        particle = self.particle
        if self.kind == "agglomerate":
            mean, std = self.agglomerate.radius_mean, self.agglomerate.radius_std
            return min(mean, 1.5 * max(mean - 2.0 * std, 0.25 * mean))  # smallest radius sampled
        if particle.shape == "ellipsoid":
            a, b, c = particle.semi_axes  # type: ignore[misc]
            return min(a, c) if self.kind == "axisymmetric-2d" else min(a, b, c)
        return particle.radius

    def _sizes(self) -> tuple[float, float, float]:
        """(size, interface_size, characteristic radius) of a generated mesh, m."""
        radius = self._characteristic_radius()
        size, interface_size = default_mesh_sizes(self.kind, self.mesh.size, self.mesh.interface_size, radius)
        return size, interface_size, radius

    def _domain(self) -> tuple[float, float]:
        """(volume, interface area) in 3D or (area, interface length) in 2D of the meshed domain, SI.

        The electrolyte box as the builders make it: a margin below and around the particles
        (default half the largest radius), ``thickness`` above them, or the given ``width``.
        """
        particle, box, agg = self.particle, self.electrolyte, self.agglomerate
        if self.kind == "agglomerate":
            radius = agg.radius_mean + 2.0 * agg.radius_std
            side = max((agg.count * 4.0 / 3.0 * math.pi * agg.radius_mean**3 / 0.3) ** (1 / 3), 2.0 * radius + agg.min_gap)
            margin = box.margin if box.margin is not None else 0.5 * agg.radius_mean
            width = box.width if box.width is not None else side + 2.0 * margin
            return width**2 * (side + margin + box.thickness), agg.count * 4.0 * math.pi * agg.radius_mean**2
        if particle.shape == "ellipsoid":
            a, b, c = particle.semi_axes  # type: ignore[misc]
        else:
            a = b = c = particle.radius * (1.0 + (particle.roughness if particle.shape == "irregular" else 0.0))
        margin = box.margin if box.margin is not None else 0.5 * max(a, b, c)
        width = box.width if box.width is not None else 2.0 * max(a, b) + 2.0 * margin
        height = 2.0 * c + margin + box.thickness
        if self.kind == "axisymmetric-2d":
            return width / 2.0 * height, math.pi * math.sqrt((a * a + c * c) / 2.0)
        return width * width * height, _ellipsoid_area(a, b, c)

    def estimated_cells(self) -> float:
        """A rough estimate (within a factor of about two) of the cell count of the generated mesh.

        sphere-1d: ``mesh.elements``. 3D kinds: CELLS_PER_SIZE_CUBED tetrahedra per interface_size³
        in the band of 2·interface_size on each side of the interface, and per size³ elsewhere;
        axisymmetric-2d: the same in 2D with CELLS_PER_SIZE_SQUARED; plus, with ``mesh.particle_size``, as
        many per particle_size³ (²) of particle. A mesh file: 0 (its size is checked when it is read).
        """
        if self.kind == "sphere-1d":
            return float(self.mesh.elements)
        if self.kind not in DEFAULT_MESH_SIZE_FACTORS:
            return 0.0
        size, interface_size, _ = self._sizes()
        measure, interface = self._domain()
        dim = 2 if self.kind == "axisymmetric-2d" else 3
        band = min(interface * 4.0 * interface_size, measure)
        per_cell = CELLS_PER_SIZE_SQUARED if dim == 2 else CELLS_PER_SIZE_CUBED
        cells = per_cell * (band / interface_size**dim + (measure - band) / size**dim)
        if self.mesh.particle_size is not None:
            cells += per_cell * self._particle_measure() / self.mesh.particle_size**dim
        return cells

    def _particle_measure(self) -> float:
        """Volume (3D) or meridian area (axisymmetric-2d) of the particles, m³ or m² (an upper bound)."""
        particle, agg = self.particle, self.agglomerate
        if self.kind == "agglomerate":
            return agg.count * 4.0 / 3.0 * math.pi * (agg.radius_mean + 2.0 * agg.radius_std) ** 3
        if particle.shape == "ellipsoid":
            a, b, c = particle.semi_axes  # type: ignore[misc]
        else:
            a = b = c = particle.radius * (1.0 + (particle.roughness if particle.shape == "irregular" else 0.0))
        return math.pi * a * c / 2.0 if self.kind == "axisymmetric-2d" else 4.0 / 3.0 * math.pi * a * b * c

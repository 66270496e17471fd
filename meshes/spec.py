"""Geometry parameters of a case, converted to mesh units and hashed for the mesh cache.

The builders read only a :class:`MeshSpec`, never the pydantic case model, so that
``ecmx.solver.config`` and ``ecmx.meshes`` do not import each other. Any object with the attributes
of ``ecmx.solver.config.Geometry`` (SI metres) is accepted.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import gmsh

from ecmx.solver.errors import CaseError

LENGTH_UNIT = 1e-6
"""Metres per mesh unit: meshes are in micrometres."""

BUILDER_VERSION = f"ecmx-meshes-5/gmsh-{gmsh.__version__}"
"""Part of every cache key: bump it whenever a builder changes the meshes it makes."""

KINDS = ("sphere-1d", "axisymmetric-2d", "particle-in-electrolyte", "agglomerate", "mesh-file")
SHAPES = ("sphere", "ellipsoid", "irregular")


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
        data = {k: v for k, v in asdict(self).items() if k in relevant}
        text = json.dumps({"spec": data, "builder": BUILDER_VERSION}, sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


_PARTICLE = {"shape", "radius", "semi_axes", "seed", "roughness", "modes"}
_BOX = {"thickness", "width", "margin"}
_SIZES = {"size", "interface_size", "order"}
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


def _get(obj: Any, name: str, default: Any = None) -> Any:
    return getattr(obj, name, default) if obj is not None else default


def _resolve(path: Path, source: str | Path | None) -> Path:
    """A relative mesh file path is relative to the case file (or, without one, the working dir)."""
    path = path.expanduser()
    if not path.is_absolute() and source is not None:
        path = Path(source).parent / path
    return path.resolve()


def spec_from_geometry(geometry: Any, source: str | Path | None = None) -> MeshSpec:
    """Convert a ``Geometry`` (SI) into a :class:`MeshSpec` (µm), checking what the builders need.

    A relative ``geometry.file`` is taken relative to `source` (the case file). Raises CaseError
    (naming `source` and the key) for values no mesh can be made of.
    """
    kind = geometry.kind
    if kind not in KINDS:
        raise CaseError(f"unknown geometry kind '{kind}'; expected one of {', '.join(KINDS)}",
                        file=source, key="geometry.kind")
    particle = _get(geometry, "particle")
    electrolyte = _get(geometry, "electrolyte")
    agglomerate = _get(geometry, "agglomerate")
    mesh = _get(geometry, "mesh")
    semi_axes = _get(particle, "semi_axes")
    file = _get(geometry, "file")
    spec = MeshSpec(
        kind=kind,
        shape=_get(particle, "shape", "sphere"),
        radius=_um(_get(particle, "radius", 1e-6)),
        semi_axes=None if semi_axes is None else tuple(float(a) / LENGTH_UNIT for a in semi_axes),
        seed=int(_get(particle, "seed", 0)),
        roughness=float(_get(particle, "roughness", 0.15)),
        modes=int(_get(particle, "modes", 6)),
        thickness=_um(_get(electrolyte, "thickness", 3e-6)),
        width=_um(_get(electrolyte, "width")),
        margin=_um(_get(electrolyte, "margin")),
        count=int(_get(agglomerate, "count", 4)),
        radius_mean=_um(_get(agglomerate, "radius_mean", 1e-6)),
        radius_std=_um(_get(agglomerate, "radius_std", 0.2e-6)),
        min_gap=_um(_get(agglomerate, "min_gap", 0.1e-6)),
        agglomerate_seed=int(_get(agglomerate, "seed", 0)),
        size=_um(_get(mesh, "size")),
        interface_size=_um(_get(mesh, "interface_size")),
        elements=int(_get(mesh, "elements", 40)),
        order=int(_get(mesh, "order", 1)),
        file=None if file is None else str(_resolve(Path(file), source)),
    )
    _check(spec, source)
    return spec


def _check(spec: MeshSpec, source: str | Path | None) -> None:
    def fail(message: str, key: str) -> None:
        raise CaseError(message, file=source, key=key)

    if spec.kind == "mesh-file":
        if spec.file is None:
            fail("geometry kind 'mesh-file' needs the path of a gmsh .msh file", "geometry.file")
        return
    if spec.shape not in SHAPES:
        fail(f"unknown particle shape '{spec.shape}'; expected one of {', '.join(SHAPES)}",
             "geometry.particle.shape")
    if spec.radius <= 0:
        fail("particle radius must be positive", "geometry.particle.radius")
    if spec.shape == "ellipsoid" and spec.kind in ("particle-in-electrolyte", "axisymmetric-2d"):
        if spec.semi_axes is None or len(spec.semi_axes) != 3 or min(spec.semi_axes) <= 0:
            fail("an ellipsoid needs three positive semi_axes (a, b, c)", "geometry.particle.semi_axes")
        if spec.kind == "axisymmetric-2d" and abs(spec.semi_axes[0] - spec.semi_axes[1]) > 1e-9 * max(
            spec.semi_axes
        ):
            fail("axisymmetric-2d needs a spheroid: semi_axes a == b (c along the axis)",
                 "geometry.particle.semi_axes")
    if spec.shape == "irregular":
        if spec.kind == "axisymmetric-2d":
            fail("axisymmetric-2d supports shape 'sphere' or 'ellipsoid' (spheroid), not 'irregular'",
                 "geometry.particle.shape")
        if not 0.0 <= spec.roughness < 0.5:
            fail("roughness must be in [0, 0.5) (relative radial amplitude)",
                 "geometry.particle.roughness")
        if spec.modes < 2:
            fail("modes must be at least 2 (degree 0 and 1 only rescale or shift a sphere)",
                 "geometry.particle.modes")
    if spec.thickness <= 0:
        fail("electrolyte thickness must be positive", "geometry.electrolyte.thickness")
    if spec.margin is not None and spec.margin <= 0:
        fail("electrolyte margin must be positive (particles may not touch the walls)",
             "geometry.electrolyte.margin")
    if spec.width is not None and spec.width <= 0:
        fail("electrolyte width must be positive", "geometry.electrolyte.width")
    for key, value in (("size", spec.size), ("interface_size", spec.interface_size)):
        if value is not None and value <= 0:
            fail("mesh sizes must be positive", f"geometry.mesh.{key}")
    if spec.order != 1:
        fail("ecmx meshes are linear: mesh order must be 1", "geometry.mesh.order")
    if spec.kind == "sphere-1d" and spec.elements < 2:
        fail("sphere-1d needs at least 2 elements", "geometry.mesh.elements")
    if spec.kind == "agglomerate":
        if spec.count < 1:
            fail("an agglomerate needs at least one particle", "geometry.agglomerate.count")
        if spec.radius_mean <= 0 or spec.radius_std < 0:
            fail("radius_mean must be positive and radius_std not negative",
                 "geometry.agglomerate.radius_mean")
        if spec.min_gap <= 0:
            fail("min_gap must be positive (touching particles cannot be meshed conformally)",
                 "geometry.agglomerate.min_gap")

"""gmsh geometry builders (OpenCASCADE kernel, micrometres) and mesh checks.

Every builder makes the physical groups ``particle_1..particle_N`` (cell tags 1..N),
``electrolyte`` (1000), ``interface`` (1001), ``na_metal`` (1002) and ``walls`` (1003), refines the
mesh at the particle surfaces with a distance/threshold size field, and returns the facts a
loaded mesh needs that the .msh file cannot hold (particle centres and radii, coordinate system,
counter-electrode area).

gmsh is process-global: these functions run on one MPI rank at a time and leave gmsh as they found
it (initialised or not).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import gmsh
import numpy as np

from ecmx.meshes.shapes import RadialPerturbation, place_spheres, sample_radii
from ecmx.meshes.spec import LENGTH_UNIT, MAX_CELLS, MeshSpec
from ecmx.solver.config.geometry import default_mesh_sizes
from ecmx.solver.errors import CaseError

ELECTROLYTE_TAG = 1000
INTERFACE_TAG = 1001
NA_METAL_TAG = 1002
WALLS_TAG = 1003

MIN_QUALITY = 0.01
"""Smallest accepted element quality (gmsh minSICN; 1 = ideal, <= 0 = flat or inverted)."""

LINEAR_SIMPLICES = (2, 4)
"""gmsh element types of the 3-node triangle and the 4-node tetrahedron."""

REQUIRED_GROUPS = ("electrolyte", "interface", "na_metal", "walls")

Info = dict[str, Any]


@contextmanager
def gmsh_model(name: str) -> Iterator[None]:
    """A fresh current gmsh model; initialises gmsh if needed and finalises only what it started."""
    started = not gmsh.isInitialized()
    if started:
        gmsh.initialize(interruptible=False)
    previous_terminal = gmsh.option.getNumber("General.Terminal")
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add(name)
    try:
        yield
    finally:
        gmsh.model.remove()
        gmsh.option.setNumber("General.Terminal", previous_terminal)
        if started:
            gmsh.finalize()


def default_sizes(spec: MeshSpec, radius: float) -> tuple[float, float]:
    """(size far from the interface, interface_size) in µm for a particle of characteristic `radius`.

    The schema's defaults (:func:`ecmx.solver.config.geometry.default_mesh_sizes`), which its mesh-size
    estimate uses too.
    """
    return default_mesh_sizes(spec.kind, spec.size, spec.interface_size, radius)


def _set_options() -> None:
    gmsh.option.setNumber("General.NumThreads", 1)
    gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
    gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
    gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
    gmsh.option.setNumber("Mesh.Optimize", 1)
    # Netgen's optimiser removes the slivers gmsh leaves in narrow gaps between particles.
    gmsh.option.setNumber("Mesh.OptimizeNetgen", 1)
    gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)


def _refine_at(dim: int, interface: list[int], size: float, interface_size: float,
               particle_size: float | None = None, particles: Sequence[int] = ()) -> None:
    """Size field: interface_size in a band 2·interface_size deep on each side of the interface,
    then growing linearly to `size` (the band resolves the steep c_s and stress gradients under
    the particle surface: with it, the default sphere's peak stresses are within 3 %); with
    `particle_size`, at most that throughout the `particles` (entities of dimension `dim`), their
    surfaces included (a phase boundary crosses the whole particle)."""
    mesh_field = gmsh.model.mesh.field
    distance = mesh_field.add("Distance")
    mesh_field.setNumbers(distance, "SurfacesList" if dim == 3 else "CurvesList", interface)
    mesh_field.setNumber(distance, "Sampling", 200 if dim == 3 else 400)
    threshold = mesh_field.add("Threshold")
    mesh_field.setNumber(threshold, "InField", distance)
    mesh_field.setNumber(threshold, "SizeMin", interface_size)
    mesh_field.setNumber(threshold, "SizeMax", size)
    band = 2.0 * interface_size
    mesh_field.setNumber(threshold, "DistMin", band)
    mesh_field.setNumber(threshold, "DistMax", band + max(2.0 * (size - interface_size), interface_size))
    if particle_size is None:
        mesh_field.setAsBackgroundMesh(threshold)
        return
    inside = mesh_field.add("Constant")
    mesh_field.setNumbers(inside, "VolumesList" if dim == 3 else "SurfacesList", list(particles))
    mesh_field.setNumber(inside, "VIn", particle_size)
    mesh_field.setNumber(inside, "IncludeBoundary", 1)
    smallest = mesh_field.add("Min")
    mesh_field.setNumbers(smallest, "FieldsList", [threshold, inside])
    mesh_field.setAsBackgroundMesh(smallest)


def _near(a: float, b: float, scale: float) -> bool:
    return abs(a - b) <= 1e-6 * scale


def _tag_domains(dim: int, particles: list[int], electrolyte: int, top: float, scale: float) -> None:
    """Physical groups; the Na-metal face is the electrolyte boundary at height `top` (z, or y in 2D)."""
    model = gmsh.model
    interface: list[int] = []
    for i, entity in enumerate(particles, start=1):
        model.addPhysicalGroup(dim, [entity], tag=i, name=f"particle_{i}")
        interface += [abs(t) for _, t in model.getBoundary([(dim, entity)], oriented=False)]
    model.addPhysicalGroup(dim, [electrolyte], tag=ELECTROLYTE_TAG, name="electrolyte")
    na_metal, walls = [], []
    for _, t in model.getBoundary([(dim, electrolyte)], oriented=False):
        t = abs(t)
        if t in interface:
            continue
        box = model.getBoundingBox(dim - 1, t)
        low, high = (box[2], box[5]) if dim == 3 else (box[1], box[4])
        (na_metal if _near(low, top, scale) and _near(high, top, scale) else walls).append(t)
    if dim == 2:
        # The symmetry axis r = 0 inside the particle also bounds the particle; it belongs to walls.
        for t in list(interface):
            box = model.getBoundingBox(1, t)
            if _near(box[0], 0.0, scale) and _near(box[3], 0.0, scale):
                interface.remove(t)
                walls.append(t)
    model.addPhysicalGroup(dim - 1, sorted(set(interface)), tag=INTERFACE_TAG, name="interface")
    model.addPhysicalGroup(dim - 1, sorted(na_metal), tag=NA_METAL_TAG, name="na_metal")
    model.addPhysicalGroup(dim - 1, sorted(set(walls)), tag=WALLS_TAG, name="walls")
    if len(na_metal) != 1:
        raise RuntimeError(f"expected one Na-metal face, found {len(na_metal)}")


def _fragment(dim: int, box: int, particles: list[int]) -> tuple[list[int], int]:
    """Conformal fragment of the box with the particles; returns (particle entities, electrolyte)."""
    occ = gmsh.model.occ
    _, pieces = occ.fragment([(dim, box)], [(dim, p) for p in particles])
    occ.synchronize()
    particle_entities = []
    for children in pieces[1:]:
        if len(children) != 1:
            raise RuntimeError(f"a particle was split into {len(children)} pieces by the box")
        particle_entities.append(children[0][1])
    rest = [t for _, t in pieces[0] if t not in particle_entities]
    if len(rest) != 1:
        raise RuntimeError(f"the electrolyte came out as {len(rest)} pieces")
    return particle_entities, rest[0]


def _box_around(
    spec: MeshSpec, lower: np.ndarray, upper: np.ndarray, margin: float
) -> tuple[float, float, float]:
    """Lateral width and z range (bottom, top) of the electrolyte box around particle extents (µm)."""
    half = float(max(np.max(np.abs(lower[:2])), np.max(np.abs(upper[:2]))))
    width = spec.width if spec.width is not None else 2.0 * half + 2.0 * margin
    if width / 2.0 <= half:
        raise CaseError(
            f"electrolyte width {width * LENGTH_UNIT:.3g} m leaves no room around the particles "
            f"(lateral extent ±{half * LENGTH_UNIT:.3g} m)",
            key="geometry.electrolyte.width",
        )
    return width, float(lower[2]) - margin, float(upper[2]) + spec.thickness


def _particle_in_electrolyte(spec: MeshSpec) -> Info:
    occ = gmsh.model.occ
    perturbation = None
    if spec.shape == "ellipsoid":
        a, b, c = spec.semi_axes  # type: ignore[misc]
        particle = occ.addSphere(0, 0, 0, 1.0)
        occ.dilate([(3, particle)], 0, 0, 0, a, b, c)
        extents = np.array([[-a, a], [-b, b], [-c, c]])
        r_box, r_size, r_equiv = max(a, b, c), min(a, b, c), (a * b * c) ** (1.0 / 3.0)
    else:
        particle = occ.addSphere(0, 0, 0, spec.radius)
        r_box = r_size = r_equiv = spec.radius
        extents = np.array([[-1.0, 1.0]] * 3) * spec.radius
        if spec.shape == "irregular":
            perturbation = RadialPerturbation(spec.radius, spec.roughness, spec.modes, spec.seed)
            extents = perturbation.extents()
            r_equiv = perturbation.equivalent_radius()
    margin = spec.margin if spec.margin is not None else 0.5 * r_box
    width, bottom, top = _box_around(spec, extents[:, 0], extents[:, 1], margin)
    box = occ.addBox(-width / 2, -width / 2, bottom, width, width, top - bottom)
    (particle,), electrolyte = _fragment(3, box, [particle])
    _tag_domains(3, [particle], electrolyte, top, top - bottom)
    size, interface_size = default_sizes(spec, r_size)
    _refine_at(3, [abs(t) for _, t in gmsh.model.getBoundary([(3, particle)], oriented=False)],
               size, interface_size, spec.particle_size, [particle])
    surface_map = None
    if perturbation is not None:
        surface_map = _perturb_surface(perturbation, particle)
    return {
        "dim": 3,
        "coordinate_system": "cartesian",
        "particle_centres": [[0.0, 0.0, 0.0]],
        "particle_radii": [r_equiv],
        "counter_electrode_area": width * width * LENGTH_UNIT**2,
        "size": size,
        "interface_size": interface_size,
        "box": [width, bottom, top],
        "_before_volume_mesh": surface_map,
    }


def _perturb_surface(perturbation: RadialPerturbation, particle: int) -> Callable[[], None]:
    """Move the surface-mesh nodes of the sphere onto r = R (1 + δ) (see RadialPerturbation).

    Runs between the surface and the volume mesh, so the tetrahedra are generated inside the
    irregular surface rather than distorted from a sphere's.
    """

    def apply() -> None:
        nodes: dict[int, np.ndarray] = {}
        for _, surface in gmsh.model.getBoundary([(3, particle)], oriented=False):
            tags, coords, _ = gmsh.model.mesh.getNodes(2, abs(surface), includeBoundary=True)
            nodes.update(zip(tags.tolist(), coords.reshape(-1, 3), strict=True))
        tags = list(nodes)
        moved = perturbation.surface_points(np.array([nodes[t] for t in tags]))
        for tag, x in zip(tags, moved, strict=True):
            gmsh.model.mesh.setNode(int(tag), x.tolist(), [])

    return apply


def _agglomerate(spec: MeshSpec) -> Info:
    occ = gmsh.model.occ
    rng = np.random.default_rng(spec.agglomerate_seed)
    radii = sample_radii(spec.count, spec.radius_mean, spec.radius_std, rng)
    centres = place_spheres(radii, spec.min_gap, rng)
    spheres = [occ.addSphere(*c, r) for c, r in zip(centres, radii, strict=True)]
    margin = spec.margin if spec.margin is not None else 0.5 * spec.radius_mean
    lower = np.min(centres - radii[:, None], axis=0)
    upper = np.max(centres + radii[:, None], axis=0)
    width, bottom, top = _box_around(spec, lower, upper, margin)
    box = occ.addBox(-width / 2, -width / 2, bottom, width, width, top - bottom)
    particles, electrolyte = _fragment(3, box, spheres)
    _tag_domains(3, particles, electrolyte, top, top - bottom)
    # Sized by the mean radius, but with at least 4 interface cells per radius of the smallest.
    size, interface_size = default_sizes(spec, min(spec.radius_mean, 1.5 * float(radii.min())))
    surfaces = [abs(t) for _, t in gmsh.model.getBoundary([(3, p) for p in particles], oriented=False,
                                                          combined=False)]
    _refine_at(3, surfaces, size, interface_size, spec.particle_size, particles)
    return {
        "dim": 3,
        "coordinate_system": "cartesian",
        "particle_centres": centres.tolist(),
        "particle_radii": radii.tolist(),
        "counter_electrode_area": width * width * LENGTH_UNIT**2,
        "size": size,
        "interface_size": interface_size,
        "box": [width, bottom, top],
        "_before_volume_mesh": None,
    }


def _axisymmetric(spec: MeshSpec) -> Info:
    occ = gmsh.model.occ
    if spec.shape == "ellipsoid":
        a, _, c = spec.semi_axes  # type: ignore[misc]
    else:
        a = c = spec.radius
    disk = occ.addDisk(0, 0, 0, 1.0, 1.0)
    occ.dilate([(2, disk)], 0, 0, 0, a, c, 1.0)
    right = occ.addRectangle(0, -2 * c, 0, 2 * a, 4 * c)
    (half,), _ = occ.intersect([(2, disk)], [(2, right)])
    margin = spec.margin if spec.margin is not None else 0.5 * max(a, c)
    width, bottom, top = _box_around(spec, np.array([-a, -a, -c]), np.array([a, a, c]), margin)
    rectangle = occ.addRectangle(0, bottom, 0, width / 2, top - bottom)
    (particle,), electrolyte = _fragment(2, rectangle, [half[1]])
    _tag_domains(2, [particle], electrolyte, top, top - bottom)
    size, interface_size = default_sizes(spec, min(a, c))
    arcs = [t for t in gmsh.model.getEntitiesForPhysicalGroup(1, INTERFACE_TAG)]
    _refine_at(2, [int(t) for t in arcs], size, interface_size, spec.particle_size, [particle])
    return {
        "dim": 2,
        "coordinate_system": "axisymmetric",
        "particle_centres": [[0.0, 0.0, 0.0]],
        "particle_radii": [(a * a * c) ** (1.0 / 3.0)],
        "counter_electrode_area": math.pi * (width / 2) ** 2 * LENGTH_UNIT**2,
        "size": size,
        "interface_size": interface_size,
        "box": [width, bottom, top],
        "_before_volume_mesh": None,
    }


def _sphere_1d(spec: MeshSpec) -> Info:
    if not 2 <= spec.elements <= MAX_CELLS:  # gmsh takes a C int: 1e12 would wrap to one cell
        raise CaseError(f"{spec.elements} elements: expected 2 to {MAX_CELLS}",
                        key="geometry.mesh.elements")
    occ = gmsh.model.occ
    centre = occ.addPoint(0, 0, 0)
    surface = occ.addPoint(spec.radius, 0, 0)
    line = occ.addLine(centre, surface)
    occ.synchronize()
    # Geometric grading: the element at r = R is 4 times shorter than the one at the centre.
    ratio = 0.25 ** (1.0 / (spec.elements - 1))
    gmsh.model.mesh.setTransfiniteCurve(line, spec.elements + 1, "Progression", ratio)
    gmsh.model.addPhysicalGroup(1, [line], tag=1, name="particle_1")
    gmsh.model.addPhysicalGroup(0, [surface], tag=INTERFACE_TAG, name="interface")
    margin = spec.margin if spec.margin is not None else 0.5 * spec.radius
    width = spec.width if spec.width is not None else 2.0 * spec.radius + 2.0 * margin
    return {
        "dim": 1,
        "coordinate_system": "spherical",
        "particle_centres": [[0.0, 0.0, 0.0]],
        "particle_radii": [spec.radius],
        "counter_electrode_area": width * width * LENGTH_UNIT**2,
        "_before_volume_mesh": None,
    }


BUILDERS: dict[str, Callable[[MeshSpec], Info]] = {
    "particle-in-electrolyte": _particle_in_electrolyte,
    "agglomerate": _agglomerate,
    "axisymmetric-2d": _axisymmetric,
    "sphere-1d": _sphere_1d,
}


def build_msh(spec: MeshSpec, path: Path) -> Info:
    """Build the geometry of `spec`, mesh it, check it and write it to `path` (.msh 4.1).

    Returns the mesh facts (JSON-serialisable). Raises CaseError for a geometry that cannot be
    built or a mesh that fails the quality check.
    """
    with gmsh_model(f"ecmx-{spec.kind}"):
        _set_options()
        info = BUILDERS[spec.kind](spec)
        before_volume_mesh = info.pop("_before_volume_mesh")
        dim = info["dim"]
        if before_volume_mesh is not None:
            gmsh.model.mesh.generate(dim - 1)
            before_volume_mesh()
        gmsh.model.mesh.generate(dim)
        key = "geometry.mesh.elements" if spec.kind == "sphere-1d" else "geometry.mesh.size"
        info.update(check_current_mesh(None, key))
        if spec.kind == "sphere-1d" and info["cells"] != spec.elements:
            raise CaseError(f"gmsh made {info['cells']} cells where {spec.elements} were asked for",
                            key=key)
        gmsh.write(str(path))
    return info


def check_current_mesh(source: str | None, key: str | None = None) -> Info:
    """Count and check the mesh of the current gmsh model; CaseError (naming `source` and `key`).

    Refused: more than MAX_CELLS cells; an element with quality (minSICN) below MIN_QUALITY —
    flat, inverted or a sliver; a physical group without cells; cells in no group or in several.
    """
    groups = {gmsh.model.getPhysicalName(d, t): (d, t) for d, t in gmsh.model.getPhysicalGroups()}
    dim = max(d for d, _ in groups.values())
    cells = 0
    min_quality = math.inf
    for name, (d, t) in sorted(groups.items()):
        if d != dim:
            continue
        count = 0
        for entity in gmsh.model.getEntitiesForPhysicalGroup(d, t):
            types, tags, _ = gmsh.model.mesh.getElements(d, int(entity))
            for element_type, element_tags in zip(types, tags, strict=True):
                count += len(element_tags)
                if len(element_tags) and dim > 1:
                    quality = np.asarray(
                        gmsh.model.mesh.getElementQualities(element_tags, "minSICN"))
                    if element_type in LINEAR_SIMPLICES:
                        # The sign is only the vertex order, which DOLFINx does not need.
                        quality = np.abs(quality)
                    min_quality = min(min_quality, float(np.min(quality)))
                elif len(element_tags):
                    length = gmsh.model.mesh.getElementQualities(element_tags, "volume")
                    min_quality = min(min_quality, 1.0 if np.min(length) > 0 else 0.0)
        if count == 0:
            raise CaseError(f"the mesh has no cells in physical group '{name}'", file=source, key=key)
        cells += count
    if cells > MAX_CELLS:
        raise CaseError(f"the mesh has {cells} cells, more than the {MAX_CELLS} ecmx meshes and "
                        "solves (MAX_CELLS); use a coarser mesh", file=source, key=key)
    if not min_quality >= MIN_QUALITY:
        raise CaseError(
            f"degenerate mesh: minimum element quality (gmsh minSICN) is {min_quality:.3g}, below "
            f"{MIN_QUALITY} (flat, inverted or sliver elements); refine or repair the mesh",
            file=source, key=key,
        )
    total = sum(len(t) for t in gmsh.model.mesh.getElements(dim)[1])
    if total != cells:
        raise CaseError(
            f"{abs(total - cells)} of the {total} cells are in no physical group or in several; "
            "every cell must belong to exactly one particle_<i> or electrolyte group", file=source,
            key=key)
    vertices = len(gmsh.model.mesh.getNodes()[0])
    return {"cells": cells, "vertices": vertices, "min_quality": min_quality}

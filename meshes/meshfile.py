"""Validation of a user's .msh file (geometry kind ``mesh-file``).

The file must be in micrometres and carry the physical groups ``particle_1..particle_N``,
``electrolyte``, ``interface``, ``na_metal`` and ``walls``. A 3D mesh is taken as Cartesian; a 2D
mesh as axisymmetric (r = x >= 0, z = y). Particle centres and volume-equivalent radii and the
Na-metal face area are measured on the mesh.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import gmsh
import numpy as np

from ecmx.meshes.builders import REQUIRED_GROUPS, Info, check_current_mesh, gmsh_model
from ecmx.meshes.spec import LENGTH_UNIT
from ecmx.solver.errors import CaseError


SIMPLICES = {2: {2}, 3: {4}}
"""Accepted gmsh element types by dimension: 3-node triangles, 4-node tetrahedra (ecmx is P1)."""


def _measure(dim: int, tag: int, axisymmetric: bool) -> tuple[float, np.ndarray]:
    """(measure, centroid) of the elements of a physical group; 2π r weighted when axisymmetric."""
    total, moment = 0.0, np.zeros(3)
    for entity in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
        types, tags, _ = gmsh.model.mesh.getElements(dim, int(entity))
        for element_type, element_tags in zip(types, tags, strict=True):
            size = np.asarray(gmsh.model.mesh.getElementQualities(element_tags, "volume"))
            centres = np.asarray(
                gmsh.model.mesh.getBarycenters(element_type, int(entity), False, True)
            ).reshape(-1, 3)
            weight = np.abs(size) * (2 * math.pi * centres[:, 0] if axisymmetric else 1.0)
            total += float(weight.sum())
            moment += weight @ centres
    return total, moment / total if total > 0 else moment


def validate_mesh_file(path: str | Path) -> Info:
    """Check a user's .msh and return the same facts a builder returns; CaseError naming the file."""
    path = Path(path)
    if not path.is_file():
        raise CaseError("mesh file not found", file=path, key="geometry.file")
    with gmsh_model("ecmx-mesh-file"):
        try:
            gmsh.merge(str(path))
        except Exception as error:  # gmsh raises a bare Exception with its own message
            raise CaseError(f"gmsh cannot read this mesh file ({error})", file=path,
                            key="geometry.file") from None
        groups = {gmsh.model.getPhysicalName(d, t): (d, t) for d, t in gmsh.model.getPhysicalGroups()}
        particles = sorted((n for n in groups if re.fullmatch(r"particle_\d+", n)),
                           key=lambda n: int(n.split("_")[1]))
        expected = [f"particle_{i}" for i in range(1, len(particles) + 1)] or ["particle_1"]
        missing = [n for n in [*expected, *REQUIRED_GROUPS] if n not in groups]
        if missing:
            raise CaseError(
                f"missing physical group(s) {', '.join(missing)}; a mesh file needs particle_1.."
                "particle_N, electrolyte, interface, na_metal and walls", file=path, key="geometry.file")
        dim = groups["electrolyte"][0]
        wrong = [n for n in [*particles, "electrolyte"] if groups[n][0] != dim]
        wrong += [n for n in REQUIRED_GROUPS[1:] if groups[n][0] != dim - 1]
        if dim not in (2, 3) or wrong:
            raise CaseError(
                f"physical groups of the wrong dimension ({', '.join(wrong) or 'electrolyte'}): "
                "particles and electrolyte must be 3D (or 2D axisymmetric) cells, interface, "
                "na_metal and walls their facets", file=path, key="geometry.file")
        types = set(gmsh.model.mesh.getElementTypes(dim))
        if len(types) != 1 or not types <= SIMPLICES[dim]:
            names = sorted(gmsh.model.mesh.getElementProperties(t)[0] for t in types)
            raise CaseError(
                f"unsupported {dim}D elements {', '.join(names)}: use linear triangles (2D) or "
                "linear tetrahedra (3D) only", file=path, key="geometry.file")
        axisymmetric = dim == 2
        if axisymmetric and np.min(gmsh.model.mesh.getNodes()[1].reshape(-1, 3)[:, 0]) < -1e-9:
            raise CaseError("a 2D mesh is axisymmetric and needs r = x >= 0 everywhere", file=path,
                            key="geometry.file")
        info = check_current_mesh(str(path))
        centres, radii = [], []
        for name in particles:
            volume, centre = _measure(*groups[name], axisymmetric)
            if axisymmetric:
                centre[0] = 0.0  # on the axis
            centres.append(centre.tolist())
            radii.append((3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0))
        area, _ = _measure(*groups["na_metal"], axisymmetric)
    if min(radii) < 1e-3:
        raise CaseError(
            f"particle sizes of {min(radii):.3g} mesh units: mesh files must be in micrometres "
            "(these coordinates look like metres)", file=path, key="geometry.file")
    info.update({
        "dim": dim,
        "coordinate_system": "axisymmetric" if axisymmetric else "cartesian",
        "particle_centres": centres,
        "particle_radii": radii,
        "counter_electrode_area": area * LENGTH_UNIT**2,
    })
    return info

"""Loading meshes into DOLFINx (serial or MPI) and measuring them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import dolfinx
import gmsh
import numpy as np
import ufl
from mpi4py import MPI

from ecmx.meshes.builders import check_current_mesh, gmsh_model
from ecmx.meshes.cache import CACHE_ENV, MeshFile, build_mesh
from ecmx.meshes.meshfile import KEY, merge_msh
from ecmx.meshes.partition import domain_balanced_partitioner
from ecmx.meshes.spec import LENGTH_UNIT
from ecmx.solver.collective import on_root
from ecmx.solver.config import Geometry
from ecmx.solver.physics.coordinates import CoordinateSystem, by_name


@dataclass
class ParticleMesh:
    """A particle/electrolyte mesh in DOLFINx with its tags (coordinates in micrometres).

    Cell tags: ``particle_tags`` (particle_1..N) and ``electrolyte_tag``. Facet tags:
    ``interface_tag`` (particle|electrolyte facets), ``na_metal_tag`` (the counter-electrode face
    at the top of the box), ``walls_tag`` (every other outer face; no flux). For
    ``axisymmetric-2d`` (x[0] = r, x[1] = z) the symmetry axis r = 0 belongs to ``walls``, in
    the electrolyte and in the particle. For ``sphere-1d`` (x[0] = r in [0, R]) the interface is the
    point r = R and there is no electrolyte, Na-metal or wall tag.
    ``coordinate_system`` names the :class:`~ecmx.solver.physics.coordinates.CoordinateSystem`
    (``coordinates``), which gives the weight of dx/ds: 1, 2πr or 4πr².
    """

    mesh: dolfinx.mesh.Mesh
    cell_tags: dolfinx.mesh.MeshTags
    facet_tags: dolfinx.mesh.MeshTags
    kind: str
    coordinate_system: str
    length_unit: float
    particle_tags: dict[str, int]
    electrolyte_tag: int | None
    interface_tag: int
    na_metal_tag: int | None
    walls_tag: int | None
    particle_centres: np.ndarray
    particle_radii: np.ndarray
    counter_electrode_area: float
    msh_path: Path | None

    @property
    def coordinates(self) -> CoordinateSystem:
        """The coordinate system of the mesh (measure weight, point mapping)."""
        return by_name(self.coordinate_system)


def load_mesh(geometry: Any, comm: MPI.Comm = MPI.COMM_WORLD, cache_dir: str | Path | None = None,
              source: str | Path | None = None) -> ParticleMesh:
    """Build (rank 0, cached) and load the mesh of a ``Geometry``. Collective on `comm`.

    A CaseError on rank 0 (bad geometry, degenerate or invalid mesh file) is raised on every rank.
    """
    mesh_file = on_root(comm, build_mesh, geometry, cache_dir, source)
    return read_mesh(mesh_file, comm)


def _file_key(kind: str) -> str:
    """The setting to name when a mesh file cannot be read: the case's file or the mesh cache."""
    return KEY if kind == "mesh-file" else CACHE_ENV


def read_mesh(mesh_file: MeshFile, comm: MPI.Comm = MPI.COMM_WORLD) -> ParticleMesh:
    """Read a built or validated .msh into DOLFINx (rank 0 reads; shared-facet ghosting; on several ranks the
    particle and the electrolyte cells balanced separately, :mod:`ecmx.meshes.partition`). Collective.

    The file is checked and read through :func:`~ecmx.meshes.meshfile.merge_msh`; a CaseError on
    rank 0 is raised on every rank.
    """
    info = mesh_file.info
    if comm.rank == 0:
        with gmsh_model("ecmx-load"):
            on_root(comm, merge_msh, mesh_file.path, _file_key(info["kind"]))
            partitioner = domain_balanced_partitioner(_particle_cells(info["dim"]) if comm.size > 1 else np.empty(0, bool))
            data = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=info["dim"],
                                                 partitioner=partitioner)
    else:
        on_root(comm, lambda: None)
        partitioner = domain_balanced_partitioner(np.empty(0, dtype=bool))
        data = dolfinx.io.gmsh.model_to_mesh(None, comm, 0, gdim=info["dim"], partitioner=partitioner)
    groups = {name: int(group.tag) for name, group in data.physical_groups.items()}
    particles = sorted((n for n in groups if re.fullmatch(r"particle_\d+", n)),
                       key=lambda n: int(n.split("_")[1]))
    return ParticleMesh(
        mesh=data.mesh,
        cell_tags=data.cell_tags,
        facet_tags=data.facet_tags,
        kind=info["kind"],
        coordinate_system=info["coordinate_system"],
        length_unit=LENGTH_UNIT,
        particle_tags={n: groups[n] for n in particles},
        electrolyte_tag=groups.get("electrolyte"),
        interface_tag=groups["interface"],
        na_metal_tag=groups.get("na_metal"),
        walls_tag=groups.get("walls"),
        particle_centres=np.asarray(info["particle_centres"], dtype=float).reshape(-1, 3),
        particle_radii=np.asarray(info["particle_radii"], dtype=float),
        counter_electrode_area=float(info["counter_electrode_area"]),
        msh_path=Path(mesh_file.path),
    )


def _particle_cells(dim: int) -> np.ndarray:
    """For the cells of the current gmsh model in the order ``model_to_mesh`` reads them: whether each is
    outside the ``electrolyte`` physical group (all True without one)."""
    names = {gmsh.model.getPhysicalName(d, tag): tag for d, tag in gmsh.model.getPhysicalGroups(dim)}
    topologies, _ = dolfinx.io.gmsh.extract_topology_and_markers(gmsh.model)
    cells = [t["cell_data"] for etype, t in topologies.items() if gmsh.model.mesh.getElementProperties(etype)[1] == dim]
    markers = np.concatenate(cells) if cells else np.empty(0, dtype=np.int32)
    return markers != names.get("electrolyte", -1)


def measure_weight(pmesh: ParticleMesh) -> ufl.core.expr.Expr:
    """The factor that turns dx/ds on the mesh into volume/area: 1, 2πr or 4πr² (mesh units)."""
    return pmesh.coordinates.measure_weight(ufl.SpatialCoordinate(pmesh.mesh))


def _integral(form: ufl.Form, comm: MPI.Comm) -> float:
    return comm.allreduce(dolfinx.fem.assemble_scalar(dolfinx.fem.form(form)), op=MPI.SUM)


def particle_volume(pmesh: ParticleMesh) -> float:
    """Total particle volume in m³ (integrated over the particle cells). Collective."""
    dx = ufl.Measure("dx", domain=pmesh.mesh, subdomain_data=pmesh.cell_tags)
    w = measure_weight(pmesh)
    form = sum(w * dx(tag) for tag in pmesh.particle_tags.values())
    return _integral(form, pmesh.mesh.comm) * pmesh.length_unit**3


def interface_area(pmesh: ParticleMesh) -> float:
    """Area of the particle surfaces touching the electrolyte in m² (sphere-1d: 4πR²). Collective."""
    w = measure_weight(pmesh)
    if pmesh.mesh.topology.dim == 1:
        ds = ufl.Measure("ds", domain=pmesh.mesh, subdomain_data=pmesh.facet_tags)
        form = w * ds(pmesh.interface_tag)
    else:
        dS = ufl.Measure("dS", domain=pmesh.mesh, subdomain_data=pmesh.facet_tags)
        form = w("+") * dS(pmesh.interface_tag)
    return _integral(form, pmesh.mesh.comm) * pmesh.length_unit**2


def minimum_quality(msh_path: Path, comm: MPI.Comm, kind: str = "mesh-file") -> float:
    """gmsh minSICN over all cells of a .msh (computed on rank 0, returned on all ranks). Collective.

    `kind` (the geometry kind) decides which setting a CaseError names.
    """

    def measure() -> float:
        with gmsh_model("ecmx-quality"):
            merge_msh(msh_path, _file_key(kind))
            return check_current_mesh(str(msh_path), _file_key(kind))["min_quality"]

    return on_root(comm, measure)


def mesh_report(target: ParticleMesh | MeshFile | str | Path,
                comm: MPI.Comm = MPI.COMM_WORLD) -> dict[str, Any]:
    """Size, quality, particle volume [m³] and interface area [m²] of a mesh. Collective.

    A MeshFile is loaded on `comm` first; a path is validated as a ``mesh-file`` (CaseError if it
    lacks the physical groups or is degenerate) and loaded. Keys: kind, coordinate_system, cells,
    vertices (global counts), min_quality (gmsh minSICN; 1 = ideal), particles, particle_volume_m3,
    interface_area_m2, counter_electrode_area_m2, msh_path.
    """
    if isinstance(target, (str, Path)):
        target = load_mesh(Geometry(kind="mesh-file", file=Path(target)), comm)
    if isinstance(target, MeshFile):
        pmesh = read_mesh(target, comm)
        quality = target.info.get("min_quality")
    else:
        pmesh = target
        quality = None
    if quality is None and pmesh.msh_path is not None:
        quality = minimum_quality(pmesh.msh_path, pmesh.mesh.comm, pmesh.kind)
    topology = pmesh.mesh.topology
    return {
        "kind": pmesh.kind,
        "coordinate_system": pmesh.coordinate_system,
        "cells": int(topology.index_map(topology.dim).size_global),
        "vertices": int(topology.index_map(0).size_global),
        "min_quality": quality,
        "particles": len(pmesh.particle_tags),
        "particle_volume_m3": particle_volume(pmesh),
        "interface_area_m2": interface_area(pmesh),
        "counter_electrode_area_m2": pmesh.counter_electrode_area,
        "msh_path": str(pmesh.msh_path) if pmesh.msh_path is not None else None,
    }

"""Small meshes and cases for the coupled-problem tests.

Two hand-made meshes with the ``ecmx.meshes.ParticleMesh`` contract (micrometre coordinates, the
physical groups particle_1 / electrolyte / interface / na_metal / walls), independent of the mesh
builders and their cache; most tests use ``ecmx.meshes.load_mesh`` instead.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

from typing import Any

import dolfinx
import numpy as np
from mpi4py import MPI

from ecmx.meshes import ParticleMesh
from ecmx.solver.config.case import case_from_dict

MATERIAL: dict[str, Any] = {
    "name": "test-nvp",
    "density": 3152.0,
    "molar_mass": 0.45576,
    "max_concentration": 13831.0,
    "stoichiometry_window": [0.05, 0.95],
    "diffusivity": 1e-14,
    "open_circuit_voltage": {"stoichiometry": [0.0, 0.05, 0.5, 0.95, 1.0], "voltage": [4.2, 3.6, 3.4, 3.2, 2.0]},
    "exchange_current_density": 1.0,
    "youngs_modulus": 80e9,
    "poissons_ratio": 0.26,
    "chemical_expansion": {"volume_change": 0.0826, "over": [0.05, 0.95]},
}

ELECTROLYTE: dict[str, Any] = {
    "name": "test-electrolyte",
    "concentration": 1000.0,
    "cation_diffusivity": 2.26e-11,
    "anion_diffusivity": 2.77e-11,
}


def make_case(
    kind: str = "sphere-1d",
    material: dict[str, Any] | None = None,
    electrolyte: dict[str, Any] | None = None,
    theta0: float = 0.5,
    solver: dict[str, Any] | None = None,
) -> Any:
    """A validated Case for the tests (one discharge step; tests drive the problem themselves)."""
    mat = dict(MATERIAL) | (material or {})
    ely = dict(ELECTROLYTE) | (electrolyte or {})
    data = {
        "name": "test",
        "material": mat,
        "electrolyte": ely,
        "geometry": {"kind": kind},
        "initial": {"stoichiometry": theta0},
        "protocol": [{"step": "discharge", "c_rate": 1.0, "until": {"depth_of_discharge": 1.0}}],
        "solver": solver or {},
    }
    return case_from_dict(data)


def sphere_1d_mesh(comm: MPI.Comm = MPI.COMM_WORLD, elements: int = 40, radius_um: float = 1.0,
                   counter_electrode_area: float = 4e-12) -> ParticleMesh:
    """Radial interval [0, R] in µm, particle tag 1, interface (r = R) tag 3."""
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    msh = dolfinx.mesh.create_interval(comm, elements, [0.0, radius_um], partitioner=part)
    tdim = msh.topology.dim
    n_cells = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
    cells = np.arange(n_cells, dtype=np.int32)
    ct = dolfinx.mesh.meshtags(msh, tdim, cells, np.full(n_cells, 1, dtype=np.int32))
    msh.topology.create_connectivity(tdim - 1, tdim)
    facets = dolfinx.mesh.locate_entities_boundary(msh, tdim - 1, lambda x: np.isclose(x[0], radius_um))
    ft = dolfinx.mesh.meshtags(msh, tdim - 1, facets, np.full(facets.size, 3, dtype=np.int32))
    return ParticleMesh(
        mesh=msh, cell_tags=ct, facet_tags=ft, kind="sphere-1d", coordinate_system="spherical",
        length_unit=1e-6, particle_tags={"particle_1": 1}, electrolyte_tag=None, interface_tag=3,
        na_metal_tag=None, walls_tag=None, particle_centres=np.zeros((1, 3)),
        particle_radii=np.array([radius_um]), counter_electrode_area=counter_electrode_area, msh_path=None,
    )


def particle_in_box_mesh(comm: MPI.Comm = MPI.COMM_WORLD, radius: float = 1.0, thickness: float = 3.0,
                         margin: float = 0.5, size: float = 0.6, interface_size: float = 0.25) -> ParticleMesh:
    """Sphere of radius R (µm) at the origin in a box; Na metal on the top face z = R + thickness.

    Tags: particle 1, electrolyte 2; interface 3, na_metal 4, walls 5.
    """
    import gmsh

    half = radius + margin
    top = radius + thickness
    bottom = -radius - margin
    if comm.rank == 0:
        gmsh.initialize()
        gmsh.option.setNumber("General.Terminal", 0)
        gmsh.model.add("particle_in_box")
        occ = gmsh.model.occ
        box = occ.addBox(-half, -half, bottom, 2 * half, 2 * half, top - bottom)
        ball = occ.addSphere(0, 0, 0, radius)
        occ.fragment([(3, box)], [(3, ball)])
        occ.synchronize()
        vols = gmsh.model.getEntities(3)
        masses = [occ.getMass(3, t) for _, t in vols]
        particle = vols[int(np.argmin(masses))][1]
        electrolyte = vols[int(np.argmax(masses))][1]
        gmsh.model.addPhysicalGroup(3, [particle], 1, name="particle_1")
        gmsh.model.addPhysicalGroup(3, [electrolyte], 2, name="electrolyte")
        p_faces = [t for _, t in gmsh.model.getBoundary([(3, particle)], oriented=False)]
        e_faces = [t for _, t in gmsh.model.getBoundary([(3, electrolyte)], oriented=False)]
        top_faces, walls = [], []
        for t in e_faces:
            if t in p_faces:
                continue
            zc = occ.getCenterOfMass(2, t)[2]
            (top_faces if abs(zc - top) < 1e-6 else walls).append(t)
        gmsh.model.addPhysicalGroup(2, p_faces, 3, name="interface")
        gmsh.model.addPhysicalGroup(2, top_faces, 4, name="na_metal")
        gmsh.model.addPhysicalGroup(2, walls, 5, name="walls")
        gmsh.model.mesh.field.add("Distance", 1)
        gmsh.model.mesh.field.setNumbers(1, "FacesList", p_faces)
        gmsh.model.mesh.field.add("Threshold", 2)
        gmsh.model.mesh.field.setNumber(2, "InField", 1)
        gmsh.model.mesh.field.setNumber(2, "SizeMin", interface_size)
        gmsh.model.mesh.field.setNumber(2, "SizeMax", size)
        gmsh.model.mesh.field.setNumber(2, "DistMin", 0.0)
        gmsh.model.mesh.field.setNumber(2, "DistMax", 1.5 * radius)
        gmsh.model.mesh.field.add("Min", 3)
        gmsh.model.mesh.field.setNumbers(3, "FieldsList", [2])
        gmsh.model.mesh.field.setAsBackgroundMesh(3)
        gmsh.option.setNumber("Mesh.MeshSizeExtendFromBoundary", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromPoints", 0)
        gmsh.option.setNumber("Mesh.MeshSizeFromCurvature", 0)
        gmsh.model.mesh.generate(3)
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    md = dolfinx.io.gmsh.model_to_mesh(gmsh.model if comm.rank == 0 else None, comm, 0, gdim=3, partitioner=part)
    if comm.rank == 0:
        gmsh.finalize()
    width = 2 * half
    return ParticleMesh(
        mesh=md.mesh, cell_tags=md.cell_tags, facet_tags=md.facet_tags, kind="particle-in-electrolyte",
        coordinate_system="cartesian", length_unit=1e-6, particle_tags={"particle_1": 1}, electrolyte_tag=2,
        interface_tag=3, na_metal_tag=4, walls_tag=5, particle_centres=np.zeros((1, 3)),
        particle_radii=np.array([radius]), counter_electrode_area=(width * 1e-6) ** 2, msh_path=None,
    )


def run_constant_current(problem: Any, current: float, dt: float, steps: int) -> list[dict[str, float]]:
    """Fixed-step galvanostatic run; returns quantities after every accepted step (plus t = 0)."""
    problem.set_control("current", current)
    out = [problem.quantities() | {"time_s": 0.0, "newton_iterations": 0}]
    t = 0.0
    for _ in range(steps):
        outcome = problem.try_step(dt)
        assert outcome.converged, outcome.reason
        problem.accept()
        t += dt
        out.append(problem.quantities() | {"time_s": t, "newton_iterations": outcome.newton_iterations})
    return out

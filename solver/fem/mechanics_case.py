"""The mechanics of a case: the particle submesh, crystal orientations and rollers from the
validated case, assembled into a :class:`~ecmx.solver.fem.mechanics.MechanicsProblem`."""

from __future__ import annotations

from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
from mpi4py import MPI

from ecmx.solver.errors import CaseError
from ecmx.solver.fem.crystal import random_orientations
from ecmx.solver.fem.mechanics import ITERATIVE_RTOL, MechanicsProblem
from ecmx.solver.physics.coordinates import CARTESIAN, by_name


def particle_submesh(
    pmesh: Any,
    particle_mesh: dolfinx.mesh.Mesh | None = None,
    entity_map: dolfinx.mesh.EntityMap | None = None,
) -> tuple[dolfinx.mesh.Mesh, np.ndarray]:
    """(particle mesh, cell_particle_index) of an ``ecmx.meshes.ParticleMesh``. Collective.

    Pass the particle submesh and its entity map when they exist already (``CellProblem``'s
    ``particle_mesh``/``particle_entity_map``); otherwise the submesh of all particle cells is made
    here. Particle i is ``particle_{i+1}``, the order of ``pmesh.particle_centres``.
    """
    msh = pmesh.mesh
    tdim = msh.topology.dim
    tags = list(pmesh.particle_tags.values())
    if particle_mesh is None:
        if pmesh.electrolyte_tag is None:
            particle_mesh, entity_map = msh, None
        else:
            cells = np.sort(np.concatenate([pmesh.cell_tags.find(t) for t in tags])).astype(np.int32)
            particle_mesh, entity_map, _, _ = dolfinx.mesh.create_submesh(msh, tdim, cells)
    imap = particle_mesh.topology.index_map(tdim)
    sub_cells = np.arange(imap.size_local + imap.num_ghosts, dtype=np.int32)
    parent = sub_cells if entity_map is None else entity_map.sub_topology_to_topology(sub_cells, inverse=False)
    pimap = msh.topology.index_map(tdim)
    tag_of = np.full(pimap.size_local + pimap.num_ghosts, -1, dtype=np.int64)
    tag_of[pmesh.cell_tags.indices] = pmesh.cell_tags.values
    index_of = {int(t): i for i, t in enumerate(tags)}
    parent_tags = tag_of[parent]
    if not np.isin(parent_tags, tags).all():
        raise ValueError("the particle mesh holds cells that carry no particle tag")
    return particle_mesh, np.array([index_of[int(t)] for t in parent_tags], dtype=np.int64)


ONE_WAY_ITERATIVE_FRACTION = 1e-2
"""One-way mechanics with the iterative solve: CG stops at ‖r‖ < ONE_WAY_ITERATIVE_FRACTION · solver.rtol ‖b‖
(never looser than 1e-8), like Newton's tolerance (``NEWTON_FRACTION`` of ``solver.rtol``). The stresses feed
nothing back, so their algebraic error only has to stay below the time-integration error of the concentration
they come from. Measured on bench/sphere3d.yaml (NVP sphere, 193k P2 DOFs, one hour, 183 steps, solver.rtol 1e-6):
at 1e-8 instead of ITERATIVE_RTOL = 1e-10 the mechanics took 182 instead of 331 s of CPU, with the peak von Mises
within 1.6e-5 of its peak and the mean surface von Mises within 3e-6 at every step; the same case's time-integration
error at rtol 1e-6 (sphere-1d against rtol 1e-9) is up to 2.9e-4 of the peak von Mises (median 6.7e-5). Two-way
coupling keeps ITERATIVE_RTOL: its stagger tests the change of the stress it feeds back against a tenth of the
time-integration tolerance."""


def one_way_iterative_rtol(time_rtol: float) -> float:
    """CG's relative tolerance for one-way mechanics at the time integration's ``time_rtol`` (both dimensionless)."""
    return min(ONE_WAY_ITERATIVE_FRACTION * time_rtol, 1e-8)


def mechanics_for_case(problem: Any, pmesh: Any, case: Any) -> MechanicsProblem:
    """The mechanics of a case on the coupled problem's particle submesh, stress-free at the initial
    state (orientations, rollers, degree and solver from ``case.mechanics``; the iterative solver's tolerance
    from ``solver.rtol`` for one-way coupling, :func:`one_way_iterative_rtol`). Collective."""
    particle_mesh, cell_particle_index = particle_submesh(pmesh, problem.particle_mesh, problem.particle_entity_map)
    settings = case.mechanics
    count = len(pmesh.particle_centres)
    if settings.orientation == "random":
        orientation = random_orientations(count, settings.seed)
    elif settings.orientation is not None:
        orientation = np.asarray(settings.orientation, dtype=float).reshape(-1, 3, 3)
        if orientation.shape[0] != count:
            raise CaseError(f"expected {count} orientation matrices (one per particle), got {orientation.shape[0]}",
                            key="mechanics.orientation")
    else:
        orientation = None
    rollers = _wall_facets(particle_mesh, pmesh) if settings.rollers else None
    return MechanicsProblem(
        particle_mesh, pmesh.coordinate_system, case.material, problem.fields["particle_concentration"],
        reference_concentration=case.initial_stoichiometry() * case.material.max_concentration,
        centres=pmesh.particle_centres, cell_particle_index=cell_particle_index, degree=settings.degree,
        orientation=orientation, rollers_facets=rollers, length_unit=pmesh.length_unit,
        linear_solver=settings.linear_solver,
        iterative_rtol=one_way_iterative_rtol(case.solver.rtol) if settings.coupling == "one-way" else ITERATIVE_RTOL)


def _wall_facets(particle_mesh: Any, pmesh: Any) -> np.ndarray:
    """Boundary facets of the particle mesh on the box walls (the faces of the parent mesh's bounding
    box other than the Na-metal top face): where rollers hold the particles."""
    if pmesh.electrolyte_tag is None or by_name(pmesh.coordinate_system) is not CARTESIAN:
        raise CaseError("mechanics.rollers needs a 3D geometry with an electrolyte box", key="mechanics.rollers")
    comm = pmesh.mesh.comm
    x = pmesh.mesh.geometry.x
    lo = comm.allreduce(x.min(axis=0) if len(x) else np.full(3, np.inf), MPI.MIN)
    hi = comm.allreduce(x.max(axis=0) if len(x) else np.full(3, -np.inf), MPI.MAX)
    tol = 1e-8 * float(np.max(hi - lo))

    def on_wall(p: np.ndarray) -> np.ndarray:
        near = np.zeros(p.shape[1], dtype=bool)
        for axis in range(3):
            near |= np.isclose(p[axis], lo[axis], atol=tol)
            if axis < 2:  # the top face z = max is the Na metal
                near |= np.isclose(p[axis], hi[axis], atol=tol)
        return near

    facets = dolfinx.mesh.locate_entities_boundary(particle_mesh, particle_mesh.topology.dim - 1, on_wall)
    if comm.allreduce(len(facets), MPI.SUM) == 0:
        raise CaseError("mechanics.rollers: no particle surface touches a box wall", key="mechanics.rollers")
    return facets

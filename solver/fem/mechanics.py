"""Stationary chemo-mechanical solve on the particle submesh (MODEL.md §3).

Given the particle concentration c_s (a P1 Function on the particle mesh), find the displacement u
of traction-free elastic particles with chemical strain ε_ch(c_s), then the stress fields.

Discretisation and solver
-------------------------
- u in vector Lagrange P1 or P2 (default P2), in mesh units (µm), so ε = sym ∇u is dimensionless;
  the system is scaled by E (λ/E, μ/E), which makes its entries O(1). The stiffness matrix is
  assembled once; each :meth:`MechanicsProblem.solve` assembles only the load.
- One code path for ``cartesian`` (3D), ``axisymmetric`` (2D, weight r, hoop strain u_r/r; u_r = 0
  on the axis) and ``spherical`` (1D, weight r², hoop strains u_r/r; u_r = 0 at the centre).
- Rigid-body modes: conjugate gradients with GAMG. The rigid-body modes of every particle (6 in
  3D, the z translation for axisymmetric, none for spherical), restricted to the combinations that
  no roller holds, are the null space of the matrix (removed from the load); the global rigid-body
  modes are GAMG's near-null space. After the solve the rigid part is removed in the volume sense
  (each particle's mean translation and mean rotation are zero). Against six Lagrange
  multipliers with MUMPS (bench/bench_mechanics_solvers.py): the same von Mises to 3e-11 of the
  peak, 0.05/0.3/1.35 s against 0.18/1.3/15 s at 7k/28k/88k dofs, ~40 CG iterations throughout.
- Optional rollers: u·n = 0 on given facets of axis-aligned walls (the component along the wall
  normal is held).
- Cost: 6 full-length null-space vectors per particle (memory 48 B × dofs × particles), fine for
  the agglomerates ecmx builds (tens of particles); ~40 CG iterations independent of the mesh.

Derived fields (all SI: Pa, J/m³, m; all continuous P1 on the particle mesh)
------------------------------------------------------------------------------
The stress σ = λ tr(ε(u) − ε_ch) I + 2μ(ε(u) − ε_ch) of a P_k displacement and P1 concentration
is a polynomial of degree k−1 in each cell. It is evaluated exactly at the cell's DG(k−1) nodes
(``fem.Expression``: the vertices for k = 2, the midpoint for k = 1) and recovered on P1 by
averaging, at every vertex, the values of the cells around it (over all ranks). Every other field
is computed pointwise at the vertices from that one recovered tensor, so they are mutually
consistent; peaks are extremes over the vertices, surface means integrate the P1 fields over the
particle surface with the radial weight. (Averaging cancels most of the one-sided vertex error of
the cell values: on the analytic sphere the nodal error of σ_vm drops from 4.2 % to 3.0 % of the
peak at h = 0.15 R and the peak error to 0.03 %.)

- ``stress``: the tensor, 3×3 in the frame of the coordinate system ((x,y,z); (r,θ,z); (r,θ,φ)).
- ``von_mises`` sqrt(3/2 s:s); ``hydrostatic`` tr σ/3; ``principal_stresses`` (σ1 ≥ σ2 ≥ σ3, the
  eigenvalues of the tensor); ``max_principal`` σ1 (the crack driver).
- ``radial_stress`` n·σ·n with n the unit vector from the centre of the vertex's particle;
  ``tangential_stress`` (tr σ − σ_r)/2 (σ_θ = σ_φ for a sphere); both σ_h at the centre itself.
- ``strain_energy_density`` ½ σ:C⁻¹σ; ``quantities()["strain_energy"]`` integrates the exact
  ½ σ:(ε − ε_ch) instead.
- ``displacement`` [m]: the P_k solution interpolated at the vertices.
- ``harmonic_hydrostatic`` φ = σ_h + k_σ (c_s − c_s,0) (isotropic linear expansion only), the smooth
  part of σ_h for staggered two-way coupling (physics.mechanics.stress_assisted_flux_split).

The P1 ``hydrostatic`` field is continuous, so ∇σ_h exists for the stress-assisted flux of
two-way coupling (ecmx.solver.physics.mechanics.stress_assisted_flux); for a staggered scheme lag
only ``harmonic_hydrostatic`` (stress_assisted_flux_split), which stays stable at NVP's coupling
strength.
"""

from __future__ import annotations

import itertools
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from ecmx.solver.errors import CaseError
from ecmx.solver.physics import mechanics as phys

_SCALAR_FIELDS = (
    "von_mises",
    "hydrostatic",
    "max_principal",
    "radial_stress",
    "tangential_stress",
    "strain_energy_density",
)
_counter = itertools.count()


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


def random_orientations(count: int, seed: int) -> np.ndarray:
    """``count`` uniformly distributed rotation matrices (crystal → lab), reproducible by seed."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(count, random_state=seed).as_matrix().reshape(count, 3, 3)


# PETSc options of the mechanics solve (measured on the default 3D sphere, 35k P2 dofs: direct 1.0 s
# for the first solve and 0.04 s for each later one; iterative 0.65 s every solve, ~38 CG iterations)
LINEAR_SOLVERS: dict[str, dict[str, Any]] = {
    "direct": {
        "ksp_type": "preonly",
        "pc_type": "cholesky",
        "pc_factor_mat_solver_type": "mumps",
        "mat_mumps_icntl_24": 1,  # detect the null pivots of the rigid-body modes
        "mat_mumps_cntl_3": 1e-8,
    },
    "iterative": {
        "ksp_type": "cg",
        "ksp_rtol": 1e-12,
        "ksp_atol": 1e-30,
        "ksp_max_it": 1000,
        "pc_type": "gamg",
        "pc_gamg_coarse_eq_limit": 1000,
        "mg_levels_ksp_type": "chebyshev",
        "mg_levels_pc_type": "jacobi",
        "mg_levels_esteig_ksp_type": "cg",
    },
}


class MechanicsProblem:
    """Traction-free chemo-elastic particles on the particle mesh, solved for a given c_s.

    Args:
        particle_mesh: the particle (sub)mesh, coordinates in mesh units (``length_unit`` m each).
        coordinate_system: ``"cartesian"`` (3D), ``"axisymmetric"`` (2D, x[0] = r, x[1] = z) or
            ``"spherical"`` (1D, x[0] = r).
        material: fields ``youngs_modulus`` [Pa], ``poissons_ratio``, ``max_concentration``
            [mol/m³], ``chemical_expansion`` (see :func:`ecmx.solver.physics.mechanics.chemical_strain_from_material`).
        concentration: particle concentration c_s [mol/m³], a Function on ``particle_mesh``; read at
            every :meth:`solve`.
        reference_concentration: c_s,0 [mol/m³] of the stress-free state.
        centres: (n, 3) particle centres [mesh units]; default the origin (one particle).
        cell_particle_index: particle index (row of ``centres``) of every local cell, owned and ghost
            (see :func:`particle_submesh`); default: the nearest centre to each cell midpoint.
        degree: displacement degree, 1 or 2.
        orientation: (n, 3, 3) crystal → lab rotations, one per particle (anisotropic strain only);
            None: c-axis along z.
        rollers_facets: local facet indices of the particle mesh on axis-aligned planar walls where
            u·n = 0.
        length_unit: metres per mesh unit.
        linear_solver: ``"direct"`` (MUMPS Cholesky, factorised once: the stiffness matrix does not
            change during a run, so every later solve is a back-substitution; null pivots of the
            free particle are detected and the rigid-body part is projected out afterwards) or
            ``"iterative"`` (CG + GAMG with the rigid-body near-null space; less memory on big meshes).
        petsc_options: overrides of the linear-solver options.

    All methods are collective.
    """

    def __init__(
        self,
        particle_mesh: dolfinx.mesh.Mesh,
        coordinate_system: str,
        material: Any,
        concentration: fem.Function,
        reference_concentration: float,
        centres: np.ndarray | None = None,
        cell_particle_index: np.ndarray | None = None,
        degree: int = 2,
        orientation: np.ndarray | None = None,
        rollers_facets: np.ndarray | None = None,
        length_unit: float = 1e-6,
        linear_solver: str = "direct",
        petsc_options: dict[str, Any] | None = None,
    ):
        msh = particle_mesh
        self.mesh = msh
        self.coordinate_system = coordinate_system
        gdim = phys.mesh_dimension(coordinate_system)
        if msh.geometry.dim != gdim or msh.topology.dim != gdim:
            raise ValueError(f"{coordinate_system} mechanics needs a {gdim}D mesh, got dimension {msh.geometry.dim}")
        if degree not in (1, 2):
            raise CaseError(f"displacement degree must be 1 or 2, got {degree}", key="mechanics.degree")
        self.degree = degree
        self.length_unit = float(length_unit)
        self.comm = msh.comm
        tdim = msh.topology.dim

        E = float(phys._field(material, "youngs_modulus"))
        nu = float(phys._field(material, "poissons_ratio"))
        if not (E > 0 and -1.0 < nu < 0.5):
            raise CaseError("need youngs_modulus > 0 and -1 < poissons_ratio < 0.5", key="material")
        self.youngs_modulus, self.poissons_ratio = E, nu
        self.chemical_strain = phys.chemical_strain_from_material(material)
        c_max = self.chemical_strain.max_concentration
        self.concentration = concentration
        self.reference_concentration = float(reference_concentration)

        # Per-cell particle data: index, centre (DG0 3-vector) and crystal rotation (DG0 3×3).
        imap_c = msh.topology.index_map(tdim)
        num_cells = imap_c.size_local + imap_c.num_ghosts
        centres = np.zeros((1, 3)) if centres is None else np.asarray(centres, dtype=float).reshape(-1, 3)
        self.centres = centres
        if cell_particle_index is None:
            midpoints = dolfinx.mesh.compute_midpoints(msh, tdim, np.arange(num_cells, dtype=np.int32))
            d2 = ((midpoints[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
            cell_particle_index = np.argmin(d2, axis=1)
        cell_particle_index = np.asarray(cell_particle_index, dtype=np.int64)
        if cell_particle_index.shape != (num_cells,):
            raise ValueError(f"cell_particle_index needs {num_cells} entries (owned + ghost cells)")
        self.cell_particle_index = cell_particle_index
        extent = self.comm.allreduce(float(np.abs(msh.geometry.x).max()) if msh.geometry.x.size else 0.0, MPI.MAX)
        self._tiny = 1e-9 * max(extent, 1e-300)

        Q0v = fem.functionspace(msh, ("DG", 0, (3,)))
        self._centre = fem.Function(Q0v, name="particle_centre")
        cells0 = Q0v.dofmap.list[:, 0]
        self._centre.x.array.reshape(-1, 3)[cells0] = centres[cell_particle_index]
        rotation = None
        if self.chemical_strain.kind == "lattice":
            if coordinate_system == "spherical" and not self.chemical_strain.isotropic:
                raise CaseError("anisotropic (lattice) strain needs a 3D or axisymmetric geometry",
                                key="material.chemical_expansion")
            if coordinate_system == "axisymmetric" and orientation is not None:
                raise CaseError("axisymmetric geometry: the crystal c-axis is the symmetry axis; give no orientation",
                                key="mechanics.orientation")
            q = phys.rotation_matrices(orientation, len(centres))
            if q is not None:
                Q0t = fem.functionspace(msh, ("DG", 0, (3, 3)))
                rotation = fem.Function(Q0t, name="crystal_rotation")
                rotation.x.array.reshape(-1, 9)[cells0] = q[cell_particle_index].reshape(-1, 9)
        self._rotation = rotation

        # Forms. Displacement in mesh units, stiffness scaled by E.
        V = fem.functionspace(msh, ("Lagrange", degree, (gdim,)))
        self.V = V
        x = ufl.SpatialCoordinate(msh)
        w = phys.radial_weight(x, coordinate_system)
        self._weight = w
        lam, mu = phys.lame_parameters(1.0, nu)
        theta = concentration / c_max
        theta_ref = self.reference_concentration / c_max
        eps_ch = self.chemical_strain.tensor(theta, theta_ref, rotation)
        u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
        eps = lambda f: phys.strain(f, x, coordinate_system)  # noqa: E731
        eps_nodal = lambda f: phys.strain(f, x, coordinate_system, self._tiny)  # noqa: E731
        zero = ufl.zero(3, 3)
        a = ufl.inner(phys.stress(eps(u), zero, lam, mu), eps(v)) * w * ufl.dx
        L = ufl.inner(phys.stress(eps_ch, zero, lam, mu), eps(v)) * w * ufl.dx
        self._a, self._L = fem.form(a), fem.form(L)

        self.u_hat = fem.Function(V, name="displacement_mesh_units")
        self.bcs = self._dirichlet_conditions(rollers_facets)
        A = dolfinx.fem.petsc.assemble_matrix(self._a, bcs=self.bcs)
        A.assemble()
        self._A = A
        null_vecs, near_vecs = self._rigid_body_modes()
        self._nullspace = PETSc.NullSpace().create(vectors=null_vecs, comm=self.comm) if null_vecs else None
        if self._nullspace is not None:
            A.setNullSpace(self._nullspace)
        if near_vecs:
            A.setNearNullSpace(PETSc.NullSpace().create(vectors=near_vecs, comm=self.comm))
        self._b = dolfinx.fem.petsc.create_vector(V)  # ghosted: the assembler adds into ghosts
        self._x = A.createVecRight()
        self._rigid_setup(null_vecs)

        prefix = f"ecmx_mechanics_{next(_counter)}_"
        if linear_solver not in LINEAR_SOLVERS:
            raise CaseError(f"expected one of {', '.join(LINEAR_SOLVERS)}, got {linear_solver!r}", key="mechanics.linear_solver")
        options = dict(LINEAR_SOLVERS[linear_solver])
        options.update(petsc_options or {})
        opts = PETSc.Options()
        for k, val in options.items():
            opts[prefix + k] = val
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOptionsPrefix(prefix)
        ksp.setOperators(A)
        ksp.setFromOptions()
        for k in options:
            del opts[prefix + k]
        self._ksp = ksp
        self.iterations = 0

        # Exact discrete stress on DG(k-1) [Pa]; recovered fields on P1 (SI units).
        sigma = E * phys.stress(eps_nodal(self.u_hat), eps_ch, lam, mu)
        self._sigma = sigma
        S = fem.functionspace(msh, ("DG", degree - 1, (3, 3)))
        self._stress_dg = fem.Function(S, name="stress_dg")
        self._stress_expr = fem.Expression(sigma, S.element.interpolation_points)
        W1 = fem.functionspace(msh, ("Lagrange", 1))
        self.fields: dict[str, fem.Function] = {
            "displacement": fem.Function(fem.functionspace(msh, ("Lagrange", 1, (gdim,))), name="displacement"),
            "stress": fem.Function(fem.functionspace(msh, ("Lagrange", 1, (3, 3))), name="stress"),
            "principal_stresses": fem.Function(fem.functionspace(msh, ("Lagrange", 1, (3,))), name="principal_stresses"),
        }
        for name in _SCALAR_FIELDS:
            self.fields[name] = fem.Function(W1, name=name)
        self._c_p1: fem.Function | None = None
        if self.chemical_strain.kind == "linear":
            self.fields["harmonic_hydrostatic"] = fem.Function(W1, name="harmonic_hydrostatic")
            self._c_p1 = fem.Function(W1)
            self._local_coefficient = phys.local_hydrostatic_coefficient(
                self.chemical_strain.partial_molar_volume, E, nu)
        self._recovery_setup(W1)

        # Integrals: surface (radially weighted) and volume.
        ds = ufl.Measure("ds", domain=msh)
        dx = ufl.dx(domain=msh)
        n, _ = phys.radial_direction(x, self._centre, coordinate_system)
        u_radial = ufl.dot(n, self._as_frame_vector(self.u_hat)) * self.length_unit
        f = self.fields
        self._integrals = {
            "volume": fem.form(w * dx),
            "area": fem.form(w * ds),
            "surface_von_mises": fem.form(f["von_mises"] * w * ds),
            "surface_hydrostatic": fem.form(f["hydrostatic"] * w * ds),
            "surface_tangential": fem.form(f["tangential_stress"] * w * ds),
            "surface_radial_displacement": fem.form(u_radial * w * ds),
            "strain_energy": fem.form(phys.strain_energy_density(sigma, eps(self.u_hat) - eps_ch) * w * dx),
        }
        self._geometry_integrals = {k: self._assemble(k) for k in ("volume", "area")}

    # ------------------------------------------------------------------ setup helpers
    def _as_frame_vector(self, f: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """A mesh-dimension vector as a 3-vector in the frame of the stress."""
        if self.coordinate_system == "spherical":
            return ufl.as_vector([f[0], 0.0, 0.0])
        if self.coordinate_system == "axisymmetric":
            return ufl.as_vector([f[0], 0.0, f[1]])
        return f

    def _dirichlet_conditions(self, rollers_facets: np.ndarray | None) -> list[fem.DirichletBC]:
        msh, V = self.mesh, self.V
        fdim = msh.topology.dim - 1
        msh.topology.create_connectivity(fdim, msh.topology.dim)
        held: dict[int, list[np.ndarray]] = {}
        if self.coordinate_system in ("axisymmetric", "spherical"):
            tol = self._tiny
            axis = dolfinx.mesh.locate_entities_boundary(msh, fdim, lambda xx: np.abs(xx[0]) <= tol)
            held.setdefault(0, []).append(axis)
        if rollers_facets is not None and len(rollers_facets):
            facets = np.asarray(rollers_facets, dtype=np.int32)
            nodes = dolfinx.mesh.entities_to_geometry(msh, fdim, facets)
            coords = msh.geometry.x[nodes][:, :, : msh.geometry.dim]
            normal_axis = np.argmin(np.ptp(coords, axis=1), axis=1)
            for k in range(msh.geometry.dim):
                held.setdefault(int(k), []).append(facets[normal_axis == k])
        bcs = []
        for k, facet_lists in sorted(held.items()):
            facets = np.unique(np.concatenate(facet_lists)).astype(np.int32)
            if V.num_sub_spaces == 0:  # 1D: the single component is the whole space
                dofs = fem.locate_dofs_topological(V, fdim, facets)
                bcs.append(fem.dirichletbc(fem.Function(V), dofs))
            else:
                dofs = fem.locate_dofs_topological(V.sub(k), fdim, facets)
                bcs.append(fem.dirichletbc(PETSc.ScalarType(0.0), dofs, V.sub(k)))
        return bcs

    def _rigid_body_modes(self) -> tuple[list[PETSc.Vec], list[PETSc.Vec]]:
        """(null space, near-null space) as orthonormal PETSc vectors.

        Null space: for each particle, the combinations of its rigid-body modes that vanish on the
        held dofs. Near-null space (GAMG): the global rigid-body modes of a free body in mesh_dim D.
        """
        V = self.V
        gdim = self.mesh.geometry.dim
        bs = V.dofmap.index_map_bs
        n_own = V.dofmap.index_map.size_local
        coords = V.tabulate_dof_coordinates()[:n_own, :gdim]
        dm = V.dofmap.list
        node_particle = np.full(V.dofmap.index_map.size_local + V.dofmap.index_map.num_ghosts, -1)
        node_particle[dm.ravel()] = np.repeat(self.cell_particle_index, dm.shape[1])
        node_particle = node_particle[:n_own]

        def free_modes(centre: np.ndarray) -> list[np.ndarray]:
            d = coords - centre[:gdim]
            modes = []
            for k in range(gdim):
                m = np.zeros((n_own, bs))
                m[:, k] = 1.0
                modes.append(m)
            rotations = {2: [(0, 1)], 3: [(0, 1), (1, 2), (2, 0)]}.get(gdim, [])
            for i, j in rotations:
                m = np.zeros((n_own, bs))
                m[:, i], m[:, j] = -d[:, j], d[:, i]
                modes.append(m)
            return [m.ravel() for m in modes]

        held = np.zeros(n_own * bs, dtype=bool)
        for bc in self.bcs:
            dofs, n_owned_bc = bc.dof_indices()
            held[dofs[dofs < n_own * bs]] = True

        null = []
        if self.coordinate_system != "spherical":
            for p, centre in enumerate(self.centres):
                in_p = np.repeat(node_particle == p, bs)
                if self.coordinate_system == "axisymmetric":
                    m = np.zeros((n_own, bs))
                    m[:, 1] = 1.0
                    modes = [m.ravel()]
                else:
                    modes = free_modes(centre)
                modes = [np.where(in_p, m, 0.0) for m in modes]
                M = np.array([m[held] for m in modes])
                G = self.comm.allreduce(M @ M.T, MPI.SUM)
                scale = self.comm.allreduce(sum(float(m @ m) for m in modes), MPI.SUM)
                if scale == 0.0:
                    continue
                vals, vecs = np.linalg.eigh(G)
                keep = vals <= 1e-10 * scale
                null.extend(vecs[:, keep].T @ np.array(modes))
        null = self._orthonormalise(list(null))
        near = self._orthonormalise(free_modes(np.zeros(3)))
        return [self._to_vec(m) for m in null], [self._to_vec(m) for m in near]

    def _rigid_setup(self, modes: list[PETSc.Vec]) -> None:
        """Weighted mass products of the null-space modes, to remove the rigid part of u in the
        volume sense (each particle's mean translation and mean rotation zero)."""
        self._rigid_modes = modes
        if not modes:
            return
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        mass = dolfinx.fem.petsc.assemble_matrix(fem.form(ufl.inner(u, v) * self._weight * ufl.dx))
        mass.assemble()
        self._mass_modes = []
        for m in modes:
            mm = mass.createVecLeft()
            mass.mult(m, mm)
            self._mass_modes.append(mm)
        gram = np.array([[mi.dot(mj) for mj in modes] for mi in self._mass_modes])
        self._rigid_gram_inv = np.linalg.inv(gram)
        mass.destroy()

    def _remove_rigid_part(self, x: PETSc.Vec) -> None:
        if not self._rigid_modes:
            return
        alpha = self._rigid_gram_inv @ np.array([mm.dot(x) for mm in self._mass_modes])
        x.maxpy(-alpha, self._rigid_modes)

    def _orthonormalise(self, vectors: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for v in vectors:
            v = v.copy()
            for _ in range(2):
                for q in out:
                    v -= self.comm.allreduce(float(q @ v), MPI.SUM) * q
            norm = np.sqrt(self.comm.allreduce(float(v @ v), MPI.SUM))
            if norm > 1e-12:
                out.append(v / norm)
        return out

    def _to_vec(self, values: np.ndarray) -> PETSc.Vec:
        vec = self._A.createVecRight()
        vec.array[:] = values
        return vec

    # ------------------------------------------------------------------ solve and results
    def solve(self) -> None:
        """Solve for the displacement at the current concentration and update :attr:`fields`."""
        b = self._b
        with b.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(b, self._L)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(b, self.bcs)
        if self._nullspace is not None:
            self._nullspace.remove(b)
        self._ksp.solve(b, self._x)
        reason = self._ksp.getConvergedReason()
        if reason <= 0:
            raise RuntimeError(f"mechanics linear solve failed (KSP reason {reason})")
        self.iterations = self._ksp.getIterationNumber()
        self._remove_rigid_part(self._x)
        self.u_hat.x.array[: self._x.getLocalSize()] = self._x.array_r
        self.u_hat.x.scatter_forward()
        self._update_fields()

    def _recovery_setup(self, W1: fem.FunctionSpace) -> None:
        """Maps from the DG(k-1) stress nodes of owned cells to P1 vertices, and vertex geometry."""
        tdim = self.mesh.topology.dim
        n_owned = self.mesh.topology.index_map(tdim).size_local
        p1 = W1.dofmap.list[:n_owned]
        dg = self._stress_dg.function_space.dofmap.list[:n_owned]
        if dg.shape[1] == 1:  # DG0: the cell value goes to each of its vertices
            dg = np.repeat(dg, p1.shape[1], axis=1)
        self._p1_cell_dofs, self._dg_cell_dofs = p1.ravel(), dg.ravel()
        count = fem.Function(W1)
        np.add.at(count.x.array, self._p1_cell_dofs, 1.0)
        count.x.scatter_reverse(dolfinx.la.InsertMode.add)
        count.x.scatter_forward()
        self._p1_count = count.x.array.copy()
        # Unit vector (frame of σ) from each vertex's particle centre, for σ_r.
        node_particle = np.zeros(len(self._p1_count), dtype=np.int64)
        node_particle[W1.dofmap.list.ravel()] = np.repeat(self.cell_particle_index, W1.dofmap.list.shape[1])
        xs = W1.tabulate_dof_coordinates()
        d = np.zeros((len(xs), 3))
        if self.coordinate_system == "spherical":
            d[:, 0] = 1.0
        elif self.coordinate_system == "axisymmetric":
            d[:, 0] = xs[:, 0]
            d[:, 2] = xs[:, 1] - self.centres[node_particle, 1]
        else:
            d[:] = xs - self.centres[node_particle]
        dist = np.linalg.norm(d, axis=1)
        self._p1_at_centre = dist <= self._tiny
        self._p1_normal = d / np.where(self._p1_at_centre, 1.0, dist)[:, None]

    def _update_fields(self) -> None:
        """Recover the P1 fields: vertex average of the exact discrete stress, then invariants."""
        f = self.fields
        f["displacement"].interpolate(self.u_hat)
        f["displacement"].x.array[:] *= self.length_unit
        self._stress_dg.interpolate(self._stress_expr)
        tensor = f["stress"]
        tensor.x.array[:] = 0.0
        acc = tensor.x.array.reshape(-1, 9)
        np.add.at(acc, self._p1_cell_dofs, self._stress_dg.x.array.reshape(-1, 9)[self._dg_cell_dofs])
        tensor.x.scatter_reverse(dolfinx.la.InsertMode.add)
        acc /= self._p1_count[:, None]
        tensor.x.scatter_forward()

        sig = acc.reshape(-1, 3, 3)
        sig = 0.5 * (sig + sig.transpose(0, 2, 1))
        trace = np.trace(sig, axis1=1, axis2=2)
        dev = sig - (trace / 3.0)[:, None, None] * np.eye(3)
        principal = np.linalg.eigvalsh(sig)[:, ::-1]
        n = self._p1_normal
        s_r = np.where(self._p1_at_centre, trace / 3.0, np.einsum("ni,nij,nj->n", n, sig, n))
        E, nu = self.youngs_modulus, self.poissons_ratio
        values = {
            "von_mises": np.sqrt(1.5 * np.einsum("nij,nij->n", dev, dev)),
            "hydrostatic": trace / 3.0,
            "max_principal": principal[:, 0],
            "radial_stress": s_r,
            "tangential_stress": 0.5 * (trace - s_r),
            # ½ σ:C⁻¹σ of an isotropic solid
            "strain_energy_density": ((1 + nu) * np.einsum("nij,nij->n", sig, sig) - nu * trace**2) / (2 * E),
        }
        for name, v in values.items():
            f[name].x.array[:] = v
        f["principal_stresses"].x.array[:] = principal.ravel()
        if self._c_p1 is not None:
            self._c_p1.interpolate(self.concentration)
            f["harmonic_hydrostatic"].x.array[:] = values["hydrostatic"] + self._local_coefficient * (
                self._c_p1.x.array - self.reference_concentration)

    def _assemble(self, name: str) -> float:
        return self.comm.allreduce(fem.assemble_scalar(self._integrals[name]), MPI.SUM)

    def _extreme(self, name: str, op: MPI.Op) -> float:
        f = self.fields[name]
        n = f.function_space.dofmap.index_map.size_local * f.function_space.dofmap.index_map_bs
        vals = f.x.array[:n]
        local = (vals.max() if op == MPI.MAX else vals.min()) if n else (-np.inf if op == MPI.MAX else np.inf)
        return float(self.comm.allreduce(float(local), op))

    def quantities(self) -> dict[str, float]:
        """Scalar results of the last solve (collective; same on every rank). Pa, m, J.

        Peaks are extremes over the DG nodes; surface means are radially weighted averages over the
        particle surface; ``strain_energy`` is the total over the particles [J].
        """
        area = self._geometry_integrals["area"]
        q = {
            "von_mises_max": self._extreme("von_mises", MPI.MAX),
            "max_principal_max": self._extreme("max_principal", MPI.MAX),
            "hydrostatic_min": self._extreme("hydrostatic", MPI.MIN),
            "hydrostatic_max": self._extreme("hydrostatic", MPI.MAX),
            "radial_stress_min": self._extreme("radial_stress", MPI.MIN),
            "radial_stress_max": self._extreme("radial_stress", MPI.MAX),
            "tangential_stress_min": self._extreme("tangential_stress", MPI.MIN),
            "tangential_stress_max": self._extreme("tangential_stress", MPI.MAX),
            "strain_energy_density_max": self._extreme("strain_energy_density", MPI.MAX),
            "surface_von_mises_mean": self._assemble("surface_von_mises") / area,
            "surface_hydrostatic_mean": self._assemble("surface_hydrostatic") / area,
            "surface_tangential_stress_mean": self._assemble("surface_tangential") / area,
            "surface_radial_displacement_mean": self._assemble("surface_radial_displacement") / area,
            "strain_energy": self._assemble("strain_energy")
            * phys.angular_factor(self.coordinate_system)
            * self.length_unit**3,
        }
        disp = self.fields["displacement"]
        n = disp.function_space.dofmap.index_map.size_local
        mags = np.linalg.norm(disp.x.array.reshape(-1, self.mesh.geometry.dim)[:n], axis=1)
        q["displacement_max"] = float(self.comm.allreduce(float(mags.max()) if n else 0.0, MPI.MAX))
        return q

    def probe(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Fields at points [mesh units], (N, 3) or (N, mesh_dim) (collective).

        Returns every scalar field as (N,) and ``displacement`` as (N, mesh_dim); NaN outside the
        particles. A point on a cell boundary takes the value of the lowest-ranked, first-found cell.
        """
        msh = self.mesh
        pts = np.zeros((len(points), 3))
        p_in = np.asarray(points, dtype=float).reshape(len(points), -1)
        pts[:, : p_in.shape[1]] = p_in
        tree = dolfinx.geometry.bb_tree(msh, msh.topology.dim)
        n_owned_cells = msh.topology.index_map(msh.topology.dim).size_local
        candidates = dolfinx.geometry.compute_collisions_points(tree, pts)
        colliding = dolfinx.geometry.compute_colliding_cells(msh, candidates, pts)
        found, cells = [], []
        for i in range(len(pts)):
            links = colliding.links(i)
            links = links[links < n_owned_cells]
            if len(links):
                found.append(i)
                cells.append(links[0])
        found_arr = np.asarray(found, dtype=np.int64)
        cells_arr = np.asarray(cells, dtype=np.int32)
        names = [*_SCALAR_FIELDS, "displacement"]
        local: dict[str, np.ndarray] = {}
        for name in names:
            f = self.fields[name]
            size = int(np.prod(f.ufl_shape)) if f.ufl_shape else 1
            vals = np.full((len(pts), size), np.nan)
            if len(found_arr):
                vals[found_arr] = f.eval(pts[found_arr], cells_arr).reshape(len(found_arr), size)
            local[name] = vals
        gathered = self.comm.allgather(local)
        out = {}
        for name in names:
            res = np.full_like(local[name], np.nan)
            for part in gathered:
                take = np.isnan(res[:, 0]) & ~np.isnan(part[name][:, 0])
                res[take] = part[name][take]
            out[name] = res[:, 0] if name != "displacement" else res
        return out


def mechanics_for_case(problem: Any, pmesh: Any, case: Any) -> MechanicsProblem:
    """The mechanics of a case on the coupled problem's particle submesh, stress-free at the initial
    state (orientations, rollers, degree and solver from ``case.mechanics``). Collective."""
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
        linear_solver=settings.linear_solver)


def _wall_facets(particle_mesh: Any, pmesh: Any) -> np.ndarray:
    """Boundary facets of the particle mesh on the box walls (the faces of the parent mesh's bounding
    box other than the Na-metal top face): where rollers hold the particles."""
    if pmesh.electrolyte_tag is None or pmesh.coordinate_system != "cartesian":
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

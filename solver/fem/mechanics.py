"""Stationary chemo-mechanical solve on the particle submesh (docs/model.md §3).

Given the particle concentration c_s (a P1 Function on the particle mesh), find the displacement u
of traction-free elastic particles with chemical strain ε_ch(c_s) (:mod:`ecmx.solver.physics.elasticity`,
:mod:`ecmx.solver.physics.chemical_strain`), then the stress fields (:mod:`ecmx.solver.fem.stress_recovery`).

Discretisation and solver
-------------------------
- u in vector Lagrange P1 or P2 (default P2), in mesh units (µm), so ε = sym ∇u is dimensionless;
  the system is scaled by E (λ/E, μ/E), which makes its entries O(1). The stiffness matrix is
  assembled once; each :meth:`MechanicsProblem.solve` assembles only the load, or, for a load linear
  in c_s, forms it as B c_s + b₀ (one sparse product; :class:`~ecmx.solver.fem.linear_response.LinearLoad`).
- The direct solver factorises with MUMPS's block low-rank (BLR) kernels from :data:`BLR_MIN_DOFS` DOFs on
  (no dropping, full-rank factors kept): the fine comparison's particle factorises in 10 instead of
  20 s of CPU, the displacement within 8e-12 of its peak.
- A load linear in c_s (the linear isotropic laws), with the direct solver on one rank: the displacement
  is the linear response R (Z c_s + z₀), one dense product per solve
  (:mod:`ecmx.solver.fem.linear_response`); a process reuses its last factorisation and Z for a
  problem with the same matrices (:mod:`ecmx.solver.fem.factor_cache`).
- ε_ch: the exact UFL law for closed forms and tables of at most 40 knots; longer tables are
  evaluated in numpy at the nodes of c_s before every solve (:mod:`ecmx.solver.fem.table_fields`),
  so a 1000-knot lattice or ΔV/V table compiles and runs as a short one does.
- One code path for every coordinate system (:mod:`ecmx.solver.physics.coordinates`): cartesian
  (3D), axisymmetric (2D, hoop strain u_r/r; u_r = 0 on the axis) and spherical (1D, hoop strains
  u_r/r; u_r = 0 at the centre), integrals with the measure weight (1, 2πr, 4πr²).
- Rigid-body modes (:mod:`ecmx.solver.fem.rigid_modes`): the modes of every particle that no roller
  holds are the null space of the matrix (removed from the load); the global rigid-body modes are
  GAMG's near-null space. After the solve the rigid part is removed in the volume sense. Against six
  Lagrange multipliers with MUMPS (bench/bench_mechanics_solvers.py): the same von Mises to 3e-11 of
  the peak, 0.05/0.3/1.35 s against 0.18/1.3/15 s at 7k/28k/88k dofs, ~40 CG iterations throughout.
- Optional rollers: u·n = 0 on given facets of axis-aligned walls (the component along the wall
  normal is held).
- Cost: 6 full-length null-space vectors per particle (memory 48 B × dofs × particles), fine for
  the agglomerates ecmx builds (tens of particles); ~40 CG iterations independent of the mesh.

Fields (all SI: Pa, J/m³, m; continuous P1 on the particle mesh)
-----------------------------------------------------------------
The recovered stress fields of :mod:`ecmx.solver.fem.stress_recovery` (``stress``,
``principal_stresses``, ``von_mises``, ``hydrostatic``, ``max_principal``, ``radial_stress``,
``tangential_stress``, ``strain_energy_density``), and:

- ``displacement`` [m]: the P_k solution at the vertices (copied from its vertex nodes,
  :mod:`ecmx.solver.fem.mechanics_nodes`);
- ``harmonic_hydrostatic`` φ = σ_h + k_σ (c_s − c_s,0) (isotropic linear expansion only), the smooth
  part of σ_h for staggered two-way coupling (:mod:`ecmx.solver.fem.coupling`,
  :func:`ecmx.solver.physics.stress_diffusion.stress_assisted_flux_split`).

Peaks are extremes over the vertices; surface means integrate the P1 fields over the particle
surface with the measure weight; ``quantities()["strain_energy"]`` integrates the exact
½ σ:(ε − ε_ch).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from ecmx.solver.errors import CaseError
from ecmx.solver.fem.crystal import chemical_strain_of, rotation_matrices
from ecmx.solver.fem.factor_cache import FACTORS, RESPONSES, content_key, matrix_parts
from ecmx.solver.fem.linear_response import MAX_ENTRIES as MAX_RESPONSE_ENTRIES
from ecmx.solver.fem.linear_response import LinearLoad, LinearResponse, load_derivative
from ecmx.solver.fem.mechanics_nodes import nodal_indices
from ecmx.solver.fem.probes import PointEvaluator
from ecmx.solver.fem.rigid_modes import RigidBodyModes
from ecmx.solver.fem.solution_projection import SolutionProjection
from ecmx.solver.fem.stress_recovery import SCALAR_FIELDS, StressRecovery
from ecmx.solver.fem.table_fields import chemical_strain_field
from ecmx.solver.physics import elasticity
from ecmx.solver.physics.coordinates import AXISYMMETRIC, SPHERICAL, CoordinateSystem, by_name
from ecmx.solver.physics.stress_diffusion import local_hydrostatic_coefficient

_counter = itertools.count()

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
    "iterative": {  # the relative tolerance is the problem's ``iterative_rtol`` (ITERATIVE_RTOL by default)
        "ksp_type": "cg",
        "ksp_atol": 1e-30,
        "ksp_max_it": 1000,
        "pc_type": "gamg",
        "pc_gamg_coarse_eq_limit": 1000,
        "mg_levels_ksp_type": "chebyshev",
        "mg_levels_pc_type": "jacobi",  # Chebyshev takes its eigenvalue bounds from GAMG's smoothed aggregation
    },
}


ITERATIVE_RTOL = 1e-10
"""Default relative tolerance of the iterative solve, ‖r‖ < rtol ‖b‖: stresses within ~1e-9 of the peak of the
exact discrete solution (1e-12 took 26 instead of 19 CG iterations per step on bench/sphere3d.yaml, for 1.5e-9
of the peak). One-way mechanics relaxes it with the time integration's tolerance
(:func:`ecmx.solver.fem.mechanics_case.one_way_iterative_rtol`)."""

# The direct solver's factorisation from BLR_MIN_DOFS global displacement DOFs on: MUMPS's block low-rank
# (BLR) kernels with no dropping (CNTL(7) = 0) and the full-rank factors kept for the solves (ICNTL(35) = 3).
# Measured on the fine comparison's particle (96 777 P2 DOFs, 71M factor entries, one process): 10.0
# instead of 19.8 s of CPU for the factorisation (the gain is the BLR kernels', not compression: dropping
# below CNTL(7) = 1e-14 gave the same time), the displacement within 8e-12 of its peak of the full-rank
# factor's (a SCOTCH ordering of the full-rank one: 1e-10; CNTL(7) 1e-14: 3e-11, 1e-12: 9e-10), the
# back-substitution as fast. Below, the fronts are small (cases/hev.yaml's particle, 6 624 DOFs: the
# same 0.2 s) and the full-rank factor stays, which keeps the linear response (small systems only) equal
# to its back-substitution to round-off.
BLR_MIN_DOFS = 20_000
BLR_OPTIONS: dict[str, Any] = {"mat_mumps_icntl_35": 3, "mat_mumps_cntl_7": 0.0}

# ``auto``: above this many global displacement DOFs on a 3D mesh the iterative solve, below it the
# direct one. Measured (bench/bench_sphere3d.py --breakdown, 1 rank): at 193k P2 DOFs (the
# 0.12/0.06 µm sphere) the MUMPS Cholesky factorisation held > 2.3 GB and had not finished after
# 116 s of CPU; CG + GAMG stays at 0.1 GB over the matrix. Below, the factorisation is small (35k
# DOFs: 1.0 s, then 0.04 s per back-substitution against 0.65 s per CG solve), and the fine
# comparison (interface 0.08 µm, estimated at about 80k DOFs) keeps its direct solve.
AUTO_ITERATIVE_DOFS = 150_000

# Past displacements that CG's start is projected on (iterative solve; solution_projection). On
# bench/sphere3d.yaml (193k P2 DOFs) along the constant-flux sphere's c_s(r, t): 38 CG iterations
# per solve from the previous displacement, 29 with 4, 26 with 8 (9.1 -> 6.5 s CPU per solve); memory
# 2 x 8 vectors (25 MB there).
PROJECTION_DEPTH = 8

EXTREMES = (
    ("von_mises_max", "von_mises", "max"),
    ("max_principal_max", "max_principal", "max"),
    ("hydrostatic_min", "hydrostatic", "min"),
    ("hydrostatic_max", "hydrostatic", "max"),
    ("radial_stress_min", "radial_stress", "min"),
    ("radial_stress_max", "radial_stress", "max"),
    ("tangential_stress_min", "tangential_stress", "min"),
    ("tangential_stress_max", "tangential_stress", "max"),
    ("strain_energy_density_max", "strain_energy_density", "max"),
)
"""The peaks of :meth:`MechanicsProblem.quantities`: (key, field, max or min)."""


def select_linear_solver(setting: str, system: CoordinateSystem, global_dofs: int) -> str:
    """The option set of ``LINEAR_SOLVERS`` for ``setting`` (``"auto"``, ``"direct"`` or ``"iterative"``):
    ``auto`` is iterative on 3D meshes of more than :data:`AUTO_ITERATIVE_DOFS` displacement DOFs,
    direct otherwise (1D and 2D systems stay small)."""
    if setting != "auto":
        if setting not in LINEAR_SOLVERS:
            raise ValueError(f"unknown mechanics linear solver {setting!r}; expected auto or one of {list(LINEAR_SOLVERS)}")
        return setting
    return "iterative" if system.mesh_dimension == 3 and global_dofs > AUTO_ITERATIVE_DOFS else "direct"


class MechanicsProblem:
    """Traction-free chemo-elastic particles on the particle mesh, solved for a given c_s.

    Args:
        particle_mesh: the particle (sub)mesh, coordinates in mesh units (``length_unit`` m each).
        coordinate_system: a :class:`~ecmx.solver.physics.coordinates.CoordinateSystem` or its name
            (``"cartesian"``, ``"axisymmetric"``, ``"spherical"``).
        material: a validated material (``youngs_modulus`` [Pa], ``poissons_ratio``,
            ``max_concentration`` [mol/m³], ``chemical_expansion``; see
            :func:`ecmx.solver.fem.crystal.chemical_strain_of`).
        concentration: particle concentration c_s [mol/m³], a Function on ``particle_mesh``; read at
            every :meth:`solve`.
        reference_concentration: c_s,0 [mol/m³] of the stress-free state.
        centres: (n, 3) particle centres [mesh units]; default the origin (one particle).
        cell_particle_index: particle index (row of ``centres``) of every local cell, owned and ghost
            (see :func:`particle_submesh`); default: the nearest centre to each cell midpoint.
        degree: displacement degree, 1 or 2.
        orientation: (n, 3, 3) crystal → lab rotations, one per particle (lattice strain only);
            None: c-axis along z.
        rollers_facets: local facet indices of the particle mesh on axis-aligned planar walls where
            u·n = 0.
        length_unit: metres per mesh unit.
        linear_solver: ``"direct"`` (MUMPS Cholesky, factorised once: the stiffness matrix does not
            change during a run, so every later solve is a back-substitution; null pivots of the
            free particle are detected and the rigid-body part is projected out afterwards) or
            ``"iterative"`` (CG + GAMG with the rigid-body near-null space, started from the previous
            solution; less memory on big meshes), or ``"auto"`` (:func:`select_linear_solver`).
        petsc_options: overrides of the linear-solver options.
        iterative_rtol: relative tolerance of the iterative solve, ‖r‖ < iterative_rtol ‖b‖ (dimensionless).

    Raises:
        CaseError: a lattice strain that needs a crystal orientation the geometry cannot hold
            (anisotropic on a spherical mesh; an orientation on an axisymmetric one), or bad
            orientations.

    All methods are collective.
    """

    def __init__(
        self,
        particle_mesh: dolfinx.mesh.Mesh,
        coordinate_system: str | CoordinateSystem,
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
        iterative_rtol: float = ITERATIVE_RTOL,
    ):
        self.mesh = particle_mesh
        self.comm = particle_mesh.comm
        self.coordinates = by_name(coordinate_system)
        gdim = self.coordinates.mesh_dimension
        if particle_mesh.geometry.dim != gdim or particle_mesh.topology.dim != gdim:
            raise ValueError(f"{self.coordinates.name} mechanics needs a {gdim}D mesh, got dimension "
                             f"{particle_mesh.geometry.dim}")
        self.degree = degree
        self.length_unit = float(length_unit)
        self.youngs_modulus = float(material.youngs_modulus)
        self.poissons_ratio = float(material.poissons_ratio)
        self.chemical_strain = chemical_strain_of(material)
        self.concentration = concentration
        self.reference_concentration = float(reference_concentration)
        self._init_particles(centres, cell_particle_index)
        self._rotation = self._crystal_rotation(orientation)
        self._init_forms()
        self._init_operator(rollers_facets)
        self._init_solver(linear_solver, petsc_options, iterative_rtol)
        self._init_fields()
        self._init_integrals()
        self._init_response()

    # ------------------------------------------------------------------ setup steps
    def _init_particles(self, centres: np.ndarray | None, cell_particle_index: np.ndarray | None) -> None:
        """Particle centres, the particle of every cell (and its centre as a DG0 3-vector field), and
        the tolerance for 'on the axis / at the centre' (1e-9 of the mesh extent)."""
        msh, tdim = self.mesh, self.mesh.topology.dim
        imap = msh.topology.index_map(tdim)
        num_cells = imap.size_local + imap.num_ghosts
        self.centres = np.zeros((1, 3)) if centres is None else np.asarray(centres, dtype=float).reshape(-1, 3)
        if cell_particle_index is None:
            midpoints = dolfinx.mesh.compute_midpoints(msh, tdim, np.arange(num_cells, dtype=np.int32))
            d2 = ((midpoints[:, None, :] - self.centres[None, :, :]) ** 2).sum(axis=2)
            cell_particle_index = np.argmin(d2, axis=1)
        self.cell_particle_index = np.asarray(cell_particle_index, dtype=np.int64)
        if self.cell_particle_index.shape != (num_cells,):
            raise ValueError(f"cell_particle_index needs {num_cells} entries (owned + ghost cells)")
        extent = self.comm.allreduce(float(np.abs(msh.geometry.x).max()) if msh.geometry.x.size else 0.0, MPI.MAX)
        self._tiny = 1e-9 * max(extent, 1e-300)
        Q0v = fem.functionspace(msh, ("DG", 0, (3,)))
        self._centre = fem.Function(Q0v, name="particle_centre")
        self._centre.x.array.reshape(-1, 3)[Q0v.dofmap.list[:, 0]] = self.centres[self.cell_particle_index]

    def _crystal_rotation(self, orientation: np.ndarray | None) -> fem.Function | None:
        """The crystal rotation of every cell (DG0 3×3), for an oriented (lattice) strain with given
        orientations; None otherwise (c-axis along the frame's last axis)."""
        if not self.chemical_strain.oriented:
            return None
        if self.coordinates is SPHERICAL and not self.chemical_strain.isotropic:
            raise CaseError("anisotropic (lattice) strain needs a 3D or axisymmetric geometry",
                            key="material.chemical_expansion")
        if self.coordinates is AXISYMMETRIC and orientation is not None:
            raise CaseError("axisymmetric geometry: the crystal c-axis is the symmetry axis; give no orientation",
                            key="mechanics.orientation")
        q = rotation_matrices(orientation, len(self.centres))
        if q is None:
            return None
        Q0t = fem.functionspace(self.mesh, ("DG", 0, (3, 3)))
        rotation = fem.Function(Q0t, name="crystal_rotation")
        rotation.x.array.reshape(-1, 9)[Q0t.dofmap.list[:, 0]] = q[self.cell_particle_index].reshape(-1, 9)
        return rotation

    def _init_forms(self) -> None:
        """The bilinear and linear forms (displacement in mesh units, stiffness scaled by E), the
        chemical strain ε_ch and the exact discrete stress σ [Pa]."""
        msh, system = self.mesh, self.coordinates
        self.V = fem.functionspace(msh, ("Lagrange", self.degree, (system.mesh_dimension,)))
        x = ufl.SpatialCoordinate(msh)
        self._x = x
        self._weight = w = system.measure_weight(x)
        lam, mu = elasticity.lame_parameters(1.0, self.poissons_ratio)
        c_max = self.chemical_strain.max_concentration
        self._strain_field = chemical_strain_field(
            self.chemical_strain, self.concentration, self.reference_concentration / c_max, self._rotation)
        self._eps_ch = self._strain_field.tensor
        u, v = ufl.TrialFunction(self.V), ufl.TestFunction(self.V)
        zero = ufl.zero(3, 3)
        a = ufl.inner(elasticity.stress(elasticity.strain(u, x, system), zero, lam, mu), elasticity.strain(v, x, system))
        L = ufl.inner(elasticity.stress(self._eps_ch, zero, lam, mu), elasticity.strain(v, x, system))
        self._L_ufl = L * w * ufl.dx
        self._a, self._L = fem.form(a * w * ufl.dx), fem.form(self._L_ufl)
        self.u_hat = fem.Function(self.V, name="displacement_mesh_units")
        eps_nodal = elasticity.strain(self.u_hat, x, system, self._tiny)
        self._sigma = self.youngs_modulus * elasticity.stress(eps_nodal, self._eps_ch, lam, mu)

    def _init_operator(self, rollers_facets: np.ndarray | None) -> None:
        """Dirichlet conditions, the assembled stiffness matrix with its (near-)null spaces, vectors."""
        self.bcs = self._dirichlet_conditions(rollers_facets)
        A = dolfinx.fem.petsc.assemble_matrix(self._a, bcs=self.bcs)
        # Without PETSc's "inode" rows (rows with the same columns, a node's components, multiplied together),
        # which PETSc looks for when the assembly ends: in the PETSc of the dolfinx-solver-real wheel that product
        # is the slower one. Measured on a P2 ball (117 594 DOFs, 9.6M entries, one process): a product 13.2 ->
        # 6.9 ms, CG + GAMG to 1e-8 77.4 -> 47.2 ms an iteration with the same 25 iterations and solution (to 12
        # digits). MUMPS (the direct solver) reads the entries, not the inodes.
        A.setOption(PETSc.Mat.Option.USE_INODES, False)
        A.assemble()
        self._A = A
        self._rigid = RigidBodyModes(self.V, self.coordinates, self.centres, self.cell_particle_index, self.bcs,
                                     self._weight, A)
        self._nullspace = PETSc.NullSpace().create(vectors=self._rigid.null, comm=self.comm) if self._rigid.null else None
        if self._nullspace is not None:
            A.setNullSpace(self._nullspace)
        if self._rigid.near:
            A.setNearNullSpace(PETSc.NullSpace().create(vectors=self._rigid.near, comm=self.comm))
        self._b = dolfinx.fem.petsc.create_vector(self.V)  # ghosted: the assembler adds into ghosts
        self._solution = A.createVecRight()

    def _init_solver(self, linear_solver: str, petsc_options: dict[str, Any] | None, iterative_rtol: float) -> None:
        """The KSP with the options of ``LINEAR_SOLVERS[linear_solver]`` (plus overrides) under a
        unique prefix (removed from the global options database afterwards)."""
        prefix = f"ecmx_mechanics_{next(_counter)}_"
        global_dofs = self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs
        self.linear_solver = select_linear_solver(linear_solver, self.coordinates, global_dofs)
        options = dict(LINEAR_SOLVERS[self.linear_solver])
        if self.linear_solver == "iterative":
            options["ksp_rtol"] = iterative_rtol
        if self.linear_solver == "direct" and global_dofs >= BLR_MIN_DOFS:
            options.update(BLR_OPTIONS)
        options.update(petsc_options or {})
        self._guess: SolutionProjection | None = None
        self.iterations = 0
        self._factor_key = self._cache_key(options)
        cached = FACTORS.get(self._factor_key) if self._factor_key is not None else None
        if cached is not None:  # the same matrix and options as the last factorisation of this process
            self._ksp = cached
            return
        FACTORS.clear()  # not two factorisations held at once
        opts = PETSc.Options()
        for k, val in options.items():
            opts[prefix + k] = val
        ksp = PETSc.KSP().create(self.comm)
        ksp.setOptionsPrefix(prefix)
        ksp.setOperators(self._A)
        ksp.setFromOptions()
        # set up (factorise, or build the multigrid hierarchy) while the options are in the database: the
        # factor matrix reads its mat_mumps_* options only then (deleted before, ICNTL(24) and CNTL(3) were
        # silently ignored: no null-pivot detection on the free particle's singular stiffness matrix)
        ksp.setUp()
        for k in options:
            del opts[prefix + k]
        if self._factor_key is not None:
            FACTORS.put(self._factor_key, ksp)
        if ksp.getType() != PETSc.KSP.Type.PREONLY:
            # start from the projection onto the last solutions (solution_projection): fewer
            # iterations, and the test ‖r‖ < rtol ‖b‖ (PETSc's default, against b, not r0) keeps the
            # accuracy unchanged
            ksp.setInitialGuessNonzero(True)
            self._guess = SolutionProjection(self._A, PROJECTION_DEPTH)
        self._ksp = ksp

    def _cache_key(self, options: dict[str, Any]) -> str | None:
        """The key of the direct solver's factorisation in :data:`~ecmx.solver.fem.factor_cache.FACTORS`:
        the matrix, its null space and the options (one rank, direct solver only; else None)."""
        if self.linear_solver != "direct" or self.comm.size > 1:
            return None
        null = [v.array_r for v in self._rigid.null]
        return content_key([*matrix_parts(self._A), *null, repr(sorted(options.items()))])

    def _init_fields(self) -> None:
        """The output fields: displacement [m], the recovered stresses, and φ (linear expansion only)."""
        msh = self.mesh
        self._recovery = StressRecovery(msh, self._sigma, self.degree, self.coordinates, self.centres,
                                        self.cell_particle_index, self._tiny, self.youngs_modulus,
                                        self.poissons_ratio)
        displacement = fem.Function(fem.functionspace(msh, ("Lagrange", 1, (self.coordinates.mesh_dimension,))),
                                    name="displacement")
        self.fields: dict[str, fem.Function] = {"displacement": displacement, **self._recovery.fields}
        self._displacement_nodes = nodal_indices(displacement.function_space, self.V)
        self._probes = PointEvaluator(msh, snap=True)  # particles only: surface probes take the nearest point
        self._c_p1: fem.Function | None = None
        omega = self.chemical_strain.partial_molar_volume
        if omega is not None:
            W1 = self._recovery.fields["hydrostatic"].function_space
            self.fields["harmonic_hydrostatic"] = fem.Function(W1, name="harmonic_hydrostatic")
            self._c_nodes = nodal_indices(W1, self.concentration.function_space)
            self._c_p1 = fem.Function(W1)
            self._local_coefficient = local_hydrostatic_coefficient(omega, self.youngs_modulus, self.poissons_ratio)

    def _init_integrals(self) -> None:
        """Surface and volume integrals (with the measure weight) behind :meth:`quantities`."""
        msh, w, f = self.mesh, self._weight, self.fields
        ds = ufl.Measure("ds", domain=msh)
        dx = ufl.dx(domain=msh)
        n = elasticity.radial_direction(self._x, self._centre, self.coordinates)
        u_radial = ufl.dot(n, elasticity.as_frame_vector(self.u_hat, self.coordinates)) * self.length_unit
        eps_elastic = elasticity.strain(self.u_hat, self._x, self.coordinates) - self._eps_ch
        self._integrals = {
            "volume": fem.form(w * dx),
            "area": fem.form(w * ds),
            "surface_von_mises": fem.form(f["von_mises"] * w * ds),
            "surface_hydrostatic": fem.form(f["hydrostatic"] * w * ds),
            "surface_tangential": fem.form(f["tangential_stress"] * w * ds),
            "surface_radial_displacement": fem.form(u_radial * w * ds),
            "strain_energy": fem.form(elasticity.strain_energy_density(self._sigma, eps_elastic) * w * dx),
        }
        self._geometry_integrals = {k: self._assemble(k) for k in ("volume", "area")}

    def _dirichlet_conditions(self, rollers_facets: np.ndarray | None) -> list[fem.DirichletBC]:
        """u_r = 0 on the axis/centre (reduced systems) and u·n = 0 on the roller facets."""
        msh, V = self.mesh, self.V
        fdim = msh.topology.dim - 1
        msh.topology.create_connectivity(fdim, msh.topology.dim)
        held: dict[int, list[np.ndarray]] = {}
        if self.coordinates.is_reduced:
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


    # ------------------------------------------------------------------ solve and results
    def solve(self) -> None:
        """Solve for the displacement at the current concentration and update :attr:`fields`.

        Raises:
            RuntimeError: the linear solve failed.
        """
        if self._response is not None:
            self._response.displacement(self._solution)
        else:
            self._solve_system()
        self.u_hat.x.array[: self._solution.getLocalSize()] = self._solution.array_r
        self.u_hat.x.scatter_forward()
        self._update_fields()

    def _assemble_load(self) -> None:
        """The load at the present concentration into ``_b``, the rows of held dofs zero: B c + b₀ where the load
        is linear in c_s (:class:`~ecmx.solver.fem.linear_response.LinearLoad`), else assembled."""
        b = self._b
        if self._load is not None:
            self._load.assemble(b)
            return
        self._strain_field.refresh()
        with b.localForm() as loc:
            loc.set(0.0)
        dolfinx.fem.petsc.assemble_vector(b, self._L)
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        dolfinx.fem.petsc.set_bc(b, self.bcs)

    def _solve_system(self) -> None:
        """The displacement into ``_solution`` by assembling the load and solving (rigid part removed)."""
        self._assemble_load()
        b = self._b
        if self._nullspace is not None:
            self._nullspace.remove(b)
        if self._guess is not None:
            self._guess.guess(b, self._solution)
        self._ksp.solve(b, self._solution)
        reason = self._ksp.getConvergedReason()
        if reason <= 0:
            raise RuntimeError(f"mechanics linear solve failed (KSP reason {reason})")
        self.iterations = self._ksp.getIterationNumber()
        self._rigid.remove(self._solution)
        if self._guess is not None:
            self._guess.add(self._solution)

    def _init_response(self) -> None:
        """For a load linear in c_s (:mod:`ecmx.solver.fem.linear_response`): the load as B c + b₀, and the
        linear response u = R (Z c + z₀) where it applies: the direct solver on one rank, Z of at most
        ``MAX_ENTRIES`` values."""
        self._response: LinearResponse | None = None
        self._load: LinearLoad | None = None
        if self.concentration.function_space.mesh is not self.mesh:
            return
        constant = [self._rotation] if self._rotation is not None else []
        derivative = load_derivative(self._L_ufl, self.concentration, constant)
        if derivative is None:
            return
        self._assemble_load()
        self._load = LinearLoad(derivative, self.concentration, self.bcs, self._b)
        n_u = self.V.dofmap.index_map.size_global * self.V.dofmap.index_map_bs
        n_c = self.concentration.function_space.dofmap.index_map.size_global
        if self.linear_solver != "direct" or self.comm.size > 1 or n_u * n_c > MAX_RESPONSE_ENTRIES:
            return
        self._solve_system()
        self._response = LinearResponse(self._load, self.concentration, self._ksp, self._nullspace,
                                        self._rigid, self._solution, cache=(RESPONSES, self._factor_key))

    def _update_fields(self) -> None:
        """The P1 fields of the current solution: displacement [m], recovered stresses, φ."""
        self.fields["displacement"].x.array[:] = self.u_hat.x.array[self._displacement_nodes] * self.length_unit
        self._recovery.update()
        if self._c_p1 is not None:
            self._c_p1.x.array[:] = self.concentration.x.array[self._c_nodes]
            self.fields["harmonic_hydrostatic"].x.array[:] = self.fields["hydrostatic"].x.array + (
                self._local_coefficient * (self._c_p1.x.array - self.reference_concentration))

    def _assemble(self, name: str) -> float:
        return self.comm.allreduce(fem.assemble_scalar(self._integrals[name]), MPI.SUM)

    def _extremes(self, wanted: Sequence[tuple[str, str, str]]) -> dict[str, float]:
        """``{key: the global max or min of field name}`` for (key, field name, "max" or "min") in ``wanted``,
        in one reduction over the ranks (collective; ∓inf where no rank owns a node)."""
        local = np.full(len(wanted), -np.inf)
        for i, (_, name, kind) in enumerate(wanted):
            f = self.fields[name]
            vals = f.x.array[: f.function_space.dofmap.index_map.size_local * f.function_space.dofmap.index_map_bs]
            if vals.size:
                local[i] = vals.max() if kind == "max" else -vals.min()  # minima negated: one MAX reduction
        found = np.empty_like(local)
        self.comm.Allreduce(local, found, op=MPI.MAX)
        return {key: float(v if kind == "max" else -v) for (key, _, kind), v in zip(wanted, found, strict=True)}

    def quantities(self) -> dict[str, float]:
        """Scalar results of the last solve (collective; same on every rank). Pa, m, J.

        Peaks are extremes over the DG nodes; surface means are radially weighted averages over the
        particle surface; ``strain_energy`` is the total over the particles [J].
        """
        area = self._geometry_integrals["area"]
        q = self._extremes(EXTREMES) | {
            "surface_von_mises_mean": self._assemble("surface_von_mises") / area,
            "surface_hydrostatic_mean": self._assemble("surface_hydrostatic") / area,
            "surface_tangential_stress_mean": self._assemble("surface_tangential") / area,
            "surface_radial_displacement_mean": self._assemble("surface_radial_displacement") / area,
            "strain_energy": self._assemble("strain_energy") * self.length_unit**3,
        }
        disp = self.fields["displacement"]
        n = disp.function_space.dofmap.index_map.size_local
        mags = np.linalg.norm(disp.x.array.reshape(-1, self.mesh.geometry.dim)[:n], axis=1)
        q["displacement_max"] = float(self.comm.allreduce(float(mags.max()) if n else 0.0, MPI.MAX))
        return q

    def probe(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Fields at points [mesh units], (N, 3) or (N, mesh_dim) (collective).

        Returns every scalar field as (N,) and ``displacement`` as (N, mesh_dim); NaN outside the
        particles. A point on a cell boundary takes the value of the lowest-ranked, first-found cell
        (:class:`~ecmx.solver.fem.probes.PointEvaluator`).
        """
        names = [*SCALAR_FIELDS, "displacement"]
        return self._probes.evaluate({name: self.fields[name] for name in names}, points)

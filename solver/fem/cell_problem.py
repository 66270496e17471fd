"""The coupled cell problem: Na diffusion in the particles, Nernst–Planck transport in the
electrolyte, Butler–Volmer kinetics at both electrodes and the cell voltage, in one Newton solve.

Unknowns (all nondimensional, MODEL.md §3):
    θ = c_s/c_s,max   P1 on the particle submesh (all particles in one submesh)
    ĉ = c/c₀           P1 on the electrolyte submesh (c₀ the initial salt concentration)
    φ̂ = Fφ_e/RT        P1 on the electrolyte submesh; for ``sphere-1d`` (no electrolyte mesh, uniform
                       c = c₀) a single real unknown set by the Na-metal kinetics
    V̂ = FV/RT          the cell voltage, a real (one-dof) unknown on the parent mesh

Scales: lengths by the mean particle radius R, time by t₀ = R²/D_ref (D_ref = D_s(θ₀)), current
density by i* = F D_ref c_s,max/R. The electrolyte rows are divided by D̂_salt = D_salt/D_ref so
that all rows are O(1) whatever the diffusivity ratio.

The voltage row is m (∫_Γ î dÂ − Î_app) + (1 − m)(V̂ − V̂_set) written as one interface integral,
with m = 1 under current control and 0 under voltage control: switching control changes constants
only, never the forms.

Geometry enters only through the radial weight of the measures (1, 2πr or 4πr², so every integral is
a true 3D amount) and through whether Γ is an interior facet set (particle inside an electrolyte
mesh) or the boundary point of a radial interval (``sphere-1d``).

Two-way chemo-mechanics (``mechanics.coupling: two-way``) adds the stress-assisted flux to the
particle rows, with the harmonic part of σ_h (``harmonic_hydrostatic``) supplied by the mechanics
after each accepted step. ``Sources`` adds prescribed source terms (manufactured-solution tests).

Linear solvers (``solver.linear_solver``, option sets in :mod:`ecmx.solver.fem.newton`): MUMPS, or
GMRES/ILU and FGMRES/fieldsplit, whose failed Krylov solves are retried once with MUMPS; ``auto``
takes fieldsplit in 3D and MUMPS in 1D/2D.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

import basix.ufl
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from ecmx.solver.fem.newton import MUMPS_CONTROLS, fieldsplit_sub_options, newton_options, resolve_linear_solver
from ecmx.solver.physics import electrolyte as electrolyte_law
from ecmx.solver.physics import kinetics
from ecmx.solver.physics import mechanics as mechanics_law
from ecmx.solver.physics import particle as particle_law
from ecmx.solver.units import F, R_GAS

_PREFIX_COUNTER = [0]
_OUTER_BOUNDARY = 10**6  # integration-data id of all outer electrolyte facets


@dataclass(frozen=True)
class StepOutcome:
    """Result of :meth:`CellProblem.try_step`."""

    converged: bool
    newton_iterations: int
    reason: str


@dataclass(frozen=True)
class Scales:
    """Reference values of the nondimensionalisation (SI)."""

    length: float  # R [m]
    mesh_to_length: float  # nondimensional length per mesh unit (length_unit/R)
    diffusivity: float  # D_ref [m²/s]
    time: float  # R²/D_ref [s]
    particle_concentration: float  # c_s,max [mol/m³]
    electrolyte_concentration: float  # c₀ [mol/m³]
    thermal_voltage: float  # RT/F [V]
    current_density: float  # F D_ref c_s,max / R [A/m²]

    @property
    def current(self) -> float:
        """Current scale i* R² [A] (nondimensional currents are integrals of î over Â)."""
        return self.current_density * self.length**2


@dataclass(frozen=True)
class Sources:
    """Prescribed source terms added to the residual, for verification with manufactured solutions.

    Each entry is None or a callable returning a nondimensional UFL expression; ``x`` is the
    nondimensional position (mesh coordinate × length_unit/R) and ``n`` the outward unit normal of the
    domain the term belongs to:

    - ``particle(x)``: volumetric source of the θ rows (per t₀);
    - ``particle_flux(x, n)``: extra outward θ flux through Γ (added to ĵ);
    - ``salt(x)``, ``charge(x)``: volumetric sources of the anion and (cation − anion) rows (c₀ per t₀);
    - ``salt_flux(x, n, on_interface)``, ``charge_flux(x, n, on_interface)``: extra outward fluxes
      through the electrolyte boundary: Γ seen from the electrolyte (``on_interface`` True) and the
      outer faces, Na metal and walls (False).
    """

    particle: Callable | None = None
    particle_flux: Callable | None = None
    salt: Callable | None = None
    salt_flux: Callable | None = None
    charge: Callable | None = None
    charge_flux: Callable | None = None


def _allreduce(comm: MPI.Comm, value: float, op: MPI.Op = MPI.SUM) -> float:
    return float(comm.allreduce(value, op=op))


class CellProblem:
    """One coupled electrochemical cell: particles + electrolyte + Na metal + cell voltage.

    All methods are collective over the mesh communicator.
    """

    def __init__(self, pmesh, case, sources: Sources | None = None) -> None:
        """Build submeshes, spaces, forms and the SNES solver (collective).

        Args:
            pmesh: an ``ecmx.meshes.ParticleMesh`` (coordinates in mesh units, ``length_unit`` m each).
            case: an ``ecmx.solver.config.Case`` (SI values).
            sources: extra source terms (manufactured-solution tests only).
        """
        self.pmesh = pmesh
        self.case = case
        msh = pmesh.mesh
        self.comm = msh.comm
        tdim = msh.topology.dim
        material = case.material
        electrolyte = case.electrolyte
        self._material = material
        self._has_electrolyte = pmesh.electrolyte_tag is not None

        theta0 = float(case.initial_stoichiometry())
        self._theta0 = theta0
        radius = float(np.mean(pmesh.particle_radii)) * pmesh.length_unit
        d_ref = particle_law.reference_diffusivity(material, theta0)
        vt = R_GAS * case.temperature / F
        self.scales = Scales(
            length=radius,
            mesh_to_length=pmesh.length_unit / radius,
            diffusivity=d_ref,
            time=radius**2 / d_ref,
            particle_concentration=material.max_concentration,
            electrolyte_concentration=electrolyte.concentration,
            thermal_voltage=vt,
            current_density=F * d_ref * material.max_concentration / radius,
        )
        sc = self.scales

        # Every case-dependent number enters the forms as a Constant, so the generated code is shared
        # by all cases of a sweep (one JIT compilation per geometry kind and table shape).
        def const(value: float) -> fem.Constant:
            return fem.Constant(msh, PETSc.ScalarType(value))

        s = const(sc.mesh_to_length)

        # ---- submeshes -------------------------------------------------------------------
        msh.topology.create_connectivity(tdim - 1, tdim)
        msh.topology.create_connectivity(tdim, tdim - 1)
        ct, ft = pmesh.cell_tags, pmesh.facet_tags
        particle_cells = np.sort(np.concatenate([ct.find(t) for t in pmesh.particle_tags.values()])).astype(np.int32)
        self.particle_mesh, self.particle_entity_map, _, _ = dolfinx.mesh.create_submesh(msh, tdim, particle_cells)
        entity_maps = [self.particle_entity_map]
        if self._has_electrolyte:
            electrolyte_cells = ct.find(pmesh.electrolyte_tag)
            self.electrolyte_mesh, self.electrolyte_entity_map, _, _ = dolfinx.mesh.create_submesh(
                msh, tdim, electrolyte_cells
            )
            entity_maps.append(self.electrolyte_entity_map)
        else:
            self.electrolyte_mesh, self.electrolyte_entity_map = None, None

        # ---- spaces and unknowns --------------------------------------------------------
        Vs = fem.functionspace(self.particle_mesh, ("Lagrange", 1))
        Rspace = fem.functionspace(msh, basix.ufl.real_element(msh.basix_cell(), dtype=dolfinx.default_real_type))
        self._theta = fem.Function(Vs, name="stoichiometry")
        self._theta_old = fem.Function(Vs)
        self._voltage = fem.Function(Rspace, name="cell_voltage")
        if self._has_electrolyte:
            Ve = fem.functionspace(self.electrolyte_mesh, ("Lagrange", 1))
            self._c = fem.Function(Ve, name="salt")
            self._c_old = fem.Function(Ve)
            self._phi = fem.Function(Ve, name="potential")
            unknowns = [self._theta, self._c, self._phi, self._voltage]
        else:
            self._c = self._c_old = None
            self._phi = fem.Function(Rspace, name="potential")
            unknowns = [self._theta, self._phi, self._voltage]
        self._unknowns = unknowns
        self._accepted = [u.x.array.copy() for u in unknowns]
        self._split_names = (
            ["particle", "salt", "potential", "voltage"] if self._has_electrolyte else ["particle", "potential", "voltage"]
        )

        # ---- measures ------------------------------------------------------------------
        coordinate_system = pmesh.coordinate_system
        x = ufl.SpatialCoordinate(msh)
        if coordinate_system == "cartesian":
            weight = lambda y: 1.0  # noqa: E731
            wdeg = 0
        elif coordinate_system == "axisymmetric":
            weight = lambda y: 2.0 * math.pi * s * y[0]  # noqa: E731
            wdeg = 1
        elif coordinate_system == "spherical":
            weight = lambda y: 4.0 * math.pi * (s * y[0]) ** 2  # noqa: E731
            wdeg = 2
        else:
            raise ValueError(f"unknown coordinate system {coordinate_system!r}")
        # Quadrature: exact for the P1 mass terms (degree 2 + weight) and for the flux terms with
        # constant coefficients (degree 1 + weight, a single point per tetrahedron); degree 2 on the
        # interface, where exp/OCV make the integrand nonlinear anyway. The Jacobian assembly is
        # ~40 % cheaper than with UFL's estimated degrees, and the convergence orders are kept.
        qb = {"quadrature_degree": 2 + wdeg}
        qk = {"quadrature_degree": 1 + wdeg}
        qf = {"quadrature_degree": 2 + wdeg}
        dx = ufl.Measure("dx", domain=msh, subdomain_data=ct, metadata=qb)
        dxk = ufl.Measure("dx", domain=msh, subdomain_data=ct, metadata=qk)
        ds = ufl.Measure("ds", domain=msh, subdomain_data=ft, metadata=qf)
        particle_ids = tuple(int(t) for t in pmesh.particle_tags.values())
        vol = s**tdim
        area = s ** (tdim - 1)
        # weighted nondimensional volume/area elements: integrand * w * measure
        w_vol = weight(x) * vol
        dx_p = dx(particle_ids)
        dxk_p = dxk(particle_ids)
        itag = int(pmesh.interface_tag)
        if self._has_electrolyte:
            dx_e = dx(int(pmesh.electrolyte_tag))
            dxk_e = dxk(int(pmesh.electrolyte_tag))
            is_particle = np.zeros(msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts, bool)
            is_particle[particle_cells] = True
            ents = fem.compute_integration_domains(
                fem.IntegralType.interior_facet, msh.topology, ft.find(itag)
            ).reshape(-1, 4)
            swap = ~is_particle[ents[:, 0]]
            ents[swap] = ents[swap][:, [2, 3, 0, 1]]
            if not np.all(is_particle[ents[:, 0]]) or np.any(is_particle[ents[:, 2]]):
                raise ValueError("interface facets must separate a particle cell from an electrolyte cell")
            dS = ufl.Measure("dS", domain=msh, subdomain_data=[(itag, ents.ravel())], metadata=qf)
            p = lambda e: e("+")  # noqa: E731  particle side of Γ
            e = lambda f: f("-")  # noqa: E731  electrolyte side of Γ
            w_G = weight(x("+")) * area
            dG = dS(itag)
            w_a = weight(x) * area
            # outer electrolyte facets as explicit (cell, facet) lists, so that the Na-metal face and
            # the whole outer boundary (sources) share one subdomain_data in a form
            ds_e = ufl.Measure("ds", domain=msh, subdomain_data=self._electrolyte_facets(is_particle), metadata=qf)
            ds_a = ds_e(int(pmesh.na_metal_tag))
        else:
            p = lambda f: f  # noqa: E731
            w_G = weight(x) * area
            dG = ds(itag)

        def grad(f: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
            return ufl.grad(f) / s

        # ---- constants -----------------------------------------------------------------
        self._dt = fem.Constant(msh, PETSc.ScalarType(1.0))
        self._current_mode = fem.Constant(msh, PETSc.ScalarType(1.0))  # 1: current control, 0: voltage
        self._current_hat = fem.Constant(msh, PETSc.ScalarType(0.0))
        self._voltage_hat_set = fem.Constant(msh, PETSc.ScalarType(0.0))
        self._control: tuple[str, float] = ("current", 0.0)

        self._gamma_area_hat = _allreduce(self.comm, fem.assemble_scalar(fem.form(1.0 * w_G * dG)))
        gamma_area_hat = const(self._gamma_area_hat)
        self.particle_area_m2 = self._gamma_area_hat * sc.length**2
        particle_volume_hat = _allreduce(
            self.comm, fem.assemble_scalar(fem.form(1.0 * w_vol * dx_p))
        )
        self._particle_volume_hat = particle_volume_hat
        self.particle_volume_m3 = particle_volume_hat * sc.length**3
        lo, hi = material.stoichiometry_window
        self.capacity_C = F * material.max_concentration * (hi - lo) * self.particle_volume_m3
        # Every row of the residual scales with the current, so the absolute Newton tolerance is
        # taken in units of the 1C current: the same relative accuracy of currents and of the Na
        # balance for any D_s (with R²/D_ref as time scale, 1C is 1e-4 of the current scale at
        # D_s = 1e-12 m²/s but 100 times it at 1e-17).
        self._one_c_current_hat = self.capacity_C / 3600.0 / sc.current

        # ---- residual ------------------------------------------------------------------
        aa, ac = const(material.anodic_transfer_coefficient), const(material.cathodic_transfer_coefficient)
        ce = electrolyte.counter_electrode
        aa_metal, ac_metal = const(ce.anodic_transfer_coefficient), const(ce.cathodic_transfer_coefficient)
        i0_metal = const(ce.exchange_current_density)
        c_kin = const(sc.electrolyte_concentration / kinetics.REFERENCE_CONCENTRATION)
        current_scale = const(sc.current_density)
        theta = self._theta
        V = self._voltage
        if self._has_electrolyte:
            W = ufl.MixedFunctionSpace(Vs, Ve, Ve, Rspace)
            v, w_c, w_phi, q = ufl.TestFunctions(W)
            c_G = e(self._c)
            phi_G = e(self._phi)
        else:
            W = ufl.MixedFunctionSpace(Vs, Rspace, Rspace)
            v, q_phi, q = ufl.TestFunctions(W)
            c_G = 1.0
            phi_G = self._phi

        vt_c, i0_ref = const(vt), const(material.exchange_current_density)

        def interface_flux(theta_s, c_s, phi_s, voltage):
            """ĵ = i_loc/i*: outward Na flux (c_s,max R/t₀) for surface θ, ĉ, φ̂ and V̂ (UFL)."""
            eta = voltage - phi_s - kinetics.open_circuit_voltage(theta_s, material) / vt_c
            i0 = kinetics.particle_exchange_current(i0_ref, theta_s, c_kin * c_s, aa, ac)
            return kinetics.butler_volmer(i0, eta, aa, ac) / current_scale

        def counter_flux(c_a, phi_a):
            """i_a/i*: Na-metal current (anodic > 0) for ĉ and φ̂ at the Na-metal face (UFL)."""
            return kinetics.na_metal_current(i0_metal, -phi_a, c_kin * c_a, aa_metal, ac_metal) / current_scale

        self.interface_flux = interface_flux
        self.counter_flux = counter_flux
        theta_G = p(theta)
        eta = p(V) - phi_G - kinetics.open_circuit_voltage(theta_G, material) / vt_c
        j_hat = interface_flux(theta_G, c_G, phi_G, p(V))  # outward Na flux, in c_s,max R/t₀ per area
        if isinstance(material.diffusivity, float | int):
            d_s = const(material.diffusivity / sc.diffusivity)
        else:
            d_s = particle_law.diffusivity(theta, material) / const(sc.diffusivity)

        F_particle = particle_law.storage(theta, self._theta_old, v, self._dt) * w_vol * dx_p
        F_particle += particle_law.diffusion(theta, v, d_s, grad) * w_vol * dxk_p
        F_particle += j_hat * p(v) * w_G * dG

        # Two-way chemo-mechanics: stress-assisted flux with σ_h = φ − k_σ Δc_s, the local part implicit
        # here, the harmonic part φ [Pa] copied from MechanicsProblem.fields["harmonic_hydrostatic"] after
        # each accepted step (physics.mechanics.stress_assisted_flux_split).
        self.harmonic_hydrostatic: fem.Function | None = None
        if case.mechanics.enabled and case.mechanics.coupling == "two-way":
            omega = mechanics_law.two_way_partial_molar_volume(material)
            self.harmonic_hydrostatic = fem.Function(Vs, name="harmonic_hydrostatic")
            c_max = const(material.max_concentration)
            j_sigma = mechanics_law.stress_assisted_flux_split(
                d_s, theta * c_max, const(omega), self.harmonic_hydrostatic, R_GAS, const(case.temperature),
                const(material.youngs_modulus), const(material.poissons_ratio), grad=grad) / c_max
            F_particle -= ufl.dot(j_sigma, grad(v)) * w_vol * dx_p

        mode = self._current_mode
        F_voltage = (
            mode * (j_hat - self._current_hat / gamma_area_hat)
            + (1.0 - mode) * (p(V) - self._voltage_hat_set) / gamma_area_hat
        ) * p(q) * w_G * dG

        ratio = const(sc.particle_concentration / sc.electrolyte_concentration)  # flux in c₀ units
        if self._has_electrolyte:
            d_plus = const(electrolyte.cation_diffusivity / sc.diffusivity)
            d_minus = const(electrolyte.anion_diffusivity / sc.diffusivity)
            row_scale = const(sc.diffusivity / electrolyte.salt_diffusivity)
            c, phi = self._c, self._phi
            i_a = counter_flux(c, phi) * current_scale
            F_salt = row_scale * electrolyte_law.storage(c, self._c_old, w_c, self._dt) * w_vol * dx_e
            F_salt += row_scale * electrolyte_law.anion_flux(c, phi, w_c, d_minus, grad) * w_vol * dxk_e
            F_potential = row_scale * electrolyte_law.charge_residual(c, phi, w_phi, d_plus, d_minus, grad) * w_vol * dxk_e
            F_potential -= row_scale * ratio * j_hat * e(w_phi) * w_G * dG
            F_potential -= row_scale * ratio * (i_a / current_scale) * w_phi * w_a * ds_a
            residual = [F_particle, F_salt, F_potential, F_voltage]
        else:
            # Uniform electrolyte: the Na-metal face (area A_a) carries the opposite of the particle
            # current, which sets the single electrolyte potential.
            i_a = counter_flux(1.0, self._phi) * current_scale
            area_ratio = const(pmesh.counter_electrode_area / sc.length**2 / self._gamma_area_hat)
            F_potential = (j_hat + (i_a / current_scale) * area_ratio) * q_phi * w_G * dG
            residual = [F_particle, F_potential, F_voltage]
            self._counter_area_m2 = pmesh.counter_electrode_area

        if sources is not None:
            xh = s * x
            n = ufl.FacetNormal(msh)
            dxq = ufl.Measure("dx", domain=msh, subdomain_data=ct, metadata={"quadrature_degree": 4 + wdeg})
            if sources.particle is not None:
                residual[0] -= sources.particle(xh) * v * w_vol * dxq(particle_ids)
            if sources.particle_flux is not None:
                residual[0] += sources.particle_flux(p(xh), p(n)) * p(v) * w_G * dG
            if self._has_electrolyte:
                ds_b = ds_e(_OUTER_BOUNDARY)
                for row, (bulk, flux, test) in ((1, (sources.salt, sources.salt_flux, w_c)),
                                                (2, (sources.charge, sources.charge_flux, w_phi))):
                    if bulk is not None:
                        residual[row] -= row_scale * bulk(xh) * test * w_vol * dxq(int(pmesh.electrolyte_tag))
                    if flux is not None:
                        residual[row] += row_scale * flux(e(xh), e(n), True) * e(test) * w_G * dG
                        residual[row] += row_scale * flux(xh, n, False) * test * weight(x) * area * ds_b
        self._residual_forms, self._entity_maps = residual, entity_maps
        self._linear_solver = resolve_linear_solver(case.solver.linear_solver, tdim)
        self._problem = self._newton(self._linear_solver)
        self._direct: dolfinx.fem.petsc.NonlinearProblem | None = None  # MUMPS fallback, built on demand

        # ---- post-processing forms ----------------------------------------------------
        def scalar(expr: ufl.Form) -> fem.Form:
            return fem.form(expr, entity_maps=entity_maps)

        self._q_forms = {
            "theta_integral": scalar(theta * w_vol * dx_p),
            "theta_surface_integral": scalar(theta_G * w_G * dG),
            "interface_current": scalar(j_hat * w_G * dG),
            "overpotential_integral": scalar(eta * w_G * dG),
            "potential_surface_integral": scalar(phi_G * w_G * dG),
        }
        if self._has_electrolyte:
            self._q_forms["salt_integral"] = scalar(self._c * w_vol * dx_e)
            self._q_forms["counter_current"] = scalar((i_a / current_scale) * w_a * ds_a)
            self.electrolyte_volume_m3 = _allreduce(self.comm, fem.assemble_scalar(scalar(1.0 * w_vol * dx_e))) * sc.length**3
        else:
            self.electrolyte_volume_m3 = 0.0  # uniform electrolyte, not modelled
            self._i_counter_form = fem.form(i_a / gamma_area_hat * w_G * dG)

        # SI copies of the fields for writers, probes and the mechanics (updated on access)
        self._field_particle = fem.Function(Vs, name="particle_concentration")
        self._bb_trees: dict[int, dolfinx.geometry.BoundingBoxTree] = {}
        if self._has_electrolyte:
            self._field_salt = fem.Function(Ve, name="electrolyte_concentration")
            self._field_potential = fem.Function(Ve, name="electrolyte_potential")
        self.set_initial_state()

    # ------------------------------------------------------------------------------------------
    def _electrolyte_facets(self, is_particle: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Exterior-facet integration data on the electrolyte side: the Na-metal face (its tag) and
        all outer electrolyte facets (``_OUTER_BOUNDARY``: Na metal and walls, no particle facets)."""
        msh, ft = self.pmesh.mesh, self.pmesh.facet_tags

        def entities(facets: np.ndarray) -> np.ndarray:
            ents = fem.compute_integration_domains(
                fem.IntegralType.exterior_facet, msh.topology, np.unique(facets).astype(np.int32)
            ).reshape(-1, 2)
            return ents[~is_particle[ents[:, 0]]].ravel()

        na = int(self.pmesh.na_metal_tag)
        outer = [ft.find(t) for t in (self.pmesh.na_metal_tag, self.pmesh.walls_tag) if t is not None]
        return [(na, entities(ft.find(na))), (_OUTER_BOUNDARY, entities(np.concatenate(outer)))]

    def _newton(self, linear_solver: str) -> dolfinx.fem.petsc.NonlinearProblem:
        """The SNES of the coupled residual with one of the linear-solver option sets."""
        solver = self.case.solver
        _PREFIX_COUNTER[0] += 1
        problem = dolfinx.fem.petsc.NonlinearProblem(
            self._residual_forms,
            self._unknowns,
            petsc_options_prefix=f"ecmx_cell{_PREFIX_COUNTER[0]}_",
            petsc_options=newton_options(solver.rtol, solver.atol * self._one_c_current_hat, solver.max_newton_iterations,
                                         linear_solver),
            entity_maps=self._entity_maps,
        )
        if linear_solver == "mumps":
            self._configure_mumps(problem)
        elif linear_solver == "fieldsplit":
            self._setup_fieldsplit(problem)
        return problem

    def _configure_mumps(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """MUMPS controls set on the factor matrix itself (no global options left behind)."""
        ksp = problem.solver.getKSP()
        ksp.setOperators(problem.A, problem.A)
        pc = ksp.getPC()
        pc.setFactorSetUpSolverType()
        factor = pc.getFactorMatrix()
        for icntl, val in MUMPS_CONTROLS.items():
            factor.setMumpsIcntl(icntl, val)

    def _setup_fieldsplit(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """Attach one index set per unknown block to the fieldsplit preconditioner."""
        ksp = problem.solver.getKSP()
        pc = ksp.getPC()
        start = problem.A.getOwnershipRange()[0]
        offset = start
        splits = []
        for name, u in zip(self._split_names, self._unknowns, strict=True):
            imap = u.function_space.dofmap.index_map
            n = imap.size_local * u.function_space.dofmap.index_map_bs
            splits.append((name, PETSc.IS().createStride(n, first=offset, step=1, comm=self.comm)))
            offset += n
        pc.setFieldSplitIS(*splits)
        ksp.setFromOptions()
        # configure each split's solver now and take its options out of the global database again, so
        # that none are left behind (PETSc lists unused options at exit)
        opts = PETSc.Options()
        sub_options = fieldsplit_sub_options(self._split_names, problem.solver.getOptionsPrefix())
        for k, val in sub_options.items():
            opts[k] = val
        for sub in pc.getFieldSplitSubKSP():
            sub.setFromOptions()
        for k in sub_options:
            opts.delValue(k)

    # ------------------------------------------------------------------------------------------
    def set_initial_state(self) -> None:
        """Uniform θ₀, c = c₀, rest potentials: φ_e from the Na metal at zero current, V with η = 0."""
        material, ce = self._material, self.case.electrolyte.counter_electrode
        vt = self.scales.thermal_voltage
        c_kin = self.scales.electrolyte_concentration / kinetics.REFERENCE_CONCENTRATION
        phi0 = kinetics.na_metal_rest_potential(c_kin, ce.anodic_transfer_coefficient, ce.cathodic_transfer_coefficient)
        self._theta.x.array[:] = self._theta0
        if self._has_electrolyte:
            self._c.x.array[:] = 1.0
        self._phi.x.array[:] = phi0
        self._voltage.x.array[:] = phi0 + float(material.ocv_at(self._theta0)) / vt
        self._store_accepted()

    def set_state(
        self,
        particle_concentration: Callable[[np.ndarray], np.ndarray] | None = None,
        electrolyte_concentration: Callable[[np.ndarray], np.ndarray] | None = None,
        electrolyte_potential: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> None:
        """Interpolate fields into the state and accept it (restarts, verification).

        Each argument maps points x of shape (3, n) in mesh units to SI values (mol/m³, V); None
        keeps the present field. Collective.
        """
        sc = self.scales
        targets = [(self._theta, particle_concentration, sc.particle_concentration)]
        if self._has_electrolyte:
            targets += [(self._c, electrolyte_concentration, sc.electrolyte_concentration),
                        (self._phi, electrolyte_potential, sc.thermal_voltage)]
        for u, f, scale in targets:
            if f is not None:
                u.interpolate(lambda x, f=f, scale=scale: np.asarray(f(x), dtype=float) / scale)
        self._store_accepted()

    def _store_accepted(self) -> None:
        for store, u in zip(self._accepted, self._unknowns, strict=True):
            store[:] = u.x.array
        self._theta_old.x.array[:] = self._theta.x.array
        if self._has_electrolyte:
            self._c_old.x.array[:] = self._c.x.array

    def set_control(self, mode: Literal["current", "voltage"], value: float) -> None:
        """Current control (I_app [A], > 0 charge) or voltage control (V [V]); no rebuild."""
        if mode == "current":
            self._current_mode.value = 1.0
            self._current_hat.value = value / self.scales.current
        elif mode == "voltage":
            self._current_mode.value = 0.0
            self._voltage_hat_set.value = value / self.scales.thermal_voltage
        else:
            raise ValueError(f"control mode must be 'current' or 'voltage', got {mode!r}")
        self._control = (mode, float(value))

    @property
    def control(self) -> tuple[str, float]:
        """The present control (mode, value in A or V)."""
        return self._control

    @property
    def num_dofs(self) -> int:
        """Global number of unknowns of the coupled system (every block, the cell voltage included)."""
        return sum(u.function_space.dofmap.index_map.size_global * u.function_space.dofmap.index_map_bs
                   for u in self._unknowns)

    # ------------------------------------------------------------------------------------------
    def try_step(self, dt: float) -> StepOutcome:
        """One backward-Euler step of length dt [s] from the last accepted state (not committed).

        With an iterative linear solver, a step whose Krylov solve fails (near a voltage cliff the
        Jacobian gets hard for the preconditioners) is retried once with MUMPS.
        """
        self._dt.value = dt / self.scales.time
        outcome = self._solve(self._problem)
        if not outcome.converged and outcome.reason.endswith("(DIVERGED_LINEAR_SOLVE)") and self._linear_solver != "mumps":
            if self._direct is None:
                self._direct = self._newton("mumps")
            retry = self._solve(self._direct)
            outcome = StepOutcome(retry.converged, outcome.newton_iterations + retry.newton_iterations,
                                  f"{retry.reason}; retried with MUMPS after the {self._linear_solver} solve failed")
        return outcome

    def _solve(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> StepOutcome:
        for store, u in zip(self._accepted, self._unknowns, strict=True):
            u.x.array[:] = store
        snes = problem.solver
        try:
            problem.solve()
        except PETSc.Error as exc:  # e.g. a MUMPS failure on a singular Jacobian
            return StepOutcome(False, snes.getIterationNumber(), f"linear solver failed: {exc}")
        reason = snes.getConvergedReason()
        its = snes.getIterationNumber()
        if reason <= 0:
            bad = self._bounds_violation()  # often the cause: say so
            detail = f"; last iterate: {bad}" if bad else ""
            return StepOutcome(False, its, f"Newton did not converge ({_snes_reason(reason)}){detail}")
        bad = self._bounds_violation()
        if bad:
            return StepOutcome(False, its, bad)
        return StepOutcome(True, its, _snes_reason(reason))

    def _bounds_violation(self) -> str:
        def owned(u: fem.Function) -> np.ndarray:
            n = u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
            return u.x.array[:n]

        th = owned(self._theta)
        th_min = _allreduce(self.comm, float(th.min()) if th.size else np.inf, MPI.MIN)
        th_max = _allreduce(self.comm, float(th.max()) if th.size else -np.inf, MPI.MAX)
        if not (np.isfinite(th_min) and np.isfinite(th_max)):
            return "particle concentration is not finite"
        if th_min <= 0.0 or th_max >= 1.0:
            return (
                f"particle concentration left (0, c_s,max): θ in [{th_min:.6g}, {th_max:.6g}]"
                " (a surface that fills or empties completely, or a diffusion layer thinner than the"
                " interface mesh: reduce the time step or geometry.mesh.interface_size)"
            )
        if self._has_electrolyte:
            c = owned(self._c)
            c_min = _allreduce(self.comm, float(c.min()) if c.size else np.inf, MPI.MIN)
            if not np.isfinite(c_min) or c_min <= 0.0:
                return (
                    f"electrolyte concentration not positive: min c = {c_min * self.scales.electrolyte_concentration:.6g}"
                    " mol/m³ (salt depleted: the current exceeds what the electrolyte can carry)"
                )
        return ""

    def accept(self) -> None:
        """The tried state becomes the last accepted state."""
        self._store_accepted()

    def reject(self) -> None:
        """Restore the last accepted state into the unknowns."""
        for store, u in zip(self._accepted, self._unknowns, strict=True):
            u.x.array[:] = store

    # ------------------------------------------------------------------------------------------
    def _integral(self, name: str) -> float:
        return _allreduce(self.comm, fem.assemble_scalar(self._q_forms[name]))

    def _minmax(self, u: fem.Function) -> tuple[float, float]:
        n = u.function_space.dofmap.index_map.size_local
        a = u.x.array[:n]
        lo = _allreduce(self.comm, float(a.min()) if a.size else np.inf, MPI.MIN)
        hi = _allreduce(self.comm, float(a.max()) if a.size else -np.inf, MPI.MAX)
        return lo, hi

    def quantities(self) -> dict[str, float]:
        """Global quantities of the current (tried) state, SI; collective, identical on all ranks.

        Besides the keys of the interface contract it returns ``counter_electrode_current_A`` (the
        Na-metal current, anodic positive: −I at convergence), ``electrolyte_potential_V`` (mean φ_e
        on Γ), ``overpotential_V`` (mean η = V − φ_e − U(θ) on Γ) and ``time_scale_s`` (R²/D_ref).
        """
        sc = self.scales
        cmax = sc.particle_concentration
        theta_int = self._integral("theta_integral")
        interface_current = self._integral("interface_current") * sc.current
        theta_min, theta_max = self._minmax(self._theta)
        na_particles = theta_int * cmax * sc.length**3
        q = {
            "voltage_V": float(self._voltage.x.array[0]) * sc.thermal_voltage,
            "theta_mean": theta_int / self._particle_volume_hat,
            "c_mean": theta_int / self._particle_volume_hat * cmax,
            "c_min": theta_min * cmax,
            "c_max": theta_max * cmax,
            "c_surface_mean": self._integral("theta_surface_integral") / self._gamma_area_hat * cmax,
            "interface_current_A": interface_current,
            "electrolyte_potential_V": self._integral("potential_surface_integral") / self._gamma_area_hat * sc.thermal_voltage,
            "overpotential_V": self._integral("overpotential_integral") / self._gamma_area_hat * sc.thermal_voltage,
        }
        if self._has_electrolyte:
            c_lo, c_hi = self._minmax(self._c)
            salt = self._integral("salt_integral") * sc.electrolyte_concentration * sc.length**3
            q |= {
                "electrolyte_c_min": c_lo * sc.electrolyte_concentration,
                "electrolyte_c_max": c_hi * sc.electrolyte_concentration,
                "na_total_mol": na_particles + salt,
                "counter_electrode_current_A": self._integral("counter_current") * sc.current,
            }
        else:
            i_a = _allreduce(self.comm, fem.assemble_scalar(self._i_counter_form))
            q |= {
                "electrolyte_c_min": sc.electrolyte_concentration,
                "electrolyte_c_max": sc.electrolyte_concentration,
                "na_total_mol": na_particles,
                "counter_electrode_current_A": i_a * self._counter_area_m2,
            }
        # the set current under current control (exactly 0 at rest), the resulting one under voltage
        # control; the Na that entered the cell is counter_electrode_current_A dt/F
        mode, value = self._control
        q["current_A"] = value if mode == "current" else interface_current
        q["time_scale_s"] = sc.time
        return q

    # ------------------------------------------------------------------------------------------
    @property
    def fields(self) -> dict[str, fem.Function]:
        """SI fields of the current state: particle_concentration [mol/m³] (particle submesh);
        electrolyte_concentration [mol/m³] and electrolyte_potential [V] (electrolyte submesh,
        absent for sphere-1d). Refreshed on every access."""
        sc = self.scales
        self._field_particle.x.array[:] = self._theta.x.array * sc.particle_concentration
        out = {"particle_concentration": self._field_particle}
        if self._has_electrolyte:
            self._field_salt.x.array[:] = self._c.x.array * sc.electrolyte_concentration
            self._field_potential.x.array[:] = self._phi.x.array * sc.thermal_voltage
            out["electrolyte_concentration"] = self._field_salt
            out["electrolyte_potential"] = self._field_potential
        return out

    def probe(self, points: np.ndarray) -> dict[str, np.ndarray]:
        """Evaluate the SI fields at points (n, gdim) or (n, 3) in mesh units; NaN outside a field's
        domain. Collective; every rank gets the same arrays.

        For ``sphere-1d`` a 3D point is evaluated at its distance from the centre; for
        ``axisymmetric-2d`` at (√(x²+y²), z).
        """
        pts = np.atleast_2d(np.asarray(points, dtype=float))
        pts = self._to_mesh_coordinates(pts)
        out = {}
        for name, f in self.fields.items():
            out[name] = _evaluate(f, pts, self._bb_tree(f.function_space.mesh))
        return out

    def _bb_tree(self, msh: dolfinx.mesh.Mesh) -> dolfinx.geometry.BoundingBoxTree:
        """Bounding-box tree of a (sub)mesh, built once (probes are evaluated every step)."""
        if id(msh) not in self._bb_trees:
            self._bb_trees[id(msh)] = dolfinx.geometry.bb_tree(msh, msh.topology.dim, padding=1e-10)
        return self._bb_trees[id(msh)]

    def _to_mesh_coordinates(self, pts: np.ndarray) -> np.ndarray:
        gdim = self.pmesh.mesh.geometry.dim
        system = self.pmesh.coordinate_system
        res = np.zeros((pts.shape[0], 3))
        if pts.shape[1] == 3 and system == "spherical":
            res[:, 0] = np.linalg.norm(pts - self.pmesh.particle_centres[0], axis=1)
        elif pts.shape[1] == 3 and system == "axisymmetric":
            res[:, 0] = np.hypot(pts[:, 0], pts[:, 1])
            res[:, 1] = pts[:, 2]
        else:
            k = min(pts.shape[1], 3)
            res[:, :k] = pts[:, :k]
            if gdim < k:
                res[:, gdim:] = 0.0
        return res


def _evaluate(f: fem.Function, pts: np.ndarray, tree: dolfinx.geometry.BoundingBoxTree) -> np.ndarray:
    """Point values of a scalar P1 function at (n, 3) points; NaN where no rank owns a cell."""
    msh = f.function_space.mesh
    comm = msh.comm
    tdim = msh.topology.dim
    candidates = dolfinx.geometry.compute_collisions_points(tree, pts)
    colliding = dolfinx.geometry.compute_colliding_cells(msh, candidates, pts)
    n_owned = msh.topology.index_map(tdim).size_local
    values = np.full(pts.shape[0], np.nan)
    idx, cells = [], []
    for i in range(pts.shape[0]):
        links = colliding.links(i)
        owned = links[links < n_owned]
        if owned.size:
            idx.append(i)
            cells.append(owned[0])
    if idx:
        values[idx] = f.eval(pts[idx], np.asarray(cells, dtype=np.int32)).reshape(-1)
    gathered = comm.allgather(values)
    result = np.full(pts.shape[0], np.nan)
    for arr in gathered:
        take = np.isnan(result) & ~np.isnan(arr)
        result[take] = arr[take]
    return result


_SNES_REASONS = {v: k for k, v in PETSc.SNES.ConvergedReason.__dict__.items() if isinstance(v, int)}


def _snes_reason(reason: int) -> str:
    return _SNES_REASONS.get(reason, str(reason))

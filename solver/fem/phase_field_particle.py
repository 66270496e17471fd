"""Phase-separating particles: the Cahn–Hilliard reaction model, unknowns (θ, μ̂) P1–P1 on the particle submesh.

Rows (nondimensional: lengths by R, time by t₀ = R²/D_ref, μ̂ = μ/RT; :mod:`ecmx.solver.physics.phase_field`):
    ∫ ∂θ/∂t v dV + ∫ D̂_s θ(1−θ) ∇μ̂·∇v dV + ∫_Γ ĵ v dA = 0                   (θ: differential)
    ∫ (μ̂ − μ̂_h(θ) + Ω σ_h/RT) q dV − ∫ κ̂ ∇θ·∇q dV = 0                       (μ̂: algebraic)
with μ̂_h(θ) = ln(θ/(1−θ)) + Ω̂_a (1 − 2θ), Ω̂_a = Ω_a/RT, κ̂ = κ/(c_s,max RT R²), D̂_s = D_s/D_ref and ĵ
the outward interface flux (c_s,max R/t₀). The molar flux is N_s = −(D_s c_s,max θ(1−θ)/RT) ∇μ (for
Ω_a = κ = 0 it is Fick's −D_s ∇c_s). On Γ the surface energy γ_s(θ) = −w (θ − θ²/2) (``surface_wetting``
w [J/m²]) gives the natural condition κ ∇θ·n = w (1 − θ) (0: neutral wetting ∇θ·n = 0), the term
+ŵ ∫_Γ (1 − θ) q dÂ of the μ̂ row, ŵ = w/(c_s,max RT R). The reaction at Γ sees
the surface equilibrium potential U₀ − μ/F (:meth:`PhaseFieldParticle.open_circuit_voltage`), so
η = φ_s − φ_e − U₀ + μ/F − (RT/F) ln(c/c_ref). ∂θ/∂t is the shared
:class:`~ecmx.solver.fem.time_history.TimeHistory` rate (backward Euler or BDF2/BDF3 with error control).

Two-way chemo-mechanics adds −Ω σ_h to μ with σ_h = φ − k_σ (c_s − c_s,0): the local part implicit,
the harmonic part φ [Pa] (``harmonic_hydrostatic``) copied from the mechanics after each accepted step.
The chemical strain acts through c_s unchanged (coherency stress).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.errors import CaseError
from ecmx.solver.fem.coupling import two_way_partial_molar_volume
from ecmx.solver.fem.domains import CellDomains
from ecmx.solver.fem.models import Expr, PointFunction, global_range, interpolate_si
from ecmx.solver.fem.particles import storage_quantities
from ecmx.solver.fem.reactions import constant
from ecmx.solver.fem.scales import Scales
from ecmx.solver.fem.table_fields import QuadratureTable
from ecmx.solver.fem.time_history import TimeHistory
from ecmx.solver.physics import phase_field as law
from ecmx.solver.physics.stress_diffusion import local_hydrostatic_coefficient
from ecmx.solver.physics.tables import TableCurve
from ecmx.solver.units import R_GAS

CELLS_PER_INTERFACE_WIDTH = 4.0
"""The fewest cells across λ at the particle surface that resolve the interface."""


class PhaseFieldParticle:
    """Particles with a regular-solution free energy (the :class:`~ecmx.solver.fem.models.ParticleModel` interface).

    Args:
        domains: the cell's domains and measures.
        case: the validated case (its material has ``phase_field``).
        scales: the nondimensionalisation.
        history: the shared time derivative (θ is registered with it; μ̂ is algebraic).

    Attributes:
        interface_width_m: λ = √(κ/(c_s,max Ω_a)) [m] (inf for Ω_a = 0).
        surface_cell_size_m: the largest particle cell at Γ [m].
        widened_interface: True when the mesh does not resolve λ and the case accepts it.
    """

    split_names = ("particle", "chemical_potential")
    differential = (True, False)
    error_magnitudes = (1.0, 0.0)  # θ's error is measured on its range [0, 1] (μ̂ is algebraic)

    def __init__(self, domains: CellDomains, case: Any, scales: Scales, history: TimeHistory) -> None:
        self._domains, self._case, self._scales, self._history = domains, case, scales, history
        self._pf = case.material.phase_field
        self._rt = R_GAS * case.temperature
        space = fem.functionspace(domains.particle_mesh, ("Lagrange", 1))
        self.theta = fem.Function(space, name="stoichiometry")
        self.mu = fem.Function(space, name="chemical_potential_hat")
        history.register(self.theta)
        self.unknowns = (self.theta, self.mu)
        self._out = {name: fem.Function(space, name=name) for name in ("particle_concentration", "chemical_potential")}
        msh = domains.mesh
        self._omega_a = constant(msh, self._pf.interaction_energy / self._rt)
        self._kappa = constant(msh, self._pf.gradient_energy / (scales.particle_concentration * self._rt
                                                                 * scales.length**2))
        self._u0 = constant(msh, self._pf.reference_voltage / scales.thermal_voltage)
        self._wetting = surface_wetting_hat(self._pf.surface_wetting, scales, self._rt, msh)
        self._tables: list[QuadratureTable] = []
        self._diffusivity = self._diffusivity_hat(case.material)
        two_way = case.mechanics.enabled and case.mechanics.coupling == "two-way"
        self.harmonic_hydrostatic = fem.Function(space, name="harmonic_hydrostatic") if two_way else None
        self._check_resolution()
        self._forms = self._quantity_forms()

    # -- set-up -------------------------------------------------------------------------------
    def _diffusivity_hat(self, material: Any) -> Expr:
        """D̂_s(θ) = D_s(θ)/D_ref: a Constant, or the log-linear table at the bulk quadrature points."""
        if isinstance(material.diffusivity, float | int):
            return constant(self._domains.mesh, material.diffusivity / self._scales.diffusivity)
        table = material.diffusivity
        degree = self._domains.dx_particle.metadata()["quadrature_degree"]
        q = QuadratureTable(self.theta, TableCurve(table.stoichiometry, table.value, log=True), degree,
                            scale=self._scales.diffusivity)
        self._tables.append(q)
        return q.expression

    def _check_resolution(self) -> None:
        """λ must span CELLS_PER_INTERFACE_WIDTH cells at Γ, unless ``widened_interface``; CaseError otherwise."""
        pf = self._pf
        self.interface_width_m = (law.interface_width(pf.gradient_energy, self._scales.particle_concentration,
                                                      pf.interaction_energy) if pf.interaction_energy > 0 else math.inf)
        self.surface_cell_size_m = (surface_cell_size(self._domains.particle_mesh) * self._scales.mesh_to_length
                                    * self._scales.length)
        resolved = self.interface_width_m >= CELLS_PER_INTERFACE_WIDTH * self.surface_cell_size_m * (1.0 - 1e-9)
        self.widened_interface = not resolved
        if not resolved and not pf.widened_interface:
            raise CaseError(
                f"the mesh does not resolve the phase-field interface: λ = √(κ/(c_s,max Ω_a)) ="
                f" {self.interface_width_m:.4g} m needs cells of at most λ/{CELLS_PER_INTERFACE_WIDTH:g} ="
                f" {self.interface_width_m / CELLS_PER_INTERFACE_WIDTH:.4g} m at the particle surface, the mesh has"
                f" {self.surface_cell_size_m:.4g} m: refine geometry.mesh (particle_size, interface_size, or elements for"
                " sphere-1d), raise gradient_energy, or set material.phase_field.widened_interface: true",
                file=self._case.source_path, key="material.phase_field.gradient_energy")

    def _quantity_forms(self) -> dict[str, fem.Form]:
        d = self._domains
        w = d.volume_element
        free = (law.homogeneous_free_energy(self.theta, 1.0, self._omega_a, log=ufl.ln)
                + 0.5 * self._kappa * ufl.dot(d.grad(self.theta), d.grad(self.theta)))
        energy = free * w * d.dx_particle
        if self._wetting is not None:  # the surface energy ∫_Γ γ_s(θ) dA
            energy += d.interface.integral(law.surface_energy(self.surface_stoichiometry(), self._wetting))
        return {
            "theta": d.form(self.theta * w * d.dx_particle),
            "theta_surface": d.form(d.interface.integral(self.surface_stoichiometry())),
            "theta_rate": d.form(self._history.rate(self.theta) * w * d.dx_particle),
            "free_energy": d.form(energy),
        }

    # -- the ParticleModel interface ----------------------------------------------------------
    def surface_stoichiometry(self) -> Expr:
        """θ on the particle side of Γ."""
        return self._domains.interface.particle(self.theta)

    def open_circuit_voltage(self, theta: Expr) -> Expr:
        """The surface equilibrium potential U₀ − μ/F [V] on the particle side of Γ; ``theta`` is unused
        (the free energy sets the equilibrium through μ̂)."""
        vt = self._scales.thermal_voltage
        return vt * (self._u0 - self._domains.interface.particle(self.mu))

    def update_tabulated(self) -> None:
        """Re-evaluate the D_s(θ) table (if any) at the current θ; called before every assembly."""
        for table in self._tables:
            table.refresh()

    def chemical_potential_hat(self) -> Expr:
        """μ̂_h(θ) − Ω σ_h/RT: the local part of μ̂ (UFL; without the gradient term)."""
        mu = law.homogeneous_chemical_potential(self.theta, 1.0, self._omega_a, log=ufl.ln)
        if self.harmonic_hydrostatic is None:
            return mu
        return mu - self._stress_potential_hat()

    def _stress_potential_hat(self) -> Expr:
        """Ω σ_h/RT with σ_h = φ − k_σ c_s,max (θ − θ₀) [Pa]."""
        material, msh = self._case.material, self._domains.mesh
        omega = two_way_partial_molar_volume(material)
        k = local_hydrostatic_coefficient(omega, material.youngs_modulus, material.poissons_ratio)
        c_max, theta0 = material.max_concentration, float(self._case.initial_stoichiometry())
        sigma = self.harmonic_hydrostatic - constant(msh, k * c_max) * (self.theta - constant(msh, theta0))
        return constant(msh, omega / self._rt) * sigma

    def residuals(self, tests: Sequence[ufl.Argument], flux: Expr, sources: Any | None) -> list[ufl.Form]:
        """The θ row (with the outward interface flux ĵ and the manufactured sources, if any) and the μ̂ row."""
        v, q = tests
        d, gamma = self._domains, self._domains.interface
        w = d.volume_element
        mobility = self._diffusivity * self.theta * (1.0 - self.theta)
        theta_row = self._history.rate(self.theta) * v * w * d.dx_particle
        theta_row += mobility * ufl.dot(d.grad(self.mu), d.grad(v)) * w * d.dx_particle
        theta_row += gamma.integral(flux * gamma.particle(v))
        mu_row = (self.mu - self.chemical_potential_hat()) * q * w * d.dx_particle
        mu_row -= self._kappa * ufl.dot(d.grad(self.theta), d.grad(q)) * w * d.dx_particle
        if self._wetting is not None:  # κ̂ ∇̂θ·n = ŵ (1 − θ) on Γ (natural condition of the surface energy)
            mu_row += gamma.integral(law.wetting_drive(self.surface_stoichiometry(), self._wetting) * gamma.particle(q))
        if sources is not None:
            theta_row, mu_row = self._add_sources(sources, theta_row, mu_row, v, q)
        return [theta_row, mu_row]

    def _add_sources(self, sources: Any, theta_row: ufl.Form, mu_row: ufl.Form, v: ufl.Argument,
                     q: ufl.Argument) -> tuple[ufl.Form, ufl.Form]:
        """Manufactured sources: ``particle(x)`` of the θ row, ``particle_flux(x, n)`` through Γ and
        ``chemical_potential(x)`` of the μ̂ row."""
        d, gamma = self._domains, self._domains.interface
        xh, dx = d.scale * d.x, d.cell_measure("source")(d.particle_ids)
        if sources.particle is not None:
            theta_row -= sources.particle(xh) * v * d.volume_element * dx
        if sources.particle_flux is not None:
            p = gamma.particle
            theta_row += gamma.integral(sources.particle_flux(p(xh), p(d.normal)) * p(v))
        if sources.chemical_potential is not None:
            mu_row -= sources.chemical_potential(xh) * q * d.volume_element * dx
        return theta_row, mu_row

    def quantities(self) -> dict[str, float]:
        """The keys of :class:`~ecmx.solver.fem.particles.FickianParticle` (SI) plus ``free_energy_J``,
        G = ∫ c_s,max f_h(θ) + (κ/2)|∇θ|² dV + ∫_Γ γ_s(θ) dA [J] (f_h and the surface energy
        γ_s = −w (θ − θ²/2) of :mod:`ecmx.solver.physics.phase_field`; γ_s = 0 for neutral wetting)."""
        d, sc = self._domains, self._scales
        energy = d.integrate(self._forms["free_energy"]) * sc.particle_concentration * self._rt * sc.length**3
        return {**storage_quantities(d, sc, self.theta, self._forms), "free_energy_J": energy}

    def fields(self) -> dict[str, fem.Function]:
        """particle_concentration [mol/m³] and chemical_potential μ [J/mol] on the particle submesh."""
        self._out["particle_concentration"].x.array[:] = self.theta.x.array * self._scales.particle_concentration
        self._out["chemical_potential"].x.array[:] = self.mu.x.array * self._rt
        return dict(self._out)

    def bounds_violation(self) -> str:
        """A message when θ left (0, 1) or θ, μ̂ are not finite, else ''."""
        th_min, th_max = global_range(self.theta)
        mu_min, mu_max = global_range(self.mu)
        if not all(math.isfinite(x) for x in (th_min, th_max, mu_min, mu_max)):
            return "particle concentration or chemical potential is not finite"
        if th_min <= 0.0 or th_max >= 1.0:
            return (f"particle concentration left (0, c_s,max): θ in [{th_min:.6g}, {th_max:.6g}]"
                    " (reduce the time step or refine the mesh at the phase boundary)")
        return ""

    def set_initial_state(self, stoichiometry: float) -> None:
        """Uniform θ₀, plus the case's seeded perturbation if any; μ̂ from the local part of μ̂_h(θ)."""
        self.theta.x.array[:] = stoichiometry
        perturbation = self._pf.initial_perturbation
        if perturbation is not None:
            self.theta.interpolate(seeded_perturbation(stoichiometry, perturbation.amplitude, perturbation.seed))
            self._conserve_content(stoichiometry)
        self._equilibrate_mu()

    def set_state(self, particle_concentration: PointFunction | None) -> None:
        """θ ← c_s/c_s,max (None keeps θ); μ̂ from the local part of μ̂_h(θ) (Newton adds the rest)."""
        interpolate_si(self.theta, particle_concentration, self._scales.particle_concentration)
        self._equilibrate_mu()

    def _conserve_content(self, stoichiometry: float) -> None:
        """Shift θ so that its mean is ``stoichiometry`` (the perturbation adds no Na)."""
        mean = self._domains.integrate(self._forms["theta"]) / self._domains.particle_volume
        self.theta.x.array[:] += stoichiometry - mean

    def _equilibrate_mu(self) -> None:
        """μ̂ ← μ̂_h(θ) at the nodes (a first Newton iterate; exact for a uniform state)."""
        th = np.clip(self.theta.x.array, 1e-12, 1.0 - 1e-12)
        self.mu.x.array[:] = law.homogeneous_chemical_potential(th, 1.0, float(self._omega_a.value))
        self.update_tabulated()


def surface_wetting_hat(wetting: float, scales: Scales, rt: float, msh: dolfinx.mesh.Mesh) -> fem.Constant | None:
    """ŵ = w/(c_s,max RT R), the nondimensional wetting of the μ̂ row, or None for neutral wetting (w = 0).

    The surface energy γ_s(θ) = −w (θ − θ²/2) [J/m²] adds ∫_Γ γ_s dA to G; its first variation gives the
    natural condition κ ∇θ·n = w (1 − θ) on Γ (n outward), i.e. κ̂ ∇̂θ·n = ŵ (1 − θ) with
    κ̂ = κ/(c_s,max RT R²), and the term +ŵ ∫_Γ (1 − θ) q dÂ in the μ̂ row (both per c_s,max RT R³).
    w > 0 lowers μ at Γ: the Na-rich phase wets the surface.
    """
    if wetting == 0.0:
        return None
    return constant(msh, wetting / (scales.particle_concentration * rt * scales.length))


def seeded_perturbation(theta0: float, amplitude: float, seed: int) -> Any:
    """θ₀ + δθ(x), δθ uniform in [−amplitude, amplitude], a function of the position only (the same on
    any number of ranks): the hash of the rounded coordinates seeds a generator per point."""

    def field(x: np.ndarray) -> np.ndarray:
        keys = np.round(x.T * 1e9).astype(np.int64)
        out = np.empty(x.shape[1])
        for i, key in enumerate(keys):
            rng = np.random.default_rng([seed, *(int(k) & 0x7FFFFFFFFFFFFFFF for k in key)])
            out[i] = rng.uniform(-amplitude, amplitude)
        return theta0 + out

    return field


def surface_cell_size(particle_mesh: dolfinx.mesh.Mesh) -> float:
    """The largest diameter of the particle cells that touch the particle surface (mesh units; collective).

    The surface is the boundary of the particle submesh less, for sphere-1d and axisymmetric-2d, the
    centre point and the symmetry axis (radial coordinate x₀ = 0).
    """
    tdim = particle_mesh.topology.dim
    particle_mesh.topology.create_connectivity(tdim - 1, tdim)
    facets = dolfinx.mesh.exterior_facet_indices(particle_mesh.topology)
    if tdim < 3 and facets.size:
        midpoints = dolfinx.mesh.compute_midpoints(particle_mesh, tdim - 1, facets)
        facets = facets[midpoints[:, 0] > 1e-9 * np.abs(particle_mesh.geometry.x[:, 0]).max()]
    cells = np.unique(dolfinx.mesh.compute_incident_entities(particle_mesh.topology, facets, tdim - 1, tdim))
    n_owned = particle_mesh.topology.index_map(tdim).size_local
    cells = cells[cells < n_owned].astype(np.int32)
    local = float(particle_mesh.h(tdim, cells).max()) if cells.size else 0.0
    return float(particle_mesh.comm.allreduce(local, op=MPI.MAX))

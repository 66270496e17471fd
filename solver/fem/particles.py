"""Fickian Na diffusion in the active particles, one unknown θ = c_s/c_s,max (P1, particle submesh).

Rows (nondimensional, :mod:`ecmx.solver.physics.particle`):
    ∫ ∂θ/∂t v dV + ∫ D̂_s(θ) ∇θ·∇v dV + ∫_Γ ĵ v dA [− ∫ Ĵ_σ·∇v dV] = 0,
with ĵ the outward interface flux (c_s,max R/t₀) and D̂_s = D_s/D_ref. ∂θ/∂t is the shared
:class:`~ecmx.solver.fem.time_history.TimeHistory` rate (backward Euler or BDF2/BDF3, set by the time loop).

Two-way chemo-mechanics (``mechanics.coupling: two-way``) adds the stress-assisted flux Ĵ_σ with
σ_h = φ − k_σ Δc_s: the local part implicit here, the harmonic part φ [Pa] copied into
``harmonic_hydrostatic`` from ``MechanicsProblem.fields["harmonic_hydrostatic"]`` after each accepted
step (:func:`ecmx.solver.physics.stress_diffusion.stress_assisted_flux_split`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import ufl
from dolfinx import fem

from ecmx.solver.fem.coupling import two_way_partial_molar_volume
from ecmx.solver.fem.domains import CellDomains
from ecmx.solver.fem.models import Expr, PointFunction, global_range, interpolate_si
from ecmx.solver.fem.reactions import constant
from ecmx.solver.fem.scales import Scales
from ecmx.solver.fem.table_fields import NodalTable, QuadratureTable, UflTable, interface_table
from ecmx.solver.fem.time_history import TimeHistory
from ecmx.solver.physics import particle as particle_law
from ecmx.solver.physics.stress_diffusion import stress_assisted_flux_split
from ecmx.solver.physics.tables import TableCurve
from ecmx.solver.units import R_GAS

Table = NodalTable | QuadratureTable | UflTable


class FickianParticle:
    """Particles with Fickian diffusion (the :class:`~ecmx.solver.fem.models.ParticleModel` interface).

    Args:
        domains: the cell's domains and measures.
        case: the validated case (material, temperature, mechanics settings).
        scales: the nondimensionalisation.
        history: the shared time derivative (θ is registered with it).
    """

    split_names = ("particle",)
    differential = (True,)  # θ has a storage term
    error_magnitudes = (1.0,)  # θ's error is measured on its range [0, 1]: atol + rtol max(|θ|, 1) (docs/model.md §7)

    def __init__(self, domains: CellDomains, case: Any, scales: Scales, history: TimeHistory) -> None:
        self._domains, self._case, self._scales, self._history = domains, case, scales, history
        space = fem.functionspace(domains.particle_mesh, ("Lagrange", 1))
        self.theta = fem.Function(space, name="stoichiometry")
        history.register(self.theta)
        self._field = fem.Function(space, name="particle_concentration")
        self.unknowns = (self.theta,)
        self._tables: list[Table] = []
        self.diffusivity_factor = constant(domains.mesh, 1.0)
        """A factor on D_s(θ) everywhere (a Constant, 1 by default; the GITT model fit varies it without
        rebuilding the forms)."""
        self._diffusivity = self._diffusivity_hat(case.material, domains.dx_particle_flux)
        ocv = case.material.open_circuit_voltage
        self.open_circuit_voltage = self._table(interface_table(self.theta, TableCurve(ocv.stoichiometry, ocv.voltage)))
        """U(θ) [V] of θ or its restriction to Γ (:func:`~ecmx.solver.fem.table_fields.interface_table`)."""
        two_way = case.mechanics.enabled and case.mechanics.coupling == "two-way"
        self._diffusivity_bulk = self._diffusivity_hat(case.material, domains.dx_particle) if two_way else None
        self.harmonic_hydrostatic = fem.Function(space, name="harmonic_hydrostatic") if two_way else None
        gamma = domains.interface
        self._forms = {
            "theta": domains.form(self.theta * domains.volume_element * domains.dx_particle),
            "theta_surface": domains.form(gamma.integral(self.surface_stoichiometry())),
            "theta_rate": domains.form(history.rate(self.theta) * domains.volume_element * domains.dx_particle),
        }

    def _table(self, table: Table) -> Table:
        """Register a field table for :meth:`update_tabulated`."""
        self._tables.append(table)
        return table

    def _diffusivity_hat(self, material: Any, measure: ufl.Measure) -> Expr:
        """D̂_s(θ) = D_s(θ)/D_ref for integrals with ``measure``: a Constant, or the log-linear table
        sampled at the measure's quadrature points; times :attr:`diffusivity_factor`."""
        if isinstance(material.diffusivity, float | int):
            return self.diffusivity_factor * constant(self._domains.mesh, material.diffusivity / self._scales.diffusivity)
        table = material.diffusivity
        curve = TableCurve(table.stoichiometry, table.value, log=True)
        degree = measure.metadata()["quadrature_degree"]
        table_field = self._table(QuadratureTable(self.theta, curve, degree, scale=self._scales.diffusivity))
        return self.diffusivity_factor * table_field.expression

    def update_tabulated(self) -> None:
        """Re-evaluate the tables (U(θ), D_s(θ)) at the current θ; called before every assembly."""
        for table in self._tables:
            table.refresh()

    def surface_stoichiometry(self) -> Expr:
        """θ on the particle side of Γ."""
        return self._domains.interface.particle(self.theta)

    def residuals(self, tests: Sequence[ufl.Argument], flux: Expr, sources: Any | None) -> list[ufl.Form]:
        """The θ row with the outward interface flux ĵ (and the manufactured sources, if any)."""
        (v,) = tests
        d, gamma = self._domains, self._domains.interface
        w_vol = d.volume_element
        row = self._history.rate(self.theta) * v * w_vol * d.dx_particle
        row += particle_law.diffusion(self.theta, v, self._diffusivity, d.grad) * w_vol * d.dx_particle_flux
        row += gamma.integral(flux * gamma.particle(v))
        if self.harmonic_hydrostatic is not None:
            row -= ufl.dot(self._stress_assisted_flux(), d.grad(v)) * w_vol * d.dx_particle
        if sources is not None:
            xh = d.scale * d.x
            if sources.particle is not None:
                row -= sources.particle(xh) * v * w_vol * d.cell_measure("source")(d.particle_ids)
            if sources.particle_flux is not None:
                p = gamma.particle
                row += gamma.integral(sources.particle_flux(p(xh), p(d.normal)) * p(v))
        return [row]

    def _stress_assisted_flux(self) -> Expr:
        """Ĵ_σ (in c_s,max R/t₀ per area): D̂_s θ Ω/(RT) (∇̂φ − k_σ ∇̂c_s), φ the harmonic part."""
        material, msh = self._case.material, self._domains.mesh
        omega = two_way_partial_molar_volume(material)
        c_max = constant(msh, material.max_concentration)
        flux = stress_assisted_flux_split(
            self._diffusivity_bulk, self.theta * c_max, constant(msh, omega), self.harmonic_hydrostatic, R_GAS,
            constant(msh, self._case.temperature), constant(msh, material.youngs_modulus),
            constant(msh, material.poissons_ratio), grad=self._domains.grad)
        return flux / c_max

    def quantities(self) -> dict[str, float]:
        """:func:`storage_quantities` of θ."""
        return storage_quantities(self._domains, self._scales, self.theta, self._forms)

    def fields(self) -> dict[str, fem.Function]:
        """particle_concentration [mol/m³] on the particle submesh."""
        self._field.x.array[:] = self.theta.x.array * self._scales.particle_concentration
        return {"particle_concentration": self._field}

    def bounds_violation(self) -> str:
        """A message when θ left (0, 1) or is not finite, else ''."""
        th_min, th_max = global_range(self.theta)
        if not (math.isfinite(th_min) and math.isfinite(th_max)):
            return "particle concentration is not finite"
        if th_min <= 0.0 or th_max >= 1.0:
            return (
                f"particle concentration left (0, c_s,max): θ in [{th_min:.6g}, {th_max:.6g}]"
                " (a surface that fills or empties completely, or a diffusion layer thinner than the"
                " interface mesh: reduce the time step or geometry.mesh.interface_size)"
            )
        return ""

    def set_initial_state(self, stoichiometry: float) -> None:
        """Uniform θ."""
        self.theta.x.array[:] = stoichiometry
        self.update_tabulated()

    def set_state(self, particle_concentration: PointFunction | None) -> None:
        """θ ← c_s/c_s,max (None keeps θ)."""
        interpolate_si(self.theta, particle_concentration, self._scales.particle_concentration)
        self.update_tabulated()


def storage_quantities(domains: CellDomains, scales: Scales, theta: fem.Function, forms: dict[str, Any]) -> dict[str, float]:
    """theta_mean, c_mean, c_min, c_max [mol/m³], c_surface_mean (mean over Γ) [mol/m³] and
    na_rate_mol_per_s, the scheme's discrete rate of the Na content ∫ c_s,max ∂θ/∂t dV [mol/s] of the
    tried step (computed from the level differences, free of the cancellation of Nₙ₊₁ − Nₙ), from the
    compiled ``forms`` "theta", "theta_surface" and "theta_rate" of a particle model's θ."""
    d, cmax = domains, scales.particle_concentration
    theta_mean = d.integrate(forms["theta"]) / d.particle_volume
    theta_min, theta_max = global_range(theta)
    return {
        "theta_mean": theta_mean,
        "c_mean": theta_mean * cmax,
        "c_min": theta_min * cmax,
        "c_max": theta_max * cmax,
        "c_surface_mean": d.integrate(forms["theta_surface"]) / d.interface_area * cmax,
        "na_rate_mol_per_s": d.integrate(forms["theta_rate"]) * cmax * scales.length**3 / scales.time,
    }

"""The resolved electrolyte: dilute Nernst–Planck transport on the electrolyte submesh.

Unknowns ĉ = c/c₀ and φ̂_e = Fφ_e/RT (P1 on the electrolyte submesh). Rows
(:mod:`ecmx.solver.physics.electrolyte`): the anion balance and the (cation − anion) balance,
the second with the cation influx from the particles on Γ (ĵ c_s,max/c₀) and from the Na metal
(i_a/i* c_s,max/c₀). Both rows are divided by D̂_salt = D_salt/D_ref, so that all rows of the coupled
system are O(1) whatever the diffusivity ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import ufl
from dolfinx import fem

from ecmx.solver.fem.domains import CellDomains
from ecmx.solver.fem.models import ElectrolyteQuantities, Expr, PointFunction, global_range, interpolate_si
from ecmx.solver.fem.reactions import CounterReaction, constant
from ecmx.solver.fem.scales import Scales
from ecmx.solver.fem.time_history import TimeHistory
from ecmx.solver.physics import electrolyte as electrolyte_law


class ResolvedElectrolyte:
    """Nernst–Planck electrolyte on its own submesh (the
    :class:`~ecmx.solver.fem.models.ElectrolyteModel` interface).

    Args:
        domains: the cell's domains (with an electrolyte domain).
        electrolyte: the validated electrolyte of the case.
        scales: the nondimensionalisation.
        counter: the Na-metal reaction.
        history: the shared time derivative (ĉ is registered with it; φ̂_e has no storage term).
    """

    split_names = ("salt", "potential")
    differential = (True, False)  # ĉ has a storage term, φ̂_e is algebraic

    def __init__(self, domains: CellDomains, electrolyte: Any, scales: Scales, counter: CounterReaction,
                 history: TimeHistory) -> None:
        self._domains, self._scales, self._counter, self._history = domains, scales, counter, history
        self._domain = domains.electrolyte
        space = fem.functionspace(self._domain.mesh, ("Lagrange", 1))
        self.c = fem.Function(space, name="salt")
        history.register(self.c)
        self.phi = fem.Function(space, name="potential")
        self.unknowns = (self.c, self.phi)
        self.rest_potential = counter.rest_potential
        msh = domains.mesh
        self._d_plus = constant(msh, electrolyte.cation_diffusivity / scales.diffusivity)
        self._d_minus = constant(msh, electrolyte.anion_diffusivity / scales.diffusivity)
        self._row_scale = constant(msh, scales.diffusivity / electrolyte.salt_diffusivity)
        self._flux_ratio = constant(msh, scales.particle_concentration / scales.electrolyte_concentration)
        self._fields = {"electrolyte_concentration": fem.Function(space, name="electrolyte_concentration"),
                        "electrolyte_potential": fem.Function(space, name="electrolyte_potential")}
        self._forms = {
            "salt": domains.form(self.c * domains.volume_element * self._domain.dx),
            "salt_rate": domains.form(history.rate(self.c) * domains.volume_element * self._domain.dx),
            "counter_current": domains.form(self._counter_flux() * domains.area_element * self._domain.ds_na_metal),
        }

    def _counter_flux(self) -> Expr:
        return self._counter.flux(self.c, self.phi)

    def interface_state(self) -> tuple[Expr, Expr]:
        """(ĉ, φ̂_e) on the electrolyte side of Γ."""
        side = self._domains.interface.electrolyte
        return side(self.c), side(self.phi)

    def residuals(self, tests: Sequence[ufl.Argument], flux: Expr, sources: Any | None,
                  capacitive: Expr | None = None) -> list[ufl.Form]:
        """The anion row and the charge row, with the cation influx ĵ on Γ and i_a at the Na metal; a double
        layer (ĵ_dl) takes up anions at Γ: an anion outflow ĵ_dl, so the charge row sees ĵ + ĵ_dl."""
        w_c, w_phi = tests
        d, e, gamma = self._domains, self._domain, self._domains.interface
        c, phi, k, w_vol = self.c, self.phi, self._row_scale, d.volume_element
        salt = k * self._history.rate(c) * w_c * w_vol * e.dx
        salt += k * electrolyte_law.anion_flux(c, phi, w_c, self._d_minus, d.grad) * w_vol * e.dx_flux
        charge_flux = electrolyte_law.charge_residual(c, phi, w_phi, self._d_plus, self._d_minus, d.grad)
        charge = k * charge_flux * w_vol * e.dx_flux
        charge -= gamma.integral(k * self._flux_ratio * flux * gamma.electrolyte(w_phi))
        charge -= k * self._flux_ratio * self._counter_flux() * w_phi * d.area_element * e.ds_na_metal
        if capacitive is not None:
            salt += gamma.integral(k * self._flux_ratio * capacitive * gamma.electrolyte(w_c))
            charge -= gamma.integral(k * self._flux_ratio * capacitive * gamma.electrolyte(w_phi))
        rows = [salt, charge]
        if sources is not None:
            for i, (bulk, boundary_flux, test) in enumerate(((sources.salt, sources.salt_flux, w_c),
                                                              (sources.charge, sources.charge_flux, w_phi))):
                rows[i] = self._add_sources(rows[i], bulk, boundary_flux, test)
        return rows

    def _add_sources(self, row: ufl.Form, bulk: Any, boundary_flux: Any, test: ufl.Argument) -> ufl.Form:
        """row − the bulk source + the outward fluxes through Γ and the outer faces (manufactured
        solutions; see :class:`~ecmx.solver.fem.cell_problem.Sources`)."""
        d, e, gamma, k = self._domains, self._domain, self._domains.interface, self._row_scale
        xh, n = d.scale * d.x, d.normal
        if bulk is not None:
            row -= k * bulk(xh) * test * d.volume_element * d.cell_measure("source")(e.tag)
        if boundary_flux is not None:
            side = gamma.electrolyte
            row += gamma.integral(k * boundary_flux(side(xh), side(n), True) * side(test))
            row += k * boundary_flux(xh, n, False) * test * d.area_element * e.ds_outer
        return row

    def quantities(self) -> ElectrolyteQuantities:
        """Salt range, the Na⁺ in the electrolyte and the Na-metal current (SI)."""
        sc, d = self._scales, self._domains
        c_lo, c_hi = global_range(self.c)
        return ElectrolyteQuantities(
            c_min=c_lo * sc.electrolyte_concentration,
            c_max=c_hi * sc.electrolyte_concentration,
            salt_mol=d.integrate(self._forms["salt"]) * sc.electrolyte_concentration * sc.length**3,
            salt_rate_mol_per_s=d.integrate(self._forms["salt_rate"]) * sc.electrolyte_concentration * sc.length**3
            / sc.time,
            counter_current_A=d.integrate(self._forms["counter_current"]) * sc.current,
        )

    def fields(self) -> dict[str, fem.Function]:
        """electrolyte_concentration [mol/m³] and electrolyte_potential [V] on the electrolyte submesh."""
        sc = self._scales
        self._fields["electrolyte_concentration"].x.array[:] = self.c.x.array * sc.electrolyte_concentration
        self._fields["electrolyte_potential"].x.array[:] = self.phi.x.array * sc.thermal_voltage
        return dict(self._fields)

    def bounds_violation(self) -> str:
        """A message when the salt concentration is not positive (or not finite), else ''."""
        c_min, _ = global_range(self.c)
        if not math.isfinite(c_min) or c_min <= 0.0:
            return (
                f"electrolyte concentration not positive: min c = {c_min * self._scales.electrolyte_concentration:.6g}"
                " mol/m³ (salt depleted: the current exceeds what the electrolyte can carry)"
            )
        return ""

    def set_initial_state(self) -> None:
        """ĉ = 1 and φ̂_e at the rest potential of the Na metal."""
        self.c.x.array[:] = 1.0
        self.phi.x.array[:] = self.rest_potential

    def set_state(self, concentration: PointFunction | None, potential: PointFunction | None) -> None:
        """ĉ ← c/c₀ and φ̂_e ← φ_e F/RT (None keeps a field)."""
        interpolate_si(self.c, concentration, self._scales.electrolyte_concentration)
        interpolate_si(self.phi, potential, self._scales.thermal_voltage)

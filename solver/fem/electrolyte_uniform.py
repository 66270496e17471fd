"""The uniform electrolyte of ``sphere-1d``: c = c₀ everywhere and one potential unknown.

No electrolyte mesh: the salt concentration stays c₀ and the electrolyte potential φ̂_e is a single
real unknown, set by charge balance: the Na-metal face (area A_a) carries the opposite of the
particle current,
    ∫_Γ (ĵ + î_a A_a/(R² Â_Γ)) q dA = 0,
with î_a = i_a/i* the Na-metal current density at c = c₀ (anodic positive).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import ufl
from dolfinx import fem

from ecmx.solver.fem.domains import CellDomains
from ecmx.solver.fem.models import ElectrolyteQuantities, Expr, PointFunction
from ecmx.solver.fem.reactions import CounterReaction, constant
from ecmx.solver.fem.scales import Scales
from ecmx.solver.units import F


class UniformElectrolyte:
    """A well-mixed electrolyte (the :class:`~ecmx.solver.fem.models.ElectrolyteModel` interface).

    Args:
        domains: the cell's domains (no electrolyte domain).
        counter_electrode_area: A_a [m²], the Na-metal area.
        scales: the nondimensionalisation.
        counter: the Na-metal reaction.
    """

    split_names = ("potential",)
    differential = (False,)  # φ̂_e is algebraic

    def __init__(self, domains: CellDomains, counter_electrode_area: float, scales: Scales,
                 counter: CounterReaction) -> None:
        self._domains, self._scales, self._counter = domains, scales, counter
        self._counter_area_m2 = counter_electrode_area
        self.phi = fem.Function(domains.real_space, name="potential")
        self.unknowns = (self.phi,)
        self.rest_potential = counter.rest_potential
        gamma = domains.interface
        self._area_ratio = constant(domains.mesh, counter_electrode_area / scales.length**2 / domains.interface_area)
        # mean Na-metal current density [A/m²]: i_a is uniform, so its mean over Γ is its value
        mean = self._counter_flux() * counter.current_density_scale / constant(domains.mesh, domains.interface_area)
        self._counter_current_density = fem.form(gamma.integral(mean))
        self._double_layer_current: fem.Form | None = None  # ∫_Γ ĵ_dl, set by residuals() with a double layer

    def _counter_flux(self) -> Expr:
        return self._counter.flux(1.0, self.phi)

    def interface_state(self) -> tuple[float, Expr]:
        """(ĉ = 1, φ̂_e)."""
        return 1.0, self.phi

    def residuals(self, tests: Sequence[ufl.Argument], flux: Expr, sources: Any | None,
                  capacitive: Expr | None = None) -> list[ufl.Form]:
        """The charge balance between Γ (faradaic ĵ + capacitive ĵ_dl) and the Na metal (no manufactured
        sources). The double layer's anions come from the well-mixed electrolyte: its Na⁺ changes at
        −I_dl/F (``salt_rate_mol_per_s``)."""
        (q,) = tests
        gamma = self._domains.interface
        if capacitive is not None:
            self._double_layer_current = self._domains.form(gamma.integral(capacitive))
            flux = flux + capacitive
        return [gamma.integral((flux + self._counter_flux() * self._area_ratio) * q)]

    def quantities(self) -> ElectrolyteQuantities:
        """c = c₀, no salt inventory (not modelled), the Na-metal current and, with a double layer, the
        rate −I_dl/F at which the electrolyte's Na⁺ changes as the double layer takes up anions."""
        c0 = self._scales.electrolyte_concentration
        current_density = self._domains.integrate(self._counter_current_density)
        rate = 0.0
        if self._double_layer_current is not None:
            rate = -self._domains.integrate(self._double_layer_current) * self._scales.current / F
        return ElectrolyteQuantities(c_min=c0, c_max=c0, salt_mol=0.0, salt_rate_mol_per_s=rate,
                                     counter_current_A=current_density * self._counter_area_m2)

    def fields(self) -> dict[str, fem.Function]:
        """None: the electrolyte is not resolved."""
        return {}

    def bounds_violation(self) -> str:
        """'' (c = c₀ cannot leave its range)."""
        return ""

    def set_initial_state(self) -> None:
        """φ̂_e at the rest potential of the Na metal."""
        self.phi.x.array[:] = self.rest_potential

    def set_state(self, concentration: PointFunction | None, potential: PointFunction | None) -> None:
        """Nothing to interpolate: c = c₀ and φ_e is a single unknown."""

"""The electric double layer at the particle/electrolyte interface Γ (optional, per material).

A capacitance C_dl [F/m²] in parallel with the Butler–Volmer reaction: the capacitive current density
    i_dl = C_dl ∂(φ_s − φ_e)/∂t   [A/m²], anodic positive (it charges the particle side positive),
in units of the current density scale i* = F D_ref c_s,max/R:
    ĵ_dl = Ĉ (∂V̂/∂t̂ − ∂φ̂_e/∂t̂),   Ĉ = C_dl (RT/F)/(i* t₀),
with the shared scheme's derivative (:class:`~ecmx.solver.fem.time_history.TimeHistory`; V̂ and φ̂_e are
registered with it). The charge balance carries ĵ + ĵ_dl (the voltage row under current control and the
electrolyte's charge row); the particle rows carry ĵ only: the capacitive charge is not Na. The
electrolyte side of the double layer is made of anions (ClO₄⁻ taken up from the electrolyte while the
surface charges positive, given back while it discharges), so the anion row of a resolved electrolyte
loses ĵ_dl at Γ and the Na⁺ the electrolyte holds changes by −I_dl/F (electroneutrality): the Na balance
of particles + electrolyte against the Na-metal current stays exact.
"""

from __future__ import annotations

from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import ufl
from dolfinx import fem

from ecmx.solver.fem.domains import Interface
from ecmx.solver.fem.reactions import constant
from ecmx.solver.fem.scales import Scales
from ecmx.solver.fem.time_history import TimeHistory


class DoubleLayer:
    """ĵ_dl = Ĉ ∂(V̂ − φ̂_e)/∂t̂ on Γ (UFL), with V̂ and φ̂_e registered with the time history.

    Args:
        mesh: the parent mesh (the Constant lives there).
        capacitance: C_dl [F/m²], > 0.
        scales: the nondimensionalisation.
        history: the shared time derivative.
        voltage: V̂, the cell voltage (real space on the parent mesh).
        potential: φ̂_e (P1 on the electrolyte submesh, or one real unknown for ``sphere-1d``).
    """

    def __init__(self, mesh: Any, capacitance: float, scales: Scales, history: TimeHistory,
                 voltage: fem.Function, potential: fem.Function) -> None:
        self.capacitance = constant(mesh, capacitance * scales.thermal_voltage / (scales.current_density * scales.time))
        self._history, self._voltage, self._potential = history, voltage, potential
        history.register(voltage)
        history.register(potential)

    @classmethod
    def of_case(cls, mesh: Any, case: Any, scales: Scales, history: TimeHistory, voltage: fem.Function,
                potential: fem.Function) -> DoubleLayer | None:
        """The double layer of the case's material; None without one (no key, or C_dl = 0): then
        nothing is registered and the forms are those of a cell without a double layer."""
        capacitance = case.material.double_layer_capacitance
        if not capacitance:
            return None
        return cls(mesh, capacitance, scales, history, voltage, potential)

    def flux(self, gamma: Interface) -> ufl.core.expr.Expr:
        """ĵ_dl on Γ in units of i* (the particle side's V̂, the electrolyte side's φ̂_e)."""
        rate = self._history.rate
        return self.capacitance * (gamma.particle(rate(self._voltage)) - gamma.electrolyte(rate(self._potential)))

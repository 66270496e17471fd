"""Butler–Volmer kinetics at the particle surface and at the Na-metal counter electrode.

Currents in A/m², anodic positive (Na leaves the solid as Na⁺). Overpotentials are
nondimensional, η̂ = Fη/RT.

Particle (:class:`ButlerVolmer`): i_loc = i₀ [exp(α_a η̂) − exp(−α_c η̂)],
    η = φ_s − φ_e − U(θ) − (RT/F) ln(c/c_ref)  (the Nernst term of the Na⁺ activity, see
    :func:`nernst_potential`), i₀ = i₀,ref (c/c_ref)^α_a ((1−θ)/(1−θ_ref))^α_a (θ/θ_ref)^α_c,
    θ_ref = 0.5, c_ref = 1000 mol/m³.
Na metal (:class:`NaMetalButlerVolmer`): i_a = i₀,a [exp(α_a η̂_a) − (c/c_ref) exp(−α_c η̂_a)],
    η_a = −φ_e (φ_a = 0); consistent only for α_a + α_c = 1 (enforced when the case is read), when it
    rests at φ̂_e = −ln(c/c_ref), the same Nernst potential as the particle's: at rest the cell
    voltage is U(θ) whatever the salt concentration.

The laws are small frozen objects built once from validated numbers; their fields are keyword-only,
so an exchange current cannot be swapped with a transfer coefficient. A field holds a number or a
UFL expression of it (a ``Constant``, see :meth:`ButlerVolmer.with_coefficients`), so that the
generated code does not depend on the values.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Self

import ufl

from ecmx.solver.physics.tables import piecewise_linear

REFERENCE_STOICHIOMETRY = 0.5
REFERENCE_CONCENTRATION = 1000.0  # mol/m³
_FLOOR = 1e-12  # keeps fractional powers real at trial states outside (0, 1); such states are rejected

Coefficient = Any
"""A number or a UFL expression holding one (e.g. a DOLFINx ``Constant``)."""


@dataclass(frozen=True, kw_only=True)
class _Law:
    """Exchange current density and transfer coefficients of one electrode reaction."""

    exchange_current: Coefficient  # i₀,ref [A/m²]
    alpha_a: Coefficient  # anodic transfer coefficient α_a [-]
    alpha_c: Coefficient  # cathodic transfer coefficient α_c [-]

    def with_coefficients(self, wrap: Callable[[float], Coefficient]) -> Self:
        """The same law with every field replaced by ``wrap(field)`` (e.g. a DOLFINx Constant)."""
        return replace(self, **{f.name: wrap(getattr(self, f.name)) for f in fields(self)})


@dataclass(frozen=True, kw_only=True)
class ButlerVolmer(_Law):
    """Insertion kinetics at the particle surface; ``exchange_current`` is i₀,ref [A/m²] at
    θ = θ_ref = 0.5 and c = c_ref."""

    def exchange_current_density(self, theta: ufl.core.expr.Expr, c_rel: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """i₀(θ, c) in A/m²; c_rel = c/c_ref with c_ref = 1000 mol/m³."""
        th = REFERENCE_STOICHIOMETRY
        vacancy = ufl.max_value((1.0 - theta) / (1.0 - th), _FLOOR)
        filled = ufl.max_value(theta / th, _FLOOR)
        salt = ufl.max_value(c_rel, _FLOOR)
        return self.exchange_current * salt**self.alpha_a * vacancy**self.alpha_a * filled**self.alpha_c

    def current_density(
        self, theta: ufl.core.expr.Expr, c_rel: ufl.core.expr.Expr, eta: ufl.core.expr.Expr
    ) -> ufl.core.expr.Expr:
        """i_loc = i₀(θ, c) [exp(α_a η̂) − exp(−α_c η̂)] in A/m² (η̂ nondimensional, anodic > 0)."""
        i0 = self.exchange_current_density(theta, c_rel)
        return i0 * (ufl.exp(self.alpha_a * eta) - ufl.exp(-self.alpha_c * eta))


@dataclass(frozen=True, kw_only=True)
class NaMetalButlerVolmer(_Law):
    """Kinetics of the Na-metal counter electrode; ``exchange_current`` is i₀,a [A/m²]."""

    def current_density(self, eta: ufl.core.expr.Expr, c_rel: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
        """i_a in A/m² (anodic: Na → Na⁺ enters the electrolyte) at η̂_a and c_rel = c/c_ref."""
        return self.exchange_current * (ufl.exp(self.alpha_a * eta) - c_rel * ufl.exp(-self.alpha_c * eta))

    def rest_potential(self, c_rel: float) -> float:
        """φ̂_e at which i_a = 0 for a uniform salt concentration c_rel = c/c_ref (needs numbers)."""
        return -math.log(c_rel) / (self.alpha_a + self.alpha_c)


def nernst_potential(c_rel: ufl.core.expr.Expr | float) -> ufl.core.expr.Expr:
    """ln(c/c_ref): the Na⁺-activity term of the particle's equilibrium potential, in units of RT/F.

    φ_e is the electrostatic potential of the Nernst–Planck electrolyte, so the particle equilibrates
    at φ_s − φ_e = U(θ) + (RT/F) ln(c/c_ref); c is floored to keep the logarithm real at rejected trial
    states."""
    return ufl.ln(ufl.max_value(c_rel, _FLOOR))


def open_circuit_voltage(
    theta: ufl.core.expr.Expr, stoichiometry: Sequence[float], voltage: Sequence[float]
) -> ufl.core.expr.Expr:
    """U(θ) in V from an OCV table (linear, constant beyond the ends)."""
    return piecewise_linear(theta, stoichiometry, voltage)

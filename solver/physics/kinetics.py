"""Butler–Volmer kinetics at the particle surface and at the Na-metal counter electrode.

Currents in A/m², anodic positive (Na leaves the solid as Na⁺). Overpotentials are
nondimensional, η̂ = Fη/RT.

Particle: i_loc = i₀ [exp(α_a η̂) − exp(−α_c η̂)], η = φ_s − φ_e − U(θ),
    i₀ = i₀,ref (c/c_ref)^α_a ((1−θ)/(1−θ_ref))^α_a (θ/θ_ref)^α_c, θ_ref = 0.5, c_ref = 1000 mol/m³.
Na metal: i_a = i₀,a [exp(α_a η̂_a) − (c/c_ref) exp(−α_c η̂_a)], η_a = −φ_e (φ_a = 0).
"""

from __future__ import annotations

import math

import ufl

from ecmx.solver.physics.tables import piecewise_linear

REFERENCE_STOICHIOMETRY = 0.5
REFERENCE_CONCENTRATION = 1000.0  # mol/m³
_FLOOR = 1e-12  # keeps fractional powers real at trial states outside (0, 1); such states are rejected


def particle_exchange_current(
    i0_ref: ufl.core.expr.Expr | float,
    theta: ufl.core.expr.Expr,
    c_rel: ufl.core.expr.Expr,
    alpha_a: ufl.core.expr.Expr | float,
    alpha_c: ufl.core.expr.Expr | float,
) -> ufl.core.expr.Expr:
    """i₀(θ, c) in A/m²; c_rel = c/c_ref with c_ref = 1000 mol/m³."""
    th = REFERENCE_STOICHIOMETRY
    vacancy = ufl.max_value((1.0 - theta) / (1.0 - th), _FLOOR)
    filled = ufl.max_value(theta / th, _FLOOR)
    salt = ufl.max_value(c_rel, _FLOOR)
    return i0_ref * salt**alpha_a * vacancy**alpha_a * filled**alpha_c


def butler_volmer(
    i0: ufl.core.expr.Expr, eta: ufl.core.expr.Expr, alpha_a: ufl.core.expr.Expr | float, alpha_c: ufl.core.expr.Expr | float
) -> ufl.core.expr.Expr:
    """i = i₀ [exp(α_a η̂) − exp(−α_c η̂)] in A/m² (η̂ nondimensional)."""
    return i0 * (ufl.exp(alpha_a * eta) - ufl.exp(-alpha_c * eta))


def na_metal_current(
    i0: ufl.core.expr.Expr | float,
    eta: ufl.core.expr.Expr,
    c_rel: ufl.core.expr.Expr,
    alpha_a: ufl.core.expr.Expr | float,
    alpha_c: ufl.core.expr.Expr | float,
) -> ufl.core.expr.Expr:
    """Na-metal current density i_a in A/m² (anodic: Na → Na⁺ enters the electrolyte)."""
    return i0 * (ufl.exp(alpha_a * eta) - c_rel * ufl.exp(-alpha_c * eta))


def na_metal_rest_potential(c_rel: float, alpha_a: float, alpha_c: float) -> float:
    """φ̂_e at which i_a = 0 for a uniform salt concentration c_rel = c/c_ref (nondimensional)."""
    return -math.log(c_rel) / (alpha_a + alpha_c)


def open_circuit_voltage(theta: ufl.core.expr.Expr, material) -> ufl.core.expr.Expr:
    """U(θ) in V from the material's OCV table (linear, constant beyond the ends)."""
    table = material.open_circuit_voltage
    return piecewise_linear(theta, table.stoichiometry, table.voltage)


"""Stress-assisted diffusion in the particles: the flux that two-way chemo-mechanics adds (UFL).

From the chemical potential μ = μ₀ + RT ln c_s − Ω σ_h, the molar flux is
J = −(D c_s/RT)∇μ = −D∇c_s + J_σ with J_σ = +D c_s Ω/(RT) ∇σ_h: Na moves towards tension. The
particle equation is ∂c_s/∂t + ∇·(−D∇c_s + J_σ) = 0 (docs/model.md §3); in a weak form with test
function q the term is −∫ J_σ·∇q. Since σ_h falls where c_s rises (free particle), J_σ speeds
diffusion up (:func:`ecmx.solver.physics.analytic.effective_diffusivity_factor`).

∇ is ``grad`` (default ufl.grad, in the mesh's length unit; pass the solver's scaled gradient for
nondimensional forms). Units: D [m²/s], c_s [mol/m³], Ω [m³/mol], σ_h and E [Pa], R [J/(mol K)],
T [K]; the fluxes are in mol/(m² s) when ∇ is per metre.
"""

from __future__ import annotations

from collections.abc import Callable

import ufl

Expr = ufl.core.expr.Expr
Gradient = Callable[[Expr], Expr]


def stress_assisted_flux(
    D: float | Expr, c_s: Expr, Omega: float | Expr, sigma_h: Expr, R: float, T: float | Expr,
    grad: Gradient = ufl.grad,
) -> Expr:
    """J_σ = +D c_s Ω/(RT) ∇σ_h [mol/(m² s)].

    ``sigma_h`` must be continuous (e.g. the recovered P1 ``hydrostatic`` field of
    :class:`ecmx.solver.fem.mechanics.MechanicsProblem`, or a projected unknown of a monolithic
    system) for ∇σ_h to be a flux.
    """
    return D * c_s * Omega / (R * T) * grad(sigma_h)


def local_hydrostatic_coefficient(Omega: float, youngs_modulus: float, poissons_ratio: float) -> float:
    """k_σ = 2EΩ/(9(1−ν)) [Pa m³/mol]: σ_h = φ − k_σ (c_s − c_s,0) with φ harmonic.

    For an isotropic chemical strain (Ω/3)Δc I in a homogeneous isotropic body of any shape and
    any boundary conditions, equilibrium gives ∇²(σ_h + k_σ Δc) = 0. The local part −k_σΔc
    carries the steep, fast response of σ_h to c_s; φ is smooth and set by the boundary (for a free
    sphere φ = k_σ C̄_R is uniform).
    """
    return 2.0 * youngs_modulus * Omega / (9.0 * (1.0 - poissons_ratio))


def stress_assisted_flux_split(
    D: float | Expr, c_s: Expr, Omega: float | Expr, phi: Expr, R: float, T: float | Expr,
    youngs_modulus: float | Expr, poissons_ratio: float | Expr, grad: Gradient = ufl.grad,
) -> Expr:
    """:func:`stress_assisted_flux` with σ_h = φ − k_σ Δc_s: D c_s Ω/(RT) (∇φ − k_σ ∇c_s) [mol/(m² s)].

    For staggered two-way coupling (:mod:`ecmx.solver.fem.coupling`): the local part is implicit
    in c_s (inside the particle Newton solve), only the harmonic part φ
    (``MechanicsProblem.fields["harmonic_hydrostatic"]``) is taken from the last mechanics solve.
    Lagging σ_h itself is unstable once k_σΩc/(RT) > 1 (NVP: 2.4); lagging φ is not, and for a
    sphere it is exact (∇φ = 0). Isotropic expansion linear in c_s only.
    """
    k = local_hydrostatic_coefficient(Omega, youngs_modulus, poissons_ratio)
    return D * c_s * Omega / (R * T) * (grad(phi) - k * grad(c_s))

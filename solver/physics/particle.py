"""Fickian Na diffusion in the active particles.

Strong form (SI): ∂c_s/∂t = ∇·(D_s(θ) ∇c_s), θ = c_s/c_s,max, with the outward molar flux
−D_s ∇c_s·n = i_loc/F on the particle surface Γ (i_loc > 0 anodic: Na leaves the particle).

Nondimensional (lengths by R, time by R²/D_ref, c_s by c_s,max), backward Euler (storage and
diffusion are returned separately so the caller can integrate each with the quadrature it needs):
    ∫ (θ − θ_old)/Δt v dV + ∫ D̂_s(θ) ∇θ·∇v dV + ∫_Γ ĵ v dA = 0,
with D̂_s = D_s/D_ref and ĵ = i_loc R/(F D_ref c_s,max) the nondimensional outward flux.
"""

from __future__ import annotations

from collections.abc import Callable

import ufl


def storage(
    theta: ufl.core.expr.Expr, theta_old: ufl.core.expr.Expr, v: ufl.Argument, dt: ufl.core.expr.Expr
) -> ufl.core.expr.Expr:
    """Backward-Euler storage integrand (θ − θ_old)/Δt v."""
    return (theta - theta_old) / dt * v


def diffusion(
    theta: ufl.core.expr.Expr,
    v: ufl.Argument,
    diffusivity_hat: ufl.core.expr.Expr | float,
    grad: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr],
) -> ufl.core.expr.Expr:
    """Diffusion integrand D̂_s(θ) ∇θ·∇v (the caller adds the surface flux ∫_Γ ĵ v)."""
    return diffusivity_hat * ufl.dot(grad(theta), grad(v))

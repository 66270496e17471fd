"""Binary 1:1 electrolyte, dilute Nernst–Planck with electroneutrality (c₊ = c₋ = c).

Strong form (SI): N₊ = −D₊(∇c + c∇φ̂), N₋ = −D₋(∇c − c∇φ̂) with φ̂ = Fφ_e/RT;
∂c/∂t + ∇·N± = 0. Anions do not cross any boundary; cations enter at Γ (from the particle) at
i_loc/F and at the Na-metal face at i_a/F.

The two discrete rows are the anion balance and (cation − anion) balance, so the potential row is a
Laplacian in φ̂ (better conditioned than the cation row); together they are equivalent to the two ion balances
and conserve both ions exactly. Nondimensional: lengths by R, time by R²/D_ref, c by the bulk
concentration c₀, so D̂± = D±/D_ref; boundary terms are added by the caller.
"""

from __future__ import annotations

from collections.abc import Callable

import ufl


def storage(
    c: ufl.core.expr.Expr, c_old: ufl.core.expr.Expr, w: ufl.Argument, dt: ufl.core.expr.Expr
) -> ufl.core.expr.Expr:
    """Backward-Euler storage integrand of the anion balance, (c − c_old)/Δt w."""
    return (c - c_old) / dt * w


def anion_flux(
    c: ufl.core.expr.Expr,
    phi: ufl.core.expr.Expr,
    w: ufl.Argument,
    d_minus: ufl.core.expr.Expr | float,
    grad: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr],
) -> ufl.core.expr.Expr:
    """Flux integrand of the anion balance, −N̂₋·∇w = D̂₋(∇c − c∇φ̂)·∇w (no boundary flux)."""
    return d_minus * ufl.dot(grad(c) - c * grad(phi), grad(w))


def anion_residual(
    c: ufl.core.expr.Expr,
    c_old: ufl.core.expr.Expr,
    phi: ufl.core.expr.Expr,
    w: ufl.Argument,
    dt: ufl.core.expr.Expr,
    d_minus: ufl.core.expr.Expr | float,
    grad: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr],
) -> ufl.core.expr.Expr:
    """Bulk integrand of the anion balance: storage + flux."""
    return storage(c, c_old, w, dt) + anion_flux(c, phi, w, d_minus, grad)


def charge_residual(
    c: ufl.core.expr.Expr,
    phi: ufl.core.expr.Expr,
    w: ufl.Argument,
    d_plus: ufl.core.expr.Expr | float,
    d_minus: ufl.core.expr.Expr | float,
    grad: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr],
) -> ufl.core.expr.Expr:
    """Bulk integrand of (cation − anion) balance: the current-conservation row.

    The caller subtracts the cation influx ∫ N̂_in w dA on Γ and on the Na-metal face.
    """
    return ufl.dot((d_plus - d_minus) * grad(c) + (d_plus + d_minus) * c * grad(phi), grad(w))

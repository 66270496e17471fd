"""Tabulated material properties as UFL expressions.

``numpy.interp`` semantics (piecewise linear, constant beyond the table ends), so the solver uses
exactly the U(θ) and D_s(θ) of ``Material.ocv_at`` / ``Material.diffusivity_at``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ufl


def piecewise_linear(x: ufl.core.expr.Expr, xs: Sequence[float], ys: Sequence[float]) -> ufl.core.expr.Expr:
    """Linear interpolation of the table (xs, ys) at x, constant beyond the ends (like numpy.interp).

    Written as y0 + Σ_k slope_k (clamp_k(x) − x_k) with clamp_k(x) = x on [x_k, x_{k+1}) and the
    nearer end outside. The half-open segments give the right-hand slope at a knot (ufl's max/min
    would give a zero slope there, which stalls Newton when a state sits exactly on a knot).
    """
    xs = np.asarray(xs, dtype=float)
    ys = np.asarray(ys, dtype=float)
    if xs.size != ys.size or xs.size < 2 or np.any(np.diff(xs) <= 0):
        raise ValueError("a table needs at least two points with strictly increasing abscissae")
    expr: ufl.core.expr.Expr = ufl.as_ufl(float(ys[0]))
    for k in range(xs.size - 1):
        slope = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k])
        if slope == 0.0:
            continue
        lo, hi = float(xs[k]), float(xs[k + 1])
        clamped = ufl.conditional(ufl.lt(x, lo), lo, ufl.conditional(ufl.ge(x, hi), hi, x))
        expr = expr + float(slope) * (clamped - lo)
    return expr


def log_piecewise_linear(x: ufl.core.expr.Expr, xs: Sequence[float], ys: Sequence[float]) -> ufl.core.expr.Expr:
    """Interpolation linear in log(y) (for diffusivities spanning decades); ys must be > 0."""
    ys = np.asarray(ys, dtype=float)
    if np.any(ys <= 0):
        raise ValueError("log interpolation needs positive values")
    return ufl.exp(piecewise_linear(x, xs, np.log(ys)))

"""Tabulated material properties as UFL expressions.

``numpy.interp`` semantics (piecewise linear, clamped at the table ends) written as a sum of
clamped ramps, so the expression and its derivative are defined for every argument Newton may try.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import ufl


def piecewise_linear(x: ufl.core.expr.Expr, xs: Sequence[float], ys: Sequence[float]) -> ufl.core.expr.Expr:
    """Linear interpolation of the table (xs, ys) at x, constant beyond the ends (like numpy.interp).

    Written as y0 + Σ_k slope_k (clamp(x, x_k, x_{k+1}) − x_k).
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
        clamped = ufl.min_value(ufl.max_value(x, float(xs[k])), float(xs[k + 1]))
        expr = expr + float(slope) * (clamped - float(xs[k]))
    return expr


def log_piecewise_linear(x: ufl.core.expr.Expr, xs: Sequence[float], ys: Sequence[float]) -> ufl.core.expr.Expr:
    """Interpolation linear in log(y) (for diffusivities spanning decades); ys must be > 0."""
    ys = np.asarray(ys, dtype=float)
    if np.any(ys <= 0):
        raise ValueError("log interpolation needs positive values")
    return ufl.exp(piecewise_linear(x, xs, np.log(ys)))

"""Tabulated material properties as UFL expressions.

``numpy.interp`` semantics (piecewise linear, constant beyond the table ends), so the solver uses
exactly the U(θ) and D_s(θ) of ``Material.ocv_at`` / ``Material.diffusivity_at``:
:func:`piecewise_linear` as a UFL expression (short tables; one conditional per knot) and
:class:`TableCurve` in numpy with its slope (tables of any length, see
:mod:`ecmx.solver.fem.table_fields`).
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
    terms: list[ufl.core.expr.Expr] = [ufl.as_ufl(float(ys[0]))]
    for k in range(xs.size - 1):
        slope = (ys[k + 1] - ys[k]) / (xs[k + 1] - xs[k])
        if slope == 0.0:
            continue
        lo, hi = float(xs[k]), float(xs[k + 1])
        clamped = ufl.conditional(ufl.lt(x, lo), lo, ufl.conditional(ufl.ge(x, hi), hi, x))
        terms.append(float(slope) * (clamped - lo))
    return balanced_sum(terms)


def balanced_sum(terms: Sequence[ufl.core.expr.Expr]) -> ufl.core.expr.Expr:
    """Σ terms as a tree of depth log₂(n) (a left-to-right chain of n sums exceeds Python's recursion
    limit in UFL's algorithms for a few hundred terms)."""
    while len(terms) > 1:
        terms = [terms[i] + terms[i + 1] if i + 1 < len(terms) else terms[i] for i in range(0, len(terms), 2)]
    return terms[0]


class TableCurve:
    """A table evaluated in numpy with its derivative, for tables of any length (no UFL per knot).

    Piecewise linear in y, or in log y (``log=True``, for diffusivities spanning decades), constant
    beyond the ends, like :func:`piecewise_linear`: the slope at a
    knot is the right-hand one, zero at and beyond the last knot and before the first. The cost of
    an evaluation grows as log(number of knots) (a binary search per point).
    """

    def __init__(self, xs: Sequence[float], ys: Sequence[float], log: bool = False) -> None:
        self.xs = np.asarray(xs, dtype=float)
        ys = np.asarray(ys, dtype=float)
        if self.xs.size != ys.size or self.xs.size < 2 or np.any(np.diff(self.xs) <= 0):
            raise ValueError("a table needs at least two points with strictly increasing abscissae")
        if log and np.any(ys <= 0):
            raise ValueError("log interpolation needs positive values")
        self.log = log
        self._ys = np.log(ys) if log else ys
        self._slopes = np.diff(self._ys) / np.diff(self.xs)
        self._slopes_by_position = np.concatenate(([0.0], self._slopes, [0.0]))  # by searchsorted's position

    def value_and_slope(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(y(x), dy/dx) at the points x (numpy arrays of x's shape).

        The slope is picked by the position of x among the knots (0 before the first, the number of knots at or
        beyond the last, NaN too): one search and one lookup (this runs before every residual assembly)."""
        x = np.asarray(x, dtype=float)
        inner = np.interp(x, self.xs, self._ys)
        slope = self._slopes_by_position[np.searchsorted(self.xs, x, side="right")]
        if not self.log:
            return inner, slope
        value = np.exp(inner)
        return value, value * slope

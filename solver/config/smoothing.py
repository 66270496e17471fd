"""Monotone smoothing of measured (noisy) property curves, for ``smoothing: monotone`` on a table.

A measured open-circuit voltage is monotone in θ (it falls as Na is inserted), but digitised or
measured points carry noise that makes the piecewise-linear table wiggle: every wiggle is a local
extremum of U(θ) with a spurious, possibly negative, slope. :func:`monotone_smooth` replaces the
values by an isotonic (least-squares monotone) regression in the direction of the overall trend
(pool-adjacent-violators), then by the monotone cubic (PCHIP, Fritsch–Carlson) through the centres
of its constant blocks, evaluated at the same abscissae. The result is monotone, keeps the range
of the data, and leaves an already monotone, smooth table unchanged up to the PCHIP interpolation
through its own points (exactly unchanged for strictly monotone data).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

SMOOTHING_METHODS = ("none", "monotone")


def isotonic_regression(y: np.ndarray) -> np.ndarray:
    """The non-decreasing sequence closest to y in least squares (pool adjacent violators, O(n))."""
    means: list[float] = []
    counts: list[int] = []
    for value in y:
        means.append(float(value))
        counts.append(1)
        while len(means) > 1 and means[-2] > means[-1]:
            n = counts[-2] + counts[-1]
            means[-2] = (means[-2] * counts[-2] + means[-1] * counts[-1]) / n
            counts[-2] = n
            means.pop()
            counts.pop()
    return np.repeat(means, counts)


def monotone_smooth(x: Sequence[float], y: Sequence[float]) -> np.ndarray:
    """y replaced by its monotone smoothing at the same x (x strictly increasing), increasing or
    decreasing as the least-squares line through the points."""
    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    sign = 1.0 if np.polyfit(xs, ys, 1)[0] >= 0 else -1.0
    fitted = sign * isotonic_regression(sign * ys)
    starts = np.flatnonzero(np.r_[True, np.diff(fitted) != 0])
    ends = np.r_[starts[1:], fitted.size]
    if starts.size == 1:
        return fitted
    from scipy.interpolate import PchipInterpolator  # here: scipy.interpolate takes ~0.8 s to import

    centres = np.array([xs[a:b].mean() for a, b in zip(starts, ends, strict=True)])
    curve = PchipInterpolator(centres, fitted[starts])
    return curve(np.clip(xs, centres[0], centres[-1]))

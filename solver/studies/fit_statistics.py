"""Statistics of a least-squares fit: standard errors, confidence intervals and correlations.

With the weighted residuals r (m values) and their Jacobian J (m × n) with respect to the fitted
variables x at the optimum, the residual variance is s² = rᵀr/(m − n) and the covariance of x is
C = s² (JᵀJ)⁻¹ (Gauss–Newton, linearised about the optimum). The confidence interval of x_j at
level P is x_j ± t σ_j with σ_j = √C_jj and t the two-sided Student-t quantile with m − n degrees
of freedom. On a log scale x = log10(p): the interval maps to [10^(x − tσ), 10^(x + tσ)]
(asymmetric in p), and the standard error of p is ln(10) p σ (first order). A direction in which
the residuals do not change (a singular value of J at round-off) leaves the parameters along it
unidentifiable: their σ is infinite and their correlations undefined (NaN).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import stats

LN10 = math.log(10.0)


@dataclass(frozen=True)
class FitStatistics:
    """Uncertainty of fitted variables x (in the optimiser's scale: value or log10 of it).

    Attributes:
        sigma: standard error of each x (inf when unidentifiable).
        covariance: n × n covariance of x.
        correlation: n × n correlation matrix (NaN where a σ is 0 or inf).
        variance: residual variance s² (units of the weighted residual squared, V²).
        dof: degrees of freedom m − n.
        t: the Student-t quantile of the confidence level.
    """

    sigma: np.ndarray
    covariance: np.ndarray
    correlation: np.ndarray
    variance: float
    dof: int
    t: float


def fit_statistics(jacobian: np.ndarray, residuals: np.ndarray, confidence: float) -> FitStatistics:
    """:class:`FitStatistics` from the Jacobian (m × n) and residuals (m) at the optimum."""
    m, n = jacobian.shape
    dof = m - n
    variance = float(residuals @ residuals) / dof if dof > 0 else math.nan
    _, singular, vt = np.linalg.svd(jacobian, full_matrices=False)
    cutoff = (singular.max() if singular.size else 0.0) * max(m, n) * np.finfo(float).eps
    with np.errstate(divide="ignore"):
        inverse = np.where(singular > cutoff, 1.0 / np.maximum(singular, 1e-300) ** 2, np.inf)
    covariance = variance * _covariance_from_svd(vt, inverse)
    sigma = np.sqrt(np.abs(np.diag(covariance)))
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.outer(sigma, sigma)
    correlation[~np.isfinite(correlation)] = math.nan
    np.fill_diagonal(correlation, np.where(np.isfinite(sigma) & (sigma > 0), 1.0, math.nan))
    t = float(stats.t.ppf(0.5 + confidence / 2, dof)) if dof > 0 else math.inf
    return FitStatistics(sigma, covariance, correlation, variance, dof, t)


def _covariance_from_svd(vt: np.ndarray, inverse: np.ndarray) -> np.ndarray:
    """V diag(1/s²) Vᵀ, with a direction of s = 0 making every variable it touches infinite."""
    finite = np.isfinite(inverse)
    covariance = (vt[finite].T * inverse[finite]) @ vt[finite]
    touched = np.any(np.abs(vt[~finite]) > 1e-12, axis=0) if (~finite).any() else np.zeros(vt.shape[1], bool)
    covariance[touched, :] = np.inf
    covariance[:, touched] = np.inf
    return covariance


def interval(x: float, sigma: float, t: float, scale: str) -> tuple[float, float]:
    """The confidence interval of the parameter whose fitted variable is ``x`` ± t σ (value, not log)."""
    lo, hi = x - t * sigma, x + t * sigma
    if scale == "log":
        return _power10(lo), _power10(hi)
    return lo, hi


def standard_error(value: float, sigma: float, scale: str) -> float:
    """Standard error of the parameter value (first order: ln(10) p σ on a log scale)."""
    return LN10 * abs(value) * sigma if scale == "log" else sigma


def _power10(x: float) -> float:
    if not math.isfinite(x):
        return 0.0 if x < 0 else math.inf
    return 10.0 ** min(x, 308.0)


__all__ = ["FitStatistics", "fit_statistics", "interval", "standard_error"]

"""Closed forms used by the verification tests, the sweeps and the reports (numpy; each once).

The free sphere of radius R under a constant insertion flux N₀ [mol/(m² s)] through its surface
(docs/model.md §4–5), constant D [m²/s], isotropic chemical strain linear in c_s (Ω [m³/mol]),
Young's modulus E [Pa], Poisson's ratio ν:

- concentration scale K = N₀R/D [mol/m³] and stress scale σ* = Ω E K/(1 − ν) [Pa];
- concentration c(x, τ) = c₀ + K·p(x, τ), x = r/R, τ = Dt/R², with the series
  p = 3τ + x²/2 − 3/10 − 2 Σ_n exp(−α_n²τ) sin(α_n x)/(α_n² sin α_n x), tan α_n = α_n
  (:func:`constant_flux_profile`); its long-time shape x²/2 − 3/10 (uniform 3τ part dropped) has
  the centre-to-surface spread K/2;
- stresses (tension positive), with C̄(x) the mean of p over the ball of radius x:
  σ_r = 2f(C̄(1) − C̄(x)), σ_θ = f(2C̄(1) + C̄(x) − 3p), σ_h = 2f(C̄(1) − p), f = σ*/9; in the long
  time σ_r = σ*(1 − x²)/15, σ_θ = σ*(1 − 2x²)/15, σ_vm = |σ*| x²/15, so the surface von Mises is
  |σ*|/15 (:class:`SteadySphere`).

Two-way coupling (stress-assisted diffusion) in the small-swing limit is plain diffusion with
D_eff = D(1 + 2Ω²E c₀/(9RT(1 − ν))) (:func:`effective_diffusivity_factor`).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

SERIES_TERMS = 119
"""Terms of the constant-flux series (exp(−α²τ) < 1e-16 for τ ≥ 2.6e-4 at 119 terms)."""
_GAUSS_POINTS = 80


def effective_diffusivity_factor(
    Omega: float, youngs_modulus: float, poissons_ratio: float, concentration: float, T: float, R: float
) -> float:
    """D_eff/D = 1 + 2Ω²E c₀/(9RT(1−ν)) of a free sphere with stress-assisted diffusion (small swing)."""
    return 1.0 + 2.0 * Omega**2 * youngs_modulus * concentration / (9.0 * R * T * (1.0 - poissons_ratio))


@dataclass(frozen=True)
class SteadySphere:
    """The long-time constant-flux sphere (the uniform rise of c_s dropped). SI units.

    Attributes:
        radius: R [m].
        diffusivity: D [m²/s] (constant).
        flux: N₀ [mol/(m² s)], the magnitude of the flux through the surface.
        partial_molar_volume: Ω [m³/mol] (isotropic linear expansion; the sign sets the stress signs).
        youngs_modulus: E [Pa].
        poissons_ratio: ν.
    """

    radius: float
    diffusivity: float
    flux: float
    partial_molar_volume: float
    youngs_modulus: float
    poissons_ratio: float

    @property
    def concentration_scale(self) -> float:
        """K = N₀R/D [mol/m³]."""
        return self.flux * self.radius / self.diffusivity

    @property
    def concentration_spread(self) -> float:
        """Centre-to-surface concentration difference K/2 [mol/m³]."""
        return self.concentration_scale / 2.0

    @property
    def stress_scale(self) -> float:
        """σ* = Ω E K/(1 − ν) [Pa] (signed as Ω, for insertion)."""
        return self.partial_molar_volume * self.youngs_modulus * self.concentration_scale / (1.0 - self.poissons_ratio)

    @property
    def surface_von_mises(self) -> float:
        """|σ*|/15 [Pa], the von Mises stress at the surface (its peak)."""
        return abs(self.stress_scale) / 15.0


def steady_sphere_stresses(x: np.ndarray, stress_scale: float) -> dict[str, np.ndarray]:
    """Long-time stresses [unit of σ*] at x = r/R for insertion: σ_r = σ*(1 − x²)/15,
    σ_θ = σ*(1 − 2x²)/15, σ_h = σ*(3/5 − x²)/9, σ_vm = |σ_r − σ_θ|, σ1 = max(σ_r, σ_θ)."""
    x = np.asarray(x, dtype=float)
    radial = stress_scale * (1.0 - x**2) / 15.0
    tangential = stress_scale * (1.0 - 2.0 * x**2) / 15.0
    return {
        "radial_stress": radial,
        "tangential_stress": tangential,
        "hydrostatic": stress_scale * (0.6 - x**2) / 9.0,
        "von_mises": np.abs(radial - tangential),
        "max_principal": np.maximum(radial, tangential),
    }


@functools.cache
def _eigenvalues() -> np.ndarray:
    """The positive roots α_n of tan α = α, n = 1 … SERIES_TERMS."""
    from scipy.optimize import brentq  # only here: scipy.optimize costs 0.7 s to import (the report reads SteadySphere)

    return np.array([brentq(lambda a: np.tan(a) - a, n * np.pi + 1e-9, n * np.pi + np.pi / 2 - 1e-9)
                     for n in range(1, SERIES_TERMS + 1)])


def series_terms(tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(α_n, a_n) of the constant-flux series: p = 3τ + x²/2 − 3/10 − 2 Σ a_n sin(α_n x)/x,
    a_n = exp(−α_n²τ)/(α_n² sin α_n)."""
    alpha = _eigenvalues()
    return alpha, np.exp(-(alpha**2) * tau) / (alpha**2 * np.sin(alpha))


def constant_flux_profile(x: np.ndarray | float, tau: float) -> np.ndarray:
    """(c − c₀)/K of the constant-flux sphere at x = r/R, τ = Dt/R² (τ = inf: the long-time shape
    x²/2 − 3/10, its uniform 3τ part dropped)."""
    x = np.asarray(x, dtype=float)
    base = x**2 / 2 - 0.3
    if np.isinf(tau):
        return base
    alpha, amp = series_terms(tau)
    # sin(αx)/x = α sinc(αx/π), regular at x = 0
    series = (amp * alpha * np.sinc(np.multiply.outer(x, alpha) / np.pi)).sum(axis=-1)
    return 3 * tau + base - 2 * series


def constant_flux_mean(tau: float) -> float:
    """C̄(1): the mean of :func:`constant_flux_profile` over the sphere."""
    xg, wg = np.polynomial.legendre.leggauss(_GAUSS_POINTS)
    xi = 0.5 * (xg + 1.0)
    return float(3.0 * (0.5 * wg * constant_flux_profile(xi, tau) * xi**2).sum())


def constant_flux_stresses(x: np.ndarray, tau: float, stress_scale: float) -> dict[str, np.ndarray]:
    """σ_r, σ_θ, σ_h, σ_vm [unit of σ*] of the free constant-flux sphere at x = r/R and τ."""
    x = np.asarray(x, dtype=float)
    xg, wg = np.polynomial.legendre.leggauss(_GAUSS_POINTS)
    xi = 0.5 * x[:, None] * (xg[None, :] + 1.0)  # Gauss-Legendre nodes on [0, x]
    integral = 0.5 * x[:, None] * wg[None, :] * constant_flux_profile(xi, tau) * xi**2
    with np.errstate(invalid="ignore", divide="ignore"):
        cbar = np.where(x > 1e-12, 3.0 * integral.sum(axis=1) / np.maximum(x, 1e-12) ** 3,
                        constant_flux_profile(0.0 * x, tau))
    cbar_r = constant_flux_mean(tau)
    dc = constant_flux_profile(x, tau)
    f = stress_scale / 9.0
    s_r = 2 * f * (cbar_r - cbar)
    s_t = f * (2 * cbar_r + cbar - 3 * dc)
    return {"radial_stress": s_r, "tangential_stress": s_t, "hydrostatic": 2 * f * (cbar_r - dc),
            "von_mises": np.abs(s_r - s_t)}

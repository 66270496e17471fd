"""Weppner–Huggins: D from one GITT pulse, D = (4/(πτ)) (V/S)² (ΔE_s/ΔE_t)².

Assumptions (W. Weppner, R. A. Huggins, J. Electrochem. Soc. 124 (1977) 1569): semi-infinite planar
diffusion during the pulse (τ ≪ L²/D), a linear open-circuit voltage over the pulse, and a surface
voltage that follows √t. For a sphere of radius R, V/S = R/3; the sphere's converging geometry makes
the surface concentration rise faster than √t, so the formula under-reads D: by about 16 % at
Dτ/R² = 0.005 (see :func:`sphere_bias`). Here:

- τ: the pulse length [s];
- ΔE_s: the change of the relaxed voltage over the pulse (relaxed level after minus before);
- ΔE_t: the change of the voltage during the pulse without the IR (and charge-transfer) jump at the
  edge: the voltage at the pulse end minus E(0+), the extrapolation to the edge of a straight line
  in √t fitted to the pulse samples of its first :data:`EARLY_FRACTION` (at least two samples; the
  first on sample when the pulse has no two samples there).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ecmx.solver.studies.gitt.pulses import Pulse, Record

EARLY_FRACTION = 0.2
"""The part of a pulse whose samples fix E(0+) by a straight line in √t."""


@dataclass(frozen=True)
class WeppnerHuggins:
    """One pulse's Weppner–Huggins result: ΔE_s, ΔE_t [V], τ [s] and D [m²/s] (NaN when ΔE_t is 0)."""

    delta_e_s: float
    delta_e_t: float
    duration: float
    diffusivity: float


def voltage_at_edge(record: Record, pulse: Pulse) -> float:
    """E(0+) [V]: the pulse voltage extrapolated to its start along a straight line in √(t − t_start)."""
    t0 = record.time[pulse.before]
    t = record.time[pulse.pulse_samples()] - t0
    v = record.voltage[pulse.pulse_samples()]
    early = t <= EARLY_FRACTION * pulse.duration(record)
    if np.count_nonzero(early) < 2:
        return float(v[0])
    slope, intercept = np.polyfit(np.sqrt(t[early]), v[early], 1)
    return float(intercept)


def weppner_huggins(record: Record, pulse: Pulse, radius: float) -> WeppnerHuggins:
    """Weppner–Huggins D of one pulse of a sphere of ``radius`` [m] (V/S = R/3)."""
    delta_s = float(record.voltage[pulse.rest_end] - record.voltage[pulse.before])
    delta_t = float(record.voltage[pulse.last]) - voltage_at_edge(record, pulse)
    tau = pulse.duration(record)
    d = 4.0 / (math.pi * tau) * (radius / 3.0) ** 2 * (delta_s / delta_t) ** 2 if delta_t != 0.0 else math.nan
    return WeppnerHuggins(delta_s, delta_t, tau, d)


def _series_roots(count: int = 2000) -> np.ndarray:
    """The positive roots of tan α = α (Newton from (n + ½)π − 1/((n + ½)π))."""
    n = np.arange(1, count + 1)
    guess = (n + 0.5) * math.pi
    alpha = guess - 1.0 / guess
    for _ in range(30):
        alpha -= (np.tan(alpha) - alpha) / (1.0 / np.cos(alpha) ** 2 - 1.0)
    return alpha


def sphere_surface_rise(tau: float) -> float:
    """The surface concentration rise of a sphere under a constant inward flux N₀, in units of N₀R/D, at
    τ = Dt/R²: 3τ + 1/5 − 2 Σ exp(−α_n²τ)/α_n² (docs/model.md §5, x = 1)."""
    alpha = _series_roots()
    return 3.0 * tau + 0.2 - 2.0 * float(np.sum(np.exp(-alpha**2 * tau) / alpha**2))


def sphere_bias(tau: float) -> float:
    """D_WH/D of a sphere at τ = Dt/R² for a linear OCV and no kinetics: (2√(τ/π)/rise(τ))², the planar
    √t law against the sphere's surface rise (ΔE_s/ΔE_t = 3τ/rise(τ) with V/S = R/3)."""
    return (2.0 * math.sqrt(tau / math.pi) / sphere_surface_rise(tau)) ** 2

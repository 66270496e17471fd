"""D of one GITT pulse by fitting the sphere-1d model to the pulse and its relaxation.

The parameter is x = ln D (D in m²/s) at the pulse's stoichiometry θ_k; the model's D_s(θ) is
D/shape(θ_k) × shape(θ) (the shape: constant in the first pass, the first pass's D(θ) in the second,
so that a D varying across the pulse's surface excursion is modelled). (Not x = ln of the factor:
scipy's trust region starts with the radius |x₀|, which vanishes when the start is the shape itself.)

The residuals are the measured minus the model voltage at the measured times, with the mean removed
separately over the pulse and over the rest: the offsets absorb the IR jump (and any offset between
the model's and the cell's open-circuit voltage), so only the transient shapes fit D.
scipy.optimize.least_squares minimises them (forward-difference Jacobian, step :data:`JACOBIAN_STEP`
in x).

Confidence interval: σ² = Σr²/(n − 3) (one parameter, two offsets) estimates the voltage noise;
var(x) = σ²/(JᵀJ) from the Jacobian at the optimum; the 95 % interval of D is
D exp(∓1.96 √var(x)). It holds for noise that is independent between samples and a model that fits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from ecmx.solver.errors import SolveError
from ecmx.solver.studies.gitt.pulses import Pulse, Record

Z_95 = 1.959963984540054
"""Two-sided 95 % quantile of the normal distribution."""

JACOBIAN_STEP = 0.01
"""Forward-difference step in ln D (1 % in D: far above the model's integration noise at rtol 1e-4)."""

MAX_LOG_STEP = 6.0
"""Bounds on x around its start, ±ln(e⁶ ≈ 400)."""


@dataclass(frozen=True)
class PulseFit:
    """The fit of one pulse: D at the pulse's stoichiometry and its 95 % interval [m²/s], the voltage
    noise estimate [V], the RMS residual [V] and the model evaluations used."""

    diffusivity: float
    low: float
    high: float
    noise: float
    evaluations: int


@dataclass(frozen=True)
class PulseData:
    """What the model needs of one pulse: start θ, particle current [A], lengths and sample times [s],
    measured voltages [V]."""

    theta0: float
    current: float
    pulse_s: float
    rest_s: float
    pulse_times: np.ndarray
    rest_times: np.ndarray
    pulse_voltage: np.ndarray
    rest_voltage: np.ndarray

    @classmethod
    def of(cls, record: Record, pulse: Pulse, theta0: float, current_scale: float) -> PulseData:
        t0 = record.time[pulse.before]
        pulse_times = record.time[pulse.pulse_samples()] - t0
        rest_times = record.time[pulse.rest_samples()] - t0
        duration = pulse.duration(record)
        return cls(theta0, pulse.current(record) * current_scale, duration, float(rest_times[-1] - duration),
                   pulse_times, rest_times, record.voltage[pulse.pulse_samples()], record.voltage[pulse.rest_samples()])


def _centred(values: np.ndarray) -> np.ndarray:
    return values - values.mean()


def fit_pulse(model: Any, data: PulseData, shape_at_theta: float, start: float) -> PulseFit:
    """Fit ln(factor) of ``model`` (a :class:`~ecmx.solver.studies.gitt.model.PulseModel`) to one pulse.

    ``shape_at_theta`` is the model's D_s shape [m²/s] at the pulse's stoichiometry (the model's factor
    on D_s(θ) is D/shape_at_theta);
    ``start`` the first guess of D [m²/s]. Raises SolveError when the model cannot be solved near the
    start.
    """
    evaluations = 0

    def residuals(x: np.ndarray) -> np.ndarray:
        nonlocal evaluations
        evaluations += 1
        try:
            vp, vr = model.voltages(math.exp(x[0]) / shape_at_theta, data.theta0, data.current, data.pulse_s, data.rest_s,
                                    data.pulse_times, data.rest_times)
        except SolveError:
            return np.full(data.pulse_times.size + data.rest_times.size, 1.0)  # far off: the fit steps back
        return np.concatenate([_centred(data.pulse_voltage - vp), _centred(data.rest_voltage - vr)])

    x0 = math.log(start)
    cache: dict[float, np.ndarray] = {}

    def cached(x: np.ndarray) -> np.ndarray:
        if float(x[0]) not in cache:
            cache[float(x[0])] = residuals(x)
        return cache[float(x[0])]

    def jacobian(x: np.ndarray) -> np.ndarray:
        """Forward difference with a fixed step in ln D (scipy's relative step vanishes at x = 0)."""
        return ((cached(x + JACOBIAN_STEP) - cached(x)) / JACOBIAN_STEP)[:, None]

    result = least_squares(cached, [x0], jac=jacobian, bounds=([x0 - MAX_LOG_STEP], [x0 + MAX_LOG_STEP]),
                           x_scale=[1.0], xtol=1e-5, ftol=1e-10, gtol=1e-12, max_nfev=20)
    n = result.fun.size
    sigma2 = float(result.fun @ result.fun) / max(n - 3, 1)
    jtj = float(result.jac[:, 0] @ result.jac[:, 0])
    half = Z_95 * math.sqrt(sigma2 / jtj) if jtj > 0 else math.inf
    d = math.exp(result.x[0])
    return PulseFit(d, d * math.exp(-half), d * math.exp(half), math.sqrt(sigma2), evaluations)

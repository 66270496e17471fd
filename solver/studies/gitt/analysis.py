"""``ecmx gitt``: D(θ) from a GITT record by Weppner–Huggins and by the sphere-1d model fit.

The source is a run directory (its ``timeseries.csv``; material, radius and starting stoichiometry
from its ``case.yaml`` unless given) or a measured CSV (``time_s, current_A, voltage_V``, units in
the header allowed; :mod:`ecmx.solver.config.measured_data`). Stoichiometry: from the starting θ
and the charge passed, θ_after = θ_before − Q/(F c_s,max V_p) with V_p = 4πR³/3 for the current of one
particle; a measured cell's current is scaled to one particle by ρV_p/m with the active mass m.
Each pulse is attributed to the mean of its relaxed stoichiometries before and after it.

The model fit runs twice (:mod:`ecmx.solver.studies.gitt.fit`): first with a constant D per pulse,
then with D(θ) = factor × (the first pass's D(θ), log-linear), which accounts for D changing over
the surface excursion of a pulse. Open-circuit voltage of the model: the material's table
(``ocv="material"``) or the relaxed points of the record (``ocv="relaxed"``, the default: the
measured OCV; the material's table outside their range).

Writes into the output directory (locked, through ``<out>.partial``, like ``ecmx run``):
``diffusivity.csv``, ``pulses.csv``, ``diffusivity.yaml`` (a ``diffusivity:`` table to paste into a
material file) and ``diffusivity.png``/``.pdf``.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ecmx.solver.config.case import case_from_dict
from ecmx.solver.config.measured_data import read_measured_curve
from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.errors import CaseError
from ecmx.solver.files import atomic_write_text
from ecmx.solver.studies.gitt.fit import PulseData, PulseFit, fit_pulse
from ecmx.solver.studies.gitt.pulses import Pulse, Record, find_pulses
from ecmx.solver.studies.gitt.weppner import WeppnerHuggins, weppner_huggins
from ecmx.solver.units import F

DIFFUSIVITY_COLUMNS = ("stoichiometry", "D_weppner_huggins_m2_s", "D_model_m2_s", "D_low", "D_high")
PULSE_COLUMNS = ("pulse", "start_s", "duration_s", "current_A", "theta_before", "theta_after", "delta_E_s_V",
                 "delta_E_t_V", "tau_model", "noise_V", "model_evaluations")


@dataclass
class GittSettings:
    """What the analysis needs besides the record.

    Attributes:
        case: a case mapping (as read from YAML) naming the material, electrolyte, temperature and
            radius (``geometry.particle.radius``); the geometry is replaced by sphere-1d.
        initial_stoichiometry: θ before the first pulse (None: the run's, else θ_lo before a discharge
            pulse and θ_hi before a charge pulse).
        active_mass: the active mass of a measured cell [kg] (None: the current is one particle's).
        ocv: the model's open-circuit voltage, ``"relaxed"`` or ``"material"``.
        fit: run the model fit (False: Weppner–Huggins only).
        elements, rtol: the model's sphere-1d elements and time-integration tolerance.
    """

    case: dict[str, Any]
    initial_stoichiometry: float | None = None
    active_mass: float | None = None
    ocv: Literal["relaxed", "material"] = "relaxed"
    fit: bool = True
    elements: int = 40
    rtol: float = 1e-4
    case_file: Path | None = None


@dataclass
class GittResult:
    """Per pulse: θ before/after, Weppner–Huggins and the model fit (None without a fit)."""

    record: Record
    pulses: list[Pulse]
    theta: list[tuple[float, float]]
    weppner: list[WeppnerHuggins]
    fits: list[PulseFit | None] = field(default_factory=list)
    radius: float = math.nan

    def rows(self) -> list[dict[str, float]]:
        """The diffusivity.csv rows, in pulse order."""
        rows = []
        for (a, b), wh, fit in zip(self.theta, self.weppner, self.fits, strict=True):
            model = (fit.diffusivity, fit.low, fit.high) if fit else (math.nan,) * 3
            rows.append(dict(zip(DIFFUSIVITY_COLUMNS, (0.5 * (a + b), wh.diffusivity, *model), strict=True)))
        return rows


def read_record(source: Path) -> tuple[Record, dict[str, Any] | None]:
    """The record of a run directory or measured CSV, and the run's case mapping (None for a CSV)."""
    case = None
    path = source
    if source.is_dir():
        path = source / "timeseries.csv"
        if (source / "case.yaml").exists():
            case = read_yaml(source / "case.yaml", what="run's case file")
    curve = read_measured_curve(path, require=("time", "current", "voltage"))
    return Record(path, curve["time"], curve["current"], curve["voltage"]), case


def model_case(settings: GittSettings, diffusivity: Any, ocv: dict[str, list[float]] | None) -> Any:
    """The validated sphere-1d case of the model (material's D replaced by ``diffusivity``, OCV by ``ocv``)."""
    data = {k: settings.case[k] for k in ("material", "electrolyte", "temperature") if k in settings.case}
    radius = settings.case.get("geometry", {}).get("particle", {}).get("radius", 1e-6)
    data |= {"name": "gitt-model", "protocol": [{"step": "rest", "duration": 1.0}], "mechanics": {"enabled": False},
             "geometry": {"kind": "sphere-1d", "particle": {"radius": radius}, "mesh": {"elements": settings.elements}},
             "solver": {"rtol": settings.rtol}}
    material = case_from_dict(data, settings.case_file).material.model_dump(mode="json", exclude_none=True)
    material["diffusivity"] = diffusivity
    if ocv is not None:
        material["open_circuit_voltage"] = ocv
    return case_from_dict(data | {"material": material}, settings.case_file)


def _theta_path(record: Record, pulses: list[Pulse], theta0: float, to_theta: float) -> list[tuple[float, float]]:
    """(θ before, θ after) of each pulse; ``to_theta`` converts charge [C] to the θ it removes."""
    path, theta = [], theta0
    for pulse in pulses:
        after = theta - pulse.charge(record) * to_theta
        path.append((theta, after))
        theta = after
    return path


def _relaxed_ocv(case: Any, record: Record, pulses: list[Pulse], theta: list[tuple[float, float]]) -> dict:
    """An OCV table through the relaxed points, the material's table outside their range."""
    points = {theta[0][0]: record.voltage[pulses[0].before]}
    points |= {b: record.voltage[p.rest_end] for p, (_, b) in zip(pulses, theta, strict=True)}
    xs = np.array(sorted(points))
    table = case.material.open_circuit_voltage
    outside = [(x, v) for x, v in zip(table.stoichiometry, table.voltage, strict=True) if x < xs[0] or x > xs[-1]]
    knots = sorted([*outside, *((x, float(points[x])) for x in xs)])
    return {"stoichiometry": [k[0] for k in knots], "voltage": [k[1] for k in knots]}


def _start_theta(settings: GittSettings, run_case: dict[str, Any] | None, record: Record, pulse: Pulse,
                 window: tuple[float, float]) -> float:
    """θ before the first pulse (see :class:`GittSettings`)."""
    if settings.initial_stoichiometry is not None:
        return settings.initial_stoichiometry
    if run_case is not None:
        return case_from_dict(run_case).initial_stoichiometry()
    return window[0] if record.current[pulse.first] < 0 else window[1]


def analyse(record: Record, settings: GittSettings, run_case: dict[str, Any] | None = None) -> GittResult:
    """Segment ``record``, and find D per pulse by Weppner–Huggins and (``settings.fit``) the model fit."""
    pulses = find_pulses(record)
    case = model_case(settings, 1e-14, None)
    radius = case.geometry.particle.radius
    volume = 4.0 * math.pi * radius**3 / 3.0
    scale = 1.0 if settings.active_mass is None else case.material.density * volume / settings.active_mass
    theta0 = _start_theta(settings, run_case, record, pulses[0], case.material.stoichiometry_window)
    theta = _theta_path(record, pulses, theta0, scale / (F * case.material.max_concentration * volume))
    lo, hi = (min(min(t) for t in theta), max(max(t) for t in theta))
    if lo <= 0.0 or hi >= 1.0:
        raise CaseError(f"the charge passed takes the stoichiometry to [{lo:.4g}, {hi:.4g}], outside (0, 1): expected "
                        "the right starting stoichiometry, active mass and radius", file=record.source, key="current")
    result = GittResult(record, pulses, theta, [weppner_huggins(record, p, radius) for p in pulses], radius=radius)
    result.fits = _model_fits(result, settings, case, scale) if settings.fit else [None] * len(pulses)
    return result


def _model_fits(result: GittResult, settings: GittSettings, case: Any, scale: float) -> list[PulseFit]:
    """Two passes of :func:`~ecmx.solver.studies.gitt.fit.fit_pulse` over the pulses (see the module)."""
    from ecmx.solver.studies.gitt.model import PulseModel

    record, pulses = result.record, result.pulses
    ocv = _relaxed_ocv(case, record, pulses, result.theta) if settings.ocv == "relaxed" else None
    data = [PulseData.of(record, p, t[0], scale) for p, t in zip(pulses, result.theta, strict=True)]
    mids = np.array([0.5 * (a + b) for a, b in result.theta])
    guesses = np.array([wh.diffusivity for wh in result.weppner])
    good = np.isfinite(guesses) & (guesses > 0)
    reference = float(np.exp(np.mean(np.log(guesses[good])))) if good.any() else float(case.material.diffusivity_at(mids[0]))
    starts = np.where(good, guesses, reference)
    model = PulseModel(model_case(settings, reference, ocv))
    fits = [fit_pulse(model, d, reference, s) for d, s in zip(data, starts, strict=True)]
    order = np.argsort(mids)
    if np.unique(mids).size < 2:
        return fits
    shape = extended_shape(mids[order], np.array([fits[i].diffusivity for i in order]))
    model = PulseModel(model_case(settings, shape, ocv))
    at = np.exp(np.interp(mids, shape["stoichiometry"], np.log(shape["value"])))
    return [fit_pulse(model, d, float(a), f.diffusivity) for d, a, f in zip(data, at, fits, strict=True)]


SHAPE_REACH = 0.2
"""How far beyond the outer pulses (in θ) the second pass's D(θ) shape continues their log-linear trend."""

MAX_SHAPE_SLOPE = 25.0
"""Steepest log-slope d ln D/dθ of the extrapolated shape (a 100× change over 0.18 in θ)."""


def extended_shape(theta: np.ndarray, d: np.ndarray) -> dict[str, list[float]]:
    """The D(θ) table through (θ_k, D_k) (θ increasing), continued log-linearly by :data:`SHAPE_REACH`
    beyond both ends with the end segments' slopes (clipped to :data:`MAX_SHAPE_SLOPE`), so that a pulse
    at the edge sees the trend rather than a flat table over its surface excursion."""
    log_d = np.log(d)
    slopes = np.clip([(log_d[1] - log_d[0]) / (theta[1] - theta[0]), (log_d[-1] - log_d[-2]) / (theta[-1] - theta[-2])],
                     -MAX_SHAPE_SLOPE, MAX_SHAPE_SLOPE)
    lo, hi = max(theta[0] - SHAPE_REACH, 1e-3), min(theta[-1] + SHAPE_REACH, 1 - 1e-3)
    xs = [lo, *theta, hi]
    ys = [log_d[0] - slopes[0] * (theta[0] - lo), *log_d, log_d[-1] + slopes[1] * (hi - theta[-1])]
    return {"stoichiometry": [float(x) for x in xs], "value": [float(math.exp(y)) for y in ys]}


def write_outputs(result: GittResult, directory: Path, title: str) -> None:
    """diffusivity.csv, pulses.csv, diffusivity.yaml and the figure, into ``directory``."""
    from ecmx.postprocess.gitt_plots import diffusivity_figure

    rows = result.rows()
    atomic_write_text(directory / "diffusivity.csv", _csv(DIFFUSIVITY_COLUMNS, rows))
    atomic_write_text(directory / "pulses.csv", _csv(PULSE_COLUMNS, _pulse_rows(result)))
    atomic_write_text(directory / "diffusivity.yaml", diffusivity_yaml(rows, result))
    diffusivity_figure(rows, directory / "diffusivity.png", title=title)


def _pulse_rows(result: GittResult) -> list[dict[str, float]]:
    record, rows = result.record, []
    for p, (a, b), wh, fit in zip(result.pulses, result.theta, result.weppner, result.fits, strict=True):
        d = fit.diffusivity if fit else math.nan
        rows.append(dict(zip(PULSE_COLUMNS, (
            p.index + 1, record.time[p.before], wh.duration, p.current(record), a, b, wh.delta_e_s, wh.delta_e_t,
            d * wh.duration / result.radius**2, fit.noise if fit else math.nan, fit.evaluations if fit else 0),
            strict=True)))
    return rows


def _csv(columns: tuple[str, ...], rows: list[dict[str, float]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows({k: f"{v:.10g}" if math.isfinite(v) else "" for k, v in row.items()} for row in rows)
    return out.getvalue()


def diffusivity_yaml(rows: list[dict[str, float]], result: GittResult) -> str:
    """A ``diffusivity:`` table (θ increasing; the model fit where there is one, else Weppner–Huggins)."""
    key = "D_model_m2_s" if all(math.isfinite(r["D_model_m2_s"]) for r in rows) else "D_weppner_huggins_m2_s"
    by_theta: dict[float, float] = {}
    for r in rows:
        if math.isfinite(r[key]) and r[key] > 0:
            by_theta.setdefault(round(r["stoichiometry"], 6), r[key])
    thetas = sorted(by_theta)
    method = "sphere-1d model fit" if key == "D_model_m2_s" else "Weppner-Huggins, V/S = R/3"
    return (f"# D(theta) from the GITT record {result.record.source} by ecmx gitt ({method}, R = {result.radius:.6g} m)\n"
            "# paste into a material file (log-linear interpolation between the points)\n"
            "diffusivity:\n"
            f"  stoichiometry: [{', '.join(f'{t:.6g}' for t in thetas)}]\n"
            f"  value: [{', '.join(f'{by_theta[t]:.4e}' for t in thetas)}]   # m^2/s\n")

"""The comparison's sensitivity study read back: ``sensitivity.csv`` and ``figures/sensitivity.png``.

``comparison.json`` lists the points (:mod:`ecmx.solver.studies.sensitivity`): for each, the axis
(``shipped``, ``diffusivity`` [m²/s], ``diffusivity_ratio``, ``radius`` [m], ``current``), its value
and the sphere-1d run of each material (``numerator`` = the first case, e.g. NVP; ``denominator`` =
the last, e.g. HE-V). From each run's ``timeseries.csv``, at the study's depth of discharge:

- the concentration spread c_max − c_min over the particle, per cycled window c_s,max(θ_hi − θ_lo)
  and in mol/m³;
- the peak von Mises and largest principal (tensile) stress, MPa;
- for comparison the long-time constant-flux sphere (:mod:`ecmx.postprocess.reference`): spread
  N₀R/(2D) per cycled window and surface von Mises σ*/15 (both ∝ 1/D), with τ = Dt/R² (the closed
  form holds for τ ≳ 0.3, when the start-up transient has died out).

The paper's claim ("NVP visibly heterogeneous while HE-V uniform") is taken to hold at a point when
the numerator's spread is at least ``heterogeneous`` and the denominator's at most ``uniform``
(fractions of their cycled windows).
"""

from __future__ import annotations

import concurrent.futures as cf
import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ecmx.postprocess.labels import display_name
from ecmx.postprocess.plotting import VECTOR_FORMAT, freeze_minor_ticks, garbage_collected_after, new_figure, save
from ecmx.postprocess.reference import steady_sphere
from ecmx.postprocess.rundata import RunData, load_run

if TYPE_CHECKING:
    from matplotlib.figure import Figure

MPA = 1e-6
AXES = ("diffusivity", "diffusivity_ratio", "radius")
"""The numeric axes, drawn as curves (``current`` is one like-for-like point, in the table)."""
AXIS_LABELS = {
    "diffusivity": "D_s of {num} (m²/s); D of {den} keeps its shipped ratio",
    "diffusivity_ratio": "D_s({den}) / D_s({num})",
    "radius": "particle radius of both (µm)",
}


@dataclass
class State:
    """One material's run at the study's depth of discharge (NaN where the run did not reach it)."""

    spread_window: float
    spread_mol_m3: float
    von_mises_MPa: float
    max_principal_MPa: float
    voltage_V: float
    reached_dod: float
    steady_spread_window: float
    steady_von_mises_MPa: float
    tau: float


@dataclass
class Point:
    """One point of the study: axis, value (SI; text for ``current``), shipped or not, both states."""

    axis: str
    value: Any
    shipped: bool
    numerator: State
    denominator: State
    heterogeneous: float
    uniform: float

    @property
    def spread_ratio(self) -> float:
        return _ratio(self.numerator.spread_window, self.denominator.spread_window)

    @property
    def stress_ratio(self) -> float:
        return _ratio(self.numerator.von_mises_MPa, self.denominator.von_mises_MPa)

    @property
    def claim_holds(self) -> bool:
        """The numerator visibly heterogeneous and the denominator uniform (False where unknown)."""
        return bool(self.numerator.spread_window >= self.heterogeneous and self.denominator.spread_window <= self.uniform)


def _ratio(a: float, b: float) -> float:
    return a / b if b and math.isfinite(b) and math.isfinite(a) else math.nan


def _at(ts: dict[str, np.ndarray], column: str, dod: float) -> float:
    """``column`` of the discharge rows of a timeseries interpolated at ``dod``."""
    if column not in ts:
        return math.nan
    rows = ts["depth_of_discharge"]
    order = np.argsort(rows)
    return float(np.interp(dod, rows[order], ts[column][order]))


def run_state(run: RunData, dod: float) -> State:
    """The state of a sensitivity run at ``dod`` (see the module doc)."""
    ts, material = run.timeseries, run.case.material
    window = material.usable_concentration
    reached = float(np.nanmax(ts["depth_of_discharge"])) if len(ts.get("depth_of_discharge", [])) else 0.0
    sphere = steady_sphere(run.case)
    steady = (math.nan, math.nan, math.nan) if sphere is None else (
        sphere.concentration_spread / window, sphere.surface_von_mises * MPA, math.nan)
    if reached < dod - 1e-3:
        return State(*(math.nan,) * 5, reached, steady[0], steady[1], math.nan)
    time_s = _at(ts, "time_s", dod)
    tau = math.nan if sphere is None else sphere.diffusivity * time_s / sphere.radius**2
    spread = _at(ts, "c_max", dod) - _at(ts, "c_min", dod)
    return State(spread / window, spread, _at(ts, "von_mises_max", dod) * MPA, _at(ts, "max_principal_max", dod) * MPA,
                 _at(ts, "voltage_V", dod), reached, steady[0], steady[1], tau)


def read_points(directory: Path, manifest: dict[str, Any]) -> list[Point]:
    """The points of the study of ``manifest`` (``comparison.json``'s ``sensitivity``), their runs read
    from ``directory``; a run that failed or is missing gives NaN states."""
    dod = manifest["depth_of_discharge"]
    states: dict[str, State] = {}
    for name, relative in manifest["runs"].items():
        path = Path(directory) / relative
        states[name] = run_state(load_run(path), dod) if (path / "timeseries.csv").is_file() else _missing()
    return [
        Point(p["axis"], p["value"], p["shipped"], states[p["runs"]["numerator"]], states[p["runs"]["denominator"]],
              manifest["heterogeneous"], manifest["uniform"])
        for p in manifest["points"]
    ]


def _missing() -> State:
    return State(*(math.nan,) * 9)


def write_csv(points: Sequence[Point], path: Path) -> Path:
    """``sensitivity.csv``: one row per point; spreads per cycled window and in mol/m³, stresses in MPa."""
    fields = [f.name for f in State.__dataclass_fields__.values()]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["axis", "value", "shipped", *(f"{role}_{f}" for role in ("numerator", "denominator") for f in fields),
                         "spread_ratio_window", "von_mises_ratio", "claim_holds"])
        for p in points:
            num, den = asdict(p.numerator), asdict(p.denominator)
            writer.writerow([p.axis, p.value, p.shipped, *(repr(num[f]) for f in fields), *(repr(den[f]) for f in fields),
                             repr(p.spread_ratio), repr(p.stress_ratio), p.claim_holds])
    return path


def _axis_points(points: Sequence[Point], axis: str) -> tuple[np.ndarray, list[Point]]:
    chosen = sorted((p for p in points if p.axis == axis), key=lambda p: float(p.value))
    scale = 1e6 if axis == "radius" else 1.0
    return np.array([float(p.value) * scale for p in chosen]), chosen


def claim_intervals(x: np.ndarray, chosen: Sequence[Point], samples: int = 400) -> list[tuple[float, float]]:
    """The intervals of ``x`` (log-interpolated between the points) where the claim holds: the
    numerator's spread ≥ ``heterogeneous`` and the denominator's ≤ ``uniform`` (per window)."""
    num = np.array([p.numerator.spread_window for p in chosen])
    den = np.array([p.denominator.spread_window for p in chosen])
    ok = np.isfinite(num) & np.isfinite(den) & (num > 0) & (den > 0)
    if ok.sum() < 2:
        return [(v, v) for v, p in zip(x, chosen, strict=True) if p.claim_holds]
    grid = np.geomspace(x[ok].min(), x[ok].max(), samples)
    lx = np.log(x[ok])
    n = np.exp(np.interp(np.log(grid), lx, np.log(num[ok])))
    d = np.exp(np.interp(np.log(grid), lx, np.log(den[ok])))
    holds = (n >= chosen[0].heterogeneous) & (d <= chosen[0].uniform)
    edges = np.flatnonzero(np.diff(np.concatenate([[0], holds.astype(int), [0]])))
    return [(float(grid[a]), float(grid[b - 1])) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def start_figure(points: Sequence[Point], names: Sequence[str], dod: float, path: Path,
                 pool: cf.Executor | None = None) -> Callable[[], None]:
    """Draw :func:`sensitivity_figure` into ``path`` (PNG + PDF). With ``pool``, as two jobs there,
    the PNG and the PDF side by side (each draw takes seconds), and this returns at once; call the
    returned function to wait for them (it raises a job's exception). Without, here and now."""
    if pool is not None:
        try:
            jobs = [pool.submit(figure_job, list(points), list(names), dod, str(path), only)
                    for only in (".png", VECTOR_FORMAT)]
            return lambda: _wait(jobs)
        except RuntimeError:  # a pool that takes no jobs (broken, shut down): here
            pass
    figure_job(points, names, dod, str(path))
    return lambda: None


def _wait(jobs: Sequence[cf.Future]) -> None:
    for job in jobs:
        job.result()


def figure_job(points: Sequence[Point], names: Sequence[str], dod: float, path: str, only: str | None = None) -> None:
    """A worker's job: write the ``only`` file (``.png`` or the PDF; None: both) of
    :func:`sensitivity_figure`, the figure dropped here, drawn with the cyclic garbage collector off
    and freed by one collection after (:func:`ecmx.postprocess.plotting.garbage_collected_after`)."""
    with garbage_collected_after():
        sensitivity_figure(points, names, dod, Path(path), only)


def sensitivity_figure(points: Sequence[Point], names: Sequence[str], dod: float, path: Path,
                       only: str | None = None) -> Figure:
    """Curves of the numeric axes (columns): the ratios, both spreads per cycled window (thresholds
    dotted) and both peak von Mises stresses (closed-form sphere dashed); the shipped point starred,
    the range where the claim holds shaded. Writes PNG + PDF (``only``: one of them,
    :func:`ecmx.postprocess.plotting.save`); returns the Figure."""
    num, den = (display_name(n) for n in names)
    fig = new_figure(figsize=(13, 9.5))  # a fixed layout: constrained layout costs seconds here
    fig.subplots_adjust(left=0.07, right=0.99, bottom=0.07, top=0.92, wspace=0.22, hspace=0.22)
    axes = fig.subplots(3, len(AXES), squeeze=False)
    for j, axis in enumerate(AXES):
        x, chosen = _axis_points(points, axis)
        if not chosen:
            continue
        _draw_column(axes[:, j], x, chosen, num, den)
        for lo, hi in claim_intervals(x, chosen):
            for ax in axes[:, j]:
                ax.axvspan(lo, hi * (1.0001 if hi == lo else 1.0), color="tab:green", alpha=0.15, lw=0)
        axes[-1, j].set_xlabel(AXIS_LABELS[axis].format(num=num, den=den))
    axes[0, 0].set_ylabel(f"{num} / {den}")
    axes[1, 0].set_ylabel("spread (c_max − c_min) / cycled window")
    axes[2, 0].set_ylabel("peak von Mises stress (MPa)")
    first = points[0]
    fig.suptitle(f"Sensitivity at {100 * dod:.0f} % depth of discharge (sphere-1d runs, one input changed at a time).\n"
                 f"Green: where {num} is visibly heterogeneous (spread ≥ {100 * first.heterogeneous:g} % of its cycled "
                 f"window) while {den} is uniform (≤ {100 * first.uniform:g} %); star: the shipped cases; dashed: the "
                 "long-time sphere, N₀R/(2D) and σ*/15", fontsize=9)
    for ax in axes.flat:  # unlabelled minor ticks of the log axes: one line of marks each (seconds less)
        freeze_minor_ticks(ax)
    save(fig, path, only=only)
    return fig


def _draw_column(axes: Sequence[Any], x: np.ndarray, chosen: Sequence[Point], num: str, den: str) -> None:
    """One column of the sensitivity figure (see :func:`sensitivity_figure`)."""
    shipped = [k for k, p in enumerate(chosen) if p.shipped]
    blue, orange = "tab:blue", "tab:orange"
    series = [
        (axes[0], [("spread ratio (per window)", [p.spread_ratio for p in chosen], "-o", blue),
                   ("peak von Mises ratio", [p.stress_ratio for p in chosen], "-s", orange)]),
        (axes[1], [(f"{num}, closed form", [p.numerator.steady_spread_window for p in chosen], "--", blue),
                   (f"{den}, closed form", [p.denominator.steady_spread_window for p in chosen], "--", orange),
                   (num, [p.numerator.spread_window for p in chosen], "o", blue),
                   (den, [p.denominator.spread_window for p in chosen], "s", orange)]),
        (axes[2], [(f"{num}, closed form σ*/15", [p.numerator.steady_von_mises_MPa for p in chosen], "--", blue),
                   (f"{den}, closed form σ*/15", [p.denominator.steady_von_mises_MPa for p in chosen], "--", orange),
                   (num, [p.numerator.von_mises_MPa for p in chosen], "o", blue),
                   (den, [p.denominator.von_mises_MPa for p in chosen], "s", orange)]),
    ]
    for ax, lines in series:
        drawn = np.array([v for _, values, _, _ in lines for v in values], dtype=float)
        if not np.any(np.isfinite(drawn) & (drawn > 0)):
            ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
            continue
        for label, values, style, colour in lines:
            ax.plot(x, values, style, label=label, color=colour, ms=5, lw=1.0 if "--" in style else 1.4)
            for k in shipped if "--" not in style else ():
                ax.plot(x[k], values[k], "*", color=colour, ms=14, mec="k", mew=0.6)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    for level in (chosen[0].heterogeneous, chosen[0].uniform):
        axes[1].axhline(level, color="k", ls=":", lw=0.8)

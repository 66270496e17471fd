"""Figures of a sweep's summary.csv: stress, concentration spread and capacity against diffusivity.

- ``peak_von_mises.png``: peak von Mises stress against D_s (log-log), one colour per material,
  with the analytic long-time surface value of a sphere under constant flux, σ*/15 with
  σ* = Ω E N₀ R/((1−ν) D) (docs/model.md §4), drawn dashed in the same colour. The run's peak reaches it
  when D t/R² is large and the swing small; below that it lies under the line.
- ``concentration_spread.png``: c_max − c_min in the particle at each snapshot depth of discharge.
- ``capacity.png``: delivered capacity (mAh/g) against D_s.

One figure holds every material of the sweep (e.g. a grid over ``material`` × ``material.diffusivity``).
The x axis is the particle diffusivity when it varies, else the first swept numeric key. Failed
points are left out of the curves and counted in the legend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecmx.postprocess.plotting import new_figure, save
from ecmx.postprocess.sweep_summary import SPREAD_PREFIX, read_summary, spread_depth, swept_columns

LABELS = {
    "diffusivity_m2_s": "particle diffusivity $D_s$ (m²/s)",
    "material.diffusivity": "particle diffusivity $D_s$ (m²/s)",
    "geometry.particle.radius": "particle radius (m)",
    "material.youngs_modulus": "Young's modulus (Pa)",
}


def _x_key(rows: Sequence[dict[str, Any]]) -> str:
    if len({r.get("diffusivity_m2_s") for r in rows}) > 1:
        return "diffusivity_m2_s"
    for column in swept_columns(rows):
        if all(_is_number(r.get(column)) for r in rows):
            return column
    return "diffusivity_m2_s"


def _groups(rows: Sequence[dict[str, Any]], x_key: str) -> dict[str, list[dict[str, Any]]]:
    """Rows grouped by material and by every other swept value that is not on the x axis."""
    others = [c for c in swept_columns(rows) if c not in (x_key, "material.diffusivity", "material")]
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        name = ", ".join([str(row["material"]), *(f"{c.split('.')[-1]}={row[c]:g}" if _is_number(row[c])
                                                   else f"{c.split('.')[-1]}={row[c]}" for c in others)])
        groups.setdefault(name, []).append(row)
    return {k: sorted(v, key=lambda r: r[x_key]) for k, v in groups.items()}


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _ok(rows: list[dict[str, Any]], key: str) -> list[dict[str, Any]]:
    return [r for r in rows if r["status"] == "ok" and _is_number(r.get(key))]


def _label(name: str, rows: list[dict[str, Any]]) -> str:
    failed = sum(r["status"] == "failed" for r in rows)
    return f"{name} ({failed} failed)" if failed else name


def _finish(fig: Any, ax: Any, x_key: str, ylabel: str, path: Path) -> Path:
    ax.set_xlabel(LABELS.get(x_key, x_key))
    ax.set_ylabel(ylabel)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return save(fig, path, dpi=150)[0]


def plot_peak_von_mises(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Peak von Mises against the x key, log-log, with σ*/15 per group (dashed)."""
    x_key = _x_key(rows)
    fig = new_figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for i, (name, group) in enumerate(_groups(rows, x_key).items()):
        colour = f"C{i}"
        ok = _ok(group, "peak_von_mises_Pa")
        ax.plot([r[x_key] for r in ok], [r["peak_von_mises_Pa"] for r in ok], "o-", color=colour, label=_label(name, group))
        ref = [r for r in group if _is_number(r.get("steady_surface_von_mises_Pa"))]
        if ref:
            ax.plot([r[x_key] for r in ref], [r["steady_surface_von_mises_Pa"] for r in ref], "--", color=colour,
                    label=f"{name}: steady sphere σ*/15")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("Peak von Mises stress in the particle")
    return _finish(fig, ax, x_key, "peak von Mises stress (Pa)", path)


def plot_concentration_spread(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """c_max − c_min at each snapshot depth of discharge against the x key, log-log."""
    x_key = _x_key(rows)
    spread_columns = sorted({c for r in rows for c in r if c.startswith(SPREAD_PREFIX)})
    markers = "osd^v<>"
    fig = new_figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for i, (name, group) in enumerate(_groups(rows, x_key).items()):
        for j, column in enumerate(spread_columns):
            ok = _ok(group, column)
            dod = spread_depth(column)
            ax.plot([r[x_key] for r in ok], [r[column] for r in ok], marker=markers[j % len(markers)], color=f"C{i}",
                    linestyle=["-", "--", ":", "-."][j % 4], label=_label(f"{name}, DOD {dod}", group))
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_title("Na concentration spread in the particle")
    return _finish(fig, ax, x_key, "$c_{max} - c_{min}$ (mol/m³)", path)


def plot_capacity(rows: Sequence[dict[str, Any]], path: Path) -> Path:
    """Delivered capacity against the x key (log x)."""
    x_key = _x_key(rows)
    fig = new_figure(figsize=(6, 4.5))
    ax = fig.add_subplot()
    for i, (name, group) in enumerate(_groups(rows, x_key).items()):
        ok = _ok(group, "delivered_capacity_mAh_per_g")
        ax.plot([r[x_key] for r in ok], [r["delivered_capacity_mAh_per_g"] for r in ok], "o-", color=f"C{i}",
                label=_label(name, group))
    ax.set_xscale("log")
    ax.set_title("Delivered capacity")
    return _finish(fig, ax, x_key, "capacity (mAh/g)", path)


def plot_sweep(summary: str | Path | Sequence[dict[str, Any]], out_dir: str | Path) -> list[Path]:
    """Write the three sweep figures into ``out_dir`` from a summary.csv path or its rows."""
    rows = read_summary(summary) if isinstance(summary, str | Path) else list(summary)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    return [
        plot_peak_von_mises(rows, out / "peak_von_mises.png"),
        plot_concentration_spread(rows, out / "concentration_spread.png"),
        plot_capacity(rows, out / "capacity.png"),
    ]

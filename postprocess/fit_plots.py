"""Figure of a fit directory: measured against fitted voltage curves, and their residuals.

Reads ``curves.csv`` and ``fit.json`` of a fit directory (written by ``ecmx fit``,
``docs/outputs.md``) and draws ``fit.png`` (+ PDF): one column per x kind (voltage against time in
h, or against specific capacity in mAh/g); the upper panel shows each measured curve (markers) and
the fitted model at the same points (line), the lower one the residual V_fit − V_measured in mV.
The title lists the fitted values with their confidence intervals and the residual RMS.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ecmx.postprocess.plotting import colour_cycle, new_figure, save
from ecmx.postprocess.rundata import read_csv_columns

X_AXES = {"time": ("time (h)", 1 / 3600.0), "capacity": ("specific capacity (mAh/g)", 1.0)}
"""Each x kind's axis label and the factor from the value in curves.csv (s, mAh/g) to the axis unit."""


def _title(summary: dict[str, Any]) -> str:
    parts = []
    for p in summary.get("parameters", []):
        lo, hi = p.get("ci_low"), p.get("ci_high")
        ci = f" [{lo:.3g}, {hi:.3g}]" if lo is not None and hi is not None else ""
        parts.append(f"{p['key']} = {p['fitted']:.4g}{ci}")
    level = summary.get("confidence", 0.95)
    rms = summary.get("residual_rms_V", float("nan"))
    return f"{'; '.join(parts)}\n({level:.0%} intervals; residual RMS {1e3 * rms:.3g} mV)"


def fit_figure(curves: dict[str, np.ndarray], summary: dict[str, Any]) -> Any:
    """The measured-vs-fitted figure from the columns of curves.csv and the fit.json mapping."""
    kinds = [k for k in X_AXES if np.any(curves["x"] == k)]
    fig = new_figure(figsize=(6.0 * len(kinds), 6.0), layout="constrained")
    axes = fig.subplots(2, len(kinds), sharex="col", squeeze=False, gridspec_kw={"height_ratios": [3, 1]})
    colours = colour_cycle()
    for col, kind in enumerate(kinds):
        label, factor = X_AXES[kind]
        for i, name in enumerate(dict.fromkeys(curves["curve"][curves["x"] == kind])):
            rows = (curves["curve"] == name) & (curves["x"] == kind)
            x, colour = curves["x_value"][rows] * factor, colours[i % len(colours)]
            axes[0, col].plot(x, curves["measured_V"][rows], "o", ms=3, color=colour, alpha=0.5, label=f"{name} measured")
            axes[0, col].plot(x, curves["fitted_V"][rows], "-", color=colour, label=f"{name} fitted")
            axes[1, col].plot(x, 1e3 * curves["residual_V"][rows], ".", ms=3, color=colour)
        axes[0, col].set_ylabel("voltage (V vs Na⁺/Na)")
        axes[0, col].legend(fontsize="small")
        axes[1, col].axhline(0.0, color="0.5", lw=0.8)
        axes[1, col].set_ylabel("residual (mV)")
        axes[1, col].set_xlabel(label)
    fig.suptitle(_title(summary), fontsize="small")
    return fig


def draw_fit_figures(fit_dir: Path, out_dir: Path) -> list[Path]:
    """Draw ``fit.png`` (+ PDF) of the fit directory ``fit_dir`` into ``out_dir``; returns the files."""
    curves = read_csv_columns(fit_dir / "curves.csv")
    summary = json.loads((fit_dir / "fit.json").read_text())
    return save(fit_figure(curves, summary), out_dir / "fit.png")


__all__ = ["draw_fit_figures", "fit_figure"]

"""The figure of a GITT analysis: D against stoichiometry by Weppner–Huggins and by the model fit
(with its 95 % intervals), from the rows of ``diffusivity.csv``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ecmx.postprocess.plotting import new_figure, save


def draw_diffusivity(ax: Any, rows: Sequence[Mapping[str, float]], title: str = "",
                     truth: tuple[Sequence[float], Sequence[float]] | None = None) -> None:
    """Draw D [m²/s] (log axis) against θ for both methods on ``ax``; ``truth`` an optional known D(θ)."""
    theta = np.array([r["stoichiometry"] for r in rows], dtype=float)
    wh = np.array([r["D_weppner_huggins_m2_s"] for r in rows], dtype=float)
    model = np.array([r["D_model_m2_s"] for r in rows], dtype=float)
    if truth is not None:
        ax.plot(truth[0], truth[1], color="0.6", lw=1.5, label="D(θ) of the simulation")
    ax.plot(theta, wh, "s", mfc="none", label="Weppner–Huggins, V/S = R/3")
    if np.isfinite(model).any():
        low = np.array([r["D_low"] for r in rows], dtype=float)
        high = np.array([r["D_high"] for r in rows], dtype=float)
        ax.errorbar(theta, model, yerr=[model - low, high - model], fmt="o", ms=4, capsize=3,
                    label="sphere-1d model fit (95 % interval)")
    ax.set_yscale("log")
    ax.set_xlabel("stoichiometry θ = c/c_max")
    ax.set_ylabel("D (m²/s)")
    if title:
        ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)


def diffusivity_figure(rows: Sequence[Mapping[str, float]], path: Path, title: str = "",
                       truth: tuple[Sequence[float], Sequence[float]] | None = None) -> list[Path]:
    """:func:`draw_diffusivity` on its own figure, written to ``path`` (PNG and PDF)."""
    fig = new_figure(figsize=(6.0, 4.2), layout="constrained")
    draw_diffusivity(fig.add_subplot(), rows, title, truth)
    return save(fig, path)

"""The figure of a GITT analysis: D against stoichiometry by Weppner–Huggins and by the model fit
(with its 95 % intervals), from the rows of ``diffusivity.csv``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from ecmx.postprocess.plotting import new_figure, save


def diffusivity_figure(rows: Sequence[Mapping[str, float]], path: Path, title: str = "",
                       truth: tuple[np.ndarray, np.ndarray] | None = None) -> list[Path]:
    """Plot D [m²/s] (log axis) against θ for both methods and write ``path`` (PNG and PDF).

    ``rows`` hold the diffusivity.csv columns; ``truth`` an optional known D(θ) (θ, D) to draw.
    """
    fig = new_figure(figsize=(6.0, 4.2), layout="constrained")
    ax = fig.add_subplot()
    theta = np.array([r["stoichiometry"] for r in rows], dtype=float)
    wh = np.array([r["D_weppner_huggins_m2_s"] for r in rows], dtype=float)
    model = np.array([r["D_model_m2_s"] for r in rows], dtype=float)
    if truth is not None:
        ax.plot(truth[0], truth[1], color="0.6", lw=1.5, label="D(θ) of the simulation")
    ax.plot(theta, wh, "s", mfc="none", label="Weppner–Huggins, V/S = R/3")
    if np.isfinite(model).any():
        low = np.array([r["D_low"] for r in rows], dtype=float)
        high = np.array([r["D_high"] for r in rows], dtype=float)
        ax.errorbar(theta, model, yerr=[model - low, high - model], fmt="o", capsize=3,
                    label="sphere-1d model fit (95 % interval)")
    ax.set_yscale("log")
    ax.set_xlabel("stoichiometry θ = c/c_max")
    ax.set_ylabel("D (m²/s)")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return save(fig, path)

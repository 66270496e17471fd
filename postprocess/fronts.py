"""Figures of the phase boundary in phase-separating particles, against a solid-solution particle.

- :func:`front_profiles`: the core–shell front at each compared depth of discharge: the local
  state of discharge (θ − θ_lo)/(θ_hi − θ_lo) and the radial, hoop and von Mises stresses against
  r/R, every run on the same axes (a two-phase particle shows a step and a stress jump at the
  front, a solid solution a smooth profile), the front radius of ``timeseries.csv`` dashed.
- :func:`front_radius`: ``phase_boundary_radius_m`` against depth of discharge, with the
  shrinking-core mass balance (:func:`shrinking_core_radius`).
- :func:`free_energy`: ``free_energy_J`` against depth of discharge.

Each returns its Figure, or None (nothing written) when no run has the columns it draws (Fickian
runs have no phase boundary). Stresses in MPa, tension positive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from ecmx.postprocess.labels import run_label
from ecmx.postprocess.plotting import colour_cycle, new_figure, save
from ecmx.postprocess.rundata import RunData
from ecmx.postprocess.slices import radial_profile
from ecmx.solver.physics.phase_field import binodal
from ecmx.solver.units import R_GAS

MPA = 1e-6
RADIUS_COLUMN = "phase_boundary_radius_m"
ENERGY_COLUMN = "free_energy_J"
FRONT_ROWS = (
    ("concentration", "local state of discharge\n" r"$(\theta-\theta_{lo})/(\theta_{hi}-\theta_{lo})$"),
    ("radial_stress", r"$\sigma_r$ (MPa)"),
    ("tangential_stress", r"$\sigma_\theta$ (MPa)"),
    ("von_mises", r"$\sigma_{vM}$ (MPa)"),
)


def shrinking_core_radius(dod: np.ndarray, window: tuple[float, float], gap: tuple[float, float]) -> np.ndarray:
    """r_f/R of the shrinking-core mass balance: a Na-poor core at θ_α inside a Na-rich shell at θ_β
    holding the mean θ̄ = θ_lo + DOD (θ_hi − θ_lo), so (r_f/R)³ = (θ_β − θ̄)/(θ_β − θ_α) (clipped to
    [0, 1]); with the window equal to the gap, r_f = R (1 − DOD)^{1/3}."""
    (lo, hi), (alpha, beta) = window, gap
    mean = lo + np.asarray(dod, dtype=float) * (hi - lo)
    return np.cbrt(np.clip((beta - mean) / (beta - alpha), 0.0, 1.0))


def miscibility_gap(run: RunData) -> tuple[float, float] | None:
    """(θ_α, θ_β) of a run's phase-field material at its temperature (the regular solution's binodal),
    None for a solid solution or Ω_a ≤ 2RT (no gap)."""
    phase_field = getattr(run.case.material, "phase_field", None)
    if phase_field is None:
        return None
    rt = R_GAS * run.case.temperature
    return binodal(phase_field.interaction_energy, rt) if phase_field.interaction_energy > 2 * rt else None


def _front_runs(runs: Sequence[RunData], column: str) -> list[RunData]:
    return [run for run in runs if column in run.timeseries and np.isfinite(run.timeseries[column]).any()]


def _discharging(run: RunData) -> np.ndarray:
    """Rows of the discharge (and the initial state): rests and charges would fold a curve on DOD."""
    ts = run.timeseries
    return (ts["current_A"] < 0) | (ts["time_s"] == 0)


def _particle_radius_m(run: RunData) -> float:
    """R [m] that the front radius is measured against (the mesh's mean particle radius)."""
    snapshots = run.snapshots
    return snapshots[0].radius * 1e-6 if snapshots else run.case.geometry.particle.radius


def front_radius(runs: Sequence[RunData], path: Path) -> Figure | None:
    """r_f/R against DOD for every phase-field run, with its shrinking-core mass balance (dashed)."""
    fronts = _front_runs(runs, RADIUS_COLUMN)
    if not fronts:
        return None
    fig = new_figure(figsize=(6, 4.2), layout="tight")
    ax = fig.add_subplot()
    for run in fronts:
        ts, rows = run.timeseries, _discharging(run)
        dod = ts["depth_of_discharge"][rows]
        (line,) = ax.plot(100 * dod, ts[RADIUS_COLUMN][rows] / _particle_radius_m(run), label=run_label(run.case))
        gap = miscibility_gap(run)
        if gap is not None:
            grid = np.linspace(0.0, 1.0, 201)
            law = shrinking_core_radius(grid, run.case.material.stoichiometry_window, gap)
            ax.plot(100 * grid, law, "--", color=line.get_color(),
                    label=fr"mass balance, gap [{gap[0]:.3f}, {gap[1]:.3f}]")
    ax.set_xlabel("depth of discharge (%)")
    ax.set_ylabel(r"front radius $r_f/R$ (θ = 0.5 surface, equivalent sphere)")
    ax.set_ylim(0.0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)
    return fig


def _front_at(run: RunData, time_s: float) -> float:
    """r_f/R of a run at ``time_s`` (interpolated in timeseries.csv); NaN without the column."""
    ts = run.timeseries
    if RADIUS_COLUMN not in ts or not math.isfinite(time_s):
        return math.nan
    return float(np.interp(time_s, ts["time_s"], ts[RADIUS_COLUMN])) / _particle_radius_m(run)


def _profile_values(run: RunData, quantity: str, values: np.ndarray) -> np.ndarray:
    """Local state of discharge for the concentration, MPa for the stresses."""
    if quantity != "concentration":
        return values * MPA
    lo, hi = run.case.material.stoichiometry_window
    return (values / run.c_max - lo) / (hi - lo)


def front_profiles(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> Figure | None:
    """The front at each DOD (columns): local state of discharge and σ_r, σ_θ, σ_vM against r/R
    (mean over rays from the centre); dashed: each phase-field run's front radius."""
    if not _front_runs(runs, RADIUS_COLUMN):
        return None
    fig = new_figure(figsize=(3.3 * len(dods), 2.3 * len(FRONT_ROWS)), layout="tight")
    axes = fig.subplots(len(FRONT_ROWS), len(dods), squeeze=False, sharex=True)
    colours = colour_cycle()
    for j, dod in enumerate(dods):
        for k, run in enumerate(runs):
            snap, colour = run.snapshot_at(dod), colours[k % len(colours)]
            if snap is None:
                continue
            front = _front_at(run, snap.time_s)
            for i, (quantity, _) in enumerate(FRONT_ROWS):
                if not snap.has(quantity):
                    continue
                prof = radial_profile(snap, quantity)
                axes[i, j].plot(prof["x"], _profile_values(run, quantity, prof["mean"]), color=colour,
                                label=run_label(run.case))
                if math.isfinite(front):
                    axes[i, j].axvline(front, color=colour, ls="--", lw=0.8)
        axes[0, j].set_title(f"DOD {100 * dod:.0f} %")
        axes[-1, j].set_xlabel("r/R")
    for i, (_, label) in enumerate(FRONT_ROWS):
        axes[i, 0].set_ylabel(label)
    for ax in axes.ravel():
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    save(fig, path)
    return fig


def free_energy(runs: Sequence[RunData], path: Path) -> Figure | None:
    """The particle free energy [J] against DOD for every run that reports it."""
    reporting = _front_runs(runs, ENERGY_COLUMN)
    if not reporting:
        return None
    fig = new_figure(figsize=(6, 4), layout="tight")
    ax = fig.add_subplot()
    for run in reporting:
        ts, rows = run.timeseries, _discharging(run)
        ax.plot(100 * ts["depth_of_discharge"][rows], ts[ENERGY_COLUMN][rows], label=run_label(run.case))
    ax.set_xlabel("depth of discharge (%)")
    ax.set_ylabel("particle free energy (J)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    save(fig, path)
    return fig

"""Comparison figures: the slice grid (pyvista, off-screen) and line plots (matplotlib).

- :func:`figure_grid`: rows = cases, columns = depths of discharge; a block of mid-plane slices
  of c_s/c_s,max and a block of von Mises stress, each with one colour scale shared by all its
  panels (the Fig. 5 of the EES paper). The slice data behind every panel are saved as ``.vtp``
  files next to the PNG, so the picture can be checked against the field files.
- :func:`voltage_capacity`, :func:`radial_profiles`, :func:`peaks_vs_dod`,
  :func:`surface_von_mises`: the plots of COMSOL's diffusion-induced-stress tutorial.

Stresses are drawn in MPa, tension positive; lengths in µm.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pyvista as pv  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from ecmx.postprocess.rundata import RunData, Snapshot  # noqa: E402
from ecmx.postprocess.slices import mid_plane_slice, radial_profile  # noqa: E402

MPA = 1e-6
PANEL_PIXELS = 360
BLOCKS = (
    # (array drawn, colour-bar label, colour map)
    ("c_ratio", r"$c_s/c_{s,\max}$", "viridis"),
    ("c_deviation", r"$(c_s-\bar c_s)/c_{s,\max}$", "RdBu_r"),
    ("von_mises_MPa", "von Mises stress (MPa)", "inferno"),
)
"""The blocks of the grid. The deviation from the particle's mean concentration shows the
heterogeneity that a colour scale spanning the whole discharge (first block) cannot."""


def _quiet_vtk() -> None:
    """Silence VTK's 'no X server' warning: rendering is off-screen on purpose."""
    try:
        from vtkmodules.vtkCommonCore import vtkLogger

        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    except ImportError:  # older VTK: the warning is harmless
        pass


def dod_label(dod: float) -> str:
    return f"DOD {100 * dod:.0f} %"


def case_label(run: RunData) -> str:
    return run.case.material.name.upper() if run.case.material.name else run.name


def slice_of(run: RunData, snapshot: Snapshot) -> pv.PolyData:
    """Mid-plane slice with the drawn arrays: ``c_ratio`` = c_s/c_s,max, ``c_deviation`` =
    (c_s − c̄_s)/c_s,max with c̄_s the particle's volume average, and ``von_mises_MPa``."""
    plane = mid_plane_slice(snapshot, ["concentration", "von_mises"])
    if "concentration" in plane.array_names:
        data = plane.point_data if "concentration" in plane.point_data else plane.cell_data
        c = np.asarray(data["concentration"])
        mean = snapshot.mean_concentration
        if not np.isfinite(mean):
            mean = float(snapshot.values("concentration").mean())
        data["c_ratio"] = c / run.c_max
        data["c_deviation"] = (c - mean) / run.c_max
    if "von_mises" in plane.array_names:
        data = plane.point_data if "von_mises" in plane.point_data else plane.cell_data
        data["von_mises_MPa"] = np.asarray(data["von_mises"]) * MPA
    return plane


def _array_range(planes: Sequence[pv.PolyData], name: str) -> tuple[float, float]:
    values = [np.asarray(p[name]) for p in planes if name in p.array_names]
    if not values:
        return (0.0, 1.0)
    lo, hi = float(min(v.min() for v in values)), float(max(v.max() for v in values))
    if hi - lo < 1e-12 * max(abs(hi), 1.0):
        hi = lo + max(abs(lo) * 1e-6, 1e-12)
    return lo, hi


def render_panel(plane: pv.PolyData, name: str, cmap: str, clim: tuple[float, float], radius: float) -> np.ndarray:
    """One slice drawn off-screen, looking along −y with z up, framed on the particle; RGB image."""
    plotter = pv.Plotter(off_screen=True, window_size=(PANEL_PIXELS, PANEL_PIXELS))
    plotter.set_background("white")
    preference = "point" if name in plane.point_data else "cell"
    plotter.add_mesh(plane, scalars=name, preference=preference, cmap=cmap, clim=clim, show_scalar_bar=False, lighting=False)
    plotter.view_xz()
    plotter.enable_parallel_projection()
    plotter.camera.parallel_scale = 1.08 * radius
    image = plotter.screenshot(return_img=True)
    plotter.close()
    return image


def figure_grid(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> dict[str, tuple[float, float]]:
    """Write the slice grid PNG to ``path`` and the slice data to ``path.parent/slices/``.

    Returns the shared colour range of each drawn quantity.
    """
    _quiet_vtk()
    path.parent.mkdir(parents=True, exist_ok=True)
    slice_dir = path.parent / "slices"
    slice_dir.mkdir(exist_ok=True)
    planes: dict[tuple[int, int], pv.PolyData] = {}
    for i, run in enumerate(runs):
        for j, dod in enumerate(dods):
            snap = run.snapshot_at(dod)
            if snap is None:
                continue
            plane = slice_of(run, snap)
            plane.save(slice_dir / slice_file_name(run, dod))
            planes[(i, j)] = plane
    ranges = {name: _array_range(list(planes.values()), name) for name, _, _ in BLOCKS}
    ranges["von_mises_MPa"] = (0.0, ranges["von_mises_MPa"][1])
    bound = max(abs(v) for v in ranges["c_deviation"])
    ranges["c_deviation"] = (-bound, bound)

    nrows, ncols = len(BLOCKS) * len(runs), len(dods)
    # explicit layout in inches: square panels, row labels left, one colour bar per block right
    panel, gap, block_gap, left, top, bottom, bar, right = 2.0, 0.06, 0.25, 0.9, 0.7, 0.1, 0.15, 1.0
    width = left + ncols * panel + (ncols - 1) * gap + 0.2 + bar + right
    height = top + nrows * panel + (nrows - len(BLOCKS)) * gap + (len(BLOCKS) - 1) * block_gap + bottom
    fig = plt.figure(figsize=(width, height))

    def box(x0: float, y_top: float, w: float, h: float) -> list[float]:
        return [x0 / width, (height - y_top - h) / height, w / width, h / height]

    for b, (name, label, cmap) in enumerate(BLOCKS):
        block_top = top + b * (len(runs) * panel + (len(runs) - 1) * gap + block_gap)
        for i, run in enumerate(runs):
            y = block_top + i * (panel + gap)
            for j, dod in enumerate(dods):
                ax = fig.add_axes(box(left + j * (panel + gap), y, panel, panel))
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_visible(False)
                plane = planes.get((i, j))
                if plane is not None and name in plane.array_names:
                    ax.imshow(render_panel(plane, name, cmap, ranges[name], run.snapshots[0].radius))
                else:
                    ax.text(0.5, 0.5, "no data", ha="center", va="center", transform=ax.transAxes)
                if b == 0 and i == 0:
                    ax.set_title(dod_label(dod))
                if j == 0:
                    radius_um = run.case.geometry.particle.radius / 1e-6
                    ax.set_ylabel(f"{case_label(run)}\nR = {radius_um:g} µm", fontsize=10)
        block_height = len(runs) * panel + (len(runs) - 1) * gap
        bar_left = left + ncols * panel + (ncols - 1) * gap + 0.2
        cax = fig.add_axes(box(bar_left, block_top + 0.1 * panel, bar, block_height - 0.2 * panel))
        fig.colorbar(plt.cm.ScalarMappable(norm=Normalize(*ranges[name]), cmap=cmap), cax=cax, label=label)
    fig.suptitle("Mid-plane (y = 0) slices; the Na-metal face is above (+z)", fontsize=10, y=1 - 0.15 / height)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return ranges


def slice_file_name(run: RunData, dod: float) -> str:
    return f"{run.name}_dod{round(100 * dod):03d}.vtp"


def _capacity(run: RunData) -> np.ndarray:
    """Delivered capacity (mAh/g) along the run: DOD × the material's usable capacity."""
    return run.timeseries["depth_of_discharge"] * run.case.material.capacity_mAh_per_g


def voltage_capacity(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> None:
    """Cell voltage against delivered capacity, with the snapshot states marked."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for run in runs:
        cap, volt = _capacity(run), run.timeseries["voltage_V"]
        (line,) = ax.plot(cap, volt, label=case_label(run))
        for dod in dods:
            k = np.argmin(np.abs(run.timeseries["depth_of_discharge"] - dod))
            ax.plot(cap[k], volt[k], "o", color=line.get_color(), ms=4)
    ax.set_xlabel("capacity delivered (mAh/g)")
    ax.set_ylabel("cell voltage vs Na/Na$^+$ (V)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


PROFILE_ROWS = (
    ("concentration", r"$(c_s-\bar c_s)/c_{s,\max}$"),
    ("radial_stress", r"$\sigma_r$ (MPa)"),
    ("tangential_stress", r"$\sigma_\theta$ (MPa)"),
    ("von_mises", r"$\sigma_{vM}$ (MPa)"),
)


def radial_profiles(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> None:
    """c_s − c̄_s (over c_s,max), σ_r, σ_θ and von Mises against r/R at each DOD (mean over rays,
    band = spread between rays). The concentration is shown relative to the particle mean so that
    materials at different stoichiometries share an axis."""
    fig, axes = plt.subplots(len(PROFILE_ROWS), len(dods), figsize=(3.3 * len(dods), 2.4 * len(PROFILE_ROWS)),
                             squeeze=False, sharex=True)
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for j, dod in enumerate(dods):
        for i, (quantity, label) in enumerate(PROFILE_ROWS):
            ax = axes[i, j]
            for k, run in enumerate(runs):
                snap = run.snapshot_at(dod)
                if snap is None or not snap.has(quantity):
                    continue
                prof = radial_profile(snap, quantity)
                offset, scale = 0.0, MPA
                if quantity == "concentration":
                    mean = snap.mean_concentration
                    offset = mean if np.isfinite(mean) else float(snap.values("concentration").mean())
                    scale = 1.0 / run.c_max
                colour = colours[k % len(colours)]
                ax.plot(prof["x"], (prof["mean"] - offset) * scale, color=colour, label=case_label(run))
                if not np.array_equal(prof["min"], prof["max"]):
                    low, high = (prof["min"] - offset) * scale, (prof["max"] - offset) * scale
                    ax.fill_between(prof["x"], low, high, color=colour, alpha=0.2, lw=0)
            ax.grid(alpha=0.3)
            if i == 0:
                ax.set_title(dod_label(dod))
            if j == 0:
                ax.set_ylabel(label)
            if i == len(PROFILE_ROWS) - 1:
                ax.set_xlabel("r/R")
    axes[0, 0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def peaks_vs_dod(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> None:
    """Peak von Mises stress and concentration spread (c_max − c_min)/c_s,max against DOD."""
    fig, (ax_vm, ax_c) = plt.subplots(1, 2, figsize=(10, 3.8))
    for run in runs:
        ts = run.timeseries
        discharging = (ts["current_A"] < 0) | (ts["time_s"] == 0)  # rests and charges would fold the curve
        dod = ts["depth_of_discharge"][discharging]
        (line,) = ax_vm.plot(dod * 100, ts["von_mises_max"][discharging] * MPA, label=case_label(run))
        spread = (ts["c_max"] - ts["c_min"])[discharging] / run.c_max
        ax_c.plot(dod * 100, spread, color=line.get_color(), label=case_label(run))
        for d in dods:
            snap = run.snapshot_at(d)
            if snap is None:
                continue
            if snap.has("von_mises"):
                ax_vm.plot(100 * d, snap.values("von_mises").max() * MPA, "o", color=line.get_color(), ms=4)
            c = snap.values("concentration")
            ax_c.plot(100 * d, (c.max() - c.min()) / run.c_max, "o", color=line.get_color(), ms=4)
    ax_vm.set_ylabel("peak von Mises stress (MPa)")
    ax_c.set_ylabel(r"$(c_{\max}-c_{\min})/c_{s,\max}$")
    for ax in (ax_vm, ax_c):
        ax.set_xlabel("depth of discharge (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle("lines: every discharge step (timeseries.csv, DG-node peaks); dots: snapshot field files (nodal)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def surface_von_mises(runs: Sequence[RunData], path: Path, probe: str = "surface") -> bool:
    """Von Mises stress at the surface probe against time; False (no file) if no run has that probe."""
    fig, ax = plt.subplots(figsize=(6, 4))
    drawn = False
    for run in runs:
        series = run.probe_series(probe)
        if not series or "von_mises" not in series:
            continue
        ax.plot(series["time_s"] / 60.0, series["von_mises"] * MPA, label=case_label(run))
        drawn = True
    if drawn:
        ax.set_xlabel("time (min)")
        ax.set_ylabel(f"von Mises stress at probe '{probe}' (MPa)")
        ax.grid(alpha=0.3)
        ax.legend()
        fig.tight_layout()
        fig.savefig(path, dpi=120)
    plt.close(fig)
    return drawn

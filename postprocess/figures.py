"""Comparison figures: the slice grid (pyvista, off-screen) and line plots (matplotlib).

- :func:`figure_grid`: rows = cases, columns = depths of discharge; blocks of mid-plane slices of
  c_s/c_s,max, of its deviation from the particle mean, of von Mises stress and of the largest
  principal (tensile, crack-driving) stress, each with one colour scale shared by all its panels
  (the Fig. 5 of the EES paper) or, with ``scale="own"``, one colour scale per case (row), so that a
  material with small values is not drawn in one colour beside a large one. The slice data behind
  every panel are saved as ``.vtp`` files next to the PNG, so the picture can be checked against
  the field files.
- :func:`voltage_capacity`, :func:`radial_profiles`, :func:`peaks_vs_dod`,
  :func:`surface_von_mises`: the plots of COMSOL's diffusion-induced-stress tutorial.

Stresses are drawn in MPa, tension positive; lengths in µm. Every function returns its
:class:`matplotlib.figure.Figure` and writes a PNG with a PDF beside it; none uses pyplot or
changes the matplotlib backend (:mod:`ecmx.postprocess.plotting`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyvista as pv
from matplotlib import rcParams
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox, TransformedBbox

from ecmx.postprocess.labels import run_label
from ecmx.postprocess.plotting import colour_cycle, colour_scale, new_figure, save
from ecmx.postprocess.rundata import RunData, Snapshot
from ecmx.postprocess.slices import mid_plane_slice
from ecmx.postprocess.slices import radial_profiles as radial_profiles_of

MPA = 1e-6
BLOCKS = (
    # (array drawn, colour-bar label, colour map)
    ("c_ratio", r"$c_s/c_{s,\max}$", "viridis"),
    ("c_deviation", r"$(c_s-\bar c_s)/c_{s,\max}$", "RdBu_r"),
    ("von_mises_MPa", "von Mises stress (MPa)", "inferno"),
    ("max_principal_MPa", "largest principal stress (MPa)\n(tensile, crack-driving)", "magma"),
)
"""The blocks of the grid. The deviation from the particle's mean concentration shows the
heterogeneity that a colour scale spanning the whole discharge (first block) cannot."""


def dod_label(dod: float) -> str:
    return f"DOD {100 * dod:.0f} %"


def case_label(run: RunData) -> str:
    """The material as the papers write it (``HE-V``), with ``two-way`` for a two-way coupled run."""
    return run_label(run.case)


def slice_of(run: RunData, snapshot: Snapshot) -> pv.PolyData:
    """Mid-plane slice with the drawn arrays: ``c_ratio`` = c_s/c_s,max, ``c_deviation`` =
    (c_s − c̄_s)/c_s,max with c̄_s the particle's volume average, ``von_mises_MPa`` and
    ``max_principal_MPa`` (largest principal stress, tension positive)."""
    plane = mid_plane_slice(snapshot, ["concentration", "von_mises", "max_principal"])
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
    if "max_principal" in plane.array_names:
        data = plane.point_data if "max_principal" in plane.point_data else plane.cell_data
        data["max_principal_MPa"] = np.asarray(data["max_principal"]) * MPA
    return plane


def _array_range(planes: Sequence[pv.PolyData], name: str) -> tuple[float, float]:
    values = [np.asarray(p[name]) for p in planes if name in p.array_names]
    if not values:
        return (0.0, 1.0)
    lo, hi = float(min(v.min() for v in values)), float(max(v.max() for v in values))
    if hi - lo < 1e-12 * max(abs(hi), 1.0):
        hi = lo + max(abs(lo) * 1e-6, 1e-12)
    return lo, hi


def plane_triangles(plane: pv.PolyData) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x, z, triangles, cell index of each triangle) of a y = 0 slice: its polygons split into
    triangles (a fan per polygon), for drawing with matplotlib."""
    faces = np.asarray(plane.faces)
    tris, owner, k, cell = [], [], 0, 0
    while k < len(faces):
        n = int(faces[k])
        ids = faces[k + 1:k + 1 + n]
        tris += [(ids[0], ids[m], ids[m + 1]) for m in range(1, n - 1)]
        owner += [cell] * (n - 2)
        k, cell = k + n + 1, cell + 1
    points = np.asarray(plane.points)
    return points[:, 0], points[:, 2], np.asarray(tris, dtype=np.int64).reshape(-1, 3), np.asarray(owner, dtype=np.int64)


def draw_plane(ax, plane: pv.PolyData, name: str, cmap: str, clim: tuple[float, float], radius: float,  # noqa: ANN001
               box: Bbox | None = None) -> None:
    """One slice drawn into ``ax`` as vector triangles (nodal data interpolated, per-cell data flat),
    looking along −y with z up, framed on the particle: ±1.08 ``radius`` (µm) on each side.

    ``box`` None: the slice fills ``ax`` (its limits are set). Else ``box`` is the square, in
    ``ax``'s data units, that the frame is drawn into (clipped to it): many panels in one axes."""
    x, z, tris, owner = plane_triangles(plane)
    if box is not None:
        scale = box.width / (2.16 * radius)
        x, z = box.x0 + box.width / 2 + scale * x, box.y0 + box.height / 2 + scale * z
    if name in plane.point_data:
        drawn = ax.tripcolor(x, z, tris, np.asarray(plane.point_data[name], dtype=float), shading="gouraud", cmap=cmap,
                             vmin=clim[0], vmax=clim[1], rasterized=False)
    else:
        drawn = ax.tripcolor(x, z, tris, facecolors=np.asarray(plane.cell_data[name], dtype=float)[owner], cmap=cmap,
                             vmin=clim[0], vmax=clim[1], edgecolors="none")
    if box is not None:
        drawn.set_clip_box(TransformedBbox(box, ax.transData))
        return
    ax.set_aspect("equal")
    ax.set_xlim(-1.08 * radius, 1.08 * radius)
    ax.set_ylim(-1.08 * radius, 1.08 * radius)


def grid_slices(runs: Sequence[RunData], dods: Sequence[float]) -> dict[tuple[int, int], pv.PolyData]:
    """The mid-plane slice (:func:`slice_of`) of every (run index, DOD index) that has a snapshot."""
    return {(i, j): slice_of(run, snap) for i, run in enumerate(runs) for j, dod in enumerate(dods)
            if (snap := run.snapshot_at(dod)) is not None}


def save_slices(runs: Sequence[RunData], dods: Sequence[float], planes: dict[tuple[int, int], pv.PolyData],
                slice_dir: Path) -> None:
    """Each slice of :func:`grid_slices` as ``slice_dir/<run>_dodNNN.vtp``."""
    slice_dir.mkdir(parents=True, exist_ok=True)
    for (i, j), plane in planes.items():
        plane.save(slice_dir / slice_file_name(runs[i], dods[j]))


def colour_ranges(planes: Sequence[pv.PolyData]) -> dict[str, tuple[float, float]]:
    """The colour range of each block over ``planes``: von Mises from 0, the deviation symmetric."""
    ranges = {name: _array_range(list(planes), name) for name, _, _ in BLOCKS}
    ranges["von_mises_MPa"] = (0.0, ranges["von_mises_MPa"][1])
    bound = max(abs(v) for v in ranges["c_deviation"])
    ranges["c_deviation"] = (-bound, bound)
    return ranges


GRID_INCHES = {"panel": 2.0, "gap": 0.06, "block_gap": 0.25, "left": 0.9, "top": 0.7, "bottom": 0.1, "bar": 0.15,
               "right": 1.3}
"""Layout of the grid in inches: square panels, row labels left, colour bars right."""


@dataclass(frozen=True)
class GridLayout:
    """Where the grid's panels and colour bars lie, in inches from the figure's bottom left."""

    n_runs: int
    n_dods: int

    @property
    def width(self) -> float:
        g = GRID_INCHES
        return g["left"] + self.n_dods * g["panel"] + (self.n_dods - 1) * g["gap"] + 0.2 + g["bar"] + g["right"]

    @property
    def height(self) -> float:
        g, nrows = GRID_INCHES, len(BLOCKS) * self.n_runs
        return (g["top"] + nrows * g["panel"] + (nrows - len(BLOCKS)) * g["gap"] + (len(BLOCKS) - 1) * g["block_gap"]
                + g["bottom"])

    def row_top(self, block: int, run: int) -> float:
        """Distance of a panel row's top edge from the figure's top."""
        g = GRID_INCHES
        return g["top"] + block * (self.block_height + g["block_gap"]) + run * (g["panel"] + g["gap"])

    @property
    def block_height(self) -> float:
        return self.n_runs * GRID_INCHES["panel"] + (self.n_runs - 1) * GRID_INCHES["gap"]

    def panel(self, block: int, run: int, dod: int) -> Bbox:
        g = GRID_INCHES
        x0 = g["left"] + dod * (g["panel"] + g["gap"])
        return Bbox.from_bounds(x0, self.height - self.row_top(block, run) - g["panel"], g["panel"], g["panel"])

    def bar(self, top: float, height: float) -> list[float]:
        """A colour bar's axes rectangle (figure fraction) from its top (inches from the figure's top)."""
        g = GRID_INCHES
        left = g["left"] + self.n_dods * g["panel"] + (self.n_dods - 1) * g["gap"] + 0.2
        return [left / self.width, (self.height - top - height) / self.height, g["bar"] / self.width, height / self.height]


def figure_grid(runs: Sequence[RunData], dods: Sequence[float], path: Path, scale: str = "shared",
                write_slices: bool = True, planes: dict[tuple[int, int], pv.PolyData] | None = None) -> Figure:
    """Write the slice grid PNG (and PDF) to ``path`` and the slice data to ``path.parent/slices/``
    (unless ``write_slices`` is False: the other grid writes the same files).

    ``scale="shared"``: one colour scale per block for all panels; ``"own"``: one per case (row).
    Each colour bar's axes is labelled ``scale:<array>`` (shared) or ``scale:<array>:<case>`` (own)
    and spans its colour range. ``planes``: :func:`grid_slices` of the same runs and DODs, when
    already computed (the two grids share them). Every panel is drawn into one axes
    (``panels``; one Axes per panel cost a second of CPU per grid). Returns the Figure.
    """
    planes = grid_slices(runs, dods) if planes is None else planes
    if write_slices:
        save_slices(runs, dods, planes, path.parent / "slices")
    layout = GridLayout(len(runs), len(dods))
    fig = new_figure(figsize=(layout.width, layout.height))
    canvas = _panel_axes(fig, layout)
    shared = colour_ranges(list(planes.values()))
    for b, (name, label, cmap) in enumerate(BLOCKS):
        for i, run in enumerate(runs):
            own = colour_ranges([planes[k] for k in planes if k[0] == i]) if scale == "own" else shared
            for j in range(len(dods)):
                _draw_panel(canvas, layout.panel(b, i, j), planes.get((i, j)), name, cmap, own[name], run)
            if scale == "own":
                top = layout.row_top(b, i) + 0.1 * GRID_INCHES["panel"]
                cax = fig.add_axes(layout.bar(top, 0.8 * GRID_INCHES["panel"]), label=f"scale:{name}:{run.name}")
                fig.colorbar(colour_scale(*own[name], cmap), cax=cax, label=label if i == 0 else None)
        if scale != "own":
            cax = fig.add_axes(layout.bar(layout.row_top(b, 0) + 0.1 * GRID_INCHES["panel"],
                                          layout.block_height - 0.2 * GRID_INCHES["panel"]), label=f"scale:{name}")
            fig.colorbar(colour_scale(*shared[name], cmap), cax=cax, label=label)
    _grid_labels(canvas, layout, runs, dods)
    what = "one colour scale per block, shared by all panels" if scale != "own" else "each case (row) on its own colour scale"
    fig.suptitle(f"Mid-plane (y = 0) slices, {what}; the Na-metal face is above (+z)", fontsize=10,
                 y=1 - 0.15 / layout.height)
    save(fig, path, dpi=110)
    return fig


def _panel_axes(fig: Figure, layout: GridLayout) -> Axes:
    """One axes over the whole figure, axis off, its data units inches from the bottom left."""
    canvas = fig.add_axes((0.0, 0.0, 1.0, 1.0), label="panels")
    canvas.set_axis_off()
    canvas.set_autoscale_on(False)
    canvas.set_xlim(0.0, layout.width)
    canvas.set_ylim(0.0, layout.height)
    return canvas


def _grid_labels(canvas: Axes, layout: GridLayout, runs: Sequence[RunData], dods: Sequence[float]) -> None:
    """Column titles (DOD, above the first row, where an axes title would be: 6 pt above the panel)
    and each row's case label (left of its first panel)."""
    for j, dod in enumerate(dods):
        top = layout.panel(0, 0, j)
        canvas.text(top.x0 + top.width / 2, top.y1 + 6 / 72, dod_label(dod), ha="center", va="baseline",
                    fontsize=rcParams["axes.titlesize"])
    for b in range(len(BLOCKS)):
        for i, run in enumerate(runs):
            box = layout.panel(b, i, 0)
            canvas.text(box.x0 - 0.06 * box.width, box.y0 + box.height / 2,
                        f"{case_label(run)}\nR = {run.case.geometry.particle.radius / 1e-6:g} µm", fontsize=10,
                        rotation=90, ha="right", va="center")


def _draw_panel(canvas: Axes, box: Bbox, plane: pv.PolyData | None, name: str, cmap: str, clim: tuple[float, float],
                run: RunData) -> None:
    """One panel of the grid into ``box`` (inches) of ``canvas``: the slice, or 'no data'."""
    if plane is not None and name in plane.array_names:
        draw_plane(canvas, plane, name, cmap, clim, run.snapshots[0].radius, box)
    else:
        canvas.text(box.x0 + box.width / 2, box.y0 + box.height / 2, "no data", ha="center", va="center")


def slice_file_name(run: RunData, dod: float) -> str:
    return f"{run.name}_dod{round(100 * dod):03d}.vtp"


def _capacity(run: RunData) -> np.ndarray:
    """Delivered capacity (mAh/g) along the run: DOD × the material's usable capacity."""
    return run.timeseries["depth_of_discharge"] * run.case.material.capacity_mAh_per_g


def voltage_capacity(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> Figure:
    """Cell voltage against delivered capacity, with the snapshot states marked."""
    fig = new_figure(figsize=(6, 4), layout="tight")
    ax = fig.add_subplot()
    for run in runs:
        cap, volt = _capacity(run), run.timeseries["voltage_V"]
        (line,) = ax.plot(cap, volt, label=case_label(run))
        at = [int(np.argmin(np.abs(run.timeseries["depth_of_discharge"] - dod))) for dod in dods]
        ax.plot(np.asarray(cap)[at], np.asarray(volt)[at], "o", color=line.get_color(), ms=4)  # one artist per run
    ax.set_xlabel("capacity delivered (mAh/g)")
    ax.set_ylabel("cell voltage vs Na$^+$/Na (V)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)
    return fig


PROFILE_ROWS = (
    ("concentration", r"$(c_s-\bar c_s)$ / cycled window"),
    ("radial_stress", r"$\sigma_r$ (MPa)"),
    ("tangential_stress", r"$\sigma_\theta$ (MPa)"),
    ("von_mises", r"$\sigma_{vM}$ (MPa)"),
)


def _profile_scale(run: RunData, snap: Snapshot, quantity: str) -> tuple[float, float]:
    """(offset, factor) of a drawn profile: c_s relative to the particle mean per cycled window
    c_s,max(θ_hi − θ_lo); stresses in MPa."""
    if quantity != "concentration":
        return 0.0, MPA
    mean = snap.mean_concentration
    offset = mean if np.isfinite(mean) else float(snap.values("concentration").mean())
    return offset, 1.0 / run.case.material.usable_concentration


def _profiles(runs: Sequence[RunData], dods: Sequence[float]) -> dict[tuple[int, int], dict[str, dict[str, np.ndarray]]]:
    """The radial profile of each drawn quantity by (run index, DOD index), each snapshot sampled once."""
    profiles = {}
    for k, run in enumerate(runs):
        for j, dod in enumerate(dods):
            snap = run.snapshot_at(dod)
            drawn = [q for q, _ in PROFILE_ROWS if snap is not None and snap.has(q)]
            profiles[k, j] = radial_profiles_of(snap, drawn) if drawn else {}
    return profiles


def radial_profiles(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> Figure:
    """c_s − c̄_s (per cycled window), σ_r, σ_θ and von Mises against r/R, one column per DOD (mean
    over rays, band = spread between rays). The concentration is shown relative to the particle mean
    so that materials at different stoichiometries share an axis."""
    fig = new_figure(figsize=(3.3 * len(dods), 2.4 * len(PROFILE_ROWS)), layout="tight")
    axes = fig.subplots(len(PROFILE_ROWS), len(dods), squeeze=False, sharex=True)
    colours = colour_cycle()
    profiles = _profiles(runs, dods)
    for j, dod in enumerate(dods):
        for i, (quantity, label) in enumerate(PROFILE_ROWS):
            ax = axes[i, j]
            for k, run in enumerate(runs):
                snap, prof = run.snapshot_at(dod), profiles[k, j].get(quantity)
                if prof is None:
                    continue
                offset, scale = _profile_scale(run, snap, quantity)
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
    save(fig, path)
    return fig


PEAKS_SUBTITLE = ("Lines: the peak over the particle after every time step of the discharge (from timeseries.csv); "
                  "dots: the same peak read from the snapshot field files at the compared depths of discharge")


def peaks_vs_dod(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> Figure:
    """Peak von Mises stress and concentration spread (c_max − c_min) per cycled window against DOD."""
    fig = new_figure(figsize=(10, 4.1), layout="tight")
    ax_vm, ax_c = fig.subplots(1, 2)
    for run in runs:
        ts = run.timeseries
        discharging = (ts["current_A"] < 0) | (ts["time_s"] == 0)  # rests and charges would fold the curve
        dod = ts["depth_of_discharge"][discharging]
        window = run.case.material.usable_concentration
        (line,) = ax_vm.plot(dod * 100, ts["von_mises_max"][discharging] * MPA, label=case_label(run))
        ax_c.plot(dod * 100, (ts["c_max"] - ts["c_min"])[discharging] / window, color=line.get_color(), label=case_label(run))
        vm, spread = _snapshot_peaks(run, dods, window)
        for ax, dots in ((ax_vm, vm), (ax_c, spread)):
            if dots:  # one artist per run and axes (the dots in DOD order)
                ax.plot(*np.transpose(dots), "o", color=line.get_color(), ms=4)
    ax_vm.set_ylabel("peak von Mises stress (MPa)")
    ax_c.set_ylabel(r"$(c_{\max}-c_{\min})$ / cycled window $c_{s,\max}(\theta_{hi}-\theta_{lo})$")
    for ax in (ax_vm, ax_c):
        ax.set_xlabel("depth of discharge (%)")
        ax.grid(alpha=0.3)
        ax.legend()
    fig.suptitle(PEAKS_SUBTITLE, fontsize=8.5)
    save(fig, path)
    return fig


def _snapshot_peaks(run: RunData, dods: Sequence[float], window: float) -> tuple[list, list]:
    """(DOD %, peak von Mises in MPa) and (DOD %, (c_max − c_min)/``window``) read from the snapshot
    field files at each of ``dods`` that has a snapshot (von Mises only where it was written)."""
    vm, spread = [], []
    for d in dods:
        snap = run.snapshot_at(d)
        if snap is None:
            continue
        if snap.has("von_mises"):
            vm.append((100 * d, snap.values("von_mises").max() * MPA))
        c = snap.values("concentration")
        spread.append((100 * d, (c.max() - c.min()) / window))
    return vm, spread


def surface_von_mises(runs: Sequence[RunData], path: Path, probe: str = "surface") -> Figure | None:
    """Von Mises stress at the surface probe against time; None (no file) if no run has that probe."""
    fig = new_figure(figsize=(6, 4), layout="tight")
    ax = fig.add_subplot()
    drawn = False
    for run in runs:
        series = run.probe_series(probe)
        if not series or "von_mises" not in series:
            continue
        ax.plot(series["time_s"] / 60.0, series["von_mises"] * MPA, label=case_label(run))
        drawn = True
    if not drawn:
        return None
    ax.set_xlabel("time (min)")
    ax.set_ylabel(f"von Mises stress at probe '{probe}' (MPa)")
    ax.grid(alpha=0.3)
    ax.legend()
    save(fig, path)
    return fig

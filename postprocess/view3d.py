"""A COMSOL-like 3D view of the particle at each snapshot: the particle with its front half
(y < 0, facing the viewer) cut away, coloured by c_s/c_s,max and by von Mises stress on its
surface and on the cut, drawn off-screen with pyvista (no display needed; VTK's EGL/OSMesa
off-screen rendering). Rows: case × quantity, each row on its own colour scale; columns: depths of
discharge. Only runs on a 3D mesh are drawn; where off-screen rendering is not available the view
is skipped with one log line saying why, and the rest of the report is unaffected.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
from matplotlib.figure import Figure
from matplotlib.gridspec import GridSpec, SubplotSpec
from matplotlib.transforms import Bbox

from ecmx.postprocess.labels import run_label
from ecmx.postprocess.plotting import colour_scale, new_figure, save
from ecmx.postprocess.rundata import RunData, Snapshot

log = logging.getLogger(__name__)

MPA = 1e-6
PIXELS = 420
QUANTITIES = (
    # (canonical quantity, drawn array, colour-bar label, colour map)
    ("concentration", "c_ratio", r"$c_s/c_{s,\max}$", "viridis"),
    ("von_mises", "von_mises_MPa", "von Mises (MPa)", "inferno"),
)


def cut_particle(run: RunData, snapshot: Snapshot) -> pv.PolyData:
    """The particle's surface with its y < 0 half removed (so the cut at y = 0 shows the inside), with
    ``c_ratio`` = c_s/c_s,max and ``von_mises_MPa`` as point or cell arrays (µm)."""
    grid = snapshot.scalar_grid(["concentration", "von_mises"])
    for quantity, name, factor in (("concentration", "c_ratio", 1.0 / run.c_max), ("von_mises", "von_mises_MPa", MPA)):
        for data in (grid.point_data, grid.cell_data):
            if quantity in data:
                data[name] = np.asarray(data[quantity]) * factor
    half = grid.clip(normal=(0.0, -1.0, 0.0), origin=tuple(snapshot.centre), crinkle=False)
    return half.extract_surface(algorithm="dataset_surface")


def _quiet_vtk() -> None:
    """Silence VTK's 'bad X server connection' warning: rendering is off-screen on purpose."""
    try:
        from vtkmodules.vtkCommonCore import vtkLogger

        vtkLogger.SetStderrVerbosity(vtkLogger.VERBOSITY_OFF)
    except ImportError:  # older VTK: the warning is harmless
        pass


MULTI_SAMPLES = 0
"""No multisample anti-aliasing (pyvista's default is 8): each image is drawn at about half its
rendered size, and the downsampling smooths the edges; with 8 samples the software renderer took
twice the CPU (1.3 → 0.7 s for the comparison's 24 images), the figure's pixels differing only on
the particle's outline (570 of 2 million by more than 32/255)."""


def new_plotter() -> pv.Plotter:
    """The off-screen plotter the images are rendered with (white background, :data:`MULTI_SAMPLES`);
    close it after use."""
    plotter = pv.Plotter(off_screen=True, window_size=(PIXELS, PIXELS))
    plotter.ren_win.SetMultiSamples(MULTI_SAMPLES)
    plotter.set_background("white")
    return plotter


def render(surface: pv.PolyData, name: str, cmap: str, clim: tuple[float, float],
           plotter: pv.Plotter | None = None) -> np.ndarray:
    """One off-screen image (RGB) of ``surface`` coloured by ``name``, seen from the cut side.

    ``plotter``: render with this one (:func:`new_plotter`), which saves opening a render window per
    image (the same pixels). Its first image of each (``name``, association, ``cmap``) adds the mesh
    as an actor of that key; a later one gives that actor's pipeline ``surface`` as its input and
    ``clim`` as its range, and hides the others (pyvista's ``add_mesh``, 11 ms of Python per image,
    is not done again: the same pixels, see the tests). None: a plotter of its own.
    """
    if plotter is None:
        own = new_plotter()
        try:
            return render(surface, name, cmap, clim, own)
        finally:
            own.close()
    preference = "point" if name in surface.point_data else "cell"
    key = f"{name}:{preference}:{cmap}"
    actor = plotter.actors.get(key)
    if actor is None:
        # render=False: the screenshot renders the scene once (adding the mesh and resetting the camera
        # would each render it again after the first image; the same pixels)
        actor = plotter.add_mesh(surface, scalars=name, preference=preference, cmap=cmap, clim=clim, show_scalar_bar=False,
                                 smooth_shading=True, render=False, name=key)
    else:
        _pipeline_head(actor).SetInputDataObject(0, surface)
        actor.mapper.scalar_range = clim
    for other in plotter.actors.values():
        other.SetVisibility(other is actor)
    plotter.camera_position = [(1.2, -3.2, 1.6), (0.0, 0.0, 0.0), (0.0, 0.0, 1.0)]
    plotter.reset_camera(render=False)
    return plotter.screenshot(return_img=True)


def _pipeline_head(actor: Any) -> Any:
    """The first filter between ``actor``'s mapper and the data set it was given (pyvista's smooth
    shading, then its active-scalars filter): the one whose input is that data set's trivial producer."""
    from vtkmodules.vtkCommonExecutionModel import vtkTrivialProducer

    head = actor.mapper.GetInputAlgorithm()
    while not isinstance(upstream := head.GetInputAlgorithm(), vtkTrivialProducer):
        head = upstream
    return head


def particle_views(runs: Sequence[RunData], dods: Sequence[float], path: Path) -> Figure | None:
    """Write the 3D view PNG (+ PDF) of the 3D runs to ``path``; None (nothing written) when no run
    is 3D or off-screen rendering fails (logged)."""
    chosen = [run for run in runs if run.snapshots and run.snapshots[0].coordinate_system == "cartesian"]
    if not chosen:
        log.info("3D particle view skipped: no run on a 3D mesh")
        return None
    _quiet_vtk()
    try:
        images, ranges = _render_all(chosen, dods)
    except Exception as exc:  # no GL context, no EGL/OSMesa: the view is optional
        log.warning("3D particle view skipped: off-screen rendering is not available here (%s: %s)",
                    type(exc).__name__, exc)
        return None
    labels = [f"{run_label(run.case)}\n{label}" for run in chosen for _, _, label, _ in QUANTITIES]
    fig = image_grid(images, {row: colour_scale(*ranges[row], QUANTITIES[row % len(QUANTITIES)][3]) for row in ranges},
                     labels, dods)
    save(fig, path, dpi=110)
    return fig


def image_grid(images: dict[tuple[int, int], np.ndarray], scales: dict[int, Any], labels: Sequence[str],
               dods: Sequence[float]) -> Figure:
    """The figure of :func:`particle_views`: ``images`` by (row, column), ``scales[row]`` the colour
    bar right of a row's last image with ``labels[row]``, a column per DOD. Laid out as subplots with
    ``fig.colorbar(ax=..., fraction=0.06)`` would be, but every image is drawn into one axes (one
    Axes per image cost a second of CPU)."""
    rows = len(labels)
    fig = new_figure(figsize=(2.3 * len(dods) + 1.6, 2.3 * rows + 0.6))
    grid = GridSpec(rows, len(dods), figure=fig)
    canvas = fig.add_axes((0.0, 0.0, 1.0, 1.0), label="images")  # every image in one axes (figure fraction)
    canvas.set_axis_off()
    canvas.set_autoscale_on(False)
    for (i, j), image in images.items():
        cell = grid[i, j].get_position(fig)
        if j == len(dods) - 1:
            cell = _colour_bar(fig, grid[i, j], scales[i], labels[i])
        box = _image_box(fig, cell, image, anchor="C" if j < len(dods) - 1 else BAR_PANCHOR)
        drawn, part = trim_background(image, box)
        canvas.imshow(drawn, extent=(part.x0, part.x1, part.y0, part.y1), aspect="auto")
        if i == 0:
            canvas.text((box.x0 + box.x1) / 2, box.y1 + TITLE_PAD_PT / 72 / fig.get_figheight(),
                        f"DOD {100 * dods[j]:.0f} %", fontsize=10, ha="center", va="baseline")
    canvas.set_xlim(0.0, 1.0)
    canvas.set_ylim(0.0, 1.0)
    fig.suptitle("Particle with the front half (y < 0) cut away; the Na-metal face is above (+z)", fontsize=9)
    return fig


BAR = {"fraction": 0.06, "pad": 0.05, "aspect": 20.0, "anchor": (0.0, 0.5)}
"""A row's colour bar right of its last image: what ``fig.colorbar(ax=..., fraction=0.06)`` makes."""
BAR_PANCHOR = (1.0, 0.5)
"""Where the last image of a row sits in what its colour bar leaves of its cell."""
TITLE_PAD_PT = 6.0
"""An axes title's height above its axes (matplotlib's ``axes.titlepad``)."""


def _colour_bar(fig: Figure, cell: SubplotSpec, mappable: Any, label: str) -> Bbox:
    """The colour bar of a row beside ``cell``, placed as matplotlib places one that takes its room
    from the cell's axes (``make_axes_gridspec``: the cell split 0.89 | 0.05 pad | 0.06); returns
    the part of the cell left to the image (figure fraction)."""
    f, pad = BAR["fraction"], BAR["pad"]
    split = cell.subgridspec(3, 2, wspace=2 * pad / (1 - pad), hspace=0, height_ratios=[0, 1, 0],
                             width_ratios=[1 - f - pad, f])
    cax = fig.add_subplot(split[1, 1], label="<colorbar>")
    cax.set_anchor(BAR["anchor"])
    cax.set_box_aspect(BAR["aspect"])
    cax.set_aspect("auto")
    fig.colorbar(mappable, cax=cax, label=label)
    return split[:, 0].get_position(fig)


TRIM_MARGIN = 4
"""Background pixels kept around the particle when an image is trimmed (more than the resampling
filter reaches when the image is drawn at about half its size)."""


def trim_background(image: np.ndarray, box: Bbox) -> tuple[np.ndarray, Bbox]:
    """``image`` (drawn into ``box``) cut to the particle: the rows and columns that are not all white
    background, :data:`TRIM_MARGIN` more on each side, and the part of ``box`` they cover, so that
    it draws the same pixels. The particle fills a fifth of a render: the figure resamples, and its
    PDF embeds, a fifth of the data."""
    ink = (image[..., :3] != 255).any(axis=-1)
    rows, cols = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    if not len(rows):
        return image, box
    height, width = ink.shape
    r0, r1 = max(rows[0] - TRIM_MARGIN, 0), min(rows[-1] + 1 + TRIM_MARGIN, height)
    c0, c1 = max(cols[0] - TRIM_MARGIN, 0), min(cols[-1] + 1 + TRIM_MARGIN, width)
    dx, dy = box.width / width, box.height / height
    part = Bbox.from_extents(box.x0 + c0 * dx, box.y1 - r1 * dy, box.x0 + c1 * dx, box.y1 - r0 * dy)
    return image[r0:r1, c0:c1], part


def _image_box(fig: Figure, cell: Bbox, image: np.ndarray, anchor: Any) -> Bbox:
    """Where an image with equal aspect shows in ``cell`` (figure fraction): shrunk to the image's
    shape and anchored as an ``imshow`` axes would place it."""
    fig_aspect = fig.get_figheight() / fig.get_figwidth()
    return cell.shrunk_to_aspect(image.shape[0] / image.shape[1], cell, fig_aspect).anchored(anchor, cell)


def _render_all(runs: Sequence[RunData], dods: Sequence[float]) -> tuple[dict[tuple[int, int], np.ndarray],
                                                                        dict[int, tuple[float, float]]]:
    """Images keyed by (row, column) and the colour range of each row (case × quantity), all rendered
    with one plotter."""
    plotter = new_plotter()
    try:
        return _render_with(plotter, runs, dods)
    finally:
        plotter.close()


def _render_with(plotter: pv.Plotter, runs: Sequence[RunData],
                 dods: Sequence[float]) -> tuple[dict[tuple[int, int], np.ndarray], dict[int, tuple[float, float]]]:
    images, ranges = {}, {}
    for k, run in enumerate(runs):
        surfaces = {j: cut_particle(run, snap) for j, d in enumerate(dods) if (snap := run.snapshot_at(d)) is not None}
        for q, (_, name, _, cmap) in enumerate(QUANTITIES):
            row = k * len(QUANTITIES) + q
            values = [np.asarray(s[name]) for s in surfaces.values() if name in s.array_names]
            if not values:
                continue
            lo, hi = float(min(v.min() for v in values)), float(max(v.max() for v in values))
            ranges[row] = (lo, hi if hi > lo else lo + 1e-12)
            for j, surface in surfaces.items():
                images[(row, j)] = render(surface, name, cmap, ranges[row], plotter)
    return images, ranges

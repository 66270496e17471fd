"""The comparison's figures as independent jobs, so that worker processes can draw them side by side.

:data:`FIGURE_FILES` names every figure of a comparison (key → PNG file name; a PDF lies beside
each) and :func:`figure_functions` says how each is drawn from the runs. :func:`draw_figures`
draws them all into ``figures/``: in this process, or, given an executor of worker processes
(``concurrent.futures``; the comparison's own pool), one job per figure there, the costliest first,
while this process goes on with the tables. A job carries only the run directories, the depths of
discharge and the target path (:func:`draw_figure` reads the runs again, once per process), and
Matplotlib draws with its Agg canvas and pyvista off-screen in any process, so a figure drawn in a
worker is the same file as one drawn here. The slice grid on shared and on own scales write the
same ``slices/*.vtp`` files: in parallel only the first writes them.
"""

from __future__ import annotations

import concurrent.futures as cf
import functools
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ecmx.postprocess.rundata import RunData, load_run

Planes = dict[tuple[int, int], Any]
"""The grids' mid-plane slices by (run index, DOD index) (:func:`ecmx.postprocess.figures.grid_slices`)."""

FIGURE_FILES = {
    "grid": "grid.png", "grid_own": "grid_own_scale.png", "voltage": "voltage.png", "profiles": "profiles.png",
    "peaks": "peaks.png", "surface": "surface_von_mises.png", "view3d": "view3d.png",
    "front_profiles": "front_profiles.png", "front_radius": "front_radius.png", "free_energy": "free_energy.png",
    "voltammogram": "cyclic_voltammogram.png",
}
"""Every comparison figure in the report's order: key → PNG file name in ``figures/``."""
COSTLIEST_FIRST = ("view3d", "profiles", "grid_own", "grid", "peaks", "voltage", "surface")
"""Figures that take seconds (slices, renders, many axes), started first in a pool; the rest follow."""


def figure_functions(runs: Sequence[RunData], dods: Sequence[float], write_slices: bool = True,
                     planes: Callable[[], Planes] | None = None) -> dict[str, Callable[[Path], Any]]:
    """Key → function that draws that figure of ``runs`` at ``dods`` into a PNG path and returns the
    Figure, or None when it does not apply (nothing written). ``write_slices`` False: the grid on
    its own scales does not write ``slices/`` again (the shared grid writes the same files).
    ``planes``: gives the grids' mid-plane slices of these runs and DODs (default: computed at the
    first grid drawn and kept for the other)."""
    from ecmx.postprocess import figures as figs  # matplotlib: only in a process that draws
    from ecmx.postprocess import fronts, view3d, voltammetry

    planes = planes if planes is not None else functools.cache(lambda: figs.grid_slices(runs, dods))
    return {
        "grid": lambda p: figs.figure_grid(runs, dods, p, planes=planes()),
        "grid_own": lambda p: figs.figure_grid(runs, dods, p, scale="own", write_slices=write_slices, planes=planes()),
        "voltage": lambda p: figs.voltage_capacity(runs, dods, p),
        "profiles": lambda p: figs.radial_profiles(runs, dods, p),
        "peaks": lambda p: figs.peaks_vs_dod(runs, dods, p),
        "surface": lambda p: figs.surface_von_mises(runs, p),
        "view3d": lambda p: view3d.particle_views(runs, dods, p),
        "front_profiles": lambda p: fronts.front_profiles(runs, dods, p),
        "front_radius": lambda p: fronts.front_radius(runs, p),
        "free_energy": lambda p: fronts.free_energy(runs, p),
        "voltammogram": lambda p: voltammetry.cyclic_voltammogram(runs, p),
    }


@functools.lru_cache(maxsize=1)
def _runs(directories: tuple[str, ...]) -> list[RunData]:
    """The runs of ``directories``, read once per process for the jobs of one comparison."""
    return [load_run(Path(d)) for d in directories]


@functools.lru_cache(maxsize=1)
def _planes(directories: tuple[str, ...], dods: tuple[float, ...]) -> Planes:
    """The grids' slices of the runs in ``directories`` at ``dods``: a worker that draws both grids
    computes them once."""
    from ecmx.postprocess import figures as figs

    return figs.grid_slices(_runs(directories), dods)


def draw_figure(key: str, directories: Sequence[str], dods: Sequence[float], path: str, write_slices: bool) -> bool:
    """A worker's job: draw figure ``key`` of the runs in ``directories`` into ``path``; True when written."""
    planes = functools.partial(_planes, tuple(directories), tuple(dods))
    functions = figure_functions(_runs(tuple(directories)), dods, write_slices, planes)
    return draw_into(functions[key], Path(path))


def draw_into(draw: Callable[[Path], Any], path: Path) -> bool:
    """Draw one figure with ``draw`` (a function of :func:`figure_functions`) into ``path``; True when
    written. The figure is dropped here, with the cyclic garbage collector off while it is drawn and
    one collection after that frees it (:func:`ecmx.postprocess.plotting.garbage_collected_after`)."""
    from ecmx.postprocess.plotting import garbage_collected_after

    with garbage_collected_after():
        return draw(path) is not None


def draw_figures(runs: Sequence[RunData], dods: Sequence[float], fig_dir: Path,
                 pool: cf.Executor | None = None) -> dict[str, Path]:
    """The comparison's figures into ``fig_dir``: key → PNG path, in the order of :data:`FIGURE_FILES`
    (figures that do not apply are left out). ``pool``: draw them as jobs there (a pool that can no
    longer take jobs, e.g. after a worker died: here)."""
    return start_figures(runs, dods, fig_dir, pool)()


def start_figures(runs: Sequence[RunData], dods: Sequence[float], fig_dir: Path,
                  pool: cf.Executor | None = None) -> Callable[[], dict[str, Path]]:
    """Start :func:`draw_figures`: with a pool the jobs are submitted and this returns at once; call
    the returned function for the result (it waits for the jobs and raises a job's exception)."""
    fig_dir.mkdir(parents=True, exist_ok=True)
    paths = {key: fig_dir / name for key, name in FIGURE_FILES.items()}
    if not runs:
        return dict
    futures = _submit(runs, dods, paths, pool) if pool is not None else None
    if futures is None:
        functions = figure_functions(runs, dods)
        drawn = {key: draw_into(functions[key], path) for key, path in paths.items()}
        return lambda: {key: path for key, path in paths.items() if drawn[key]}
    return lambda: {key: path for key, path in paths.items() if futures[key].result()}


def _submit(runs: Sequence[RunData], dods: Sequence[float], paths: dict[str, Path],
            pool: cf.Executor) -> dict[str, cf.Future] | None:
    """Submit every figure as a job to ``pool`` (costliest first); the futures by key, or None when
    the pool takes no jobs."""
    directories = [str(run.directory) for run in runs]
    order = [*COSTLIEST_FIRST, *(key for key in paths if key not in COSTLIEST_FIRST)]
    try:
        return {key: pool.submit(draw_figure, key, directories, list(dods), str(paths[key]), key != "grid_own")
                for key in order}
    except RuntimeError:  # broken (cf.BrokenExecutor is one) or shut down
        return None

"""Matplotlib without pyplot: figures are :class:`matplotlib.figure.Figure` objects drawn on their
own canvas, so importing or calling the figure modules never touches the caller's backend or
pyplot's figure list, and every figure function can return its Figure.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # matplotlib is imported where a figure is drawn: a process that only reads runs
    # and writes tables (the comparison's main process, its figures drawn in workers) never loads it
    from matplotlib.axes import Axes
    from matplotlib.cm import ScalarMappable
    from matplotlib.figure import Figure

VECTOR_FORMAT = ".pdf"
"""The vector copy written beside every PNG."""
PNG_OPTIONS = {"pil_kwargs": {"compress_level": 1, "compress_type": 3}}
"""zlib's run-length strategy (Z_RLE) at level 1, not Pillow's default (level 6): the same pixels
encoded in 40 % of the CPU time (the comparison's eight PNGs: 1.65 → 0.69 s; level 3 alone 0.90 s),
the files 16 % larger in all (4.2 MB instead of 3.6 MB)."""


@contextmanager
def garbage_collected_after() -> Iterator[None]:
    """Draw with the cyclic garbage collector off, then collect once what the drawing made (drop
    the figure inside: it is the garbage).

    Matplotlib's artists, transforms and callbacks are reference cycles: a figure is freed only by
    the collector, and drawing one allocates enough to start dozens of collections, the full ones
    scanning again every object of matplotlib, pyvista and ecmx (~300 000) and those of the figures
    still alive. On entry the objects that exist are frozen out of the scans (:func:`gc.freeze`, a
    list splice); on exit one collection frees the figure's garbage scanning only what the drawing
    made, and the old objects go back (:func:`gc.unfreeze`; garbage among them, e.g. left by other
    work in a worker, goes with a later collection as it would have). Collections were ~0.7 s of
    the comparison's 5.7 s of figures' CPU (``bench/bench_figures.py --gc-off``). Where the collector
    is already off (someone else's choice) this does nothing. Where objects are frozen already (a
    caller's :func:`gc.freeze`) nothing is frozen or thawed: :func:`gc.unfreeze` would thaw the
    caller's objects too; the collection at the end then scans every object not frozen."""
    if not gc.isenabled():
        yield
        return
    freeze = gc.get_freeze_count() == 0
    gc.disable()
    if freeze:
        gc.freeze()
    try:
        yield
    finally:
        gc.collect()
        if freeze:
            gc.unfreeze()
        gc.enable()


def new_figure(**kwargs: Any) -> Figure:
    """A Figure that belongs to no pyplot state (``Figure(**kwargs)``)."""
    from matplotlib.figure import Figure

    return Figure(**kwargs)


def colour_scale(lo: float, hi: float, cmap: str) -> ScalarMappable:
    """A mappable for a colour bar over [lo, hi] in colour map ``cmap``."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    return ScalarMappable(norm=Normalize(lo, hi), cmap=cmap)


def save(fig: Figure, path: Path, dpi: int = 120, only: str | None = None) -> list[Path]:
    """Write ``fig`` as PNG at ``path`` and as a vector file beside it (same stem); returns the paths
    written. ``only`` (``".png"`` or :data:`VECTOR_FORMAT`): that one alone, the other being written
    elsewhere (e.g. by another process drawing the same figure).

    A figure with a layout engine (``layout="tight"`` or ``"constrained"``) is laid out once, as the
    PNG's draw would lay it out (:func:`lay_out`): the vector file takes the same axes positions
    instead of laying the figure out again with its own renderer's text metrics (measured: within
    0.7 pt on the comparison's figures). Then every axis's ticks are fixed where they are
    (:func:`freeze_ticks`), so that neither file's draw places them again. The engine and the
    tickers are restored afterwards."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    written = [target for target in (path, path.with_suffix(VECTOR_FORMAT)) if only in (None, target.suffix)]
    engine = fig.get_layout_engine()
    try:
        lay_out(fig, dpi)
        restore_ticks = freeze_ticks(fig)
        try:
            for target in written:
                fig.savefig(target, **(PNG_OPTIONS | {"dpi": dpi} if target.suffix == ".png" else {}))
        finally:
            restore_ticks()
    finally:
        if engine is not None:
            fig.set_layout_engine(engine)
    return written


def lay_out(fig: Figure, dpi: float) -> None:
    """Run ``fig``'s layout engine once, with the renderer a PNG at ``dpi`` is drawn with (the one
    the PNG's own draw would use: the same positions), and take the engine off so that no later
    draw lays the figure out again. ``fig`` is given an Agg canvas (if it has none), whose renderer
    the PNG's draw then reuses with the text extents and the parsed mathtext of the layout, as when
    the PNG's own draw lays it out (a canvas of its own would measure and parse every text again: a
    long mathtext label costs ~50 ms to parse)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    if not isinstance(fig.canvas, FigureCanvasAgg):
        FigureCanvasAgg(fig)  # the PNG's canvas: its renderer, text metrics and parsed mathtext kept for the PNG
    engine = fig.get_layout_engine()
    if engine is None:
        return
    screen = fig.dpi
    fig.dpi = dpi
    release = keep_drawn_ticks([ax for ax in fig.axes if ax.axison])
    try:
        engine.execute(fig)
    finally:
        release()
        fig.dpi = screen
    fig.set_layout_engine("none")


def freeze_ticks(fig: Figure) -> Callable[[], None]:
    """Fix the ticks of every axis of ``fig`` where its locator and formatter put them now: a fixed
    locator at the same positions and the same label strings (and offset text). Matplotlib otherwise
    runs the locator and the formatter again at every draw and every bounding box (the layout, each
    axis label's position: 26 times per axis on the profiles figure). Call when the figure is
    complete and laid out: the automatic locators choose their number of ticks from the axes' size.
    Each axis also keeps the ticks it draws (:func:`keep_drawn_ticks`). Returns the function that
    gives every axis its own locator, formatter and tick update back (call it after the files are
    written: a figure changed later places its ticks again)."""
    drawn = [ax for ax in fig.axes if ax.axison]
    kept = [fixed for ax in drawn for axis in (ax.xaxis, ax.yaxis) for which in ("major", "minor")
            if (fixed := _fix_ticks(axis, which)) is not None]
    release = keep_drawn_ticks(drawn)

    def restore() -> None:
        release()
        for ticker, locator, formatter in reversed(kept):
            ticker.locator, ticker.formatter = locator, formatter

    return restore


def keep_drawn_ticks(axes: Sequence[Axes]) -> Callable[[], None]:
    """Give each axis of ``axes`` an ``_update_ticks`` that places its ticks and returns those in view
    once per view interval and axes position, and returns the function that gives them matplotlib's
    back. Matplotlib's places every tick again (locator, formatter, each tick's position and label)
    each time the axis draws, measures a label's or a spine's extent, or a shared sibling does:
    ~12 times per axis in the profiles figure's layout and ~20 times per axis and file in its draws
    (PNG + PDF 0.78 → 0.64 s CPU, its layout 0.24 → 0.20 s). With the limits and the axes' place the same
    the ticks are the same: the locators choose from the view and the axes' length in points (not
    the dpi), and in the files' draws the ticks are fixed (:func:`freeze_ticks`)."""
    axes_of = [axis for ax in axes for axis in (ax.xaxis, ax.yaxis)]
    for axis in axes_of:
        axis._update_ticks = _kept_ticks(axis, axis._update_ticks)

    def release() -> None:
        for axis in axes_of:
            del axis._update_ticks

    return release


def _kept_ticks(axis: Any, update: Callable[[], list[Any]]) -> Callable[[], list[Any]]:
    """``update`` (``axis``'s tick update) run again only when the view or the axes' position changed.
    The position as placed (``original``; the active one follows from it, the view and the figure's
    size): reading the active one applies the aspect, which sets the position and invalidates every
    transform below it at each call."""
    kept: dict[str, Any] = {}

    def drawn_ticks() -> list[Any]:
        key = (tuple(axis.get_view_interval()), axis.axes.get_position(original=True).bounds)
        if kept.get("key") != key:
            kept["key"], kept["ticks"] = key, update()
        return kept["ticks"]

    return drawn_ticks


def _fix_ticks(axis: Any, which: str) -> tuple[Any, Any, Any] | None:
    """Give ``axis``'s ``which`` ("major" or "minor") ticker a fixed locator and formatter with the
    positions and labels its own give now; returns (ticker, its locator, its formatter), or None
    when there is nothing to fix (no ticks, or ticks already fixed: a shared axis shares its ticker)."""
    from matplotlib.ticker import FixedFormatter, FixedLocator, NullLocator

    ticker = getattr(axis, which)
    if isinstance(ticker.locator, NullLocator) or (isinstance(ticker.locator, FixedLocator)
                                                    and isinstance(ticker.formatter, FixedFormatter)):
        return None
    kept = (ticker, ticker.locator, ticker.formatter)
    locs = axis.get_majorticklocs() if which == "major" else axis.get_minorticklocs()
    formatter = FixedFormatter(ticker.formatter.format_ticks(locs))
    formatter.set_offset_string(ticker.formatter.get_offset())
    ticker.locator, ticker.formatter = FixedLocator(locs), formatter
    ticker.locator.set_axis(axis)
    formatter.set_axis(axis)
    return kept


def freeze_minor_ticks(ax: Axes) -> None:
    """Draw ``ax``'s minor tick marks as one line of markers per axis instead of one Tick each (the
    same marks: the props of the axis's own minor tick, at its minor locator's positions in the
    final view), and take the minor locator off. A Tick costs ~3 ms (five artists); a log axis over
    a few decades has dozens. Call when the axes' limits are final (they are fixed here)."""
    from matplotlib.lines import Line2D
    from matplotlib.ticker import NullLocator

    ax.set_xlim(ax.get_xlim())
    ax.set_ylim(ax.get_ylim())
    for axis in (ax.xaxis, ax.yaxis):
        locs = np.asarray(axis.get_minorticklocs(), dtype=float)
        template = axis.get_minor_ticks(1)[0].tick1line
        if template.get_visible() and len(locs):
            marks = Line2D([], [])
            marks.update_from(template)
            marks.set_transform(template.get_transform())
            marks.set_clip_on(False)
            marks.set_zorder(axis.get_zorder())  # drawn where the axis draws its ticks
            at, zero = _in_view(axis, locs), np.zeros(len(locs))
            marks.set_data(*((at, zero[:len(at)]) if axis is ax.xaxis else (zero[:len(at)], at)))
            ax.add_artist(marks)
        axis.set_minor_locator(NullLocator())
        axis.minorTicks.clear()


def _in_view(axis: Any, locs: np.ndarray) -> np.ndarray:
    """The positions of ``locs`` inside the view of ``axis`` (as its own tick update keeps them:
    within 1e-10 of the interval in the scale's coordinates)."""
    transform = axis.get_transform()
    lo, hi = sorted(transform.transform(np.asarray(axis.get_view_interval(), dtype=float)))
    at = transform.transform(locs)
    tol = 1e-10 * max(abs(hi - lo), 1e-300)
    return locs[(at >= lo - tol) & (at <= hi + tol)]


def colour_cycle() -> list[str]:
    """The default line colours (matplotlib's rcParams cycle)."""
    import matplotlib

    return matplotlib.rcParams["axes.prop_cycle"].by_key()["color"]

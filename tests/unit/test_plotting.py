"""ecmx.postprocess.plotting: the cheaper ways of drawing the same figure are the same pixels."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np
import pytest

from ecmx.postprocess.plotting import freeze_minor_ticks, new_figure, save


def _log_figure() -> tuple:  # noqa: ANN202
    fig = new_figure(figsize=(4, 3))
    ax = fig.add_subplot()
    ax.plot([1e-17, 3e-15, 1e-14], [0.4, 2e-2, 5e-4], "o-")
    ax.set_xscale("log")
    ax.set_yscale("log")
    return fig, ax


def test_frozen_minor_ticks_are_the_same_marks_without_tick_objects(tmp_path: Path) -> None:
    fig, _ = _log_figure()
    save(fig, tmp_path / "ticks.png", only=".png")
    fig, ax = _log_figure()
    expected = {"x": ax.xaxis.get_minorticklocs(), "y": ax.yaxis.get_minorticklocs()}
    freeze_minor_ticks(ax)
    save(fig, tmp_path / "frozen.png", only=".png")
    assert ax.xaxis.minorTicks == [] and ax.yaxis.minorTicks == []
    xs, ys = ax.lines[-2].get_xdata(), ax.lines[-1].get_ydata()  # the marks, after the plotted line
    lo, hi = ax.get_xlim()
    assert np.array_equal(xs, [v for v in expected["x"] if lo <= v <= hi]) and len(xs) > 20
    lo, hi = ax.get_ylim()
    assert np.array_equal(ys, [v for v in expected["y"] if lo <= v <= hi]) and len(ys) > 20
    a, b = (matplotlib.image.imread(tmp_path / name) for name in ("ticks.png", "frozen.png"))
    assert a.shape == b.shape and np.array_equal(a, b)


def test_the_3d_views_images_in_one_axes_are_the_pixels_of_one_axes_per_image(tmp_path: Path) -> None:
    """view3d.image_grid places its images, titles and colour bars where subplots with
    ``fig.colorbar(ax=..., fraction=0.06)`` (the former layout) put them, its images trimmed to
    what is not white background: the same PNG (to resampling round-off)."""
    from ecmx.postprocess import view3d
    from ecmx.postprocess.plotting import colour_scale

    rng = np.random.default_rng(3)
    dods, labels = (0.1, 0.5, 0.9), ["NVP\nc", "NVP\nvM"]
    images = {(i, j): np.full((60, 60, 3), 255, dtype=np.uint8) for i in range(2) for j in range(3)}
    for k, image in enumerate(images.values()):  # a particle on white (trimmed to it) ...
        image[10 + k:50, 15:40 + k] = (rng.random((40 - k, 25 + k, 3)) * 254).astype(np.uint8)
    images[(0, 2)] = (rng.random((60, 60, 3)) * 255).astype(np.uint8)  # ... or no background at all
    del images[(1, 1)]  # a missing snapshot leaves its panel empty
    scales = {0: colour_scale(0.0, 1.0, "viridis"), 1: colour_scale(2.0, 40.0, "inferno")}
    save(view3d.image_grid(images, scales, labels, dods), tmp_path / "one.png", dpi=110, only=".png")
    fig = new_figure(figsize=(2.3 * 3 + 1.6, 2.3 * 2 + 0.6))
    for (i, j), image in images.items():
        ax = fig.add_subplot(2, 3, i * 3 + j + 1)
        ax.imshow(image)
        ax.set_axis_off()
        if i == 0:
            ax.set_title(f"DOD {100 * dods[j]:.0f} %", fontsize=10)
        if j == 2:
            fig.colorbar(scales[i], ax=ax, fraction=0.06, label=labels[i])
    fig.suptitle("Particle with the front half (y < 0) cut away; the Na-metal face is above (+z)", fontsize=9)
    save(fig, tmp_path / "each.png", dpi=110, only=".png")
    a, b = (matplotlib.image.imread(tmp_path / name) for name in ("one.png", "each.png"))
    assert a.shape == b.shape and np.abs(a - b).max() <= 1.01 / 255  # resampling round-off at most
    assert np.mean(a != b) < 1e-3


def test_the_report_module_loads_no_plotting_library() -> None:
    """A process that reads runs and writes tables and the report, its figures drawn in worker
    processes (``ecmx compare``'s main process), imports neither matplotlib nor scipy.optimize."""
    import subprocess
    import sys

    code = ("import sys\nimport ecmx.postprocess.report, ecmx.postprocess.figure_jobs, ecmx.postprocess.sensitivity\n"
            "print(sorted(m for m in ('matplotlib', 'scipy.optimize') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def _shared_figure() -> tuple:  # noqa: ANN202
    fig = new_figure(figsize=(6, 4), layout="tight")
    axes = fig.subplots(2, 2, sharex=True)
    x = np.linspace(0.0, 1.0, 50)
    for k, ax in enumerate(axes.flat):
        ax.plot(x, 1e3 * (k + 1) * np.sin(3 * x) + 1e8, label=f"case {k}")  # an offset text on y
        ax.fill_between(x, -x, x, alpha=0.2)
        ax.set_ylabel(r"$\sigma_r$ (MPa)")
        ax.grid(alpha=0.3)
    axes[0, 0].legend()
    return fig, axes


def test_saved_figures_have_fixed_ticks_and_the_pixels_of_matplotlibs_own_layout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """save lays a figure out once as its PNG's draw would and then fixes every axis's ticks (no
    locator or formatter runs again at the PNG's and the PDF's draws): the PNG is byte for byte
    the one matplotlib writes laying the figure out itself, ticks, labels and offset text alike.
    Afterwards every axis has its own locator and formatter back."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import FixedFormatter, FixedLocator

    from ecmx.postprocess.plotting import PNG_OPTIONS

    fig, axes = _shared_figure()
    fig.savefig(tmp_path / "own.png", dpi=120, **PNG_OPTIONS)
    fig, axes = _shared_figure()
    own = [(ax.yaxis.get_major_locator(), ax.xaxis.get_major_formatter()) for ax in axes.flat]
    seen, savefig = [], Figure.savefig

    def recording(self: Figure, *args: object, **kwargs: object) -> None:
        seen.append([(type(ax.yaxis.get_major_locator()), type(ax.xaxis.get_major_formatter()), ax.yaxis.get_offset_text().get_text())
                     for ax in axes.flat])
        savefig(self, *args, **kwargs)
        seen[-1] = [(*before, ax.yaxis.get_offset_text().get_text()) for before, ax in zip(seen[-1], axes.flat, strict=True)]

    monkeypatch.setattr(Figure, "savefig", recording)
    save(fig, tmp_path / "fixed.png")
    assert len(seen) == 2  # the PNG and the PDF, both drawn with fixed tickers
    assert all(kind[:2] == (FixedLocator, FixedFormatter) for drawn in seen for kind in drawn)
    assert all(kind[3] and kind[3] == seen[0][0][3] for drawn in seen for kind in drawn)  # offset text drawn
    assert [(ax.yaxis.get_major_locator(), ax.xaxis.get_major_formatter()) for ax in axes.flat] == own
    assert fig.get_layout_engine() is not None  # restored
    assert (tmp_path / "own.png").read_bytes() == (tmp_path / "fixed.png").read_bytes()
    assert (tmp_path / "fixed.pdf").stat().st_size > 0


def test_each_axis_places_its_ticks_once_for_the_layout_and_once_for_both_files(tmp_path: Path,
                                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Matplotlib's tick update (locator, formatter, every tick's position and label placed again)
    runs once per axis for the layout and once for the PNG and the PDF together, not at every draw
    and extent of the axis, its spines and its shared siblings (~12 times per axis in the layout,
    ~20 in each file); afterwards each axis has matplotlib's back. The files are the pixels of
    matplotlib's own draw (the test above)."""
    from matplotlib.axis import Axis

    calls = []
    update = Axis._update_ticks

    def counted(self: Axis) -> list:
        calls.append(self)
        return update(self)

    fig, axes = _shared_figure()
    monkeypatch.setattr(Axis, "_update_ticks", counted)
    save(fig, tmp_path / "ticks.png")
    axis_objects = [axis for ax in axes.flat for axis in (ax.xaxis, ax.yaxis)]
    assert sorted(map(id, calls)) == sorted(2 * list(map(id, axis_objects)))
    assert all("_update_ticks" not in vars(axis) for axis in axis_objects)


def test_the_png_is_drawn_with_the_renderer_that_laid_the_figure_out(tmp_path: Path) -> None:
    """The layout's text extents and parsed mathtext serve the PNG's draw (one Agg renderer, as when
    matplotlib lays the figure out inside the PNG's draw): a mathtext label is parsed once for the
    layout and the PNG together (and twice for the PDF, whose text measurer and renderer have a
    parser each). A layout run on a canvas of its own would measure and parse everything again."""
    from matplotlib.mathtext import MathTextParser

    fig = new_figure(figsize=(4, 3), layout="tight")
    ax = fig.add_subplot()
    ax.plot([0.0, 1.0], [0.0, 1.0])
    ax.set_ylabel(r"$(c_{\max}-c_{\min})/c_{s,\max}(\theta_{hi}-\theta_{lo})$ in a test")
    before = MathTextParser._parse_cached.cache_info().misses
    save(fig, tmp_path / "label.png")
    assert MathTextParser._parse_cached.cache_info().misses - before == 1 + 2


def test_a_figure_job_draws_without_collections_and_frees_its_figure(tmp_path: Path) -> None:
    """figure_jobs.draw_into draws with the cyclic garbage collector off (no collection scans the
    modules' objects while matplotlib allocates) and frees the figure, a web of reference cycles,
    with one collection at the end; the collector is on again and what it froze is thawed, but not what a
    caller had frozen. With the collector already off (someone else's choice) it is left so."""
    import gc
    import weakref

    from ecmx.postprocess.figure_jobs import draw_into

    drawn, collections = [], []

    def draw(path: Path) -> object:
        fig = new_figure(figsize=(5, 4), layout="tight")
        ax = fig.add_subplot()
        for k in range(10):
            ax.plot(np.arange(50.0), k * np.arange(50.0), label=f"{k}")
        ax.legend(fontsize=6)
        save(fig, path)
        drawn.append(weakref.ref(fig))
        return fig

    def count(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append(info["generation"])

    assert gc.isenabled()
    frozen = gc.get_freeze_count()  # an earlier test in this process may have frozen objects
    gc.callbacks.append(count)
    try:
        assert draw_into(draw, tmp_path / "figure.png")
    finally:
        gc.callbacks.remove(count)
    assert collections == [2]  # the one at the end
    assert drawn[0]() is None  # the figure freed by it
    # thawed again, or, where objects were frozen before, left frozen (a few of them may have been freed meanwhile)
    assert gc.isenabled() and (gc.get_freeze_count() == 0 if frozen == 0 else gc.get_freeze_count() > 0.99 * frozen)
    gc.freeze()  # a caller's frozen objects stay frozen: only what draw_into froze is thawed
    mine = gc.get_freeze_count()
    try:
        assert draw_into(draw, tmp_path / "frozen.png")
        # still frozen (gc.unfreeze would leave 0; a few frozen objects may have been freed meanwhile)
        assert gc.isenabled() and gc.get_freeze_count() > 0.99 * mine and drawn[1]() is None
    finally:
        gc.unfreeze()
        if frozen:  # an earlier freeze of this process back
            gc.freeze()
    gc.disable()
    try:
        assert draw_into(draw, tmp_path / "again.png")
        assert not gc.isenabled() and drawn[2]() is not None  # left to whoever turned it off
    finally:
        gc.enable()

"""ecmx.postprocess.plotting: the cheaper ways of drawing the same figure are the same pixels."""

from __future__ import annotations

from pathlib import Path

import matplotlib.image
import numpy as np

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

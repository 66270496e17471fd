"""The sensitivity figure drawn as two jobs, its PNG and its PDF side by side (issue 14): the same
files as one draw writing both."""

from __future__ import annotations

import concurrent.futures as cf
from pathlib import Path

import pytest

from ecmx.postprocess import sensitivity as sens
from ecmx.postprocess.sensitivity import Point, State

AXES = (("shipped", [None]), ("diffusivity", [1e-16, 1e-15, 1e-14]), ("diffusivity_ratio", [1.0, 10.0, 100.0]),
        ("radius", [0.5e-6, 1e-6, 2e-6]))


def points() -> list[Point]:
    """A small synthetic study: the numerator heterogeneous where D is low, the denominator uniform."""
    found = []
    for axis, values in AXES:
        for k, value in enumerate(values):
            num = State(0.3 / (k + 1), 100.0, 50.0 / (k + 1), 40.0, 3.3, 0.5, 0.2, 30.0, 0.5)
            den = State(0.01 * (k + 1), 10.0, 5.0, 4.0, 3.4, 0.5, 0.02, 3.0, 0.5)
            found.append(Point(axis, value, axis == "shipped" or k == 1, num, den, 0.15, 0.02))
    return found


@pytest.fixture(autouse=True)
def fixed_pdf_date(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "0")  # PDFs without today's date, comparable byte for byte


@pytest.mark.slow
def test_png_and_pdf_drawn_as_two_jobs_are_the_files_of_one_draw(tmp_path: Path) -> None:
    together, apart = tmp_path / "together" / "sensitivity.png", tmp_path / "apart" / "sensitivity.png"
    sens.start_figure(points(), ["nvp", "hev"], 0.5, together)()  # no pool: here, both files
    with cf.ThreadPoolExecutor(1) as pool:
        wait = sens.start_figure(points(), ["nvp", "hev"], 0.5, apart, pool)
        wait()
    for name in ("sensitivity.png", "sensitivity.pdf"):
        assert (apart.parent / name).read_bytes() == (together.parent / name).read_bytes(), name
    assert sorted(p.name for p in apart.parent.iterdir()) == ["sensitivity.pdf", "sensitivity.png"]


def test_only_writes_the_one_file(tmp_path: Path) -> None:
    from ecmx.postprocess.plotting import new_figure, save

    fig = new_figure(figsize=(1, 1))
    assert save(fig, tmp_path / "a.png", only=".pdf") == [tmp_path / "a.pdf"]
    assert save(fig, tmp_path / "b.png", only=".png") == [tmp_path / "b.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.pdf", "b.png"]

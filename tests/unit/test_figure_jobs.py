"""The comparison's figures drawn as jobs in worker processes (ecmx.postprocess.figure_jobs) are the
same files as those drawn in one process, on synthetic 3D and sphere-1d runs (tests/support/fake_runs.py)."""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
from pathlib import Path

import pytest
from support.fake_runs import fake_case, write_fake_run

from ecmx.postprocess.figure_jobs import FIGURE_FILES, draw_figures
from ecmx.postprocess.rundata import load_run

DODS = (0.1, 0.9)


def _files(directory: Path) -> dict[str, bytes]:
    """Relative path → bytes of every PNG and VTP below ``directory`` (PDFs carry their creation date)."""
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*"))
            if p.suffix in (".png", ".vtp")}


@pytest.mark.slow
def test_figures_drawn_in_worker_processes_are_the_same_files(tmp_path: Path) -> None:
    runs = [load_run(write_fake_run(tmp_path / m, fake_case(m, "particle-in-electrolyte"), dods=DODS))
            for m in ("nvp",)]
    runs.append(load_run(write_fake_run(tmp_path / "one-d", fake_case("nvp", "sphere-1d"), dods=DODS)))
    here = draw_figures(runs, DODS, tmp_path / "here")
    with cf.ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        pooled = draw_figures(runs, DODS, tmp_path / "pooled", pool)
    assert list(pooled) == list(here) and {"grid", "grid_own", "voltage", "profiles", "peaks"} <= set(here)
    assert [p.name for p in pooled.values()] == [FIGURE_FILES[k] for k in pooled]
    expected, got = _files(tmp_path / "here"), _files(tmp_path / "pooled")
    assert any(name.startswith("slices/") for name in expected)
    assert sorted(got) == sorted(expected)
    assert [name for name in expected if got[name] != expected[name]] == []
    assert sorted(p.name for p in (tmp_path / "pooled").glob("*.pdf")) == sorted(
        p.name for p in (tmp_path / "here").glob("*.pdf"))


def test_a_pool_that_takes_no_jobs_draws_here(tmp_path: Path) -> None:
    runs = [load_run(write_fake_run(tmp_path / "one-d", fake_case("nvp", "sphere-1d"), dods=DODS))]
    pool = cf.ThreadPoolExecutor(1)
    pool.shutdown()
    drawn = draw_figures(runs, DODS, tmp_path / "figures", pool)
    assert "voltage" in drawn and all(path.is_file() for path in drawn.values())


def test_one_plotter_for_all_3d_images_gives_the_same_pixels(tmp_path: Path) -> None:
    """The 3D view renders every image with one plotter (a render window per image cost seconds)."""
    import numpy as np

    from ecmx.postprocess import view3d

    run = load_run(write_fake_run(tmp_path / "nvp", fake_case("nvp", "particle-in-electrolyte"), dods=DODS))
    surfaces = [view3d.cut_particle(run, run.snapshot_at(d)) for d in DODS]
    try:
        alone = [view3d.render(s, "c_ratio", "viridis", (0.0, 1.0)) for s in surfaces]
    except Exception as exc:  # noqa: BLE001  (no off-screen GL here: nothing to compare)
        pytest.skip(f"no off-screen rendering on this machine ({exc})")
    plotter = view3d.new_plotter()
    try:
        shared = [view3d.render(s, name, "viridis", (0.0, 1.0), plotter)
                  for s in surfaces for name in ("von_mises_MPa", "c_ratio")][1::2]
    finally:
        plotter.close()
    assert all(np.array_equal(a, b) for a, b in zip(alone, shared, strict=True))


def test_each_3d_image_is_rendered_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Adding the mesh and resetting the camera no longer render the scene before the screenshot
    does (three renders per image before: 3.9 → 2.4 s CPU for the 24 images of nvp-vs-hev, the same
    pixels, see the test above)."""
    import pyvista as pv

    from ecmx.postprocess import view3d

    run = load_run(write_fake_run(tmp_path / "nvp", fake_case("nvp", "particle-in-electrolyte"), dods=DODS))
    surfaces = [view3d.cut_particle(run, run.snapshot_at(d)) for d in DODS]
    renders = []
    original = pv.Plotter.render
    monkeypatch.setattr(pv.Plotter, "render", lambda self: renders.append(1) or original(self))
    try:
        plotter = view3d.new_plotter()
    except Exception as exc:  # noqa: BLE001
        pytest.skip(f"no off-screen rendering on this machine ({exc})")
    try:
        view3d.render(surfaces[0], "c_ratio", "viridis", (0.0, 1.0), plotter)  # opens the window
        renders.clear()
        for surface in [*surfaces, *surfaces]:
            view3d.render(surface, "c_ratio", "viridis", (0.0, 1.0), plotter)
    finally:
        plotter.close()
    assert len(renders) == 2 * len(surfaces)  # 3 each before


def test_the_pdf_keeps_the_layout_of_the_png(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A figure with a layout engine is laid out once for its PNG and PDF (twice before), and keeps
    its engine afterwards."""
    from matplotlib.layout_engine import TightLayoutEngine

    from ecmx.postprocess.plotting import new_figure, save

    laid_out = []
    original = TightLayoutEngine.execute
    monkeypatch.setattr(TightLayoutEngine, "execute", lambda self, fig: laid_out.append(1) or original(self, fig))
    fig = new_figure(figsize=(3, 2), layout="tight")
    fig.add_subplot().plot([0, 1], [1, 0])
    written = save(fig, tmp_path / "a.png")
    assert [p.name for p in written] == ["a.png", "a.pdf"] and all(p.stat().st_size > 0 for p in written)
    assert len(laid_out) == 1 and isinstance(fig.get_layout_engine(), TightLayoutEngine)
    save(fig, tmp_path / "b.png", only=".pdf")  # a PDF alone is laid out for itself
    assert len(laid_out) == 2


def test_the_two_grids_compute_their_slices_once_per_runs_and_depths(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    """grid and grid_own share the mid-plane slices: once in this process, once per worker for the
    same runs and depths of discharge, again for other depths."""
    from ecmx.postprocess import figure_jobs, figures

    calls: list[tuple[float, ...]] = []
    real = figures.grid_slices
    monkeypatch.setattr(figures, "grid_slices", lambda runs, dods: calls.append(tuple(dods)) or real(runs, dods))
    run = load_run(write_fake_run(tmp_path / "one-d", fake_case("nvp", "sphere-1d"), dods=DODS))
    functions = figure_jobs.figure_functions([run], DODS)
    functions["grid"](tmp_path / "a" / "grid.png")
    functions["grid_own"](tmp_path / "a" / "own.png")
    assert calls == [DODS]
    figure_jobs._planes.cache_clear()
    directories = [str(run.directory)]
    assert figure_jobs.draw_figure("grid", directories, list(DODS), str(tmp_path / "b" / "grid.png"), True)
    assert figure_jobs.draw_figure("grid_own", directories, list(DODS), str(tmp_path / "b" / "own.png"), False)
    assert figure_jobs.draw_figure("grid", directories, [0.9], str(tmp_path / "c" / "grid.png"), True)
    assert calls == [DODS, DODS, (0.9,)]
    assert sorted(p.name for p in (tmp_path / "c" / "slices").glob("*.vtp")) == [figures.slice_file_name(run, 0.9)]


def test_3d_images_without_multisampling_differ_only_on_the_outline(tmp_path: Path) -> None:
    """The plotter renders without multisample anti-aliasing (half the CPU of pyvista's 8 samples):
    the images differ from 8-sample ones on edge pixels only."""
    import numpy as np

    from ecmx.postprocess import view3d

    run = load_run(write_fake_run(tmp_path / "nvp", fake_case("nvp", "particle-in-electrolyte"), dods=DODS))
    surface = view3d.cut_particle(run, run.snapshot_at(DODS[0]))
    try:
        plotter = view3d.new_plotter()
    except Exception as exc:  # noqa: BLE001  (no off-screen GL here: nothing to compare)
        pytest.skip(f"no off-screen rendering on this machine ({exc})")
    try:
        assert plotter.ren_win.GetMultiSamples() == 0
        plain = view3d.render(surface, "c_ratio", "viridis", (0.0, 1.0), plotter)
        plotter.ren_win.SetMultiSamples(8)
        smooth = view3d.render(surface, "c_ratio", "viridis", (0.0, 1.0), plotter)
    finally:
        plotter.close()
    differ = np.abs(plain.astype(int) - smooth.astype(int)).max(axis=-1) > 32
    drawn = (plain != 255).any(axis=-1)
    assert drawn.mean() > 0.1 and differ.mean() < 0.02

"""Comparison post-processing on synthetic run directories (tests/support/fake_runs.py): slices, profiles,
table, figure grid, report, and the ``run_comparison`` driver (workers, failures, overwrite)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import matplotlib.image
import meshio
import numpy as np
import pytest
import pyvista as pv
import yaml
from matplotlib.figure import Figure
from support.fake_runs import amplitude, comparison_files, fake_case, fake_runner, stresses, write_fake_run, write_pvd

from ecmx.postprocess import figures, tables
from ecmx.postprocess.rundata import Snapshot, load_run
from ecmx.postprocess.slices import concentration_spread, mid_plane_slice, peak, radial_profile
from ecmx.solver.config.studies import load_comparison
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.studies.compare import run_comparison

KINDS = ("sphere-1d", "axisymmetric-2d", "particle-in-electrolyte")
DODS = (0.1, 0.5, 0.9)


def _fake(tmp_path: Path, material: str, kind: str):
    return load_run(write_fake_run(tmp_path / f"{material}-{kind}", fake_case(material, kind)))


def _mesh_coordinates(points: np.ndarray, system: str) -> np.ndarray:
    """Slice points (x, 0, z) mapped back to the coordinates of the particle mesh."""
    x, z = points[:, 0], points[:, 2]
    if system == "cartesian":
        return points
    if system == "axisymmetric":
        return np.column_stack([np.abs(x), z, np.zeros_like(x)])
    return np.column_stack([np.hypot(x, z), np.zeros_like(x), np.zeros_like(x)])


@pytest.mark.parametrize("kind", KINDS)
def test_slice_is_exact_for_a_linear_field(tmp_path: Path, kind: str) -> None:
    """A field linear in the mesh coordinates is reproduced exactly at every slice point."""
    run = _fake(tmp_path, "nvp", kind)
    snap = run.snapshots[0]
    a, b = np.array([0.3, -0.2, 0.7]), 1000.0
    grid = snap.grid.copy()
    grid.point_data["particle_concentration"] = b + grid.points @ a
    linear = Snapshot(snap.depth_of_discharge, snap.path, grid, snap.coordinate_system, snap.centre, snap.radius)
    plane = mid_plane_slice(linear, ["concentration"])
    assert plane.n_points > 20
    assert np.allclose(plane.points[:, 1], 0.0)
    expected = b + _mesh_coordinates(plane.points, snap.coordinate_system) @ a
    assert np.allclose(plane.point_data["concentration"], expected, rtol=0, atol=1e-9 * b)


@pytest.mark.parametrize("kind", KINDS)
def test_slice_agrees_with_field_file_read_by_meshio(tmp_path: Path, kind: str) -> None:
    """Slice values equal the field file's own P1 interpolant (file read independently with meshio)."""
    run = _fake(tmp_path, "nvp", kind)
    snap = run.snapshot_at(0.5)
    plane = mid_plane_slice(snap, ["concentration", "von_mises"])
    vtu = next(snap.path.parent.glob("*.vtu"))
    raw = meshio.read(vtu)
    reference = pv.from_meshio(raw)
    probe = pv.PolyData(_mesh_coordinates(plane.points, snap.coordinate_system)).sample(reference)
    valid = probe.point_data["vtkValidPointMask"].astype(bool)
    assert valid.mean() > 0.95
    for quantity, array in (("concentration", "particle_concentration"), ("von_mises", "von_mises")):
        got, want = plane.point_data[quantity][valid], probe.point_data[array][valid]
        assert np.allclose(got, want, rtol=1e-10, atol=1e-10 * np.abs(want).max())


@pytest.mark.parametrize("kind", KINDS)
def test_radial_profile_follows_the_analytic_sphere(tmp_path: Path, kind: str) -> None:
    run = _fake(tmp_path, "nvp", kind)
    snap = run.snapshot_at(0.9)
    A = amplitude(run.case, 0.9 * 3600.0)
    c0 = run.case.material.stoichiometry_window[0] * run.c_max + 0.9 * run.case.material.usable_concentration
    prof = radial_profile(snap, "concentration")
    assert prof["x"][0] == 0.0 and prof["x"][-1] > 0.95
    assert np.allclose(prof["mean"], c0 + A * (prof["x"] ** 2 - 0.6), atol=0.05 * A)
    sigma = radial_profile(snap, "tangential_stress")
    exact = stresses(run.case, sigma["x"], A)["tangential_stress"]
    assert np.allclose(sigma["mean"], exact, atol=0.08 * np.abs(exact).max())


@pytest.mark.parametrize("kind", KINDS)
def test_table_row_values(tmp_path: Path, kind: str) -> None:
    """Spread and peaks of the synthetic sphere: nodes at r = 0 and r = R (float32 sphere points) make them exact to 1e-6."""
    run = _fake(tmp_path, "nvp", kind)
    rows = tables.snapshot_rows([run], DODS)
    assert [r.depth_of_discharge for r in rows] == list(DODS)
    for row in rows:
        A = amplitude(run.case, row.depth_of_discharge * 3600.0)
        s = stresses(run.case, np.array([0.0, 1.0]), A)
        assert row.concentration_spread == pytest.approx(A / run.c_max, rel=1e-6)
        assert row.von_mises_max_MPa == pytest.approx(s["von_mises"][1] * 1e-6, rel=1e-6)
        assert row.max_principal_max_MPa == pytest.approx(s["max_principal"][0] * 1e-6, rel=1e-6)
        assert row.hydrostatic_max_MPa == pytest.approx(s["hydrostatic"][0] * 1e-6, rel=1e-6)
        assert row.hydrostatic_min_MPa == pytest.approx(s["hydrostatic"][1] * 1e-6, rel=1e-6)
        assert row.capacity_mAh_per_g == pytest.approx(row.depth_of_discharge * run.case.material.capacity_mAh_per_g)


def test_revolved_sphere_keeps_cell_data_per_annulus(tmp_path: Path) -> None:
    """A per-cell radial field stays constant on each annulus of the revolved disc."""
    grid = pv.UnstructuredGrid(
        np.array([2, 0, 1, 2, 2, 1, 2, 1, 3]),
        np.full(3, pv.CellType.LINE, dtype=np.uint8),
        np.array([[0.0, 0, 0], [0.6, 0, 0], [0.3, 0, 0], [1.0, 0, 0]]),
    )  # cells deliberately out of radial order
    grid.point_data["particle_concentration"] = grid.points[:, 0]
    grid.cell_data["von_mises"] = np.array([1.0, 2.0, 3.0])  # cells [0, 0.3], [0.3, 0.6], [0.6, 1]
    snap = Snapshot(0.5, tmp_path / "x.vtu", grid, "spherical", np.zeros(3), 1.0)
    disc = mid_plane_slice(snap, ["concentration", "von_mises"])
    centres = disc.cell_centers().points
    r = np.hypot(centres[:, 0], centres[:, 2])
    vm = disc.cell_data["von_mises"]
    assert np.all(vm[r < 0.3] == 1.0) and np.all(vm[(r > 0.3) & (r < 0.6)] == 2.0) and np.all(vm[r > 0.6] == 3.0)
    rings = np.hypot(disc.points[:, 0], disc.points[:, 2])
    assert np.allclose(disc.point_data["concentration"], rings)


def test_figure_grid_shares_colour_scales_and_saves_slice_data(tmp_path: Path) -> None:
    runs = [_fake(tmp_path, m, "particle-in-electrolyte") for m in ("nvp", "hev")]
    png = tmp_path / "fig" / "grid.png"
    fig = figures.figure_grid(runs, DODS, png)
    assert isinstance(fig, Figure) and png.with_suffix(".pdf").stat().st_size > 10_000
    ranges = _colour_bars(fig)
    image = matplotlib.image.imread(png)
    assert image.shape[0] > 800 and image.shape[1] > 600
    assert image[..., :3].std() > 0.05  # not blank
    saved = {p.name: pv.read(p) for p in (png.parent / "slices").glob("*.vtp")}
    assert len(saved) == 6
    all_c = np.concatenate([s["c_ratio"] for s in saved.values()])
    all_vm = np.concatenate([s["von_mises_MPa"] for s in saved.values()])
    assert ranges["c_ratio"] == pytest.approx((all_c.min(), all_c.max()))
    assert ranges["von_mises_MPa"] == pytest.approx((0.0, all_vm.max()))
    lo, hi = ranges["c_deviation"]
    assert lo == pytest.approx(-hi) and hi > 0
    all_p = np.concatenate([s["max_principal_MPa"] for s in saved.values()])
    assert ranges["max_principal_MPa"] == pytest.approx((all_p.min(), all_p.max()))
    # each material on its own scale: the HE-V row spans HE-V's values only
    own = _colour_bars(figures.figure_grid(runs, DODS, tmp_path / "fig" / "own.png", scale="own"))
    hev_vm = np.concatenate([s["von_mises_MPa"] for name, s in saved.items() if name.startswith(runs[1].name)])
    assert own[f"von_mises_MPa:{runs[1].name}"] == pytest.approx((0.0, hev_vm.max()))
    assert hev_vm.max() < 0.2 * all_vm.max()
    # the saved slice is the slice of the field file
    run, snap = runs[0], runs[0].snapshot_at(0.5)
    again = mid_plane_slice(snap, ["concentration"])
    stored = saved[figures.slice_file_name(run, 0.5)]
    assert np.allclose(stored.points, again.points)
    assert np.allclose(stored["c_ratio"], again["concentration"] / run.c_max)


def _colour_bars(fig: Figure) -> dict[str, tuple[float, float]]:
    """The colour range of every colour bar of a grid figure, by its axes label without 'scale:'."""
    return {ax.get_label()[6:]: ax.get_ylim() for ax in fig.axes if ax.get_label().startswith("scale:")}


def test_line_plots_are_written(tmp_path: Path) -> None:
    runs = [_fake(tmp_path, m, "sphere-1d") for m in ("nvp", "hev")]
    drawn = [figures.voltage_capacity(runs, DODS, tmp_path / "v.png"), figures.radial_profiles(runs, DODS, tmp_path / "p.png"),
             figures.peaks_vs_dod(runs, DODS, tmp_path / "k.png"), figures.surface_von_mises(runs, tmp_path / "s.png")]
    assert all(isinstance(fig, Figure) for fig in drawn)
    assert not figures.surface_von_mises(runs, tmp_path / "none.png", probe="nowhere")
    for name in ("v.png", "p.png", "k.png", "s.png"):
        assert matplotlib.image.imread(tmp_path / name)[..., :3].std() > 0.02
        assert (tmp_path / name).with_suffix(".pdf").read_bytes().startswith(b"%PDF")
    assert not (tmp_path / "none.png").exists()


# --------------------------------------------------------------------------------------------
# The driver, with a stand-in runner


@pytest.mark.slow
def test_run_comparison_in_two_worker_processes(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path))
    result = run_comparison(study, workers=2, runner=fake_runner)
    out = tmp_path / "out"
    assert result.directory == out
    assert [o.error for o in result.outcomes] == [None, None]
    for name in ("figures/grid.png", "figures/voltage.png", "figures/profiles.png", "figures/peaks.png",
                 "figures/surface_von_mises.png", "table.csv", "table.md", "ratios.csv", "report.md", "report.html"):
        assert (out / name).is_file(), name
    # snapshots of the comparison were added to the cases' own (0.5)
    summary = json.loads((out / "nvp" / "summary.json").read_text())
    assert [s["depth_of_discharge"] for s in summary["snapshots"]] == [0.1, 0.5, 0.9]
    with open(out / "table.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [(r["case"], float(r["depth_of_discharge"])) for r in rows] == [(c, d) for c in ("nvp", "hev") for d in DODS]
    with open(out / "ratios.csv") as fh:
        ratios = list(csv.DictReader(fh))
    assert len(ratios) == 3
    for r in ratios:
        assert (r["numerator"], r["denominator"]) == ("nvp", "hev")
        assert float(r["concentration_spread"]) > 1 and float(r["von_mises_max_MPa"]) > 1
    report = (out / "report.md").read_text()
    assert "EES paper, XRD" in report  # a material source
    assert "figures/grid.png" in report and "nvp / hev" in report
    assert "<table>" in (out / "report.html").read_text()


@pytest.mark.slow
def test_existing_results_need_overwrite(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path))
    run_comparison(study, workers=1, runner=fake_runner)
    with pytest.raises(CaseError, match="--overwrite"):
        run_comparison(study, workers=1, runner=fake_runner)
    stale = tmp_path / "out" / "figures" / "stale.png"
    stale.write_bytes(b"")
    run_comparison(study, workers=1, overwrite=True, runner=fake_runner)
    assert not stale.exists()


def test_duplicate_case_names_are_an_input_error(tmp_path: Path) -> None:
    path = comparison_files(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["compare"]["cases"] = ["nvp.yaml", "nvp.yaml"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(CaseError, match="repeated: nvp"):
        run_comparison(load_comparison(path), workers=1, runner=fake_runner)


def test_a_failed_case_is_reported_and_the_others_finish(tmp_path: Path) -> None:
    study = load_comparison(comparison_files(tmp_path, ("nvp", "broken")))
    with pytest.raises(SolveError, match="1 of 2 case"):
        run_comparison(study, workers=1, runner=fake_runner)
    out = tmp_path / "out"
    assert (out / "figures" / "grid.png").is_file()
    report = (out / "report.md").read_text()
    assert "Failed runs" in report and "synthetic" in report


def test_pvd_reader_picks_the_last_step(tmp_path: Path) -> None:
    from ecmx.postprocess.rundata import read_grid

    grid = pv.UnstructuredGrid(np.array([2, 0, 1]), np.array([pv.CellType.LINE], dtype=np.uint8), np.array([[0.0, 0, 0], [1.0, 0, 0]]))
    path = write_pvd(tmp_path / "a.pvd", grid, {"particle_concentration": np.array([1.0, 2.0])}, 5.0)
    assert np.allclose(read_grid(path).point_data["particle_concentration"], [1.0, 2.0])


def test_spread_and_peak_helpers(tmp_path: Path) -> None:
    run = _fake(tmp_path, "hev", "sphere-1d")
    snap = run.snapshots[-1]
    c = snap.values("concentration")
    assert concentration_spread(snap, run.c_max) == pytest.approx((c.max() - c.min()) / run.c_max)
    h = snap.values("hydrostatic")
    assert peak(snap, "hydrostatic", "abs") == h[np.argmax(np.abs(h))]


def test_steady_sphere_reference_matches_the_closed_form(tmp_path: Path) -> None:
    from ecmx.postprocess.report import analytic_reference, steady_sphere_values

    case = fake_case("nvp", "sphere-1d")
    A = amplitude(case, 1e9)  # long time: A = N0 R/(2D)
    spread, surface_vm = steady_sphere_values(case)
    assert spread == pytest.approx(A / case.material.max_concentration, rel=1e-12)
    assert surface_vm == pytest.approx(stresses(case, np.array([1.0]), A)["von_mises"][0], rel=1e-12)
    runs = [_fake(tmp_path, m, "sphere-1d") for m in ("nvp", "hev")]
    assert "nvp-sphere-1d / hev-sphere-1d: spread" in analytic_reference(runs)


def _slice_values(plane: pv.PolyData, name: str) -> np.ndarray:
    return np.sort(np.asarray(plane.point_data[name]))


@pytest.mark.parametrize("kind", KINDS)
def test_field_files_of_two_ranks_read_as_the_serial_mesh(tmp_path: Path, kind: str) -> None:
    """Field files gathered from two MPI ranks (boundary nodes twice, ghost nodes no cell of the rank
    uses) give the serial run's mesh, slices, radial profiles and table."""
    case = fake_case("nvp", kind)
    serial = load_run(write_fake_run(tmp_path / "serial", case))
    parallel = load_run(write_fake_run(tmp_path / "two-ranks", case, ranks=2))
    assert parallel.snapshots[0].path.with_name("particle_000000.vtu").is_file()
    for one, two in zip(serial.snapshots, parallel.snapshots, strict=True):
        assert (two.grid.n_points, two.grid.n_cells) == (one.grid.n_points, one.grid.n_cells)
        quantities = ["concentration", "von_mises"]
        a, b = mid_plane_slice(one, quantities), mid_plane_slice(two, quantities)
        assert (b.n_points, b.n_cells) == (a.n_points, a.n_cells)
        for quantity in quantities:
            assert np.allclose(_slice_values(b, quantity), _slice_values(a, quantity), rtol=1e-12)
            pa, pb = radial_profile(one, quantity), radial_profile(two, quantity)
            # a ray point on the mesh boundary (the axis) may be found in another cell: tiny differences
            scale = np.abs(pa["mean"]).max()
            assert np.allclose(pb["x"], pa["x"]) and np.allclose(pb["mean"], pa["mean"], rtol=1e-5, atol=1e-5 * scale)
    table = [tables.rows_markdown(tables.snapshot_rows([run], DODS)) for run in (serial, parallel)]
    assert table[1] == table[0]


def test_a_snapshot_a_run_did_not_reach_is_named_in_the_report(tmp_path: Path) -> None:
    from ecmx.postprocess.report import build_report

    runs = [_fake(tmp_path, "nvp", "sphere-1d"), _fake(tmp_path, "hev", "sphere-1d")]
    runs[1].summary["missed_snapshots"] = ["dod_0.90"]
    runs[1].summary["protocol"] = [{"step": 1, "kind": "discharge", "end_s": 2638.4, "ended_by": "voltage 1.5 V"},
                                   {"step": 2, "kind": "rest", "end_s": 3238.4, "ended_by": "duration 600 s"}]
    text = build_report("t", runs, DODS, [], [], {}, 1.0, None).markdown()
    assert "## Snapshots not reached" in text
    assert "hev-sphere-1d: dod_0.90 not reached (discharge ended by voltage 1.5 V at 2638 s; rest ended by duration 600 s" in text
    assert "nvp-sphere-1d: " not in text.split("## Snapshots not reached")[1].split("##")[0]
    runs[1].summary["missed_snapshots"] = []
    assert "Snapshots not reached" not in build_report("t", runs, DODS, [], [], {}, 1.0, None).markdown()


def test_snapshot_row_is_the_row_at_the_snapshot_time_not_a_rest_row_at_the_same_depth() -> None:
    """A rest after the snapshot keeps its depth of discharge; the row nearest in DOD by round-off
    is a rest row (the voltage after the current stopped), the row at the snapshot's time is the
    end of the discharge. Without a time the nearest DOD is used."""
    from types import SimpleNamespace

    ts = {"time_s": np.array([0.0, 3240.0, 3240.01, 3240.03]),
          "depth_of_discharge": np.array([0.0, 0.9 - 4e-15, 0.9 + 1e-16, 0.9 - 2e-15]),
          "voltage_V": np.array([3.4, 3.3787, 3.3826, 3.3827])}
    assert tables.snapshot_row(ts, SimpleNamespace(time_s=3240.0 - 2e-11, depth_of_discharge=0.9)) == 1
    assert tables.snapshot_row(ts, SimpleNamespace(time_s=float("nan"), depth_of_discharge=0.9)) == 2

"""The XDMF field series (ecmx.postprocess.xdmf): round trip, rounded times, complete times only,
bounded reads, the readers of run directories and ``ecmx paraview``. No solver needed."""

from __future__ import annotations

import errno
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import ecmx.postprocess.xdmf as xdmf
from ecmx.postprocess.paraview_files import SCRIPT, describe
from ecmx.postprocess.rundata import Snapshot, read_grid
from ecmx.postprocess.xdmf import XdmfSeries, read_xdmf, round_time, xdmf_times
from ecmx.solver.errors import CaseError

POINTS = np.array([[0.0, 0, 0], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 1]])
TETS = ("tetra", np.array([[0, 1, 2, 3], [1, 2, 3, 4]]))
UNITS = {"theta": "1", "von_mises_Pa": "Pa", "displacement_um": "um"}


def _write(path: Path, times: list[float]) -> XdmfSeries:
    series = XdmfSeries(path, UNITS)
    for k, t in enumerate(times):
        series.append(t, POINTS, TETS, {"theta": np.linspace(0, 1, 5) * (k + 1) / len(times),
                                        "displacement_um": np.full((5, 3), 1e-3 * k)},
                      {"von_mises_Pa": np.array([1e6 * k, 2e6])}, {"c_max_mol_m3": 13831.0})
    return series


def test_round_trip_with_units_field_data_and_rounded_times(tmp_path: Path) -> None:
    path = tmp_path / "fields" / "particle.xdmf"
    _write(path, [0.0, 0.1 + 0.2, 3239.9999999999873])
    assert sorted(p.name for p in path.parent.iterdir()) == ["particle.bin", "particle.xdmf"]
    assert xdmf_times(path) == [0.0, 0.3, 3240.0]
    last = read_xdmf(path)
    assert last.time == 3240.0 and last.cell_type == "tetra"
    assert np.array_equal(last.points, POINTS) and np.array_equal(last.cells, TETS[1])
    assert last.point_data["theta"] == pytest.approx(np.linspace(0, 1, 5))
    assert last.point_data["displacement_um"].shape == (5, 3)
    assert last.cell_data["von_mises_Pa"] == pytest.approx([2e6, 2e6])
    assert last.field_data == {"length_unit_m": 1e-6, "c_max_mol_m3": 13831.0}
    assert last.units == UNITS
    first = read_xdmf(path, 0.0)
    assert first.point_data["displacement_um"] == pytest.approx(np.zeros((5, 3)))
    # the mesh is stored once: three times cost one mesh plus three sets of arrays
    mesh_bytes, arrays_bytes = 8 * 4 + 15 * 8, (5 + 15 + 2) * 8
    assert path.with_suffix(".bin").stat().st_size == mesh_bytes + 3 * arrays_bytes


def test_round_time() -> None:
    assert round_time(3239.9999999999873) == 3240.0 and round_time(1e-3 + 1e-17) == 1e-3
    assert round_time(1234.5678901) == 1234.56789  # 10 significant digits


def test_a_failed_write_leaves_the_listed_times_complete(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "particle.xdmf"
    series = _write(path, [0.0, 1.0])
    monkeypatch.setattr(xdmf, "atomic_write_text", lambda *a: (_ for _ in ()).throw(OSError(errno.ENOSPC, "full")))
    with pytest.raises(OSError):
        series.append(2.0, POINTS, TETS, {"theta": np.zeros(5)})
    assert xdmf_times(path) == [0.0, 1.0] and read_xdmf(path).time == 1.0


def test_a_new_series_replaces_the_old_data_file(tmp_path: Path) -> None:
    path = tmp_path / "particle.xdmf"
    _write(path, [0.0, 1.0, 2.0])
    _write(path, [5.0])
    assert xdmf_times(path) == [5.0]
    assert path.with_suffix(".bin").stat().st_size == 8 * 4 + 15 * 8 + 22 * 8


def test_a_data_item_outside_its_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "particle.xdmf"
    _write(path, [0.0])
    text = path.read_text()
    path.write_text(text.replace('Seek="0"', 'Seek="100000"', 1))
    with pytest.raises(ValueError, match="outside particle.bin"):
        read_xdmf(path)


def test_run_readers_take_the_new_names(tmp_path: Path) -> None:
    path = tmp_path / "particle.xdmf"
    _write(path, [0.0, 1.0])
    grid = read_grid(path, 0.0)
    assert grid.n_points == 5 and grid.n_cells == 2
    snap = Snapshot(0.5, path, read_grid(path), "cartesian", np.zeros(3), 1.0)
    assert snap.values("von_mises") == pytest.approx([1e6, 2e6]) and snap.association("von_mises") == "cell"


def test_ecmx_paraview_lists_the_series_and_prints_the_script(tmp_path: Path) -> None:
    run = tmp_path / "run"
    (run / "fields").mkdir(parents=True)
    _write(run / "fields" / "particle.xdmf", [0.0, 60.0])
    (run / "snapshots").mkdir()
    _write(run / "snapshots" / "dod_0.50" / "particle.xdmf", [30.0])
    text = describe(run)
    assert "fields/particle.xdmf: 2 time(s), 0 s to 60 s" in text
    assert "snapshots/dod_0.50/particle.xdmf: 1 time(s)" in text and str(SCRIPT) in text
    with pytest.raises(CaseError, match="no fields/particle.xdmf"):
        describe(tmp_path)
    env = dict(os.environ, COLUMNS="300", NO_COLOR="1")
    cli = [sys.executable, "-m", "ecmx.solver.cli", "paraview"]
    printed = subprocess.run([*cli, "--script"], capture_output=True, text=True, timeout=120, env=env)
    assert printed.returncode == 0 and Path(printed.stdout.strip()) == SCRIPT and SCRIPT.is_file()
    refused = subprocess.run([*cli, str(tmp_path)], capture_output=True, text=True, timeout=120, env=env)
    assert refused.returncode == 2 and "not an ecmx run directory" in refused.stderr
    assert not (SCRIPT.parent / "paraview.py").exists()  # would shadow ParaView's own package in the script


def test_a_sweep_point_whose_field_data_is_missing_is_not_complete(tmp_path: Path) -> None:
    from ecmx.solver.studies.sweep import missing_run_files

    run = tmp_path / "point"
    (run / "fields").mkdir(parents=True)
    for name in ("case.yaml", "timeseries.csv", "probes.csv"):
        (run / name).write_text("x\n")
    (run / "summary.json").write_text('{"status": "completed", "files": {"fields": {"particle": "fields/particle.xdmf"}}}')
    _write(run / "fields" / "particle.xdmf", [0.0, 1.0])
    assert missing_run_files(run) == []
    (run / "fields" / "particle.bin").unlink()
    assert missing_run_files(run) == ["fields/particle.xdmf: particle.bin"]


def test_a_resumed_series_continues_after_its_kept_times(tmp_path: Path) -> None:
    path = tmp_path / "particle.xdmf"
    _write(path, [0.0, 1.0, 2.0])
    again = XdmfSeries(path, UNITS)
    mesh_bytes, arrays_bytes = 8 * 4 + 15 * 8, (5 + 15 + 2) * 8
    assert again.keep_first(2) == mesh_bytes + 2 * arrays_bytes
    assert xdmf_times(path) == [0.0, 1.0] and path.with_suffix(".bin").stat().st_size == mesh_bytes + 2 * arrays_bytes
    again.append(7.0, POINTS, TETS, {"theta": np.full(5, 0.5)})
    assert xdmf_times(path) == [0.0, 1.0, 7.0]
    assert read_xdmf(path).point_data["theta"] == pytest.approx(np.full(5, 0.5))
    assert read_xdmf(path, 1.0).cell_data["von_mises_Pa"] == pytest.approx([1e6, 2e6])  # kept data intact
    assert XdmfSeries(path).keep_first(0) == 0 and not path.exists()

"""The comparison's ParaView files open in ParaView's own Python (pvpython), VTK and numpy.

A small real 3D comparison (NVP and HE-V, coarse mesh, discharge to DOD 12 %, snapshot at 10 %)
is run once; its XDMF time series (``fields/*.xdmf`` + ``.bin``), snapshot series and slice files
are then opened

- with :func:`ecmx.postprocess.xdmf.read_xdmf` (numpy) and VTK's XDMF reader (pyvista), and
- with pvpython in a subprocess, as a user's ParaView would (Debian's ``paraview`` and
  ``python3-paraview`` packages; the test is skipped with the reason when pvpython is missing),
  and the shipped ``postprocess/paraview_open.py`` is run under ``xvfb-run`` to render both views,

checking array names and units, θ, one length unit, time steps against ``timeseries.csv``, value
ranges and the number of files.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import pyvista as pv
import yaml
from support.cases import coarse_comparison

from ecmx.postprocess.rundata import read_csv_columns
from ecmx.postprocess.xdmf import read_xdmf, xdmf_times
from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies.compare import run_comparison

REPO = Path(__file__).resolve().parents[2]

PARTICLE_ARRAYS = {
    "particle_concentration_mol_m3", "theta", "von_mises_Pa", "hydrostatic_Pa", "max_principal_Pa",
    "radial_stress_Pa", "tangential_stress_Pa", "principal_stresses_Pa", "displacement_um",
}
ELECTROLYTE_ARRAYS = {"electrolyte_concentration_mol_m3", "electrolyte_potential_V"}

PVPYTHON_SCRIPT = r"""
import json, sys
from paraview.simple import OpenDataFile, UpdatePipeline, servermanager
out = {}
for path in sys.argv[1:]:
    reader = OpenDataFile(path)
    values = reader.TimestepValues
    times = [float(t) for t in values] if hasattr(values, "__len__") else [float(values)]
    UpdatePipeline(time=times[-1] if times else 0.0, proxy=reader)
    data = servermanager.Fetch(reader)
    if data.IsA("vtkMultiBlockDataSet"):
        data = data.GetBlock(0)
    info = {"class": reader.GetXMLName(), "times": times, "points": data.GetNumberOfPoints(),
            "cells": data.GetNumberOfCells(), "bounds": list(data.GetBounds()), "arrays": {}, "norms": {},
            "field": {}}
    for arrays in (data.GetPointData(), data.GetCellData()):
        for i in range(arrays.GetNumberOfArrays()):
            a = arrays.GetArray(i)
            info["arrays"][a.GetName()] = list(a.GetRange(0))
            info["norms"][a.GetName()] = list(a.GetRange(-1))
    fields = data.GetFieldData()
    for i in range(fields.GetNumberOfArrays()):
        a = fields.GetArray(i)
        if a is not None:
            info["field"][a.GetName()] = a.GetValue(0)
    out[path] = info
print("RESULT " + json.dumps(out))
"""


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short, coarse, real NVP vs HE-V comparison (3D particle in electrolyte)."""
    base = tmp_path_factory.mktemp("paraview")
    spec = {
        **coarse_comparison("output.snapshots.depth_of_discharge=[0.1]"),
        "output": {"directory": str(base / "out")},
    }
    path = base / "cmp.yaml"
    path.write_text(yaml.safe_dump(spec))
    result = run_comparison(load_comparison(path), overwrite=True)
    return result.directory


def _all_series(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/fields/*.xdmf")) + sorted(directory.glob("*/snapshots/*/*.xdmf"))


def test_every_series_reads_back(comparison: Path) -> None:
    series = _all_series(comparison)
    assert {p.name for p in series} == {"particle.xdmf", "electrolyte.xdmf"}
    for path in series:
        expected = PARTICLE_ARRAYS if path.name == "particle.xdmf" else ELECTROLYTE_ARRAYS
        for time in xdmf_times(path):
            step = read_xdmf(path, time)
            assert expected <= set(step.point_data), (path, time, set(step.point_data))
            assert step.cell_type == "tetra" and np.all(np.isfinite(step.points))
            assert not any("harmonic" in name for name in step.point_data)
            assert step.field_data["length_unit_m"] == 1e-6
        vtk = pv.get_reader(str(path))  # VTK's own XDMF reader: the same last step
        vtk.set_active_time_value(vtk.time_values[-1])
        grid = vtk.read()
        grid = grid[0] if isinstance(grid, pv.MultiBlock) else grid
        name = "theta" if path.name == "particle.xdmf" else "electrolyte_potential_V"
        assert np.asarray(grid.point_data[name]) == pytest.approx(step.point_data[name], rel=1e-12)


def test_fewer_files_one_series_per_mesh(comparison: Path) -> None:
    """Per case: two files per series (286 per case with one .vtu per mesh and time before)."""
    for case in ("nvp", "hev"):
        fields = sorted(p.name for p in (comparison / case / "fields").iterdir())
        assert fields == ["electrolyte.bin", "electrolyte.xdmf", "particle.bin", "particle.xdmf"]
        snapshot = sorted(p.name for p in (comparison / case / "snapshots" / "dod_0.10").iterdir())
        assert snapshot == ["electrolyte.bin", "electrolyte.xdmf", "particle.bin", "particle.xdmf"]


def test_time_series_has_one_step_per_written_row(comparison: Path) -> None:
    for case in ("nvp", "hev"):
        rows = read_csv_columns(comparison / case / "timeseries.csv")
        times = xdmf_times(comparison / case / "fields" / "particle.xdmf")
        assert times[0] == 0.0 and times[-1] == pytest.approx(rows["time_s"][-1], rel=1e-9)
        assert set(np.round(times, 3)) <= set(np.round(rows["time_s"], 3))
        assert all(t == float(f"{t:.10g}") for t in times)  # rounded, no float noise
        (snapshot,) = xdmf_times(comparison / case / "snapshots" / "dod_0.10" / "particle.xdmf")
        k = int(np.argmin(np.abs(rows["depth_of_discharge"] - 0.1)))
        assert snapshot == pytest.approx(rows["time_s"][k])


def _pvpython() -> str:
    exe = shutil.which("pvpython")
    if exe is None:
        pytest.skip("pvpython not found: install Debian's paraview and python3-paraview "
                    "(apt-get install --no-install-recommends paraview python3-paraview) to run this test")
    return exe


def _paraview_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}


def _open_in_paraview(paths: list[Path]) -> dict[str, dict]:
    # absolute paths: ParaView 5.11's readers resolve companion files against them
    proc = subprocess.run([_pvpython(), "-c", PVPYTHON_SCRIPT, *(str(p.resolve()) for p in paths)],
                          capture_output=True, text=True, timeout=300, env=_paraview_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_files_open_in_paraview(comparison: Path) -> None:
    case = comparison / "nvp"
    particle, electrolyte = case / "fields" / "particle.xdmf", case / "fields" / "electrolyte.xdmf"
    snapshot = case / "snapshots" / "dod_0.10" / "particle.xdmf"
    slices = sorted((comparison / "figures" / "slices").glob("*.vtp"))
    assert [p.name for p in slices] == ["hev_dod010.vtp", "nvp_dod010.vtp"]
    info = _open_in_paraview([particle, electrolyte, snapshot, *slices])

    series = info[str(particle.resolve())]
    assert series["class"] == "Xdmf3ReaderS"
    assert np.allclose(series["times"], xdmf_times(particle))
    assert set(series["arrays"]) >= PARTICLE_ARRAYS
    last = read_xdmf(particle)
    assert series["points"] == len(last.points)
    for name in ("particle_concentration_mol_m3", "theta", "von_mises_Pa", "hydrostatic_Pa"):
        values = last.point_data[name]
        assert series["arrays"][name] == pytest.approx([values.min(), values.max()], rel=1e-6)
    assert 0.0 < series["arrays"]["theta"][0] <= series["arrays"]["theta"][1] < 1.0
    # one length unit: field data says µm, and |u| is a small fraction of the particle (radius 1 µm)
    assert series["field"]["length_unit_m"] == 1e-6
    assert series["bounds"][1] == pytest.approx(1.0, abs=0.05)
    assert 1e-4 < series["norms"]["displacement_um"][1] < 0.05

    assert set(info[str(electrolyte.resolve())]["arrays"]) >= ELECTROLYTE_ARRAYS
    snap = info[str(snapshot.resolve())]
    assert len(snap["times"]) == 1 and set(snap["arrays"]) >= PARTICLE_ARRAYS
    for vtp in slices:
        arrays = info[str(vtp.resolve())]["arrays"]
        assert {"c_ratio", "c_deviation", "von_mises_MPa", "concentration", "von_mises"} <= set(arrays)
        assert 0.0 < arrays["c_ratio"][0] <= arrays["c_ratio"][1] < 1.0


def test_shipped_script_renders_a_run(comparison: Path, tmp_path: Path) -> None:
    """``pvpython postprocess/paraview_open.py RUN`` under xvfb-run: both views, a state file, a warp."""
    pvpython, xvfb = _pvpython(), shutil.which("xvfb-run")
    if xvfb is None:
        pytest.skip("xvfb-run not found (apt-get install xvfb): ParaView renders only with a display")
    png, state = tmp_path / "run.png", tmp_path / "run.pvsm"
    proc = subprocess.run([xvfb, "-a", pvpython, str(REPO / "postprocess" / "paraview_open.py"),
                           str(comparison / "nvp"), "--screenshot", str(png), "--state", str(state)],
                          capture_output=True, text=True, timeout=300, env=_paraview_env())
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("ecmx:"))
    scale = float(line.rsplit("warp scale", 1)[1])
    assert 1.0 < scale < 1e4  # |u| ~ 1e-3 µm on a 2 µm particle: a factor of tens to hundreds
    text = state.read_text()
    assert "WarpByVector" in text and "theta" in text and "von_mises_MPa" in text
    assert png.stat().st_size > 10_000

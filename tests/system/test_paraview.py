"""The comparison's ParaView files open in meshio and in ParaView's own Python (pvpython).

A small real 3D comparison (NVP and HE-V, coarse mesh, discharge to DOD 12 %, snapshot at 10 %)
is run once; its ``.pvd`` time series, snapshot file sets and slice files are then opened

- with meshio (every ``.vtu`` a ``.pvd`` lists), and
- with pvpython in a subprocess, as a user's ParaView would (Debian's ``paraview`` and
  ``python3-paraview`` packages; the test is skipped with the reason when pvpython is missing),

checking array names, time steps against ``timeseries.csv`` and value ranges against meshio.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import meshio
import numpy as np
import pytest
import yaml
from support.cases import coarse_comparison

from ecmx.postprocess.rundata import read_csv_columns
from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies.compare import run_comparison

PARTICLE_ARRAYS = {
    "particle_concentration", "von_mises", "hydrostatic", "max_principal", "radial_stress",
    "tangential_stress", "principal_stresses", "displacement",
}
ELECTROLYTE_ARRAYS = {"electrolyte_concentration", "electrolyte_potential"}

PVPYTHON_SCRIPT = r"""
import json, sys
from paraview.simple import OpenDataFile, UpdatePipeline, servermanager
out = {}
for path in sys.argv[1:]:
    reader = OpenDataFile(path)
    times = [float(t) for t in (getattr(reader, "TimestepValues", None) or [])]
    UpdatePipeline(time=times[-1] if times else 0.0, proxy=reader)
    data = servermanager.Fetch(reader)
    if data.IsA("vtkMultiBlockDataSet"):
        data = data.GetBlock(0)
    info = {"class": reader.GetXMLName(), "times": times, "points": data.GetNumberOfPoints(),
            "cells": data.GetNumberOfCells(), "arrays": {}}
    for arrays in (data.GetPointData(), data.GetCellData()):
        for i in range(arrays.GetNumberOfArrays()):
            a = arrays.GetArray(i)
            info["arrays"][a.GetName()] = list(a.GetRange(0))
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


def _pvd_entries(pvd: Path) -> list[tuple[float, Path]]:
    root = ET.parse(pvd).getroot()
    return [(float(d.get("timestep")), pvd.parent / d.get("file")) for d in root.iter("DataSet")]


def _arrays(mesh: meshio.Mesh) -> set[str]:
    return set(mesh.point_data) | set(mesh.cell_data)


def _all_pvd(directory: Path) -> list[Path]:
    return sorted(directory.glob("*/fields/*.pvd")) + sorted(directory.glob("*/snapshots/*/*.pvd"))


def test_every_vtu_opens_in_meshio(comparison: Path) -> None:
    pvds = _all_pvd(comparison)
    assert {p.name for p in pvds} == {"particle.pvd", "electrolyte.pvd"}
    for pvd in pvds:
        entries = _pvd_entries(pvd)
        assert entries, pvd
        for _, vtu in entries:
            mesh = meshio.read(vtu)
            expected = PARTICLE_ARRAYS if pvd.name == "particle.pvd" else ELECTROLYTE_ARRAYS
            assert expected <= _arrays(mesh), (vtu, _arrays(mesh))
            assert mesh.cells[0].type == "tetra"
            assert np.all(np.isfinite(mesh.points))


def test_time_series_has_one_step_per_timeseries_row(comparison: Path) -> None:
    for case in ("nvp", "hev"):
        rows = read_csv_columns(comparison / case / "timeseries.csv")
        times = [t for t, _ in _pvd_entries(comparison / case / "fields" / "particle.pvd")]
        assert np.allclose(times, rows["time_s"])
        snapshot = _pvd_entries(comparison / case / "snapshots" / "dod_0.10" / "particle.pvd")
        assert len(snapshot) == 1
        k = int(np.argmin(np.abs(rows["depth_of_discharge"] - 0.1)))
        assert snapshot[0][0] == pytest.approx(rows["time_s"][k])


def _pvpython() -> str:
    exe = shutil.which("pvpython")
    if exe is None:
        pytest.skip("pvpython not found: install Debian's paraview and python3-paraview "
                    "(apt-get install --no-install-recommends paraview python3-paraview) to run this test")
    return exe


def _open_in_paraview(paths: list[Path]) -> dict[str, dict]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    # absolute paths: ParaView 5.11's readers resolve companion files against them
    proc = subprocess.run([_pvpython(), "-c", PVPYTHON_SCRIPT, *(str(p.resolve()) for p in paths)],
                          capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


def test_files_open_in_paraview(comparison: Path) -> None:
    case = comparison / "nvp"
    particle, electrolyte = case / "fields" / "particle.pvd", case / "fields" / "electrolyte.pvd"
    snapshot = case / "snapshots" / "dod_0.10" / "particle.pvd"
    slices = sorted((comparison / "figures" / "slices").glob("*.vtp"))
    assert [p.name for p in slices] == ["hev_dod010.vtp", "nvp_dod010.vtp"]
    info = _open_in_paraview([particle, electrolyte, snapshot, *slices])

    series = info[str(particle.resolve())]
    times = [t for t, _ in _pvd_entries(particle)]
    assert series["class"] == "PVDReader"
    assert np.allclose(series["times"], times)
    assert set(series["arrays"]) >= PARTICLE_ARRAYS
    last = meshio.read(_pvd_entries(particle)[-1][1])
    assert series["points"] == len(last.points)
    for name in ("particle_concentration", "von_mises", "hydrostatic"):
        values = last.point_data[name]
        assert series["arrays"][name] == pytest.approx([values.min(), values.max()], rel=1e-6)

    assert set(info[str(electrolyte.resolve())]["arrays"]) >= ELECTROLYTE_ARRAYS
    snap = info[str(snapshot.resolve())]
    assert len(snap["times"]) == 1 and set(snap["arrays"]) >= PARTICLE_ARRAYS
    for vtp in slices:
        arrays = info[str(vtp.resolve())]["arrays"]
        assert {"c_ratio", "c_deviation", "von_mises_MPa", "concentration", "von_mises"} <= set(arrays)
        assert 0.0 < arrays["c_ratio"][0] <= arrays["c_ratio"][1] < 1.0

"""`ecmx run` end to end on the real coupled problem: the files a run writes and how it fails.

sphere-1d runs take seconds; the 3D particle-in-electrolyte run uses a very coarse mesh (~1.5k
cells) and checks the ParaView files (XDMF series) with numpy, pyvista and (where installed)
ParaView's own Python. Snapshot landing, the voltage cut-off and the stress columns are checked on the way.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.mpi import mpiexec

from ecmx.postprocess.run_files import PROBE_COLUMNS, TIMESERIES_COLUMNS
from ecmx.postprocess.rundata import load_run
from ecmx.postprocess.xdmf import read_xdmf, xdmf_times

REPO = Path(__file__).resolve().parents[2]

SPHERE = {
    "name": "e2e-sphere",
    "material": "nvp",
    "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}, "mesh": {"elements": 24}},
    "protocol": [
        {"step": "discharge", "c_rate": 1, "until": {"voltage": "2.8 V", "depth_of_discharge": 1.0}},
        {"step": "rest", "duration": "5 min"},
    ],
    "mechanics": {"enabled": True, "degree": 2},
    "output": {
        "snapshots": {"depth_of_discharge": [0.1, 0.5, 0.9]},
        "probes": [{"name": "centre", "point": [0, 0, 0]}, {"name": "surface", "point": ["1 um", 0, 0]}],
    },
}

PARTICLE_3D = {
    "name": "e2e-3d",
    "material": "nvp",
    "geometry": {
        "kind": "particle-in-electrolyte",
        "particle": {"radius": "1 um"},
        "electrolyte": {"thickness": "1 um"},
        "mesh": {"size": "0.6 um", "interface_size": "0.4 um"},
    },
    "protocol": [{"step": "discharge", "c_rate": 2, "until": {"voltage": "2.8 V", "depth_of_discharge": 0.6}}],
    "mechanics": {"enabled": True, "degree": 1},
    "solver": {"time_step": {"initial": "1 s", "max": "60 s"}},
    "output": {
        "snapshots": {"depth_of_discharge": [0.1, 0.5]},
        "fields_every": 4,
        "probes": [{"name": "centre", "point": [0, 0, 0]}, {"name": "electrolyte", "point": [0, 0, "1.5 um"]}],
    },
}


def ecmx(*args: str, cwd: Path, mpi: int = 0) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "ecmx.solver.cli", *args]
    if mpi:
        command = [mpiexec(), "-n", str(mpi), *command]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=900)


def write_case(directory: Path, data: dict) -> Path:
    path = directory / f"{data['name']}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        return reader.fieldnames, list(reader)




@pytest.fixture(scope="module")
def sphere_run(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    directory = tmp_path_factory.mktemp("sphere")
    case = write_case(directory, SPHERE)
    result = ecmx("run", str(case), "--out", "out", "--no-progress", cwd=directory)
    return directory, result


def test_sphere_run_writes_every_file(sphere_run):
    directory, result = sphere_run
    assert result.returncode == 0, result.stderr
    out = directory / "out"
    assert not (directory / "out.partial").exists()
    for name in ("case.yaml", "timeseries.csv", "probes.csv", "summary.json", "fields/particle.xdmf"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["versions"]["dolfinx"].startswith("0.11")
    assert summary["mesh"]["cells"] == 24 and summary["dofs"]["particle_concentration"] == 25
    assert summary["dofs"]["total"] == 25 + 1 + 1  # c_s, the uniform electrolyte potential, the cell voltage
    assert [e["ended_by"] for e in summary["protocol"]] == ["voltage 2.8 V", "duration 300 s"]

    header, rows = read_csv(out / "timeseries.csv")
    assert tuple(header) == TIMESERIES_COLUMNS
    assert len(rows) == summary["steps"]["accepted"] + 1
    discharge = [r for r in rows if r["step"] == "1"]
    assert float(discharge[-1]["voltage_V"]) == pytest.approx(2.8, abs=1e-4)
    assert all(float(r["voltage_V"]) > 2.8 for r in discharge[:-1])
    assert max(abs(float(r["na_balance_error"])) for r in rows) < 1e-8
    # one-way mechanics fills the stress columns on every row
    assert all(r["von_mises_max"] != "" and r["hydrostatic_min"] != "" for r in rows)
    assert float(rows[0]["von_mises_max"]) == pytest.approx(0.0, abs=1.0)  # stress-free start
    assert max(float(r["von_mises_max"]) for r in rows) > 1e6
    rest = [r for r in rows if r["step"] == "2"]
    assert float(rest[-1]["von_mises_max"]) < 0.5 * float(discharge[-1]["von_mises_max"])  # relaxation
    # surface von Mises against time: rises during discharge, relaxes after the current stops
    surface_vm = [float(r["surface_von_mises_mean"]) for r in rows]
    assert max(surface_vm) > 1e6 and float(rest[-1]["surface_von_mises_mean"]) < 0.5 * float(discharge[-1]["surface_von_mises_mean"])
    assert all(float(r["max_principal_max"]) >= 0 and float(r["strain_energy_J"]) >= 0 for r in rows)

    header, probes = read_csv(out / "probes.csv")
    assert tuple(header) == PROBE_COLUMNS
    assert len(probes) == 2 * len(rows)
    surface = [r for r in probes if r["probe"] == "surface"]
    assert all(r["c"] != "" and r["radial_stress"] != "" for r in surface)
    # traction-free surface: σ_r ≈ 0 there, σ_θ carries the stress
    mid = surface[len(surface) // 2]
    assert abs(float(mid["radial_stress"])) < 0.05 * abs(float(mid["tangential_stress"]))


def test_sphere_snapshots_land_on_their_depths(sphere_run):
    directory, _ = sphere_run
    out = directory / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert [s["name"] for s in summary["snapshots"]] == ["dod_0.10", "dod_0.50", "dod_0.90"]
    _, rows = read_csv(out / "timeseries.csv")
    for snap in summary["snapshots"]:
        row = next(r for r in rows if float(r["time_s"]) == snap["time_s"])
        assert float(row["depth_of_discharge"]) == pytest.approx(snap["depth_of_discharge"], abs=1e-7)
        # 1C: DOD = t / 1 h under constant current
        assert snap["time_s"] == pytest.approx(3600.0 * snap["depth_of_discharge"], rel=1e-6)
        (t,) = xdmf_times(out / snap["particle"])
        assert t == pytest.approx(snap["time_s"])
        mesh = read_xdmf(out / snap["particle"])
        c = mesh.point_data["particle_concentration_mol_m3"]
        assert c.min() == pytest.approx(snap["c_min"], rel=1e-9) and c.max() == pytest.approx(snap["c_max"], rel=1e-9)
        assert {"von_mises_Pa", "hydrostatic_Pa", "radial_stress_Pa", "tangential_stress_Pa", "stress_Pa",
                "theta", "displacement_um"} <= set(mesh.point_data)


def test_sphere_field_files_units_theta_and_one_length_unit(sphere_run):
    """The ParaView files name their units, carry θ = c/c_max, give coordinates and displacement in
    the same unit (µm), round their times and hold no internal field; one .xdmf + .bin per series."""
    directory, _ = sphere_run
    out = directory / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(p.name for p in (out / "fields").iterdir()) == ["particle.bin", "particle.xdmf"]
    c_max = yaml.safe_load((out / "case.yaml").read_text())["material"]["max_concentration"]
    for snap in summary["snapshots"]:
        step = read_xdmf(out / snap["particle"])
        assert step.field_data["length_unit_m"] == 1e-6 and step.field_data["c_max_mol_m3"] == c_max
        assert step.units["displacement_um"] == "um" and step.units["theta"] == "1"
        assert step.units["von_mises_Pa"] == "Pa" and step.units["particle_concentration_mol_m3"] == "mol/m^3"
        assert not any("harmonic" in name for name in step.point_data)
        theta = step.point_data["theta"]
        assert theta == pytest.approx(step.point_data["particle_concentration_mol_m3"] / c_max, rel=1e-12)
        assert 0.0 < theta.min() <= theta.max() < 1.0
        # the surface node: x = R = 1 µm, and its radial displacement in µm is the mechanics' own u_r(R) [m]
        surface = int(np.argmax(step.points[:, 0]))
        assert step.points[surface, 0] == pytest.approx(1.0)
        u_r = step.point_data["displacement_um"][surface, 0]
        assert u_r == pytest.approx(snap["surface_radial_displacement_mean"] / 1e-6, rel=1e-6)
        assert 1e-4 < abs(u_r) / step.points[surface, 0] < 0.05  # a few per mille to per cent of R
    run = load_run(out)  # the figure and report readers take the new files
    assert [s.depth_of_discharge for s in run.snapshots] == [0.1, 0.5, 0.9]
    for snap, entry in zip(run.snapshots, summary["snapshots"], strict=True):
        assert snap.values("concentration").max() == pytest.approx(entry["c_max"], rel=1e-9)
        assert snap.values("von_mises").max() == pytest.approx(entry["von_mises_max"], rel=1e-6)
    times = xdmf_times(out / "fields" / "particle.xdmf")
    assert all(t == float(f"{t:.10g}") for t in times)
    rows = [float(r["time_s"]) for r in read_csv(out / "timeseries.csv")[1]]
    # default output.fields_interval 60 s: the first state past each minute, the initial and the final one
    assert times[0] == 0.0 and times[-1] == pytest.approx(rows[-1], rel=1e-9)
    minutes = {int(np.floor(t / 60.0 + 1e-9)) for t in rows}  # each minute that holds a step: its first
    assert len(times) in (len(minutes), len(minutes) + 1) and len(times) < len(rows)
    assert set(np.round(times, 3)) <= set(np.round(rows, 3))


def test_existing_results_need_overwrite(sphere_run):
    directory, _ = sphere_run
    case = directory / "e2e-sphere.yaml"
    before = (directory / "out" / "summary.json").read_text()
    result = ecmx("run", str(case), "--out", "out", "--no-progress", "--set", "protocol.0.until.depth_of_discharge=0.05",
                  cwd=directory)
    assert result.returncode == 2
    assert "already exists" in result.stderr and "--overwrite" in result.stderr
    assert (directory / "out" / "summary.json").read_text() == before


def test_failed_run_exits_nonzero_and_keeps_files(tmp_path):
    """A discharge far beyond the window: c_s reaches c_s,max, every cut fails, the run stops."""
    data = dict(SPHERE, name="e2e-fail", mechanics={"enabled": False},
                protocol=[{"step": "discharge", "c_rate": 5, "until": {"time": "2 h"}}],
                solver={"time_step": {"initial": "1 s", "max": "60 s", "min": "0.01 s"}})
    case = write_case(tmp_path, data)
    result = ecmx("run", str(case), "--out", "out", "--no-progress", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "run failed" in result.stderr and "minimum time step" in result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["status"] == "failed" and "minimum time step" in summary["reason"]
    header, rows = read_csv(out / "timeseries.csv")
    assert tuple(header) == TIMESERIES_COLUMNS and len(rows) > 10
    assert all(None not in r.values() for r in rows)  # every row complete
    assert float(rows[-1]["depth_of_discharge"]) > 0.9
    times = xdmf_times(out / "fields" / "particle.xdmf")
    assert times[-1] == pytest.approx(float(rows[-1]["time_s"]))
    last = read_xdmf(out / "fields" / "particle.xdmf")  # its data complete in the .bin file
    assert last.point_data["particle_concentration_mol_m3"].max() == pytest.approx(float(rows[-1]["c_max"]), rel=1e-9)


@pytest.mark.slow
def test_3d_run_paraview_files(tmp_path):
    case = write_case(tmp_path, PARTICLE_3D)
    result = ecmx("run", str(case), "--out", "out", "--no-progress", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    out = tmp_path / "out"
    summary = json.loads((out / "summary.json").read_text())
    _, rows = read_csv(out / "timeseries.csv")
    assert float(rows[-1]["depth_of_discharge"]) == pytest.approx(0.6, abs=1e-7)
    assert all(r["electrolyte_c_min"] != "" and r["von_mises_max"] != "" for r in rows)

    written = list(range(0, len(rows), 4))
    if written[-1] != len(rows) - 1:
        written.append(len(rows) - 1)
    particle = xdmf_times(out / "fields" / "particle.xdmf")
    electrolyte = xdmf_times(out / "fields" / "electrolyte.xdmf")
    assert particle == pytest.approx([float(rows[k]["time_s"]) for k in written])
    assert electrolyte == pytest.approx(particle)
    assert sorted(p.name for p in (out / "fields").iterdir()) == [
        "electrolyte.bin", "electrolyte.xdmf", "particle.bin", "particle.xdmf"]

    last = read_xdmf(out / "fields" / "particle.xdmf")
    assert last.points.shape[1] == 3 and np.abs(last.points).max() < 1.01  # particle of radius 1 µm
    assert {"particle_concentration_mol_m3", "theta", "von_mises_Pa", "hydrostatic_Pa", "max_principal_Pa",
            "radial_stress_Pa", "tangential_stress_Pa", "displacement_um", "stress_Pa"} <= set(last.point_data)
    assert last.point_data["stress_Pa"].shape[1] == 9
    c = last.point_data["particle_concentration_mol_m3"]
    assert c.max() == pytest.approx(float(rows[-1]["c_max"]), rel=1e-9)
    assert last.point_data["von_mises_Pa"].max() == pytest.approx(float(rows[-1]["von_mises_max"]), rel=0.5)
    # displacement in µm like the coordinates: |u| a small fraction of the 1 µm radius, not 1e-6 of it
    assert 1e-4 < np.linalg.norm(last.point_data["displacement_um"], axis=1).max() < 0.05
    e = read_xdmf(out / "fields" / "electrolyte.xdmf")
    assert {"electrolyte_concentration_mol_m3", "electrolyte_potential_V"} <= set(e.point_data)
    assert e.point_data["electrolyte_concentration_mol_m3"].min() == pytest.approx(
        float(rows[-1]["electrolyte_c_min"]), rel=1e-9)
    assert e.points[:, 2].max() == pytest.approx(2.0)  # Na metal face at R + thickness, µm

    import pyvista as pv

    reader = pv.get_reader(str(out / "fields" / "particle.xdmf"))
    assert reader.time_values == pytest.approx(particle)
    for snap in summary["snapshots"]:
        assert (out / snap["particle"]).is_file() and (out / snap["electrolyte"]).is_file()

    _, probes = read_csv(out / "probes.csv")
    centre = [r for r in probes if r["probe"] == "centre"]
    inside_electrolyte = [r for r in probes if r["probe"] == "electrolyte"]
    assert all(r["c"] != "" and r["electrolyte_c"] == "" for r in centre)
    assert all(r["c"] == "" and r["electrolyte_c"] != "" and r["electrolyte_potential"] != "" for r in inside_electrolyte)

    pvpython = shutil.which("pvpython")
    if pvpython is None:
        pytest.skip("ParaView's pvpython is not installed (apt-get install paraview python3-paraview)")
    script = (
        "import sys\nfrom paraview.simple import OpenDataFile\nfrom paraview import servermanager\n"
        "r = OpenDataFile(sys.argv[1])\nprint(type(r).__name__, len(r.TimestepValues))\n"
        "r.UpdatePipeline(r.TimestepValues[-1])\nd = servermanager.Fetch(r)\n"
        "print(' '.join(d.GetPointData().GetArrayName(i) for i in range(d.GetPointData().GetNumberOfArrays())))\n"
    )
    (tmp_path / "open.py").write_text(script)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    opened = subprocess.run([pvpython, str(tmp_path / "open.py"), str((out / "fields" / "particle.xdmf").absolute())],
                            capture_output=True, text=True, timeout=300, env=env)
    reader_name, count = opened.stdout.splitlines()[-2].split()
    assert reader_name == "Xdmf3ReaderS" and int(count) == len(particle)
    assert {"particle_concentration_mol_m3", "theta", "von_mises_Pa", "stress_Pa"} <= set(
        opened.stdout.splitlines()[-1].split())


@pytest.mark.slow
@pytest.mark.mpi
def test_3d_run_on_two_ranks(tmp_path):
    """Two ranks give the same voltage curve and stresses, and the same files (mesh gathered on rank 0)."""
    case = write_case(tmp_path, PARTICLE_3D)
    serial = ecmx("run", str(case), "--out", "serial", "--no-progress", cwd=tmp_path)
    parallel = ecmx("run", str(case), "--out", "parallel", "--no-progress", cwd=tmp_path, mpi=2)
    assert serial.returncode == 0, serial.stderr
    assert parallel.returncode == 0, parallel.stderr
    s = json.loads((tmp_path / "serial" / "summary.json").read_text())
    p = json.loads((tmp_path / "parallel" / "summary.json").read_text())
    assert p["mpi_ranks"] == 2 and p["status"] == "completed"
    assert p["mesh"]["cells"] == s["mesh"]["cells"]
    _, rows_s = read_csv(tmp_path / "serial" / "timeseries.csv")
    _, rows_p = read_csv(tmp_path / "parallel" / "timeseries.csv")
    assert len(rows_p) == len(rows_s) == p["steps"]["accepted"] + 1
    # The step size comes from the error estimate, a difference of nearly equal states whose last
    # digits depend on the partition's summation order: the same steps, with times equal to ~1e-8.
    for a, b in zip(rows_s, rows_p, strict=True):
        assert float(b["time_s"]) == pytest.approx(float(a["time_s"]), rel=1e-6, abs=1e-9)
        assert float(b["voltage_V"]) == pytest.approx(float(a["voltage_V"]), rel=1e-7)
        assert float(b["von_mises_max"]) == pytest.approx(float(a["von_mises_max"]), rel=1e-5, abs=1.0)
    grid = read_xdmf(tmp_path / "parallel" / "fields" / "electrolyte.xdmf")
    assert len(grid.cells) == s["mesh"]["electrolyte_cells"]  # owned cells of both ranks, once each
    snap_s = read_xdmf(tmp_path / "serial" / s["snapshots"][-1]["particle"])
    snap_p = read_xdmf(tmp_path / "parallel" / p["snapshots"][-1]["particle"])
    assert snap_p.point_data["particle_concentration_mol_m3"].max() == pytest.approx(
        snap_s.point_data["particle_concentration_mol_m3"].max(), rel=1e-7)

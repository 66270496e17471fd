"""Sweeps with the real solver (sphere-1d): the steady stress σ*/15, resume, a failing point, MPI groups.

The steady-stress check runs in the long-time galvanostatic regime: constant D_s, constant current
for t = 400 s so that τ = D_s t/R² ≥ 0.4 at the slowest point (the transient left in the surface
stress is below 0.5 e^(−20.19 τ) < 2e-4 of it), and a swing c_surface − c_centre = N₀R/(2D) of at
most 2.3 % of c_s,max, inside NVP's OCV plateau.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from support.cases import write_yaml
from support.mpi import mpiexec

from ecmx.postprocess.sweep_summary import read_summary
from ecmx.solver.config.studies import load_sweep
from ecmx.solver.studies.sweep import COMPLETE_MARKER, run_sweep

VENV_BIN = Path(sys.executable).parent

BASE = {
    "name": "nvp-sphere-steady",
    "material": {"base": "nvp", "diffusivity": "1e-15 m^2/s"},
    "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}, "mesh": {"elements": 40}},
    "initial": {"state_of_charge": 0.8},
    "protocol": [{"step": "discharge", "c_rate": 1, "until": {"time": "400 s"}}],
    "mechanics": {"enabled": True},
    "output": {"snapshots": {"depth_of_discharge": [0.25]}},
}


def _sweep(tmp_path: Path, values, name: str = "sweep", **sweep) -> Path:
    write_yaml(tmp_path / "base.yaml", BASE)
    spec = {"sweep": {"base": "base.yaml", "parameter": "material.diffusivity", "values": values, **sweep},
            "output": {"directory": str(tmp_path / name)}}
    return write_yaml(tmp_path / f"{name}.yaml", spec)


@pytest.mark.slow
def test_seven_points_match_steady_sphere_stress_and_rerun_does_no_solves(tmp_path):
    study = load_sweep(_sweep(tmp_path, {"log_space": [1e-15, 1e-14], "num": 7, "unit": "m^2/s"}))
    result = run_sweep(study, workers=2, progress=False)
    rows = read_summary(result.summary_path)
    assert [r["status"] for r in rows] == ["ok"] * 7, [r["reason"] for r in rows]
    for row in rows:
        assert row["peak_von_mises_Pa"] == pytest.approx(row["steady_surface_von_mises_Pa"], rel=0.02), row["label"]
        assert row["concentration_spread_dod0.25_mol_m3"] > 0
    # Peak stress ∝ 1/D over the decade.
    assert rows[0]["peak_von_mises_Pa"] / rows[-1]["peak_von_mises_Pa"] == pytest.approx(10.0, rel=0.02)

    run_files = [study.directory / p.label / "summary.json" for p in study.points]
    stamps = [f.stat().st_mtime_ns for f in run_files]
    again = run_sweep(study, workers=2, progress=False, plots=False)
    assert again.solved == 0
    assert [f.stat().st_mtime_ns for f in run_files] == stamps, "a rerun must not rewrite any run"
    assert read_summary(again.summary_path) == rows


@pytest.mark.slow
def test_failing_point_is_recorded_and_the_others_finish(tmp_path):
    # D_s = 1e-19 m²/s: the surface fills up within a minute and, with no voltage cut-off, Newton
    # fails at the minimum step. Through the CLI: the sweep finishes and exits with 1.
    path = _sweep(tmp_path, [1e-14, 1e-19, 3e-14])
    proc = subprocess.run([str(VENV_BIN / "ecmx"), "sweep", str(path), "--workers", "2"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 1 and "1 of 3 points not ok" in proc.stderr, proc.stdout + proc.stderr
    study = load_sweep(path)
    rows = read_summary(study.directory / "summary.csv")
    assert [r["status"] for r in rows] == ["ok", "failed", "ok"]
    assert "did not converge" in rows[1]["reason"]
    failed_dir = study.directory / study.points[1].label
    assert (failed_dir / "summary.json").is_file() and not (failed_dir / COMPLETE_MARKER).exists()


@pytest.mark.mpi
@pytest.mark.slow
@pytest.mark.parametrize("ranks_per_point", [1, 2])
def test_mpi_groups_give_the_local_summary(tmp_path, ranks_per_point):
    """2 ranks as 2 groups of 1 (each point serial: identical numbers) or 1 group of 2 (each point
    distributed: the same within the iterative mechanics solver's tolerance, ~1e-8 relative)."""
    values = [1e-14, 2e-14, 5e-14]
    local = run_sweep(load_sweep(_sweep(tmp_path, values, "local")), workers=1, progress=False, plots=False)
    path = _sweep(tmp_path, values, "mpi")
    proc = subprocess.run(
        [mpiexec(), "-n", "2", str(VENV_BIN / "ecmx"), "sweep", str(path), "--mpi",
         "--ranks-per-point", str(ranks_per_point)],
        capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    mpi_rows = read_summary(tmp_path / "mpi" / "summary.csv")
    local_rows = read_summary(local.summary_path)
    assert all(r["status"] == "ok" for r in mpi_rows)
    skip = ("wall_time_s", "directory")
    rel = 0.0 if ranks_per_point == 1 else 1e-6
    for mpi_row, local_row in zip(mpi_rows, local_rows, strict=True):
        assert mpi_row.keys() == local_row.keys()
        for key in mpi_row.keys() - set(skip):
            if isinstance(local_row[key], float):
                assert mpi_row[key] == pytest.approx(local_row[key], rel=rel, abs=1e-9), key
            else:
                assert mpi_row[key] == local_row[key], key

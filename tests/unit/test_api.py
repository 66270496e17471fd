"""The Python API: ``import ecmx`` is light and exposes the documented functions; results come back
as pandas DataFrames holding exactly what the run, sweep and comparison files hold."""

from __future__ import annotations

import csv
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from support.fake_runs import fake_case, write_fake_run

import ecmx
from ecmx.postprocess.rundata import load_run as load_run_data
from ecmx.postprocess.sweep_summary import write_summary
from ecmx.postprocess.tables import ratios, snapshot_rows, write_tables

DOCUMENTED = ["load_case", "run_case", "load_run", "load_sweep", "run_sweep", "load_comparison", "run_comparison",
              "load_sweep_results", "load_comparison_results"]


def test_import_ecmx_is_light_and_lists_the_api():
    code = ("import sys, ecmx\n"
            "heavy = [m for m in ('dolfinx', 'petsc4py', 'mpi4py', 'pyvista', 'matplotlib', 'pandas', 'ufl')"
            " if m in sys.modules]\n"
            "print(heavy, sorted(ecmx.__all__))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    heavy, names = result.stdout.split("] ", 1)
    assert heavy == "["
    for name in DOCUMENTED:
        assert f"'{name}'" in names


def test_api_names_are_the_solver_functions():
    from ecmx.solver.config.case import load_case
    from ecmx.solver.config.studies import load_comparison, load_sweep

    assert ecmx.load_case is load_case and ecmx.load_sweep is load_sweep and ecmx.load_comparison is load_comparison
    assert set(DOCUMENTED) <= set(dir(ecmx))
    with pytest.raises(AttributeError, match="no attribute 'load_everything'"):
        ecmx.load_everything  # noqa: B018


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_load_run_gives_dataframes(tmp_path):
    directory = write_fake_run(tmp_path / "nvp", fake_case("nvp", "sphere-1d"))
    run = ecmx.load_run(directory)
    assert isinstance(run.timeseries, pd.DataFrame) and isinstance(run.probes, pd.DataFrame)
    rows = _rows(directory / "timeseries.csv")
    assert list(run.timeseries.columns) == list(rows[0])
    assert len(run.timeseries) == len(rows) == 61
    assert run.timeseries["voltage_V"].tolist() == pytest.approx([float(r["voltage_V"]) for r in rows], rel=1e-15)
    assert set(run.probes["probe"]) == {"surface"}
    assert run.name == "nvp-sphere-1d" and run.case.material.name == "nvp" and run.summary["status"] == "completed"
    assert [s.depth_of_discharge for s in run.snapshots] == [0.1, 0.5, 0.9]


def test_load_sweep_results_reads_the_summary(tmp_path):
    rows = [{"point": i, "material.diffusivity": d, "status": "ok", "von_mises_max_Pa": 1e6 * (i + 1)}
            for i, d in enumerate((1e-15, 1e-14))]
    write_summary(tmp_path / "summary.csv", rows)
    frame = ecmx.load_sweep_results(tmp_path)
    assert frame["material.diffusivity"].tolist() == [1e-15, 1e-14]
    assert frame["von_mises_max_Pa"].tolist() == [1e6, 2e6]


def test_load_comparison_results(tmp_path):
    cases = [fake_case(m, "sphere-1d") for m in ("nvp", "hev")]
    runs = [load_run_data(write_fake_run(tmp_path / case.name, case)) for case in cases]
    rows = snapshot_rows(runs, [0.5, 0.9])
    write_tables(rows, ratios(rows, cases[0].name), tmp_path)
    result = ecmx.load_comparison_results(tmp_path)
    assert list(result.runs) == ["nvp-sphere-1d", "hev-sphere-1d"]
    assert result.table["case"].tolist() == ["nvp-sphere-1d"] * 2 + ["hev-sphere-1d"] * 2
    assert result.runs["hev-sphere-1d"].case.material.name == "hev"
    assert result.table["von_mises_max_MPa"].tolist() == pytest.approx([r.von_mises_max_MPa for r in rows])
    assert len(result.ratios) == 2 and set(result.ratios["numerator"]) == {"hev-sphere-1d"}

"""``ecmx report RESULTS_DIR``: redraw a comparison, a run or a sweep from its files, in seconds and
without the solver; results untouched; refusals."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from support.fake_runs import comparison_files, fake_runner
from support.sweep_fakes import fake_run

from ecmx.solver.config.studies import load_comparison, load_sweep
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.compare import RECORD_FILE, run_comparison
from ecmx.solver.studies.outdir import MARKER, DirectoryLock
from ecmx.solver.studies.redraw import redraw
from ecmx.solver.studies.sweep import run_sweep

OUTPUTS = {"figures", "table.csv", "table.md", "ratios.csv", "report.md", "report.html"}
REPORT_SCRIPT = """
import sys, time
from ecmx.solver.cli import app
started = time.perf_counter()
try:
    app(["report", sys.argv[1]])
except SystemExit as exc:
    code = exc.code
print("RESULT", code, round(time.perf_counter() - started, 2), "dolfinx" in sys.modules, "petsc4py" in sys.modules)
"""


def _tree(directory: Path, skip: set[str]) -> dict[str, str]:
    """{relative path: SHA-256} of every file below ``directory`` outside ``skip`` (top-level names),
    ownership markers aside (they name the last lock holder)."""
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(directory.rglob("*"))
            if p.is_file() and p.relative_to(directory).parts[0] not in skip and p.name != MARKER}


def _outputs(directory: Path) -> set[str]:
    names = {p.name for p in directory.iterdir() if p.name in OUTPUTS}
    figures = directory / "figures"
    return names | {str(p.relative_to(directory)) for p in figures.rglob("*")} if "figures" in names else names


def _report_cli(directory: Path) -> tuple[int, float, bool, bool, str]:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    proc = subprocess.run([sys.executable, "-c", REPORT_SCRIPT, str(directory)], capture_output=True, text=True,
                          env=env, timeout=300)
    line = next(line for line in proc.stdout.splitlines() if line.startswith("RESULT"))
    _, code, seconds, dolfinx, petsc = line.split()
    return int(code or 0), float(seconds), dolfinx == "True", petsc == "True", proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def comparison(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("cmp")
    result = run_comparison(load_comparison(comparison_files(directory)), workers=1, runner=fake_runner,
                            progress=False)
    return result.directory


def test_report_redraws_a_comparison_in_seconds_without_the_solver(comparison: Path) -> None:
    drawn = _outputs(comparison)
    assert {"figures/grid.png", "figures/voltage.png", "report.html"} <= drawn
    results = _tree(comparison, OUTPUTS)
    tables = {name: (comparison / name).read_text() for name in ("table.csv", "ratios.csv")}
    for name in ("report.md", "report.html", "table.csv", "ratios.csv", "table.md"):
        (comparison / name).unlink()
    shutil.rmtree(comparison / "figures")
    code, seconds, dolfinx, petsc, output = _report_cli(comparison)
    assert code == 0, output
    print(f"ecmx report on the comparison: {seconds} s")
    assert not dolfinx and not petsc, "ecmx report must not import the solver"
    assert _outputs(comparison) == drawn
    assert {name: (comparison / name).read_text() for name in tables} == tables
    assert _tree(comparison, OUTPUTS) == results, "the redraw changed results"
    assert "comparison" in output and "redrew" in output


def test_report_redraws_an_older_comparison_from_its_table(comparison: Path) -> None:
    record = comparison / RECORD_FILE
    saved = record.read_text()
    record.unlink()
    try:
        table = (comparison / "table.csv").read_text()
        (comparison / "table.csv").write_text(table)
        done = redraw(comparison)
        assert done.kind == "comparison" and set(done.outputs) == OUTPUTS
        assert (comparison / "table.csv").read_text() == table
    finally:
        record.write_text(saved)


def test_report_on_a_run_directory(comparison: Path) -> None:
    run_dir = comparison / json.loads((comparison / RECORD_FILE).read_text())["cases"][0]["name"]
    results = _tree(run_dir, OUTPUTS)
    done = redraw(run_dir)
    assert done.kind == "run" and {"figures", "report.html", "table.csv"} <= set(done.outputs)
    assert (run_dir / "figures" / "voltage.png").is_file()
    assert _tree(run_dir, OUTPUTS) == results


def test_report_on_a_sweep_redraws_its_figures(case_dir: Path) -> None:
    spec = case_dir / "sweep.yaml"
    spec.write_text(f"sweep: {{base: case.yaml, parameter: material.diffusivity, values: [1e-15, 1e-14]}}\n"
                    f"output: {{directory: {case_dir / 'out'}}}\n")
    result = run_sweep(load_sweep(spec), workers=1, runner=fake_run, progress=False, plots=False)
    summary = result.summary_path.read_text()
    done = redraw(result.directory)
    assert done.kind == "sweep" and done.outputs == ["figures"]
    assert {p.name for p in (result.directory / "figures").iterdir()} >= {"peak_von_mises.png", "capacity.png"}
    assert result.summary_path.read_text() == summary


def test_report_refuses_what_ecmx_did_not_write(tmp_path: Path) -> None:
    (tmp_path / "summary.csv").write_text("point\n")
    code, _, _, _, output = _report_cli(tmp_path)
    assert code == 2 and "not an ecmx results directory" in output and str(tmp_path) in output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.csv"]
    (tmp_path / ".ecmx-owner").write_text("")
    (tmp_path / "summary.csv").unlink()
    with pytest.raises(CaseError, match="holds no run"):
        redraw(tmp_path)


def test_report_refuses_a_directory_in_use(comparison: Path) -> None:
    with DirectoryLock.acquire(comparison, "comparison"):
        started = time.perf_counter()
        with pytest.raises(CaseError, match="in use by another ecmx comparison"):
            redraw(comparison)
        assert time.perf_counter() - started < 5

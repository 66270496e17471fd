"""Golden outputs: four small runs must reproduce their recorded results to round-off.

The recorded files (``tests/golden/expected/<case>/``) were written by ecmx before the code was
restructured; a refactoring that changes no physics leaves every number unchanged to solver
round-off. A change that is meant to alter results (a physics fix, another time integrator) must
regenerate them on purpose: ``python tests/test_golden.py --regenerate`` and say why in the commit.

Compared: every ``timeseries.csv`` column (same rows, same step counts, values within
``RTOL`` of the column's largest magnitude) and the numeric scalars of ``summary.json`` (results,
snapshot quantities and step counts).

The time steps come from an error estimate: where an estimate lands within round-off of its
threshold (threaded BLAS sums differ from run to run in the last bits), one try may be accepted in
one run and rejected in the next, and every later row moves by the local error of that step (about
``solver.rtol`` = 1e-6 of the values). Then, and only then, the rows at the requested output times
(``timeseries_times.csv``, interpolated by the integrator, independent of the steps) are compared
within ``RTOL_STEPS`` and the step counts within ``STEP_COUNT_SLACK`` — still far below any physics
change (1e-4 or more).
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sys
from pathlib import Path

import pytest

GOLDEN = Path(__file__).parent / "golden"
EXPECTED = GOLDEN / "expected"
CASES = {
    "sphere1d": (),
    "sphere1d-twoway": (),
    "axisymmetric": (pytest.mark.slow,),
    "coarse3d": (pytest.mark.slow,),
}
RTOL = 1e-7
"""Tolerance relative to a column's (or scalar's) magnitude: far above round-off (~1e-12 here) and far
below any physics change (Newton converges to rtol 1e-8 of the residual; a changed law moves results by
1e-4 or more)."""
RTOL_STEPS = 2e-5
"""Tolerance of the comparison at the requested output times when the step sequences differ."""
STEP_COUNT_SLACK = 0.1
"""Relative difference of the step counts allowed when the step sequences differ."""
EXACT = {"step", "newton_iterations", "accepted", "tried", "rejected", "max_newton_iterations"}
ROUNDOFF = {"na_balance_error", "max_abs_na_balance_error", "charge_capacity_mAh_per_g"}
"""Quantities that are round-off themselves: compared with an absolute tolerance."""


def _run(name: str, out: Path, cache: Path) -> Path:
    from ecmx.solver.config.case import load_case
    from ecmx.solver.studies.run import run_case

    run_case(load_case(GOLDEN / f"{name}.yaml"), out_dir=out, progress=False, cache_dir=cache)
    return out


def _summary_scalars(summary: dict) -> dict[str, float]:
    """The numeric scalars of a summary.json that the golden record keeps."""
    scalars = {f"results.{k}": v for k, v in summary["results"].items() if isinstance(v, int | float)}
    scalars.update({f"steps.{k}": v for k, v in summary["steps"].items()})
    for snap in summary["snapshots"]:
        scalars.update({f"snapshot.{snap['name']}.{k}": v for k, v in snap.items() if isinstance(v, int | float)})
    return scalars


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as stream:
        return list(csv.DictReader(stream))


def _close(key: str, got: float, want: float, scale: float, rtol: float, exact: set[str]) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    if leaf in exact:
        return got == want
    if leaf in ROUNDOFF:
        return abs(got - want) <= 1e-10
    return math.isclose(got, want, rel_tol=0.0, abs_tol=rtol * max(scale, 1e-300))


def _compare_rows(name: str, got_rows: list[dict[str, str]], want_rows: list[dict[str, str]], rtol: float,
                  exact: set[str]) -> list[str]:
    """Column-by-column differences of two tables with the same rows (the first per column)."""
    if len(got_rows) != len(want_rows):
        return [f"{name} has {len(got_rows)} rows, expected {len(want_rows)}"]
    problems = []
    for column in want_rows[0]:
        want = [float(r[column]) if r[column] else math.nan for r in want_rows]
        got = [float(r[column]) if r.get(column) else math.nan for r in got_rows]
        scale = max((abs(v) for v in want if not math.isnan(v)), default=0.0)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if math.isnan(g) != math.isnan(w) or (not math.isnan(w) and not _close(column, g, w, scale, rtol, exact)):
                problems.append(f"{name} row {i} {column}: {g!r} != {w!r}")
                break
    return problems


def _same_steps(got_rows: list[dict[str, str]], want_rows: list[dict[str, str]]) -> bool:
    """Whether two runs took the same steps (same rows, step times equal to round-off)."""
    return len(got_rows) == len(want_rows) and all(
        math.isclose(float(g["time_s"]), float(w["time_s"]), rel_tol=1e-9, abs_tol=1e-12)
        for g, w in zip(got_rows, want_rows, strict=True))


def compare_run(directory: Path, expected: Path) -> list[str]:
    """Differences between a run directory and its golden record (empty when they agree).

    Row by row within RTOL when the run took the recorded steps; otherwise (a try accepted in one
    run and rejected in the other, see the module docstring) at the requested output times within
    RTOL_STEPS, with step counts within STEP_COUNT_SLACK.
    """
    got_rows, want_rows = _rows(directory / "timeseries.csv"), _rows(expected / "timeseries.csv")
    same = _same_steps(got_rows, want_rows)
    if same:
        problems = _compare_rows("timeseries.csv", got_rows, want_rows, RTOL, EXACT)
    else:
        problems = _compare_rows("timeseries_times.csv", _rows(directory / "timeseries_times.csv"),
                                 _rows(expected / "timeseries_times.csv"), RTOL_STEPS, set())
    got_s = _summary_scalars(json.loads((directory / "summary.json").read_text()))
    want_s = json.loads((expected / "summary.json").read_text())
    for key, want in want_s.items():
        if key not in got_s:
            problems.append(f"summary {key}: missing")
        elif not same and key.rsplit(".", 1)[-1] in EXACT:
            if abs(float(got_s[key]) - float(want)) > STEP_COUNT_SLACK * max(abs(float(want)), 10.0):
                problems.append(f"summary {key}: {got_s[key]!r} not within {STEP_COUNT_SLACK:.0%} of {want!r}")
        elif not _close(key, float(got_s[key]), float(want), abs(float(want)), RTOL if same else RTOL_STEPS,
                        EXACT if same else set()):
            problems.append(f"summary {key}: {got_s.get(key)!r} != {want!r}")
    return problems


@pytest.mark.parametrize("name", [pytest.param(n, marks=m) for n, m in CASES.items()])
def test_golden_outputs_unchanged(name: str, tmp_path: Path, mesh_cache: Path) -> None:
    out = _run(name, tmp_path / name, mesh_cache)
    assert compare_run(out, EXPECTED / name) == []


def test_golden_comparison_detects_a_change(tmp_path: Path) -> None:
    """The comparison itself fails on a perturbation of one value by 1e-6 (relative)."""
    run = tmp_path / "run"
    shutil.copytree(EXPECTED / "sphere1d", run)
    summary = {"results": {}, "steps": {}, "snapshots": []}
    (run / "summary.json").write_text(json.dumps(summary))
    rows = _rows(run / "timeseries.csv")
    rows[-1]["voltage_V"] = repr(float(rows[-1]["voltage_V"]) * (1 + 1e-6))
    with open(run / "timeseries.csv", "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    problems = compare_run(run, EXPECTED / "sphere1d")
    assert any("voltage_V" in p for p in problems)
    assert any(p.startswith("summary results.") for p in problems)


def _write_rows(path: Path, rows: list[dict[str, str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def test_golden_comparison_of_runs_with_other_steps(tmp_path: Path) -> None:
    """A run whose steps differ (a try accepted here, rejected there) is compared at the requested
    output times: equal there, it passes; a change of 1e-4 there fails."""
    run = tmp_path / "run"
    shutil.copytree(EXPECTED / "sphere1d", run)
    summary = {"results": {}, "steps": {}, "snapshots": []}
    want = json.loads((EXPECTED / "sphere1d" / "summary.json").read_text())
    for key, value in want.items():
        group, _, leaf = key.partition(".")
        if group in ("results", "steps"):
            summary[group][leaf] = value + 1 if leaf == "accepted" else value
    (run / "summary.json").write_text(json.dumps(summary))
    steps = _rows(run / "timeseries.csv")
    _write_rows(run / "timeseries.csv", steps[:-2] + steps[-1:])
    assert [p for p in compare_run(run, EXPECTED / "sphere1d") if not p.startswith("summary snapshot")] == []
    times = _rows(run / "timeseries_times.csv")
    times[-1]["voltage_V"] = repr(float(times[-1]["voltage_V"]) * (1 + 1e-4))
    _write_rows(run / "timeseries_times.csv", times)
    assert any("timeseries_times.csv" in p and "voltage_V" in p for p in compare_run(run, EXPECTED / "sphere1d"))


def regenerate(cache: Path) -> None:
    """Rewrite the golden records from the current code (only for an intended change of results)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            out = _run(name, Path(tmp) / name, cache)
            target = EXPECTED / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "timeseries.csv", target / "timeseries.csv")
            shutil.copy(out / "timeseries_times.csv", target / "timeseries_times.csv")
            scalars = _summary_scalars(json.loads((out / "summary.json").read_text()))
            (target / "summary.json").write_text(json.dumps(scalars, indent=1) + "\n")


if __name__ == "__main__" and "--regenerate" in sys.argv:
    regenerate(Path(".ecmx-cache/meshes"))

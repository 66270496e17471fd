"""Golden outputs: four small runs must reproduce their recorded results to round-off.

The recorded files (``tests/golden/expected/<case>/``) were written by ecmx before the code was
restructured; a refactoring that changes no physics leaves every number unchanged to solver
round-off. A change that is meant to alter results (a physics fix, another time integrator) must
regenerate them on purpose: ``python tests/test_golden.py --regenerate`` and say why in the commit.

Compared: every ``timeseries.csv`` column (same rows, same step counts, values within
``RTOL`` of the column's largest magnitude) and the numeric scalars of ``summary.json`` (results,
snapshot quantities and step counts).
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


def _close(key: str, got: float, want: float, scale: float) -> bool:
    leaf = key.rsplit(".", 1)[-1]
    if leaf in EXACT:
        return got == want
    if leaf in ROUNDOFF:
        return abs(got - want) <= 1e-10
    return math.isclose(got, want, rel_tol=0.0, abs_tol=RTOL * max(scale, 1e-300))


def compare_run(directory: Path, expected: Path) -> list[str]:
    """Differences between a run directory and its golden record (empty when they agree)."""
    problems = []
    got_rows, want_rows = _rows(directory / "timeseries.csv"), _rows(expected / "timeseries.csv")
    if len(got_rows) != len(want_rows):
        return [f"timeseries.csv has {len(got_rows)} rows, expected {len(want_rows)}"]
    for column in want_rows[0]:
        want = [float(r[column]) if r[column] else math.nan for r in want_rows]
        got = [float(r[column]) if r.get(column) else math.nan for r in got_rows]
        scale = max((abs(v) for v in want if not math.isnan(v)), default=0.0)
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            if math.isnan(g) != math.isnan(w) or (not math.isnan(w) and not _close(column, g, w, scale)):
                problems.append(f"timeseries.csv row {i} {column}: {g!r} != {w!r}")
                break
    got_s = _summary_scalars(json.loads((directory / "summary.json").read_text()))
    want_s = json.loads((expected / "summary.json").read_text())
    for key, want in want_s.items():
        if key not in got_s or not _close(key, float(got_s[key]), float(want), abs(float(want))):
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


def regenerate(cache: Path) -> None:
    """Rewrite the golden records from the current code (only for an intended change of results)."""
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            out = _run(name, Path(tmp) / name, cache)
            target = EXPECTED / name
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(out / "timeseries.csv", target / "timeseries.csv")
            scalars = _summary_scalars(json.loads((out / "summary.json").read_text()))
            (target / "summary.json").write_text(json.dumps(scalars, indent=1) + "\n")


if __name__ == "__main__" and "--regenerate" in sys.argv:
    regenerate(Path(".ecmx-cache/meshes"))

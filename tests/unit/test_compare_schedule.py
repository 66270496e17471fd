"""The order in which a comparison starts its runs in the worker pool (ecmx.solver.studies.compare)."""

from __future__ import annotations

from pathlib import Path

from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies.compare import comparison_runs, longest_first
from ecmx.solver.studies.sensitivity import sensitivity_plan

CASES = Path(__file__).resolve().parents[2] / "cases"


def test_the_expensive_runs_start_first():
    """nvp-vs-hev: the 3D two-way runs, then the 3D one-way runs, then the 16 sphere-1d sensitivity
    runs (listed first, the sensitivity runs used to queue behind nothing and a 3D run could start
    last and finish alone)."""
    study = load_comparison(CASES / "nvp-vs-hev.yaml")
    runs = [run.case for run in [*comparison_runs(study), *sensitivity_plan(study)[0]]]
    order = [runs[i] for i in longest_first(runs)]
    assert [c.name for c in order[:4]] == ["nvp-two-way", "hev-two-way", "nvp", "hev"]
    assert {c.geometry.kind for c in order[4:]} == {"sphere-1d"} and len(order) == 20
    assert sorted(longest_first(runs)) == list(range(20))

"""The order in which a comparison starts its runs in the worker pool (ecmx.solver.studies.schedule)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from ecmx.solver.config.studies import load_comparison
from ecmx.solver.studies.compare import comparison_runs, planned_directories
from ecmx.solver.studies.schedule import earlier_cost, estimated_costs, longest_first, planned_cost
from ecmx.solver.studies.sensitivity import sensitivity_plan

CASES = Path(__file__).resolve().parents[2] / "cases"


@pytest.fixture(scope="module")
def planned():
    """nvp-vs-hev's 20 runs (4 own 3D runs, then 16 sphere-1d sensitivity runs) and their directories
    below a comparison directory ``compare`` (made relative: each test puts it in its tmp_path)."""
    study = load_comparison(CASES / "nvp-vs-hev.yaml")
    runs = [*comparison_runs(study), *sensitivity_plan(study)[0]]
    dirs = planned_directories(study, runs, Path("compare"))
    return [run.case for run in runs], [d.relative_to("compare") for d in dirs]


def _summary(directory: Path, case, wall: float, changes: dict | None = None) -> None:  # noqa: ANN001
    """An earlier run's summary.json in ``directory`` (the fields the estimate reads, then ``changes``)."""
    directory.mkdir(parents=True, exist_ok=True)
    summary = {"case": case.name, "status": "completed", "material": case.material.name,
               "geometry": case.geometry.kind, "mechanics": case.mechanics.enabled, "wall_time_s": wall, **(changes or {})}
    (directory / "summary.json").write_text(json.dumps(summary))


def test_without_earlier_runs_the_plan_orders_3d_two_way_first(planned, tmp_path):
    """A fresh directory: the 3D two-way runs, then the 3D one-way runs (each HE-V, the wider window,
    before NVP), then the 16 sphere-1d runs."""
    cases, dirs = planned
    order = [cases[i] for i in longest_first(cases, [tmp_path / d for d in dirs])]
    assert [c.name for c in order[:4]] == ["hev-two-way", "nvp-two-way", "hev", "nvp"]
    assert {c.geometry.kind for c in order[4:]} == {"sphere-1d"} and len(order) == 20


def _ends(order: list[str], walls: dict[str, float], workers: int = 2) -> tuple[float, list[list[str]]]:
    """When the last run ends and each worker's runs, the runs started in ``order`` on free workers."""
    free, runs = [0.0] * workers, [[] for _ in range(workers)]
    for name in order:
        w = free.index(min(free))
        free[w] += walls[name]
        runs[w].append(name)
    return max(free), runs


def test_a_fresh_directory_puts_the_two_hev_runs_on_different_workers(planned, tmp_path):
    """Measured on main (bench_compare, 2 workers): HE-V's 3D runs are the longer of each coupling.
    Started in the planned order, the two workers end together (21.5 s) instead of one running both
    HE-V runs (23.4 s)."""
    cases, dirs = planned
    walls = {"hev-two-way": 12.8, "nvp-two-way": 10.9, "hev": 10.6, "nvp": 8.5}
    order = [cases[i].name for i in longest_first(cases, [tmp_path / d for d in dirs])][:4]
    end, runs = _ends(order, walls)
    assert all(sum(name.startswith("hev") for name in worker) == 1 for worker in runs)
    assert end == pytest.approx(21.5) and _ends(["nvp-two-way", "hev-two-way", "nvp", "hev"], walls)[0] == 23.4


def test_planned_cost_grows_with_the_window(planned):
    """HE-V (θ 0.267-0.933) sweeps 4/3 of NVP's window (0.25-0.75) on the same mesh and protocol."""
    cases, _ = planned
    nvp, hev = cases[0], cases[1]
    assert hev.material.name == "hev" and hev.geometry == nvp.geometry
    lo, hi = hev.material.stoichiometry_window
    assert nvp.material.stoichiometry_window == (0.25, 0.75) and hi - lo == pytest.approx(2 / 3, abs=1e-3)
    assert planned_cost(hev) - 0.5 == pytest.approx((planned_cost(nvp) - 0.5) * (hi - lo) / 0.5, rel=1e-12)


def test_planned_cost_grows_with_the_mesh_and_the_coupling(planned):
    """Seconds of a 3D run (~7k cells) against a sphere-1d one, a finer mesh, two-way coupling."""
    cases, _ = planned
    nvp, nvp_two_way, sphere = cases[0], cases[2], cases[4]
    assert 5.0 < planned_cost(nvp) < 15.0 and 0.4 < planned_cost(sphere) < 1.0
    assert planned_cost(nvp_two_way) == pytest.approx(0.5 + 1.5 * (planned_cost(nvp) - 0.5))
    finer = nvp.model_copy(deep=True)
    finer.geometry.mesh.interface_size = nvp.geometry.mesh.interface_size / 2
    assert planned_cost(finer) > 2.0 * planned_cost(nvp)


def test_earlier_times_in_the_directory_set_the_order(planned, tmp_path):
    """An earlier comparison in the same directory measured HE-V one-way (20 s) longer than NVP
    two-way (12 s): the order follows the measurement (hev-two-way, hev, nvp-two-way, nvp), so that
    two workers end together (24.6 + 8.5 against 20.4 + 12.2 s) instead of hev starting last."""
    cases, dirs = planned
    walls = {"nvp": 8.5, "hev": 20.4, "nvp-two-way": 12.2, "hev-two-way": 24.6}
    for case, d in zip(cases[:4], dirs[:4], strict=True):
        _summary(tmp_path / d, case, walls[case.name])
    order = [cases[i].name for i in longest_first(cases, [tmp_path / d for d in dirs])]
    assert order[:4] == ["hev-two-way", "hev", "nvp-two-way", "nvp"]
    # the sphere-1d runs, without an earlier time, are on the measured scale (median ratio) and last
    costs = estimated_costs(cases, [tmp_path / d for d in dirs])
    scale = sorted(walls[c.name] / planned_cost(c) for c in cases[:4])
    assert costs[4] == pytest.approx(planned_cost(cases[4]) * (scale[1] + scale[2]) / 2)


@pytest.mark.parametrize("change", [
    {"status": "failed"}, {"case": "other"}, {"material": "hev"}, {"geometry": "sphere-1d"},
    {"mechanics": False}, {"wall_time_s": float("nan")}, {"wall_time_s": -1.0}, {"wall_time_s": "fast"},
])
def test_an_earlier_run_of_something_else_is_not_used(planned, tmp_path, change):
    cases, _ = planned
    _summary(tmp_path, cases[0], 30.0, change)
    assert earlier_cost(cases[0], tmp_path) is None
    _summary(tmp_path, cases[0], 30.0)
    assert earlier_cost(cases[0], tmp_path) == 30.0


def test_a_bad_summary_file_is_ignored(planned, tmp_path):
    """Not JSON, not an object, too large, a link, a directory: no estimate, no error."""
    case = planned[0][0]
    path = tmp_path / "summary.json"
    for text in ("{not json", "[1, 2]", '{"wall_time_s": 3}', " " * (1 << 21)):
        path.write_text(text)
        assert earlier_cost(case, tmp_path) is None
    path.unlink()
    _summary(tmp_path / "real", case, 30.0)
    os.symlink(tmp_path / "real" / "summary.json", path)
    assert earlier_cost(case, tmp_path) is None
    path.unlink()
    path.mkdir()
    assert earlier_cost(case, tmp_path) is None
    assert earlier_cost(case, tmp_path / "missing") is None

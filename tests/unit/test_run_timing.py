"""summary.json ``timing`` (ecmx.solver.studies.timing) of a real two-way run, and what it shows:
one mechanics solve per stagger pass, none again at an accepted step."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from ecmx.solver.studies.timing import PhaseClock

GOLDEN = Path(__file__).resolve().parents[1] / "system" / "golden"


def test_phase_clock_counts_wall_cpu_and_calls_of_wrapped_methods():
    class Work:
        def spin(self, n):
            return sum(range(n))

    clock, work = PhaseClock(), Work()
    clock.wrap(work, "spin", "spin")
    clock.wrap(None, "spin", "nothing")  # no object: nothing to time
    with clock.phase("outer"):
        assert work.spin(200_000) == sum(range(200_000))
        work.spin(10)
    timing = clock.summary()
    spin, outer = timing["phases"]["spin"], timing["phases"]["outer"]
    assert spin["calls"] == 2 and outer["calls"] == 1 and "nothing" not in timing["phases"]
    assert 0.0 < spin["wall_s"] <= outer["wall_s"] and 0.0 < spin["cpu_s"] <= outer["cpu_s"] + 1e-3
    assert timing["pid"] == os.getpid() and abs(timing["started_unix_s"] - time.time()) < 60


def test_patched_function_is_restored():
    import math

    clock, original = PhaseClock(), math.sqrt
    with clock.patched(math, "sqrt", "sqrt"):
        assert math.sqrt(4.0) == 2.0
    assert math.sqrt is original and clock.summary()["phases"]["sqrt"]["calls"] == 1


def test_two_way_run_records_its_phases_and_solves_the_mechanics_once_per_pass(tmp_path: Path, mesh_cache: Path):
    """The mechanics is solved in every stagger pass (one per converged cell solve) and once for the
    initial state; before, each accepted step solved it once more (about twice the count)."""
    import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

    # isort: split

    import dolfinx.jit

    from ecmx.solver.config.case import load_case
    from ecmx.solver.studies.run import run_case

    jit = dolfinx.jit.ffcx_jit
    result = run_case(load_case(GOLDEN / "sphere1d-twoway.yaml"), out_dir=tmp_path / "run", progress=False,
                      cache_dir=mesh_cache)
    assert dolfinx.jit.ffcx_jit is jit  # timed during the run only
    timing = json.loads((result.directory / "summary.json").read_text())["timing"]
    phases = timing["phases"]
    for name in ("imports", "jit", "mesh", "setup", "time_loop", "cell_solve", "mechanics_solve", "recording",
                 "fields", "stress_quantities", "snapshots", "finish"):
        assert phases[name]["calls"] >= 1 and phases[name]["wall_s"] >= 0.0, name
    accepted = result.summary["steps"]["accepted"]
    assert accepted > 10
    assert phases["recording"]["calls"] == accepted + 1
    assert phases["mechanics_solve"]["calls"] <= phases["cell_solve"]["calls"] + 1
    assert phases["time_loop"]["wall_s"] >= phases["cell_solve"]["wall_s"] + phases["recording"]["wall_s"]
    assert phases["time_loop"]["wall_s"] <= result.summary["wall_time_s"]


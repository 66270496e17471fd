"""Stand-ins for ``run_case`` in sweep tests: they write what a run writes, without solving.

They are module-level functions so that spawned worker processes and MPI ranks can import them
(pytest puts ``tests/`` on ``sys.path``; subprocesses get it through PYTHONPATH).

- :func:`fake_run` writes case.yaml and a summary.json whose peak von Mises is the analytic
  steady value σ*/15 and records every call in ``<sweep dir>/runner-calls.txt``. A point fails
  (SolveError, summary.json status "failed") when its diffusivity is below ``FAIL_BELOW``.
- :func:`crashing_run` kills its worker process for diffusivities below ``FAIL_BELOW``.
- :func:`busy_run` burns CPU for a fixed time (benchmark of the worker pool without the solver).
- :func:`slow_run` sleeps ``SLOW_RUN_S`` in short naps before :func:`fake_run` (interrupt and
  parent-death tests); :func:`lossy_run` returns normally but leaves no timeseries.csv (what a
  second sweep writing the same point directory used to leave behind).

Each call of :func:`fake_run` writes what ``run_case`` writes for the sweep: case.yaml,
timeseries.csv, probes.csv, a field series (``fields/particle.pvd`` and the ``.vtu`` it names) and
summary.json listing it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ecmx.solver.errors import SolveError
from ecmx.solver.studies.sweep import steady_surface_von_mises

FAIL_BELOW = 1.5e-17  # m^2/s
CALLS_FILE = "runner-calls.txt"
SLOW_RUN_S = 30.0
PVD = (
    '<?xml version="1.0"?>\n<VTKFile type="Collection" version="0.1">\n  <Collection>\n'
    '    <DataSet timestep="0" group="" part="0" file="particle_000000.vtu"/>\n  </Collection>\n</VTKFile>\n'
)


def fake_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    _record_call(Path(out_dir), comm)
    return _write_run(case, Path(out_dir), comm)


def _write_run(case: Any, out_dir: Path, comm: Any) -> dict:
    """The files of a run (rank 0); raises SolveError below ``FAIL_BELOW`` like a failed run."""
    rank = 0 if comm is None else comm.rank
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "case.yaml").write_text(case.to_yaml())
        (out_dir / "timeseries.csv").write_text("time_s,voltage_V\n0,3.4\n1,2.5\n")
        (out_dir / "probes.csv").write_text("time_s,probe,c\n")
        (out_dir / "fields").mkdir(exist_ok=True)
        (out_dir / "fields" / "particle.pvd").write_text(PVD)
        (out_dir / "fields" / "particle_000000.vtu").write_text('<VTKFile type="UnstructuredGrid"/>\n')
    d = case.material.diffusivity
    failed = d < FAIL_BELOW
    peak = steady_surface_von_mises(case)
    summary = {
        "status": "failed" if failed else "completed",
        "reason": "Newton did not converge (fake)" if failed else None,
        "results": {
            "peak_von_mises_Pa": peak,
            "peak_max_principal_Pa": None if peak is None else 0.5 * peak,
            "discharge_capacity_mAh_per_g": case.material.capacity_mAh_per_g * 0.9,
            "charge_capacity_mAh_per_g": 0.0,
            "final_voltage_V": 2.5,
        },
        "snapshots": {
            f"dod_{dod:.2f}": {"depth_of_discharge": dod, "c_min": 0.0, "c_max": 1e-12 / d * dod}
            for dod in case.output.snapshots.depth_of_discharge
        },
        "files": {"timeseries": "timeseries.csv", "probes": "probes.csv",
                  "fields": {"particle": "fields/particle.pvd"}},
    }
    if rank == 0:
        (out_dir / "summary.json").write_text(json.dumps(summary))
    if failed:
        raise SolveError(f"time step fell below the minimum at t = 1 s: {summary['reason']}")
    return summary


def _record_call(out_dir: Path, comm: Any) -> None:
    """One line ``<point label> <pid> <ranks>`` in the sweep directory's calls file (rank 0)."""
    if comm is None or comm.rank == 0:
        with open(out_dir.parent / CALLS_FILE, "a") as fh:
            fh.write(f"{out_dir.name} {os.getpid()} {0 if comm is None else comm.size}\n")


def crashing_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    if case.material.diffusivity < FAIL_BELOW:
        os._exit(3)
    return fake_run(case, out_dir, overwrite, progress, comm)


def busy_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    end = time.process_time() + 1.0
    x = 0.0
    while time.process_time() < end:
        x += sum(i * 1e-9 for i in range(1000))
    return fake_run(case, out_dir, overwrite, progress, comm)


def slow_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    _record_call(Path(out_dir), comm)
    end = time.monotonic() + SLOW_RUN_S
    while time.monotonic() < end:
        time.sleep(0.05)
    return _write_run(case, Path(out_dir), comm)


def lossy_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    summary = fake_run(case, out_dir, overwrite, progress, comm)
    (Path(out_dir) / "timeseries.csv").unlink()
    return summary


def calls(sweep_dir: Path) -> list[str]:
    """Point labels the fake runners were called for, in call order."""
    path = Path(sweep_dir) / CALLS_FILE
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []

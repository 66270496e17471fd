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

import os
import time
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from ecmx.postprocess.reference import steady_surface_von_mises
from ecmx.postprocess.run_files import PROBE_COLUMNS, TIMESERIES_COLUMNS, CsvWriter, PvdFiles, write_json
from ecmx.solver.errors import SolveError

FAIL_BELOW = 1.5e-17  # m^2/s
CALLS_FILE = "runner-calls.txt"
SLOW_RUN_S = 30.0
RADII_UM = np.linspace(0.0, 1.0, 5)  # the fake field's 1D mesh


def fake_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    _record_call(Path(out_dir), comm)
    return _write_run(case, Path(out_dir), comm)


def _write_run(case: Any, out_dir: Path, comm: Any) -> dict:
    """The files of a run (rank 0); raises SolveError below ``FAIL_BELOW`` like a failed run."""
    rank = 0 if comm is None else comm.rank
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "case.yaml").write_text(case.to_yaml())
        _write_files(out_dir)
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
        write_json(out_dir / "summary.json", summary, MPI.COMM_SELF)
    if failed:
        raise SolveError(f"time step fell below the minimum at t = 1 s: {summary['reason']}")
    return summary


def _write_files(out_dir: Path) -> None:
    """timeseries.csv (two rows), an empty probes.csv and a one-step field series, written by the
    run's own writers."""
    timeseries = CsvWriter(out_dir / "timeseries.csv", TIMESERIES_COLUMNS, MPI.COMM_SELF)
    timeseries.write_rows([{"time_s": 0.0, "voltage_V": 3.4}, {"time_s": 1.0, "voltage_V": 2.5}])
    timeseries.close()
    CsvWriter(out_dir / "probes.csv", PROBE_COLUMNS, MPI.COMM_SELF).close()
    (out_dir / "fields").mkdir(exist_ok=True)
    points = np.column_stack([RADII_UM, np.zeros((len(RADII_UM), 2))])
    cells = np.column_stack([np.arange(len(RADII_UM) - 1), np.arange(1, len(RADII_UM))])
    PvdFiles(out_dir / "fields" / "particle.pvd").append(0.0, points, ("line", cells),
                                                         {"particle_concentration": np.zeros(len(RADII_UM))})


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

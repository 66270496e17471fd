"""Stand-ins for ``run_case`` in sweep tests: they write what a run writes, without solving.

They are module-level functions so that spawned worker processes and MPI ranks can import them
(pytest puts ``tests/`` on ``sys.path``; subprocesses get it through PYTHONPATH).

- :func:`fake_run` writes case.yaml and a summary.json whose peak von Mises is the analytic
  steady value σ*/15 and records every call in ``<sweep dir>/runner-calls.txt``. A point fails
  (SolveError, summary.json status "failed") when its diffusivity is below ``FAIL_BELOW``.
- :func:`crashing_run` kills its worker process for diffusivities below ``FAIL_BELOW``.
- :func:`busy_run` burns CPU for a fixed time (benchmark of the worker pool without the solver).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from ecmx.solver.errors import SolveError
from ecmx.solver.sweep import steady_surface_von_mises

FAIL_BELOW = 1.5e-17  # m^2/s
CALLS_FILE = "runner-calls.txt"


def fake_run(case: Any, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> dict:
    out_dir = Path(out_dir)
    rank = 0 if comm is None else comm.rank
    if rank == 0:
        out_dir.mkdir(parents=True, exist_ok=True)
        with open(out_dir.parent / CALLS_FILE, "a") as fh:
            fh.write(f"{out_dir.name} {os.getpid()} {0 if comm is None else comm.size}\n")
        (out_dir / "case.yaml").write_text(case.to_yaml())
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
    }
    if rank == 0:
        (out_dir / "summary.json").write_text(json.dumps(summary))
    if failed:
        raise SolveError(f"time step fell below the minimum at t = 1 s: {summary['reason']}")
    return summary


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


def calls(sweep_dir: Path) -> list[str]:
    """Point labels the fake runners were called for, in call order."""
    path = Path(sweep_dir) / CALLS_FILE
    return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []

"""Run the fake cell problem through ``run_problem`` under MPI and fail it in one way (test_mpi_failures.py).

``python mpi_run_failures.py MODE OUT``: the run writes ``OUT`` (through ``OUT.partial``) and ends
like ``ecmx run`` would (its messages and exit status, via the CLI's ``user_errors``). MODE:

- ``io-error``: the disk fills up on rank 0 only (the 13th field file raises ENOSPC);
- ``solve-failure``: the solve fails at the minimum step (on every rank, as a real solve does);
- ``interrupt-rank1``: SIGINT reaches rank 1 only, after its 10th accepted step;
- ``ctrl-c``: a long, slow run to be interrupted from outside (SIGINT to mpiexec);
- ``completed``: a short run that completes.
"""

from __future__ import annotations

import errno
import os
import signal
import sys
import time
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
from mpi4py import MPI
from support.cases import ELECTROLYTE, MATERIAL
from support.fakes import FakeCellProblem

import ecmx.postprocess.xdmf as xdmf
from ecmx.solver.cli import user_errors
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.studies.run import run_problem

DISCHARGE = [{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.5}}]


class Hooked(FakeCellProblem):
    """Calls ``hook(accepted_steps)`` after every accepted step and sleeps ``pause`` seconds in every try."""

    def __init__(self, case, comm, hook=None, pause=0.0, **kwargs):
        super().__init__(case, comm, **kwargs)
        self.hook, self.pause, self.accepted = hook, pause, 0

    def try_step(self, dt, weights=None, guess=None, budget=None):
        time.sleep(self.pause)
        return super().try_step(dt, weights, guess, budget)

    def accept(self):
        super().accept()
        self.accepted += 1
        if self.hook is not None:
            self.hook(self.accepted)


def fill_disk_on_rank0(comm: MPI.Comm) -> None:
    real, calls = xdmf.atomic_write_text, []

    def write(path, *args, **kwargs):
        calls.append(path)
        if comm.rank == 0 and len(calls) > 12:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        return real(path, *args, **kwargs)

    xdmf.atomic_write_text = write  # each field write ends with its .xdmf


def build(mode: str, comm: MPI.Comm) -> tuple[object, FakeCellProblem]:
    protocol = DISCHARGE
    solver = {"time_step": {"initial": 1, "max": 30, "min": 0.01}}
    if mode == "ctrl-c":
        protocol = [{"step": "rest", "duration": "1000 h"}]
        solver = {"time_step": {"initial": 1, "max": 1}}
    case = case_from_dict({"name": f"mpi-{mode}", "material": MATERIAL, "electrolyte": ELECTROLYTE,
                           "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
                           "protocol": protocol, "mechanics": {"enabled": False}, "solver": solver,
                           "output": {"probes": [{"name": "centre", "point": [0, 0, 0]}]}})
    if mode == "io-error":
        fill_disk_on_rank0(comm)
    if mode == "solve-failure":
        return case, Hooked(case, comm, fail_after=900.0)
    if mode == "interrupt-rank1":
        def interrupt(step: int) -> None:
            if comm.rank == 1 and step == 10:
                os.kill(os.getpid(), signal.SIGINT)

        return case, Hooked(case, comm, hook=interrupt)
    return case, Hooked(case, comm, pause=0.02 if mode == "ctrl-c" else 0.0)


def main(mode: str, out: str) -> int:
    comm = MPI.COMM_WORLD
    case, problem = build(mode, comm)
    try:
        with user_errors():
            run_problem(problem, case, Path(out), comm=comm)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

"""Driver for test_resume_mpi.py: a fake run on the ranks of ``mpiexec``, interrupted on rank 1 after its
10th accepted step (``interrupt``), resumed (``resume``) or run whole (``reference``).

Usage: ``mpiexec -n 2 python mpi_resume_run.py MODE OUT``; exit status as the CLI's.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

import typer

sys.path.insert(0, str(Path(__file__).resolve().parent))  # mpi_run_failures
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # the tests root, for support.*
from mpi4py import MPI
from mpi_run_failures import DISCHARGE, Hooked
from support.cases import ELECTROLYTE, MATERIAL

from ecmx.solver.cli import user_errors
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.studies.resume import resume_point
from ecmx.solver.studies.run import ResumedDirectory, run_problem


def main(mode: str, out: str) -> int:
    comm = MPI.COMM_WORLD
    case = case_from_dict({"name": "mpi-resume", "material": MATERIAL, "electrolyte": ELECTROLYTE,
                           "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}},
                           "protocol": DISCHARGE, "mechanics": {"enabled": False},
                           "solver": {"time_step": {"initial": 1, "max": 30, "min": 0.01}},
                           "output": {"probes": [{"name": "centre", "point": [0, 0, 0]}]}})

    def interrupt(step: int) -> None:
        if mode == "interrupt" and comm.rank == 1 and step == 10:
            os.kill(os.getpid(), signal.SIGINT)

    problem = Hooked(case, comm, hook=interrupt)
    try:
        with user_errors():
            if mode == "resume":
                directory = ResumedDirectory(Path(out), comm, case_file=case.source_path)
                run_problem(problem, case, directory, comm=comm, resumed=resume_point(directory, case, comm))
            else:
                run_problem(problem, case, Path(out), comm=comm)
    except typer.Exit as exc:
        return exc.exit_code
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:3]))

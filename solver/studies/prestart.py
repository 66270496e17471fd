"""Worker processes started before the comparison file is validated (issue 14: the first run used to
start 5 s after the command).

A spawned worker is a fresh interpreter that imports the solver (DOLFINx, PETSc, the case schema)
before it can run a case: about a second of CPU, which used to begin only after the parent had
read and validated the comparison file and planned its runs (another 1.5 s). ``ecmx compare``
starts its workers first (:func:`prestarted_workers`); each imports what a run needs
(:func:`warm_up`) while the parent validates, and :func:`ecmx.solver.studies.compare.run_comparison`
adopts them when it wants as many workers. They are spawned without importing ``ecmx``'s command
line again (:func:`~ecmx.solver.studies.workers.main_not_reimported`). The workers only import:
a bad input file still writes nothing, and ends them at once (exit status 2).

Nothing is started under an MPI launcher (the cases then run on the launcher's ranks) or with one
worker.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

from ecmx.solver.studies.workers import main_not_reimported, process_pool, terminate_workers

LAUNCHER_VARIABLES = ("PMI_RANK", "OMPI_COMM_WORLD_RANK", "PMIX_RANK", "SLURM_PROCID")
"""Set by mpiexec (MPICH/Hydra, Open MPI, PMIx) or Slurm: then no worker is started early."""


@dataclass
class Prestarted:
    """A worker pool started before the validation, with its number of worker processes."""

    pool: cf.ProcessPoolExecutor
    workers: int


def warm_up() -> None:
    """A worker's first job: import what running a case needs."""
    import ecmx.solver.studies.run  # noqa: F401


@contextlib.contextmanager
def prestarted_workers(workers: int | None = None) -> Iterator[Prestarted | None]:
    """Start ``workers`` (default: one per core) worker processes now, each importing the solver,
    for the comparison to adopt (None: none started, see the module doc). Leaving the block ends
    them at once (by an exception: a bad input file, Ctrl-C; or normally: the comparison that
    adopted them has waited for every call it made)."""
    count = workers or os.cpu_count() or 1
    if count < 2 or any(name in os.environ for name in LAUNCHER_VARIABLES):
        yield None
        return
    with process_pool(count) as pool:
        with main_not_reimported():
            for _ in range(count):  # one job per worker: each spawns a process (all of them now)
                pool.submit(warm_up)
        yield Prestarted(pool, count)
        terminate_workers(pool)  # not adopted (or adopted and ended): only warm-ups ran, end them now

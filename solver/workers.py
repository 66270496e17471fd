"""Local worker processes for sweeps and comparisons.

Each worker is a fresh ``spawn``-ed interpreter (DOLFINx and MPI state must never be forked) that runs
whole cases on ``MPI.COMM_SELF``; workers get single-threaded BLAS so that N workers use N cores.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
from collections.abc import Iterator

_WORKER_THREADS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
# an inherited MPI launcher environment would make each worker join the parent's MPI job
_LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "MPIR_", "OMPI_")


@contextlib.contextmanager
def worker_environment() -> Iterator[None]:
    """Environment the spawned workers inherit: single-threaded BLAS, no MPI launcher variables."""
    saved = dict(os.environ)
    try:
        for key in list(os.environ):
            if key.startswith(_LAUNCHER_PREFIXES):
                del os.environ[key]
        for key in _WORKER_THREADS:
            os.environ.setdefault(key, "1")
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def process_pool(workers: int) -> cf.ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes (use inside :func:`worker_environment`)."""
    return cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))

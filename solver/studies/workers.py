"""Local worker processes for sweeps and comparisons.

Each worker is a fresh ``spawn``-ed interpreter (DOLFINx and MPI state must never be forked) that runs
whole cases on ``MPI.COMM_SELF``; workers get single-threaded BLAS so that N workers use N cores.

Workers never outlive the process that started them:

- they ignore SIGINT: Ctrl-C in a terminal reaches the whole process group, and it is the parent
  that decides what an interrupt means (see :func:`process_pool`);
- when the parent dies (``kill -9`` included) they exit: Linux sends them SIGTERM
  (``prctl(PR_SET_PDEATHSIG)``), and a watchdog thread that polls the parent's pid ends them
  elsewhere (and covers the moment before the ``prctl``). Without this an orphaned worker finishes
  its point and then waits forever for the next one;
- leaving a :func:`process_pool` block by an exception (Ctrl-C in the parent) cancels the calls
  not yet started and terminates the workers at once, instead of waiting for their running cases.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator

from ecmx.solver.threads import THREAD_VARIABLES

# an inherited MPI launcher environment would make each worker join the parent's MPI job
_LAUNCHER_PREFIXES = ("PMI_", "PMIX_", "HYDRA_", "MPIR_", "OMPI_")
_PR_SET_PDEATHSIG = 1
WATCHDOG_PERIOD_S = 0.5
"""How often a worker checks that its parent is alive, in seconds."""
_ORPHANED = 128 + signal.SIGTERM  # exit status of a worker whose parent died (as if SIGTERM-ed)


@contextlib.contextmanager
def worker_environment() -> Iterator[None]:
    """Environment the spawned workers inherit: single-threaded BLAS, no MPI launcher variables."""
    saved = dict(os.environ)
    try:
        for key in list(os.environ):
            if key.startswith(_LAUNCHER_PREFIXES):
                del os.environ[key]
        for key in THREAD_VARIABLES:
            os.environ.setdefault(key, "1")
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


CLI_MODULE = "ecmx.solver.cli"


def _is_cli(main: object) -> bool:
    """Whether ``main`` (the ``__main__`` module) is ecmx's command line: ``python -m ecmx.solver.cli``
    or the ``ecmx`` console script (a file that imports the CLI's ``main``)."""
    cli = sys.modules.get(CLI_MODULE)
    return (getattr(getattr(main, "__spec__", None), "name", None) == CLI_MODULE
            or (cli is not None and getattr(main, "main", None) is getattr(cli, "main", None) is not None))


@contextlib.contextmanager
def main_not_reimported() -> Iterator[None]:
    """Worker processes spawned inside the block do not import the parent's ``__main__`` module again
    when it is ecmx's command line (a spawned child imports it by default: typer, rich and the CLI,
    0.1 s of CPU per worker while every core is busy starting up). Workers run only functions of
    ecmx's own modules, which they import by name. Any other main module (a user's script, whose
    functions a worker may run) is left as it is."""
    main = sys.modules.get("__main__")
    if main is None or not _is_cli(main):
        yield
        return
    spec, names = main.__spec__, main.__dict__
    path = names.pop("__file__", None)
    main.__spec__ = None
    try:
        yield
    finally:
        main.__spec__ = spec
        if path is not None:
            names["__file__"] = path


def _exit_with_parent() -> None:
    """Ask Linux to SIGTERM this process when its parent dies (no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)


def _watch_parent(parent: int) -> None:
    """End this process as soon as its parent ``parent`` is gone (then it has a new parent)."""
    while os.getppid() == parent:
        time.sleep(WATCHDOG_PERIOD_S)
    os._exit(_ORPHANED)


def init_worker(parent: int) -> None:
    """Initializer of every worker process: ignore SIGINT, exit when ``parent`` (a pid) dies."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _exit_with_parent()
    if os.getppid() != parent:  # the parent died before the prctl took effect
        os._exit(_ORPHANED)
    threading.Thread(target=_watch_parent, args=(parent,), name="ecmx-parent-watchdog", daemon=True).start()


def terminate_workers(pool: cf.ProcessPoolExecutor) -> None:
    """Cancel the pool's calls that have not started and terminate its worker processes now."""
    # ProcessPoolExecutor has no public way to stop running calls before Python 3.14
    # (terminate_workers); its process table is taken before shutdown() drops it.
    processes = list((pool._processes or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.terminate()
    for process in processes:
        with contextlib.suppress(OSError, ValueError):
            process.join(timeout=10)


@contextlib.contextmanager
def process_pool(workers: int) -> Iterator[cf.ProcessPoolExecutor]:
    """A pool of ``workers`` spawned worker processes, in :func:`worker_environment`.

    Leaving the block normally waits for the submitted calls; leaving it by an exception
    (KeyboardInterrupt included) cancels what has not started and terminates the workers.
    """
    with worker_environment():
        pool = cf.ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                      initializer=init_worker, initargs=(os.getpid(),))
        try:
            yield pool
        except BaseException:
            terminate_workers(pool)
            raise
        finally:
            pool.shutdown(wait=True)

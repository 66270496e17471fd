"""The one place that prepares the DOLFINx import.

The PyPI wheel ``dolfinx-solver-real`` ships DOLFINx with its own PETSc and MPI, and its package
``dolfinx_solver`` must be imported before ``dolfinx``, ``petsc4py`` or ``mpi4py`` to order the MPI
library ahead of the bindings. DOLFINx installed another way (conda-forge, the FEniCS containers,
a source build) has no such package and needs nothing. Every ecmx module that imports DOLFINx
imports this module first: ``import ecmx.solver._compat  # noqa: F401``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys

PETSC_NO_SIGNAL_HANDLER = "-no_signal_handler"
"""PETSc option that leaves signals to Python (see :func:`leave_signals_to_python`)."""


def leave_signals_to_python() -> None:
    """Keep PETSc from installing its signal handlers, so that signals mean what they mean in Python.

    PETSc's default handler turns SIGPIPE, SIGTERM, SIGHUP, SIGBUS and SIGSEGV into a "PETSC ERROR:
    Caught signal" and ``MPI_Abort``. Python ignores SIGPIPE (a write to a closed pipe raises
    ``BrokenPipeError``, which ``concurrent.futures`` expects while it ends worker processes:
    with PETSc's handler the parent of a comparison's terminated workers aborted now and then),
    and a terminated worker should just end. The option goes into ``PETSC_OPTIONS`` before PETSc
    initialises (here and in every process started from this one); if PETSc was already
    initialised by whoever imported ecmx, SIGPIPE is set back to ignored at least.
    """
    options = os.environ.get("PETSC_OPTIONS", "")
    if PETSC_NO_SIGNAL_HANDLER not in options.split():
        os.environ["PETSC_OPTIONS"] = f"{options} {PETSC_NO_SIGNAL_HANDLER}".strip()
    if "petsc4py.PETSc" in sys.modules and hasattr(signal, "SIGPIPE"):
        with contextlib.suppress(ValueError):  # only the main thread may set a handler
            signal.signal(signal.SIGPIPE, signal.SIG_IGN)


leave_signals_to_python()

try:
    import dolfinx_solver  # noqa: F401
except ModuleNotFoundError as exc:  # DOLFINx from conda-forge, a container or a source build
    if exc.name != "dolfinx_solver":
        raise
    HAS_DOLFINX_SOLVER_WHEEL = False
else:
    HAS_DOLFINX_SOLVER_WHEEL = True
"""True when DOLFINx comes from the ``dolfinx-solver-real`` wheel."""


def use_own_jit_cache() -> None:
    """Keep ecmx's compiled forms in their own subdirectory of the DOLFINx JIT cache (its default,
    ``~/.cache/fenics``; a cache_dir the user sets in DOLFINx's JIT option files still wins).

    FFCx lists the whole cache directory for every compiled module it loads, and a shared FEniCS
    cache holds every form any program ever compiled (7 500 files here: ~9 ms a listing, 0.3-0.9 s
    of every run's start-up); ecmx's own forms are a few hundred files. Called when
    :mod:`ecmx.solver.fem` is imported (this module itself must import without DOLFINx).
    """
    from pathlib import Path

    import dolfinx.jit

    default, description = dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS["cache_dir"]
    if Path(str(default)).name != "ecmx":
        dolfinx.jit.DOLFINX_DEFAULT_JIT_OPTIONS["cache_dir"] = (Path(str(default)) / "ecmx", description)

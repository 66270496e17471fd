"""The one place that prepares the DOLFINx import.

The PyPI wheel ``dolfinx-solver-real`` ships DOLFINx with its own PETSc and MPI, and its package
``dolfinx_solver`` must be imported before ``dolfinx``, ``petsc4py`` or ``mpi4py`` to order the MPI
library ahead of the bindings. DOLFINx installed another way (conda-forge, the FEniCS containers,
a source build) has no such package and needs nothing. Every ecmx module that imports DOLFINx
imports this module first: ``import ecmx.solver._compat  # noqa: F401``.
"""

from __future__ import annotations

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

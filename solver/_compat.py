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

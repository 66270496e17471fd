"""One BLAS/OpenMP thread per MPI rank when ecmx runs under an MPI launcher with more than one rank.

OpenBLAS (numpy's, and the one PETSc and MUMPS link) starts as many threads as the machine has cores,
in every process. Under ``mpiexec -n N`` with N ranks on N cores that is N² threads, which spin while
they wait: every BLAS call of a rank (numpy's dot products, PETSc's multi-vector operations) then
competes with the other ranks. Measured on bench/sphere3d.yaml's first second (71k + 193k DOFs, 2 ranks
on 2 cores): the rigid-body modes' orthonormalisation, six dot products a vector, 1.2 s of the mechanics'
set-up with the default threads and 0.006 s with one; the whole run 49.5 → 46.2 s.

:func:`one_blas_thread_per_rank` sets ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS`` to
1 where the launcher says there are several ranks and the user has not set them. The libraries read them
when they are loaded, so it runs when the ``ecmx`` package is imported (every ecmx command does that before
numpy and PETSc); a script that imports numpy before ecmx keeps numpy's threads (set the variables
yourself, docs/cluster.md). Standard library only: importing it loads nothing else.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
"""The thread counts of OpenMP, OpenBLAS and MKL."""
LAUNCHER_SIZE_VARIABLES = ("PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "MV2_COMM_WORLD_SIZE")
"""The number of ranks as MPICH's Hydra, Intel MPI and Slurm's PMI (PMI_SIZE), Open MPI and MVAPICH tell each
process they start."""


def launcher_ranks(environ: MutableMapping[str, str] | None = None) -> int:
    """The number of ranks the MPI launcher started (1 without a launcher or with an unreadable value)."""
    environ = os.environ if environ is None else environ
    for key in LAUNCHER_SIZE_VARIABLES:
        value = environ.get(key, "")
        if value.strip().isdigit():
            return max(int(value), 1)
    return 1


def one_blas_thread_per_rank(environ: MutableMapping[str, str] | None = None) -> None:
    """One BLAS/OpenMP thread per process when the launcher started several ranks (a variable the user set is
    kept)."""
    environ = os.environ if environ is None else environ
    if launcher_ranks(environ) > 1:
        for key in THREAD_VARIABLES:
            environ.setdefault(key, "1")

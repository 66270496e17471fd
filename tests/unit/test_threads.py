"""One BLAS/OpenMP thread per MPI rank under a launcher with several ranks (ecmx.solver.threads)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from ecmx.solver.threads import THREAD_VARIABLES, launcher_ranks, one_blas_thread_per_rank


@pytest.mark.parametrize("launcher,ranks", [({}, 1), ({"PMI_SIZE": "2"}, 2), ({"OMPI_COMM_WORLD_SIZE": "4"}, 4),
                                            ({"PMI_SIZE": "1"}, 1), ({"PMI_SIZE": "x"}, 1)])
def test_threads_follow_the_launchers_rank_count(launcher, ranks):
    environ = dict(launcher)
    assert launcher_ranks(environ) == ranks
    one_blas_thread_per_rank(environ)
    expected = {key: "1" for key in THREAD_VARIABLES} if ranks > 1 else {}
    assert environ == launcher | expected


def test_a_thread_count_the_user_set_is_kept():
    environ = {"PMI_SIZE": "2", "OPENBLAS_NUM_THREADS": "3"}
    one_blas_thread_per_rank(environ)
    assert environ["OPENBLAS_NUM_THREADS"] == "3" and environ["OMP_NUM_THREADS"] == "1"


def test_import_ecmx_sets_them_before_numpy_loads():
    """``import ecmx`` (what every ecmx command does first) sets the variables under a launcher of 2 ranks,
    before numpy is imported (OpenBLAS reads them when it loads)."""
    code = ("import sys, os, ecmx\n"
            "print('numpy' in sys.modules, [os.environ.get(k) for k in ('OMP_NUM_THREADS', 'OPENBLAS_NUM_THREADS')])")
    env = {k: v for k, v in os.environ.items() if k not in THREAD_VARIABLES} | {"PMI_SIZE": "2"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "['1',", "'1']"]

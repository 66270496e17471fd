"""The last mechanics factorisation and linear response of this process, reused by the next run that has
the same matrices (issue 14).

A comparison or sweep worker runs several cases in one process, and pairs of them share the particle's
mechanics: the one- and two-way runs of a material, a C-rate sweep. Their stiffness matrix, the
derivative of their load and their null space are then equal value for value, and so are the MUMPS
factorisation (0.2 s on cases/nvp.yaml's particle) and the response Z of
:mod:`ecmx.solver.fem.linear_response` (0.35 s). Each is kept under a SHA-256 key of the values it is
computed from (the CSR arrays of the matrices, the null-space vectors, the held dofs and the solver
options), one entry each: a run whose matrices differ in any value (another mesh, Poisson ratio,
partial molar volume, rollers) computes its own and replaces the entry. Serial runs only (a factor
belongs to its communicator).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
from petsc4py import PETSc


def content_key(parts: Iterable[Any]) -> str:
    """SHA-256 of a sequence of arrays (their dtype, shape and bytes) and strings."""
    digest = hashlib.sha256()
    for part in parts:
        if isinstance(part, str):
            digest.update(b"s" + part.encode())
        else:
            array = np.ascontiguousarray(part)
            digest.update(f"a{array.dtype.str}{array.shape}".encode())
            digest.update(array.tobytes())
    return digest.hexdigest()


def matrix_parts(matrix: PETSc.Mat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The CSR arrays (row pointer, columns, values) of an assembled AIJ matrix, for :func:`content_key`."""
    return matrix.getValuesCSR()


class LastEntry:
    """One cached value under its key (the last one put)."""

    def __init__(self) -> None:
        self._key: str | None = None
        self._value: Any = None

    def get(self, key: str) -> Any:
        """The value put under ``key``; None when the entry holds another key (or none)."""
        return self._value if key == self._key else None

    def put(self, key: str, value: Any) -> None:
        self._key, self._value = key, value

    def clear(self) -> None:
        self._key, self._value = None, None


FACTORS = LastEntry()
"""The last set-up direct solver (KSP with its MUMPS factor) of a mechanics stiffness matrix."""

RESPONSES = LastEntry()
"""The last linear response Z (dense PETSc matrix) of :mod:`ecmx.solver.fem.linear_response`."""

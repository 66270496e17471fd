"""The SNES residual of a blocked system: one vector assembly per row block, nothing else.

DOLFINx's ``NonlinearProblem`` residual (``dolfinx.fem.petsc.assemble_residual``) also lifts the
Dirichlet conditions into the vector through every Jacobian block; with no Dirichlet condition (the
coupled cell problem has none) the lifting adds nothing, but it still packs the coefficients of all
the Jacobian blocks and copies the vector block by block at every call. Measured on the NVP sphere
(bench/bench_step_cost.py, one rank): 2.2 of 6.6 ms of a residual at 3k DOFs. :class:`BlockResidual`
assembles the same row forms in the same order into the same vector (bit for bit the residual DOLFINx
computes), into buffers allocated once, and runs the caller's hook at each iterate first. The forms'
constants and coefficients are packed by DOLFINx's C++ calls, and x is copied into the unknowns through
slices worked out once (:class:`BlockArrays`), not through the Python wrappers that check types and work
out the layout at every call: measured on a sphere-1d run (43 DOFs, three blocks, one rank) 0.26–0.33 →
0.15–0.18 ms per residual (its U(θ) table refreshed too).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
from dolfinx import fem
from dolfinx.cpp.fem import assemble_vector, pack_coefficients, pack_constants
from petsc4py import PETSc


class BlockArrays:
    """The unknowns' arrays (owned and ghost values) and where each block of them lies in a vector of the
    blocked layout (owned values of every block first, then the ghosts of every block).

    Args:
        vector: a vector of the layout (its ``_blocks`` attribute: the owned and the ghost offsets).
        unknowns: the unknowns, in block order.
    """

    def __init__(self, vector: PETSc.Vec, unknowns: Sequence[fem.Function]) -> None:
        owned, ghosts = vector.getAttr("_blocks")
        self.offsets = list(zip(owned, owned[1:], ghosts, ghosts[1:], strict=False))
        self._targets = [(u.x.array, o1 - o0, o0, o1, g0, g1)
                         for u, (o0, o1, g0, g1) in zip(unknowns, self.offsets, strict=True)]

    def fill(self, x: PETSc.Vec) -> None:
        """Copy the unknowns into x, as ``dolfinx.fem.petsc.assign(unknowns, x)``."""
        with x.localForm() as local:
            values = local.array_w
            for array, n, o0, o1, g0, g1 in self._targets:
                values[o0:o1] = array[:n]
                values[g0:g1] = array[n:]

    def assign(self, x: PETSc.Vec) -> None:
        """Copy x (ghosts updated first) into the unknowns, as ``dolfinx.fem.petsc.assign(x, unknowns)``."""
        x.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)
        with x.localForm() as local:
            values = local.array_r
            for array, n, o0, o1, g0, g1 in self._targets:
                array[:n] = values[o0:o1]
                array[n:] = values[g0:g1]


class BlockResidual:
    """The residual F(x) of one form per unknown block, in the layout of a blocked PETSc vector.

    Args:
        forms: the compiled residual row forms, in block order.
        unknowns: the unknowns, in block order (set to x before assembly).
        before_assembly: called with the unknowns at x, before the forms are assembled (e.g. the
            tabulated coefficients of :mod:`ecmx.solver.fem.table_fields`), or None.
    """

    def __init__(self, forms: Sequence[fem.Form], unknowns: Sequence[fem.Function],
                 before_assembly: Callable[[], None] | None = None) -> None:
        self._forms, self._unknowns, self._hook = list(forms), list(unknowns), before_assembly
        self._cpp_forms = [form._cpp_object for form in self._forms]
        self._buffers: list[np.ndarray] = []
        self._offsets: list[tuple[int, int, int, int]] = []
        self._arrays: BlockArrays | None = None

    def attach(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """Make this the residual callback of ``problem``'s SNES (its vector b, blocked layout)."""
        self._arrays = BlockArrays(problem.x, self._unknowns)
        self._offsets = BlockArrays(problem.b, self._unknowns).offsets
        self._buffers = [np.zeros(o1 - o0 + g1 - g0, dtype=PETSc.ScalarType) for o0, o1, g0, g1 in self._offsets]
        problem.solver.setFunction(self._assemble, problem.b)

    def _assemble(self, _snes: PETSc.SNES, x: PETSc.Vec, b: PETSc.Vec) -> None:
        """F(x) into b: owned and ghost entries of every block, ghost contributions sent to their owners."""
        self._arrays.assign(x)
        if self._hook is not None:
            self._hook()
        self._assemble_rows(b, range(len(self._forms)))

    def solve(self, problem: dolfinx.fem.petsc.NonlinearProblem) -> None:
        """``problem.solve()`` (Newton from the unknowns, the solution left in them) with the copies between
        the unknowns and x through :class:`BlockArrays`. Collective."""
        self._arrays.fill(problem.x)
        problem.solver.solve(None, problem.x)
        self._arrays.assign(problem.x)

    def assemble_rows(self, b: PETSc.Vec, rows: Sequence[int]) -> None:
        """F of the row blocks ``rows`` at the present values of the unknowns into b (a vector of the
        layout of the problem's b), the other blocks zero; the caller's hook first. Collective."""
        if self._hook is not None:
            self._hook()
        self._assemble_rows(b, rows)

    def _assemble_rows(self, b: PETSc.Vec, rows: Sequence[int]) -> None:
        with b.localForm() as local:
            local.set(0.0)
            array = local.array_w
            for row in rows:
                form, buffer, (o0, o1, g0, g1) = self._cpp_forms[row], self._buffers[row], self._offsets[row]
                buffer[:] = 0.0
                assemble_vector(buffer, form, pack_constants(form), pack_coefficients(form))
                array[o0:o1] += buffer[:o1 - o0]
                array[g0:g1] += buffer[o1 - o0:]
        b.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
        b.ghostUpdate(addv=PETSc.InsertMode.INSERT, mode=PETSc.ScatterMode.FORWARD)


"""The time derivative shared by every model: ∂u/∂t ≈ (a₀ u + a₁ uₙ + a₂ uₙ₋₁)/t₀ in UFL.

One :class:`TimeHistory` per cell problem holds three Constants a₀, a₁, a₂ (the weights of the
time-integration scheme times t₀, i.e. in units of 1/t₀) and the two previous time levels uₙ, uₙ₋₁ of
every unknown a model registers. Backward Euler is (a₀, a₁, a₂) = (1, −1, 0)·t₀/Δt, variable-step
BDF2 the weights of :func:`ecmx.solver.timeloop.integrators.bdf_weights`; a model writes
``history.rate(u)`` in its storage term and never knows which scheme runs. Changing the scheme
changes Constants only, never the forms.
"""

from __future__ import annotations

from collections.abc import Sequence

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import ufl
from dolfinx import fem

from ecmx.solver.fem.reactions import constant


class TimeHistory:
    """Scheme weights (Constants, 1/t₀) and the previous two levels of the registered unknowns.

    Args:
        mesh: the parent mesh the Constants live on.
    """

    def __init__(self, mesh: object) -> None:
        self.weights = (constant(mesh, 1.0), constant(mesh, -1.0), constant(mesh, 0.0))
        self._levels: dict[int, tuple[fem.Function, fem.Function, fem.Function]] = {}

    def register(self, u: fem.Function) -> None:
        """Keep uₙ and uₙ₋₁ of ``u`` (both start equal to ``u``)."""
        space = u.function_space
        previous, before = fem.Function(space), fem.Function(space)
        previous.x.array[:] = u.x.array
        before.x.array[:] = u.x.array
        self._levels[id(u)] = (u, previous, before)

    def rate(self, u: fem.Function) -> ufl.core.expr.Expr:
        """∂u/∂t in units of 1/t₀: a₀ u + a₁ uₙ + a₂ uₙ₋₁ (``u`` registered)."""
        _, previous, before = self._levels[id(u)]
        a0, a1, a2 = self.weights
        return a0 * u + a1 * previous + a2 * before

    def set_weights(self, weights: Sequence[float]) -> None:
        """(a₀, a₁, a₂) of the next step, nondimensional (times t₀)."""
        for const, value in zip(self.weights, weights, strict=True):
            const.value = float(value)

    def commit(self) -> None:
        """The present values become uₙ, the old uₙ becomes uₙ₋₁ (after an accepted step)."""
        for u, previous, before in self._levels.values():
            before.x.array[:] = previous.x.array
            previous.x.array[:] = u.x.array

    def reset(self) -> None:
        """uₙ = uₙ₋₁ = the present values (initial state, a set state)."""
        for u, previous, before in self._levels.values():
            previous.x.array[:] = u.x.array
            before.x.array[:] = u.x.array

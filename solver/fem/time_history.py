"""The time derivative shared by every model: ∂u/∂t ≈ (a₀ u + a₁ uₙ + a₂ uₙ₋₁ + a₃ uₙ₋₂)/t₀ in UFL.

One :class:`TimeHistory` per cell problem holds DEPTH + 1 Constants a₀ … a₃ (the weights of the
time-integration scheme times t₀, i.e. in units of 1/t₀) and the DEPTH previous time levels uₙ,
uₙ₋₁, uₙ₋₂ of every unknown a model registers. Backward Euler is (a₀, a₁, a₂, a₃) = (1, −1, 0, 0)·t₀/Δt,
variable-step BDF2 and BDF3 the weights of :func:`ecmx.solver.timeloop.integrators.bdf_weights`; a
model writes ``history.rate(u)`` in its storage term and never knows which scheme runs. Changing the
scheme (or its order) changes Constants only, never the forms.
"""

from __future__ import annotations

from collections.abc import Sequence

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
import ufl
from dolfinx import fem

from ecmx.solver.fem.reactions import constant

DEPTH = 3
"""Previous time levels kept per unknown: enough for BDF3 (the integrator's highest order)."""


class TimeHistory:
    """Scheme weights (Constants, 1/t₀) and the previous DEPTH levels of the registered unknowns.

    Args:
        mesh: the parent mesh the Constants live on.
    """

    def __init__(self, mesh: object) -> None:
        self.weights = tuple(constant(mesh, value) for value in (1.0, -1.0, *([0.0] * (DEPTH - 1))))
        self._levels: dict[int, tuple[fem.Function, list[fem.Function]]] = {}

    def register(self, u: fem.Function) -> None:
        """Keep the previous levels uₙ, uₙ₋₁, … of ``u`` (all start equal to ``u``)."""
        space = u.function_space
        past = [fem.Function(space) for _ in range(DEPTH)]
        for level in past:
            level.x.array[:] = u.x.array
        self._levels[id(u)] = (u, past)

    def rate(self, u: fem.Function) -> ufl.core.expr.Expr:
        """∂u/∂t in units of 1/t₀: a₀ u + a₁ uₙ + a₂ uₙ₋₁ + a₃ uₙ₋₂ (``u`` registered)."""
        _, past = self._levels[id(u)]
        expression = self.weights[0] * u
        for weight, level in zip(self.weights[1:], past, strict=True):
            expression = expression + weight * level
        return expression

    def set_weights(self, weights: Sequence[float]) -> None:
        """(a₀, a₁, …) of the next step, nondimensional (times t₀); missing trailing weights are 0."""
        if len(weights) > len(self.weights):
            raise ValueError(f"a time history of depth {DEPTH} takes at most {DEPTH + 1} weights, got {len(weights)}")
        padded = [*weights, *([0.0] * (len(self.weights) - len(weights)))]
        for const, value in zip(self.weights, padded, strict=True):
            const.value = float(value)

    def commit(self) -> None:
        """The present values become uₙ, the old uₙ becomes uₙ₋₁, and so on (after an accepted step)."""
        for u, past in self._levels.values():
            for newer, older in zip(past[-2::-1], past[:0:-1], strict=True):
                older.x.array[:] = newer.x.array
            past[0].x.array[:] = u.x.array

    def checkpoint_state(self) -> list[np.ndarray]:
        """Copies of this rank's arrays (ghosts included) of the previous levels of every registered
        unknown, in registration order, newest first: what a checkpoint stores to continue the scheme exactly."""
        return [level.x.array.copy() for _, past in self._levels.values() for level in past]

    def restore_checkpoint_state(self, arrays: Sequence[np.ndarray]) -> None:
        """Put the levels back from :meth:`checkpoint_state` (same mesh and MPI ranks). A checkpoint of
        an older version with two levels per unknown is accepted: its oldest level is repeated."""
        unknowns = list(self._levels.values())
        stored = len(arrays) // len(unknowns) if unknowns and len(arrays) % len(unknowns) == 0 else -1
        if not 2 <= stored <= DEPTH:
            raise ValueError(f"a time history of {len(unknowns)} unknowns with {DEPTH} levels each cannot take "
                             f"{len(arrays)} arrays")
        for i, (_, past) in enumerate(unknowns):
            saved = arrays[i * stored:(i + 1) * stored]
            for j, level in enumerate(past):
                level.x.array[:] = saved[min(j, stored - 1)]

    def reset(self) -> None:
        """Every previous level = the present values (initial state, a set state)."""
        for u, past in self._levels.values():
            for level in past:
                level.x.array[:] = u.x.array

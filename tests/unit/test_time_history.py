"""The shared time derivative (ecmx.solver.fem.time_history): three past levels for BDF1-3."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
import pytest
import ufl
from dolfinx import fem, mesh
from mpi4py import MPI

from ecmx.solver.fem.time_history import DEPTH, TimeHistory


def _history() -> tuple[TimeHistory, fem.Function]:
    msh = mesh.create_unit_interval(MPI.COMM_WORLD, 4)
    u = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    history = TimeHistory(msh)
    u.x.array[:] = 1.0
    history.register(u)
    return history, u


def _integral(expression) -> float:
    return MPI.COMM_WORLD.allreduce(fem.assemble_scalar(fem.form(expression * ufl.dx)), op=MPI.SUM)


def test_the_rate_combines_the_present_and_three_past_levels_and_commit_shifts_them():
    history, u = _history()
    assert DEPTH == 3
    for value in (2.0, 4.0, 8.0):  # levels 1 (initial), 2, 4; present 8
        history.commit()
        u.x.array[:] = value
    history.set_weights((1.0, 10.0, 100.0, 1000.0))  # 8 + 10·4 + 100·2 + 1000·1
    assert _integral(history.rate(u)) == pytest.approx(1248.0)
    history.set_weights((1.0, -1.0))  # backward Euler: the missing weights are 0
    assert _integral(history.rate(u)) == pytest.approx(4.0)
    with pytest.raises(ValueError, match="at most 4 weights"):
        history.set_weights((1.0, 0.0, 0.0, 0.0, 0.0))


def test_a_checkpoint_restores_every_level_and_an_old_two_level_one_repeats_its_oldest():
    history, u = _history()
    for value in (2.0, 4.0, 8.0):
        history.commit()
        u.x.array[:] = value
    saved = history.checkpoint_state()
    assert [float(a[0]) for a in saved] == [4.0, 2.0, 1.0]
    fresh, _ = _history()
    fresh.restore_checkpoint_state(saved)
    assert [float(a[0]) for a in fresh.checkpoint_state()] == [4.0, 2.0, 1.0]
    fresh.restore_checkpoint_state(saved[:2])  # a checkpoint of ecmx with BDF2 only (uₙ, uₙ₋₁)
    assert [float(a[0]) for a in fresh.checkpoint_state()] == [4.0, 2.0, 2.0]
    with pytest.raises(ValueError, match="cannot take 5 arrays"):
        fresh.restore_checkpoint_state([np.zeros(5)] * 5)

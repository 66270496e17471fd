"""The fused Jacobian (:mod:`ecmx.solver.fem.fused_jacobian`) equals DOLFINx's block-by-block assembly of
the same Jacobian forms, to round-off, at a state away from rest: the resolved electrolyte (ĉ, φ̂_e) in
3D and the phase-field particle (θ, μ̂) in sphere-1d; on two MPI ranks in tests/mpi."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.fem.fused_jacobian import shared_space_groups
from ecmx.solver.units import R_GAS

OMEGA = 4.05 * R_GAS * 298.15  # J/mol: a miscibility gap
PHASE_FIELD = {"interaction_energy": OMEGA, "gradient_energy": (0.15e-6) ** 2 * 13831.0 * OMEGA,  # λ = 0.15 R
               "reference_voltage": 3.4}


def fused_and_blocked(problem: CellProblem, current: float, steps: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(the SNES Jacobian, the blocked assembly of the Jacobian forms) as dense arrays, at the first
    Newton iterate of a step after ``steps`` accepted steps at ``current`` [A]."""
    problem.set_control("current", current)
    for _ in range(steps):
        assert problem.try_step(5.0).converged
        problem.accept()
    nl = problem._newton._problem
    assert problem.try_step(5.0).converged
    nl.solver.computeJacobian(nl.x, nl.A, nl.A)  # at the converged iterate of that step
    fused = nl.A.convert("dense").getDenseArray().copy()
    blocked = dolfinx.fem.petsc.assemble_matrix(nl.J)
    blocked.assemble()
    return fused, blocked.convert("dense").getDenseArray().copy()


def test_electrolyte_cell_blocks_fused_in_3d():
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4)
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    assert shared_space_groups(problem._newton._unknowns) == [(1, 2)]  # (θ | ĉ, φ̂_e | V̂)
    fused, blocked = fused_and_blocked(problem, -5 * problem.capacity_C / 3600.0)
    scale = np.abs(blocked).max()
    assert np.abs(fused - blocked).max() <= 1e-13 * scale
    n_theta = problem.particle.unknowns[0].function_space.dofmap.index_map.size_global
    electrolyte = slice(n_theta, -1)
    assert np.count_nonzero(blocked[electrolyte, electrolyte]) > 10 * blocked.shape[0]  # the fused blocks are there


def test_phase_field_particle_blocks_fused_in_1d():
    case = make_case("sphere-1d", material={"open_circuit_voltage": None, "diffusivity": 1e-14,
                                            "phase_field": PHASE_FIELD}, theta0=0.5)
    problem = CellProblem(sphere_1d_mesh(elements=40), case)
    assert shared_space_groups(problem._newton._unknowns) == [(0, 2)]  # (θ, μ̂ | φ̂ | V̂)
    fused, blocked = fused_and_blocked(problem, -problem.capacity_C / 3600.0)
    assert np.abs(fused - blocked).max() <= 1e-13 * np.abs(blocked).max()
    assert np.count_nonzero(blocked[:82, :82]) > 4 * 82


def test_no_group_without_shared_spaces():
    case = make_case("sphere-1d")
    problem = CellProblem(sphere_1d_mesh(elements=10), case)
    assert shared_space_groups(problem._newton._unknowns) == []  # θ | φ̂ (real) | V̂ (real)
    assert problem._newton._fused is None


@pytest.mark.parametrize("spaces, groups", [("aab", [(0, 2)]), ("abb", [(1, 2)]), ("abc", []), ("aabbb", [(0, 2), (2, 3)])])
def test_shared_space_groups(spaces, groups):
    class Element:
        is_real = False

    class Space:
        def ufl_element(self):
            return Element()

    made = {name: Space() for name in set(spaces)}
    unknowns = [type("U", (), {"function_space": made[name]})() for name in spaces]
    assert shared_space_groups(unknowns) == groups


def test_real_spaces_never_grouped():
    class Real:
        is_real = True

    space = type("S", (), {"ufl_element": lambda self: Real()})()
    assert shared_space_groups([type("U", (), {"function_space": space})() for _ in range(2)]) == []



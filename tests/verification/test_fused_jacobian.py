"""The fused Jacobian (:mod:`ecmx.solver.fem.fused_jacobian`) equals DOLFINx's block-by-block assembly of
the same Jacobian forms, to round-off, at a state away from rest: the resolved electrolyte (ĉ, φ̂_e) in
3D and the phase-field particle (θ, μ̂) in sphere-1d; on two MPI ranks in tests/mpi."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
import pytest
import ufl
from dolfinx import fem
from petsc4py import PETSc
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


def test_interface_blocks_in_one_kernel_in_3d():
    """Every Γ (interior-facet) integral of every block is one kernel on the parent mesh's blocked P1 space,
    mapped onto θ, ĉ, φ̂_e and V̂ (the other side's nodes dropped); the values are those of the blocked
    assembly (:func:`test_electrolyte_cell_blocks_fused_in_3d`)."""
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4)
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    fused = problem._newton._fused
    assert len(fused._groups) == 2  # the (ĉ, φ̂_e) cell group and the Γ group
    assert all(fem.IntegralType.interior_facet not in form._cpp_object.integral_types for _, _, form in fused._rest.blocks)
    interface = fused._groups[1]
    assert interface.form.function_spaces[0].dofmap.index_map_bs == 4
    fused_values, blocked = fused_and_blocked(problem, -5 * problem.capacity_C / 3600.0)
    assert np.abs(fused_values - blocked).max() <= 1e-13 * np.abs(blocked).max()
    assert np.count_nonzero(blocked[-1, :-1]) > 50  # the voltage row: its Γ couplings are there


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


def test_block_jacobian_is_dolfinx_bit_for_bit():
    """Without a fused group the SNES Jacobian is :class:`~ecmx.solver.fem.block_jacobian.BlockJacobian`,
    DOLFINx's blocked assembly prepared once: every block there, the very same values."""
    from ecmx.solver.fem.block_jacobian import BlockJacobian

    problem = CellProblem(sphere_1d_mesh(elements=10), make_case("sphere-1d"))
    nl = problem._newton._problem
    assert getattr(nl.solver.getJacobian()[2][0], "__self__", None).__class__ is BlockJacobian
    jacobian, blocked = fused_and_blocked(problem, -2 * problem.capacity_C / 3600.0)
    assert np.count_nonzero(jacobian[-1, :-1]) >= 2  # the voltage row's couplings are there
    assert np.array_equal(jacobian, blocked)


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




@pytest.mark.parametrize("degree", [2, None])
def test_group_with_a_block_without_cell_integrals(degree):
    """Two unknowns on one P1 space where ∂F₀/∂u₁ only has a boundary integral: its cell couplings are not
    in the matrix's sparsity, so the fused kernel must not insert its (zero) values there. Without explicit
    quadrature degrees the group is not fused (UFL would integrate every block at the largest estimate)."""
    from mpi4py import MPI

    from ecmx.solver.fem.fused_jacobian import FusedJacobian

    mesh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, 3, 3, 3)
    space = fem.functionspace(mesh, ("Lagrange", 1))
    u0, u1 = fem.Function(space), fem.Function(space)
    u0.interpolate(lambda x: 1.0 + x[0] * x[1])
    u1.interpolate(lambda x: 2.0 - x[2])
    v0, v1 = ufl.TestFunctions(ufl.MixedFunctionSpace(space, space))
    dx = ufl.dx(metadata={} if degree is None else {"quadrature_degree": degree})
    residuals = [ufl.inner(ufl.grad(u0), ufl.grad(v0)) * dx + u0**2 * v0 * dx + u1**3 * v0 * ufl.ds,
                 ufl.inner(ufl.grad(u1), ufl.grad(v1)) * dx + ufl.exp(u0) * u1 * v1 * dx]
    problem = dolfinx.fem.petsc.NonlinearProblem(residuals, [u0, u1], petsc_options_prefix="fused_test_")
    fused = FusedJacobian(residuals, [u0, u1], [], shared_space_groups([u0, u1]))
    fused.attach(problem)
    assert len(fused._groups) == (0 if degree is None else 1)
    dolfinx.fem.petsc.assign([u0, u1], problem.x)
    problem.solver.computeJacobian(problem.x, problem.A, problem.A)
    blocked = dolfinx.fem.petsc.assemble_matrix(problem.J)
    blocked.assemble()
    scale = blocked.norm(PETSc.NormType.INFINITY)
    blocked.axpy(-1.0, problem.A)
    assert blocked.norm(PETSc.NormType.INFINITY) <= 1e-13 * scale


def test_jacobian_blocks_are_expand_derivatives_with_one_lowering_per_residual(monkeypatch):
    """The fused Jacobian's blocks are UFL's expand_derivatives of dF_i/du_j, to their signatures (the same
    compiled kernels), with the algebra lowering of each residual done once (not once per block)."""
    from ufl.algorithms import expand_derivatives

    from ecmx.solver.fem import fused_jacobian

    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4)
    lowerings = []
    lower = fused_jacobian.apply_algebra_lowering
    monkeypatch.setattr(fused_jacobian, "apply_algebra_lowering", lambda form: lowerings.append(form) or lower(form))
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    newton = problem._newton
    assert len(lowerings) == len(newton._residuals) == 4
    blocks = fused_jacobian.jacobian_blocks(newton._residuals, newton._unknowns)
    expected = dolfinx.fem.forms.derivative_block(newton._residuals, newton._unknowns)
    for row, expected_row in zip(blocks, expected, strict=True):
        for form, reference in zip(row, expected_row, strict=True):
            assert form.signature() == expand_derivatives(reference).signature()
    assert sum(bool(form.integrals()) for row in blocks for form in row) >= 12  # the zero blocks have no integral

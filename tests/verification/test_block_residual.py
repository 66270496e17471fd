"""The SNES residual of the coupled cell problem (:mod:`ecmx.solver.fem.block_residual`) is DOLFINx's
blocked residual bit for bit, and packs the coefficients of the residual rows only (DOLFINx's also packs
those of every Jacobian block for a lifting that adds nothing without Dirichlet conditions)."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
from dolfinx import fem
from support.problem_helpers import make_case, particle_in_box_mesh

from ecmx.solver.fem.cell_problem import CellProblem


def _problem_in_a_step() -> CellProblem:
    """The coarse 3D particle in its box after one step at 5C discharge, reset to the accepted state."""
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4),
                          make_case("particle-in-electrolyte", material={"diffusivity": 1e-15}, theta0=0.4))
    problem.set_control("current", -5 * problem.capacity_C / 3600.0)
    assert problem.try_step(5.0).converged
    problem.accept()
    assert problem.try_step(5.0).converged
    return problem


def test_residual_is_dolfinx_blocked_residual_bit_for_bit():
    problem = _problem_in_a_step()
    nl = problem._newton._problem
    x = nl.x.duplicate()
    dolfinx.fem.petsc.assign(problem._unknowns, x)
    x.array[:] += 1e-3 * np.sin(np.arange(x.array.size))  # away from the converged state: F ≠ 0
    ours = nl.b.duplicate()
    nl.solver.computeFunction(x, ours)
    reference = nl.b.duplicate()
    reference.setAttr("_blocks", nl.b.getAttr("_blocks"))
    dolfinx.fem.petsc.assemble_residual(None, x, reference, problem._unknowns, nl.F, nl.J, [],
                                        _blocks=nl.b.getAttr("_blocks"))
    assert np.abs(reference.array).max() > 1e-3
    assert np.array_equal(ours.array, reference.array)


def test_residual_packs_only_the_row_coefficients(monkeypatch):
    from ecmx.solver.fem import block_residual

    problem = _problem_in_a_step()
    nl = problem._newton._problem
    packed = []

    def counting(original):
        def count(form, *args, **kwargs):
            packed.append(form)
            return original(form, *args, **kwargs)
        return count

    for module in (fem, dolfinx.fem.petsc, dolfinx.fem.assemble, block_residual):  # the Python wrapper and the C++ call
        monkeypatch.setattr(module, "pack_coefficients", counting(module.pack_coefficients))
    nl.solver.computeFunction(nl.x, nl.b)
    assert len(packed) == len(nl.F)

"""The linear response of the mechanics (ecmx.solver.fem.linear_response): for a load linear in c_s the
displacement is R (Z c_s + z₀), one dense product per solve instead of a load assembly and a
back-substitution, with the fields of the back-substitution (to round-off); laws that are not linear in
c_s, and the iterative solver, keep the back-substitution."""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
import pytest
from verification.test_mechanics import C0, C_MAX, OMEGA, ball, concentration, half_disk, interval, nvp_material, project

from ecmx.solver.fem import mechanics
from ecmx.solver.fem.mechanics import MechanicsProblem


@pytest.fixture(scope="module")
def ball_mesh():
    return ball(0.3)


def _fields_along(problem: MechanicsProblem, c, system: str) -> list[dict[str, np.ndarray]]:
    """The fields (and peaks) after solves at three concentrations of the constant-flux profile."""
    out = []
    for tau in (0.036, 0.108, 0.36):
        project(c, tau, system)
        problem.solve()
        out.append({name: f.x.array.copy() for name, f in problem.fields.items()}
                   | {"peaks": np.array(list(problem.quantities().values()))})
    return out


@pytest.mark.parametrize("system", ["spherical", "axisymmetric", "cartesian"])
def test_linear_response_gives_the_fields_of_the_back_substitution(system, ball_mesh, monkeypatch):
    msh = {"spherical": lambda: interval(20), "axisymmetric": lambda: half_disk(0.25), "cartesian": lambda: ball_mesh}[system]()
    c = concentration(msh)
    c.x.array[:] = C0
    response = MechanicsProblem(msh, system, nvp_material(), c, C0, degree=2)
    assert response._response is not None
    monkeypatch.setattr(mechanics, "MAX_RESPONSE_ENTRIES", 0)  # too small for any Z: the back-substitution
    solved = MechanicsProblem(msh, system, nvp_material(), c, C0, degree=2)
    assert solved._response is None
    c.x.array[:] = C0
    for got, expected in zip(_fields_along(response, c, system), _fields_along(solved, c, system), strict=True):
        peak = np.abs(expected["stress"]).max()
        assert peak > 1e6  # Pa: the concentration profile stresses the particle
        for name, values in expected.items():
            if name == "displacement":
                assert np.abs(got[name] - values).max() <= 1e-11 * np.abs(values).max(), name
            elif name == "peaks":
                assert np.abs(got[name] - values).max() <= 1e-11 * peak, name
            else:
                assert np.abs(got[name] - values).max() <= 1e-11 * max(peak, np.abs(values).max()), name


def test_a_solve_of_the_linear_response_neither_assembles_nor_back_substitutes(ball_mesh, monkeypatch):
    c = concentration(ball_mesh)
    c.x.array[:] = C0
    problem = MechanicsProblem(ball_mesh, "cartesian", nvp_material(), c, C0, degree=2)

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a back-substitution or load assembly at a solve")

    project(c, 0.108, "cartesian")
    monkeypatch.setattr(MechanicsProblem, "_solve_system", forbidden)
    monkeypatch.setattr(mechanics.dolfinx.fem.petsc, "assemble_vector", forbidden)
    problem.solve()
    assert problem.quantities()["von_mises_max"] > 1e6


@pytest.mark.parametrize("expansion", [
    {"partial_molar_volume": OMEGA, "strain": "finite"},  # β = (1 + ΔV/V)^(1/3) − 1: not linear in c_s
    {"volume_change_table": {"stoichiometry": [0.0, 0.5, 1.0], "value": [0.0, 0.02, 0.03]}},  # its slope depends on c_s
])
def test_laws_not_linear_in_the_concentration_keep_the_back_substitution(expansion):
    c = concentration(interval(10))
    c.x.array[:] = C0
    problem = MechanicsProblem(c.function_space.mesh, "spherical", nvp_material(**expansion), c, C0, degree=2)
    assert problem._response is None
    c.x.array[:] = C0 + 0.1 * C_MAX * c.function_space.tabulate_dof_coordinates()[:, 0] ** 2
    problem.solve()
    assert problem.quantities()["von_mises_max"] > 1e6


def test_the_iterative_solver_keeps_its_solve(ball_mesh):
    c = concentration(ball_mesh)
    c.x.array[:] = C0
    problem = MechanicsProblem(ball_mesh, "cartesian", nvp_material(), c, C0, degree=2, linear_solver="iterative")
    assert problem._response is None


def test_a_load_with_a_constant_or_another_coefficient_is_not_a_linear_response():
    """Only c_s may change between solves: a Constant or another Function in the load could."""
    import ufl
    from dolfinx import fem

    from ecmx.solver.fem.linear_response import load_derivative

    msh = interval(4)
    c = concentration(msh)
    other = fem.Function(c.function_space)
    scale = fem.Constant(msh, 2.0)
    v = ufl.TestFunction(fem.functionspace(msh, ("Lagrange", 2)))
    assert load_derivative(c * v.dx(0) * ufl.dx, c, []) is not None
    assert load_derivative(scale * c * v.dx(0) * ufl.dx, c, []) is None
    assert load_derivative(other * c * v.dx(0) * ufl.dx, c, []) is None
    assert load_derivative(other * c * v.dx(0) * ufl.dx, c, [other]) is not None  # declared time-constant
    assert load_derivative(c**2 * v.dx(0) * ufl.dx, c, []) is None


def _stress_after(problem: MechanicsProblem, c, tau: float = 0.108) -> np.ndarray:
    project(c, tau, "cartesian")
    problem.solve()
    return problem.fields["stress"].x.array.copy()


def test_a_second_problem_with_the_same_matrices_reuses_the_factor_and_the_response(ball_mesh):
    """factor_cache: the same mesh and material reuse the last factorisation and Z (the fields are those
    of the first problem); another Poisson ratio (another stiffness matrix) or partial molar volume
    (another load) computes its own, with the fields of a problem built with empty caches."""
    from ecmx.solver.fem.factor_cache import FACTORS, RESPONSES

    def build(**expansion):
        c = concentration(ball_mesh)
        c.x.array[:] = C0
        material = nvp_material(**expansion)
        return MechanicsProblem(ball_mesh, "cartesian", material, c, C0, degree=2), c

    def fresh(**expansion):
        FACTORS.clear()
        RESPONSES.clear()
        return build(**expansion)

    first, c1 = fresh()
    second, c2 = build()
    assert second._ksp is first._ksp and second._response._Z is first._response._Z
    assert np.array_equal(_stress_after(second, c2), _stress_after(first, c1))

    other_load, c3 = build(partial_molar_volume=2 * OMEGA)
    assert other_load._ksp is first._ksp and other_load._response._Z is not first._response._Z
    reference, c4 = fresh(partial_molar_volume=2 * OMEGA)
    assert np.allclose(_stress_after(other_load, c3), 2 * _stress_after(first, c1), rtol=0, atol=1e-9 * 2e9)
    assert np.array_equal(_stress_after(other_load, c3), _stress_after(reference, c4))

    softer = nvp_material()
    softer.poissons_ratio = 0.3
    c5 = concentration(ball_mesh)
    c5.x.array[:] = C0
    stiffer_nu = MechanicsProblem(ball_mesh, "cartesian", softer, c5, C0, degree=2)
    assert stiffer_nu._ksp is not reference._ksp and stiffer_nu._response._Z is not reference._response._Z
    FACTORS.clear()
    RESPONSES.clear()
    c6 = concentration(ball_mesh)
    c6.x.array[:] = C0
    uncached = MechanicsProblem(ball_mesh, "cartesian", softer, c6, C0, degree=2)
    assert np.array_equal(_stress_after(stiffer_nu, c5), _stress_after(uncached, c6))
    assert not np.allclose(_stress_after(stiffer_nu, c5), _stress_after(first, c1), rtol=1e-3)


def test_another_mesh_does_not_reuse_the_factor(ball_mesh):
    c = concentration(ball_mesh)
    c.x.array[:] = C0
    first = MechanicsProblem(ball_mesh, "cartesian", nvp_material(), c, C0, degree=2)
    msh = ball(0.3, radius=1.1)  # the same mesh generator, other coordinates
    c_other = concentration(msh)
    c_other.x.array[:] = C0
    other = MechanicsProblem(msh, "cartesian", nvp_material(), c_other, C0, degree=2)
    assert other._ksp is not first._ksp and other._response._Z is not first._response._Z


@pytest.mark.parametrize("system", ["axisymmetric", "cartesian"])
def test_the_linear_load_is_the_assembled_load(system, ball_mesh, monkeypatch):
    """Without the linear response (a system too large for Z) the load of every solve is B c + b₀ (issue 14):
    no assembly, and the vector of the assembly at a new concentration to round-off, held rows zero."""
    msh = half_disk(0.25) if system == "axisymmetric" else ball_mesh
    c = concentration(msh)
    c.x.array[:] = C0
    monkeypatch.setattr(mechanics, "MAX_RESPONSE_ENTRIES", 0)
    problem = MechanicsProblem(msh, system, nvp_material(), c, C0, degree=2)
    assert problem._response is None and problem._load is not None
    assert (len(problem.bcs) > 0) == (system == "axisymmetric")
    project(c, 0.108, system)
    problem._assemble_load()
    product = problem._b.array.copy()
    load, problem._load = problem._load, None
    problem._assemble_load()
    assembled = problem._b.array.copy()
    assert np.abs(assembled).max() > 0.0
    assert np.abs(product - assembled).max() <= 1e-13 * np.abs(assembled).max()
    for bc in problem.bcs:
        assert np.all(product[bc.dof_indices()[0]] == 0.0)
    problem._load = load

    def forbidden(*_args, **_kwargs):
        raise AssertionError("a load assembly at a solve")

    monkeypatch.setattr(mechanics.dolfinx.fem.petsc, "assemble_vector", forbidden)
    problem.solve()
    assert problem.quantities()["von_mises_max"] > 1e6

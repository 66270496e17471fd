"""Chemical-strain tables of any length: a 1000-knot ΔV/V or lattice table costs what a 20-knot one does.

The mechanics evaluates tables longer than ``MAX_UFL_KNOTS`` in numpy at the nodes of c_s before every
solve (:class:`ecmx.solver.fem.table_fields.NodalChemicalStrain`) instead of one UFL conditional per
knot (whose generated code and compile time grow with the knots, and which exceeds Python's recursion
limit at a few hundred). The stresses follow the slope of the table, whose own error is first order
in the knot spacing, so the curves here are piecewise linear with corners on the 21-knot grid: every
table of them is exact, and the differences are those of the evaluation (UFL at the quadrature points
against the nodal interpolant of β) alone. θ spans 0.1…0.9 through the particle, across the knots.
Measured (sphere-1d, P2, largest stress difference over the peak stress): 3.8e-3 at 40 cells, 1.8e-3
at 80, 1.0e-3 at 160 (first order: the interpolant of β across a cell that holds a table corner);
set-up + one solve 3.1 s (21 knots, fresh compile) against 0.2 s (1001 knots).
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from test_mechanics import C0, C_MAX, OMEGA, concentration, half_disk, interval, nvp_material, prescribe

from ecmx.solver.fem.mechanics import MechanicsProblem
from ecmx.solver.fem.table_fields import NodalChemicalStrain, UflChemicalStrain

FIELDS = ("radial_stress", "tangential_stress", "hydrostatic", "von_mises")


def volume_change(theta: np.ndarray, shift: float = 0.0) -> np.ndarray:
    """A curved ΔV/V(θ) over ~8 %, piecewise linear with corners on the 21-knot grid (``shift`` makes
    a distinct curve of the same shape)."""
    grid = np.linspace(0.0, 1.0, 21)
    return np.interp(theta, grid, (0.08 + shift) * grid + 0.01 * np.sin(2 * np.pi * grid))


def volume_table(knots: int, shift: float = 0.0) -> dict:
    th = np.linspace(0.0, 1.0, knots)
    return {"volume_change_table": {"stoichiometry": th.tolist(), "value": volume_change(th, shift).tolist()}}


def lattice_table(knots: int, shift: float = 0.0) -> dict:
    """a(θ) = 10 Å (1 + ΔV/V(θ))^{1/3}, c = 3a: isotropic (so sphere-1d holds it) but a lattice law."""
    th = np.linspace(0.0, 1.0, knots)
    a = 10.0 * (1.0 + volume_change(th, shift)) ** (1.0 / 3.0)
    return {"lattice": {"stoichiometry": th.tolist(), "a": a.tolist(), "c": (3.0 * a).tolist()}}


def solved(expansion: dict, cells: int = 40) -> tuple[MechanicsProblem, float]:
    """Set up the sphere-1d mechanics with ``expansion``, c_s = c_max (0.1 + 0.8 r²), solve once; the
    problem and the wall time of set-up + solve [s]."""
    start = time.perf_counter()
    msh = interval(cells)
    c = concentration(msh)
    c.interpolate(lambda x: C_MAX * (0.1 + 0.8 * x[0] ** 2))
    problem = MechanicsProblem(msh, "spherical", nvp_material(**expansion), c, C0, degree=2)
    problem.solve()
    return problem, time.perf_counter() - start


def max_difference(p: MechanicsProblem, q: MechanicsProblem) -> float:
    """Largest difference of the stress fields, relative to the largest |stress| of ``q``."""
    scale = max(np.abs(q.fields[f].x.array).max() for f in FIELDS)
    return max(np.abs(p.fields[f].x.array - q.fields[f].x.array).max() for f in FIELDS) / scale


@pytest.mark.parametrize("table", [volume_table, lattice_table])
def test_long_strain_table_costs_and_accuracy(table):
    """1001 knots against 21 on distinct curves (no shared form code): same stresses to the
    21-knot table's accuracy, set-up + one solve at most 1.5× (the shared forms compiled first)."""
    solved({"partial_molar_volume": OMEGA})  # compiles the forms that do not depend on ε_ch
    shift = float(np.random.default_rng().uniform(1e-9, 1e-6))  # fresh code for the short UFL table
    short, t_short = solved(table(21, shift))
    long, t_long = solved(table(1001, shift))
    assert isinstance(short._strain_field, UflChemicalStrain)
    assert isinstance(long._strain_field, NodalChemicalStrain)
    print(f"{table.__name__}: 21 knots {t_short:.2f} s, 1001 knots {t_long:.2f} s, "
          f"stress difference {max_difference(long, short):.1e} of the peak")
    assert max_difference(long, short) < 6e-3
    assert t_long <= 1.5 * t_short, (t_long, t_short)


def test_long_linear_table_is_the_partial_molar_volume_law():
    """A 1001-knot ΔV/V table linear in θ: its nodal values are exact and β is linear in the P1 c_s,
    so the stresses equal those of the partial molar volume law to round-off; refreshed per solve."""
    th = np.linspace(0.0, 1.0, 1001)
    dv = OMEGA * C_MAX  # ΔV/V(θ) = Ω c_max θ
    long, _ = solved({"volume_change_table": {"stoichiometry": th.tolist(), "value": (dv * th).tolist()}})
    law, _ = solved({"partial_molar_volume": OMEGA})
    # the table's law is β = (f(θ) − f(θ_ref)) / (3 (1 + f(θ_ref))): scale the reference by 1 + f_ref
    f_ref = dv * C0 / C_MAX
    for f in FIELDS:
        np.testing.assert_allclose(long.fields[f].x.array * (1 + f_ref), law.fields[f].x.array,
                                   rtol=0, atol=1e-9 * np.abs(law.fields[f].x.array).max())
    for problem in (long, law):  # a later c_s: the nodal strain follows
        prescribe(problem.concentration, np.inf)
        problem.solve()
    np.testing.assert_allclose(long.fields["von_mises"].x.array * (1 + f_ref), law.fields["von_mises"].x.array,
                               rtol=0, atol=1e-9 * np.abs(law.fields["von_mises"].x.array).max())


def test_long_anisotropic_lattice_table_on_axisymmetric_particle():
    """The oriented path (β_a ≠ β_c, c-axis along the symmetry axis): a 1001-knot anisotropic lattice
    table converges to the stresses of the 21-knot one of the same (exactly tabulated) curves as the
    mesh is refined; the difference is the nodal interpolant of β in cells that hold table corners
    (measured 18 %, 4.1 %, 1.2 % of the peak at mesh sizes 0.25, 0.1, 0.05 R: second order)."""

    def problem(msh, knots: int) -> MechanicsProblem:
        t = np.linspace(0.0, 1.0, knots)
        lattice = {"stoichiometry": t.tolist(), "a": (10.0 * (1.0 - 0.3 * volume_change(t))).tolist(),
                   "c": (30.0 * (1.0 + volume_change(t))).tolist()}
        c = concentration(msh)
        c.interpolate(lambda x: C_MAX * (0.1 + 0.8 * (x[0] ** 2 + x[1] ** 2)))
        p = MechanicsProblem(msh, "axisymmetric", nvp_material(lattice=lattice), c, C0, degree=2)
        p.solve()
        return p

    differences = []
    for size in (0.1, 0.05):
        msh = half_disk(size)
        long, short = problem(msh, 1001), problem(msh, 21)
        assert isinstance(long._strain_field, NodalChemicalStrain)
        assert not long.chemical_strain.isotropic
        differences.append(max_difference(long, short))
    assert differences[1] < 2e-2, differences
    assert differences[1] < differences[0] / 2.5, differences

"""Tables of any length in the weak forms: y(θ) evaluated in numpy, not as one UFL conditional per knot.

A table written as UFL (:func:`ecmx.solver.physics.tables.piecewise_linear`) grows by one conditional
per knot: 100 knots triple the form compilation of a sphere-1d run and ~200 exceed Python's
recursion limit. Here the table is a :class:`~ecmx.solver.physics.tables.TableCurve` evaluated in
numpy at the points where the form needs it, refreshed from the current Newton iterate before
every residual (and so every Jacobian) assembly, through the frozen linearisation

    y(θ) ≈ y(θ*) + y'(θ*) (θ − θ*),   θ* = θ at the last refresh,

whose value at the current iterate (θ = θ*) is the table's and whose derivative is the table's
slope: residual and Jacobian are those of the tabulated law, so Newton converges as with the UFL
form. The generated code no longer contains the table at all, so it is the same for every table.

Three sibling evaluators with one interface (``__call__`` on θ or its restriction, ``refresh``):

- :class:`QuadratureTable` holds y, y' and θ* at the quadrature points of a cell integral of a given
  degree (the quadrature degree of the measure that integrates it): exact value and derivative
  there, for any table length (D_s(θ) in the particle bulk).
- :class:`NodalTable` holds them at the nodes of θ's P1 space: a form sees the P1 interpolant of
  y(θ_j). Exact at nodes, so exact at the ``sphere-1d`` interface (a vertex). On 2D/3D facets it is
  the interpolant (second order) and its Jacobian is exact only at the nodes: near the steep
  shoulders of an OCV Newton then needs more iterations (measured on the coarse 3D golden case with
  the NVP table: 12 and 17 instead of 4 at two steps), so it is used there only for long tables.
- :class:`UflTable`: the exact UFL expression, one conditional per knot, for tables of at most
  :data:`MAX_UFL_KNOTS` knots on 2D/3D interfaces (see :func:`interface_table`).

The chemical strain of the mechanics (a linear solve for u at a given c_s, so no derivative) has two
sibling evaluators with one interface (``tensor``, ``refresh``), chosen by
:func:`chemical_strain_field`: :class:`UflChemicalStrain` (exact, tables of at most
:data:`MAX_UFL_KNOTS` knots) and :class:`NodalChemicalStrain` (β sampled in numpy at the nodes of c_s).
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import basix.ufl
import ufl
from dolfinx import fem

from ecmx.solver.fem.models import interpolate
from ecmx.solver.physics.chemical_strain import ChemicalStrain
from ecmx.solver.physics.tables import TableCurve, piecewise_linear

Expr = ufl.core.expr.Expr

MAX_UFL_KNOTS = 40
"""Longest table written as UFL on a 2D/3D interface (the library tables have 19–24 knots)."""


class _FrozenLinearisation:
    """y* + y'* (θ − θ*) with y*, y'*, θ* held in ``space``; subclasses fill θ*."""

    def __init__(self, theta: fem.Function, curve: TableCurve, space: fem.FunctionSpace, scale: float) -> None:
        self._theta, self._curve, self._scale = theta, curve, scale
        self._value, self._slope, self._frozen = (fem.Function(space) for _ in range(3))
        self.expression: Expr = self._value + self._slope * (theta - self._frozen)
        """y(θ)/scale on θ's mesh (UFL), valid at the θ of the last :meth:`refresh`."""

    def _sample(self) -> None:
        raise NotImplementedError

    def refresh(self) -> None:
        """Re-evaluate the table at the current θ (call after every change of θ, before assembly)."""
        self._sample()
        y, dy = self._curve.value_and_slope(self._frozen.x.array)
        self._value.x.array[:] = y / self._scale
        self._slope.x.array[:] = dy / self._scale

    def __call__(self, theta_expr: Expr) -> Expr:
        """The table at ``theta_expr``, which must be θ itself or a restriction of it (θ('+'))."""
        if self._theta not in ufl.algorithms.extract_coefficients(theta_expr):
            raise ValueError("a field table evaluates only its own stoichiometry function (or a restriction)")
        return ufl.replace(theta_expr, {self._theta: self.expression})


class NodalTable(_FrozenLinearisation):
    """The table at the nodes of θ's (P1) space.

    Args:
        theta: the stoichiometry (a P1 Function).
        curve: the table.
        scale: the unit of the expression (the form sees y/scale).
    """

    def __init__(self, theta: fem.Function, curve: TableCurve, scale: float = 1.0) -> None:
        super().__init__(theta, curve, theta.function_space, scale)

    def _sample(self) -> None:
        self._frozen.x.array[:] = self._theta.x.array


class QuadratureTable(_FrozenLinearisation):
    """The table at the quadrature points of degree ``degree`` of θ's mesh (cell integrals only).

    Args:
        theta: the stoichiometry (a Function).
        curve: the table.
        degree: the quadrature degree of the measure that integrates the expression.
        scale: the unit of the expression (the form sees y/scale).
    """

    def __init__(self, theta: fem.Function, curve: TableCurve, degree: int, scale: float = 1.0) -> None:
        msh = theta.function_space.mesh
        element = basix.ufl.quadrature_element(msh.basix_cell(), value_shape=(), degree=degree)
        space = fem.functionspace(msh, element)
        super().__init__(theta, curve, space, scale)
        self._at_points = fem.Expression(theta, space.element.interpolation_points)

    def _sample(self) -> None:
        interpolate(self._frozen, self._at_points)  # before every residual: without the wrapper's ~0.3 ms


class UflTable:
    """The table as the exact UFL expression of any θ expression (its code grows with the knots).

    Args:
        curve: the table (linear in y).
    """

    def __init__(self, curve: TableCurve) -> None:
        if curve.log:
            raise ValueError("UflTable evaluates tables linear in y only")
        self._xs, self._ys = curve.xs, curve.value_and_slope(curve.xs)[0]

    def __call__(self, theta_expr: Expr) -> Expr:
        """The table at ``theta_expr`` (UFL)."""
        return piecewise_linear(theta_expr, self._xs, self._ys)

    def refresh(self) -> None:
        """Nothing to update: the expression holds the whole table."""


def interface_table(theta: fem.Function, curve: TableCurve) -> NodalTable | UflTable:
    """The evaluator of a table of θ on the particle surface Γ: nodal where Γ is a vertex
    (``sphere-1d``: exact) or the table is long, else the exact UFL expression."""
    if theta.function_space.mesh.topology.dim == 1 or curve.xs.size > MAX_UFL_KNOTS:
        return NodalTable(theta, curve)
    return UflTable(curve)


class UflChemicalStrain:
    """ε_ch(c_s) of a chemical-strain law as its exact UFL expression (tables: one conditional per knot).

    Args:
        law: the law (:class:`~ecmx.solver.physics.chemical_strain.ChemicalStrain`).
        concentration: c_s [mol/m³] (a Function).
        theta_ref: stoichiometry of the stress-free state.
        rotation: crystal → frame rotation (oriented laws; see ``ChemicalStrain.tensor``).
    """

    def __init__(self, law: ChemicalStrain, concentration: fem.Function, theta_ref: float,
                 rotation: Expr | None = None) -> None:
        self.tensor: Expr = law.tensor(concentration / law.max_concentration, theta_ref, rotation)
        """ε_ch (3×3, dimensionless) at the current c_s."""

    def refresh(self) -> None:
        """Nothing to update: the expression reads c_s itself."""


class NodalChemicalStrain:
    """ε_ch(c_s) from β_a, β_c evaluated in numpy (the law's twin) at the nodes of c_s's space.

    The form sees the nodal interpolant of β(θ_j) (exact at the nodes; for a P1 c_s and a table,
    within the interpolation error of β over a cell), and its code is the same for every table
    length. The mechanics is linear in u at a given c_s, so no derivative is needed. Cells that hold
    a corner of the table see its chord: against the exact UFL law, 0.4 % of the peak stress on a
    40-cell sphere-1d and 4 % (1.2 %) on an axisymmetric mesh of size 0.1 R (0.05 R) when θ spans
    0.1…0.9 across a particle and a 21-knot table; it vanishes with the mesh size.

    Args: as :class:`UflChemicalStrain`.
    """

    def __init__(self, law: ChemicalStrain, concentration: fem.Function, theta_ref: float,
                 rotation: Expr | None = None) -> None:
        self._law, self._concentration, self._theta_ref = law, concentration, theta_ref
        self._ba, self._bc = (fem.Function(concentration.function_space) for _ in range(2))
        self.tensor: Expr = law.tensor_of(self._ba, self._bc, rotation)
        """ε_ch (3×3, dimensionless) at the c_s of the last :meth:`refresh`."""

    def refresh(self) -> None:
        """Re-evaluate β_a, β_c at the current c_s (call after every change of c_s, before assembly)."""
        theta = self._concentration.x.array / self._law.max_concentration
        ba, bc = self._law.axial_strains_at(theta, self._theta_ref)
        self._ba.x.array[:] = ba
        self._bc.x.array[:] = bc


def chemical_strain_field(law: ChemicalStrain, concentration: fem.Function, theta_ref: float,
                          rotation: Expr | None = None) -> UflChemicalStrain | NodalChemicalStrain:
    """The evaluator of ε_ch(c_s): the exact UFL form for closed-form laws and tables of at most
    :data:`MAX_UFL_KNOTS` knots (unchanged results), sampled at the nodes for longer tables."""
    if law.knots > MAX_UFL_KNOTS:
        return NodalChemicalStrain(law, concentration, theta_ref, rotation)
    return UflChemicalStrain(law, concentration, theta_ref, rotation)

"""The two small interfaces the coupled cell problem assembles: a particle model and an electrolyte
model (siblings behind each interface: :class:`~ecmx.solver.fem.particles.FickianParticle` and
:class:`~ecmx.solver.fem.phase_field_particle.PhaseFieldParticle`;
:class:`~ecmx.solver.fem.electrolyte_resolved.ResolvedElectrolyte` and
:class:`~ecmx.solver.fem.electrolyte_uniform.UniformElectrolyte`).

A model owns its unknowns (nondimensional, each with a name for the field split), writes its residual
rows given its test functions and the interface flux ĵ (the outward Na flux of the particles in units
of c_s,max R/t₀), and reports its quantities, SI output fields and bounds. A model with a storage
term registers its unknown with the shared :class:`~ecmx.solver.fem.time_history.TimeHistory` given
to its constructor and writes ``history.rate(u)`` for ∂u/∂t, so every model runs under every scheme. The cell problem owns the
cell voltage, its row and the Newton solve. All methods are collective.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
import ufl
from dolfinx import fem
from dolfinx.cpp.fem import assemble_scalar, pack_coefficients, pack_constants
from mpi4py import MPI

Expr = ufl.core.expr.Expr
PointFunction = Callable[[np.ndarray], np.ndarray]
"""Maps points x of shape (3, n) in mesh units to SI values."""


def global_range(u: fem.Function) -> tuple[float, float]:
    """(min, max) of the owned dofs of ``u`` over all ranks (±inf where no rank owns any). Collective."""
    n = u.function_space.dofmap.index_map.size_local * u.function_space.dofmap.index_map_bs
    owned = u.x.array[:n]
    comm = u.function_space.mesh.comm
    if comm.size == 1:  # checked at every Newton solve and try: no reduction of one value
        return (float(owned.min()), float(owned.max())) if owned.size else (np.inf, -np.inf)
    lo = comm.allreduce(float(owned.min()) if owned.size else np.inf, op=MPI.MIN)
    hi = comm.allreduce(float(owned.max()) if owned.size else -np.inf, op=MPI.MAX)
    return float(lo), float(hi)


def global_integral(form: fem.Form, comm: MPI.Comm) -> float:
    """The value of a compiled scalar form summed over the ranks of ``comm`` (collective), assembled by DOLFINx's
    C++ calls: its Python wrapper checks types at every call, and the quantities of every try of a time step
    integrate seven forms. One rank's value is not reduced (the sum of one value is that value)."""
    compiled = form._cpp_object
    value = assemble_scalar(compiled, pack_constants(compiled), pack_coefficients(compiled))
    return float(value if comm.size == 1 else comm.allreduce(value, op=MPI.SUM))


def interpolate_si(u: fem.Function, f: PointFunction | None, scale: float) -> None:
    """u ← f/scale (f in SI, u nondimensional); None keeps u."""
    if f is not None:
        u.interpolate(lambda x: np.asarray(f(x), dtype=float) / scale)


def interpolate(u: fem.Function, source: fem.Function | fem.Expression) -> None:
    """u ← ``source`` (a Function or an Expression) on all cells: ``u.interpolate(source)`` without its
    wrapper, which in DOLFINx 0.11 builds a ``singledispatch`` function with three registrations at
    every call (~0.3 ms: more than the interpolation of a particle's fields on the sphere-1d mesh;
    three per accepted step of the one-way mechanics). The same C++ interpolation: the same values."""
    if isinstance(source, fem.Expression):
        u._cpp_object.interpolate_expr(source._cpp_object, None, None)
    else:
        u._cpp_object.interpolate(source._cpp_object, None, None)


@dataclass(frozen=True)
class ElectrolyteQuantities:
    """Global electrolyte quantities (SI): salt concentration range [mol/m³], the Na⁺ it holds
    [mol], the counter-electrode (Na-metal) current [A], anodic positive, and the scheme's discrete
    rate of the Na⁺ it holds [mol/s] of the tried step."""

    c_min: float
    c_max: float
    salt_mol: float
    counter_current_A: float
    salt_rate_mol_per_s: float = 0.0


class ParticleModel(Protocol):
    """Na storage in the active particles."""

    unknowns: tuple[fem.Function, ...]
    split_names: tuple[str, ...]
    differential: tuple[bool, ...]  # per unknown: has a storage term (False: algebraic)
    error_magnitudes: tuple[float, ...]  # per unknown: floor of |u| in the error weight atol + rtol max(|u|, floor)
    harmonic_hydrostatic: fem.Function | None  # two-way stress input [Pa], or None

    def surface_stoichiometry(self) -> Expr:
        """θ on the particle side of Γ (UFL)."""

    def open_circuit_voltage(self, theta: Expr) -> Expr:
        """The surface equilibrium potential [V] the reaction at Γ sees (UFL): U(θ) of the particle's θ
        or its restriction to Γ (Fickian), U₀ − μ/F on Γ (phase field, ``theta`` unused)."""

    def update_tabulated(self) -> None:
        """Re-evaluate the coefficients computed outside UFL (tables) at the current state."""

    def residuals(self, tests: Sequence[ufl.Argument], flux: Expr, sources: object | None) -> list[ufl.Form]:
        """Its residual rows, with the outward interface flux ĵ (and optional manufactured sources)."""

    def quantities(self) -> dict[str, float]:
        """theta_mean, c_mean, c_min, c_max, c_surface_mean, na_rate_mol_per_s (SI)."""

    def fields(self) -> dict[str, fem.Function]:
        """SI output fields (refreshed on every call)."""

    def bounds_violation(self) -> str:
        """A message when the state left the admissible range, else ''."""

    def set_initial_state(self, stoichiometry: float) -> None:
        """A uniform state."""

    def set_state(self, particle_concentration: PointFunction | None) -> None:
        """Interpolate an SI field (None keeps the present one)."""


class ElectrolyteModel(Protocol):
    """Salt and potential in the electrolyte, with the Na-metal counter electrode."""

    unknowns: tuple[fem.Function, ...]
    split_names: tuple[str, ...]
    differential: tuple[bool, ...]  # per unknown: has a storage term (False: algebraic)
    rest_potential: float  # φ̂_e at zero counter-electrode current for c = c₀
    phi: fem.Function  # φ̂_e (a double layer registers it with the time history)

    def interface_state(self) -> tuple[Expr | float, Expr]:
        """(ĉ, φ̂_e) that the particle surface sees on Γ (UFL)."""

    def residuals(self, tests: Sequence[ufl.Argument], flux: Expr, sources: object | None,
                  capacitive: Expr | None = None) -> list[ufl.Form]:
        """Its residual rows, with the particles' outward interface flux ĵ and the double layer's
        capacitive current density ĵ_dl (None: no double layer; :mod:`ecmx.solver.fem.double_layer`)."""

    def quantities(self) -> ElectrolyteQuantities:
        """Global quantities (SI)."""

    def fields(self) -> dict[str, fem.Function]:
        """SI output fields (refreshed on every call; none for a uniform electrolyte)."""

    def bounds_violation(self) -> str:
        """A message when the state left the admissible range, else ''."""

    def set_initial_state(self) -> None:
        """c = c₀ and the rest potential of the counter electrode."""

    def set_state(self, concentration: PointFunction | None, potential: PointFunction | None) -> None:
        """Interpolate SI fields where the model has them (None keeps the present one)."""

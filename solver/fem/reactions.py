"""The two electrode reactions in nondimensional form: insertion at the particle surface Γ and Na
plating/stripping at the counter electrode.

Both turn a :mod:`~ecmx.solver.physics.kinetics` law into a flux in units of the current density
scale i* = F D_ref c_s,max/R, anodic positive (Na leaves the particle; Na⁺ enters the electrolyte
at the Na metal). Potentials are nondimensional, φ̂ = Fφ/RT. Every case-dependent number is a
``Constant``, so the generated code is shared by all cases of a sweep (one JIT compilation per
geometry kind and table shape).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx
import ufl
from dolfinx import fem
from petsc4py import PETSc

from ecmx.solver.fem.scales import Scales
from ecmx.solver.physics import kinetics, phase_field
from ecmx.solver.units import R_GAS, F

Expr = ufl.core.expr.Expr


def constant(mesh: dolfinx.mesh.Mesh, value: float) -> fem.Constant:
    """A scalar Constant on ``mesh``."""
    return fem.Constant(mesh, PETSc.ScalarType(value))


@dataclass(frozen=True)
class InsertionReaction:
    """Butler–Volmer insertion at Γ: ĵ(θ, ĉ, φ̂_e, V̂) = i_loc/i*, the outward Na flux of the particle
    in units of c_s,max R/t₀, with η̂ = V̂ − φ̂_e − U(θ)/(RT/F) − ln(c/c_ref) (Nernst term)."""

    law: kinetics.ButlerVolmer
    open_circuit_voltage: Callable[[Expr], Expr]  # U(θ) [V] of a surface θ expression
    thermal_voltage: Expr
    concentration_ratio: Expr  # c₀/c_ref
    current_density_scale: Expr  # i* [A/m²]
    rest_nernst_potential: float  # ln(c₀/c_ref): the Nernst term at the uniform rest salt concentration

    @classmethod
    def of_case(cls, mesh: dolfinx.mesh.Mesh, case: Any, scales: Scales) -> InsertionReaction:
        """The reaction of the case's material, its numbers as Constants on ``mesh``; U(θ) is the exact
        UFL table (any θ expression; see :meth:`with_open_circuit_voltage` for tables of any length)."""
        material = case.material
        law = kinetics.ButlerVolmer(
            exchange_current=material.exchange_current_density,
            alpha_a=material.anodic_transfer_coefficient,
            alpha_c=material.cathodic_transfer_coefficient,
        )
        c_rel = scales.electrolyte_concentration / kinetics.REFERENCE_CONCENTRATION
        return cls(
            law=law.with_coefficients(lambda value: constant(mesh, value)),
            open_circuit_voltage=_material_potential(mesh, case),
            thermal_voltage=constant(mesh, scales.thermal_voltage),
            concentration_ratio=constant(mesh, c_rel),
            current_density_scale=constant(mesh, scales.current_density),
            rest_nernst_potential=math.log(c_rel),
        )

    def with_open_circuit_voltage(self, ocv: Callable[[Expr], Expr]) -> InsertionReaction:
        """The same reaction with U(θ) [V] evaluated by ``ocv`` (e.g. a
        :class:`~ecmx.solver.fem.table_fields.NodalTable` of the particle's θ)."""
        return replace(self, open_circuit_voltage=ocv)

    def overpotential(self, theta: Expr, c: Expr | float, phi: Expr, voltage: Expr) -> Expr:
        """η̂ = V̂ − φ̂_e − U(θ)/(RT/F) − ln(c/c_ref) (nondimensional) for ĉ = c/c₀."""
        ocv = self.open_circuit_voltage(theta)
        nernst = kinetics.nernst_potential(self.concentration_ratio * c)
        return voltage - phi - ocv / self.thermal_voltage - nernst

    def flux(self, theta: Expr, c: Expr | float, phi: Expr, voltage: Expr) -> Expr:
        """ĵ = i_loc/i* for surface θ, ĉ = c/c₀, φ̂_e and V̂ (UFL)."""
        eta = self.overpotential(theta, c, phi, voltage)
        return self.law.current_density(theta, self.concentration_ratio * c, eta) / self.current_density_scale


def _material_potential(mesh: dolfinx.mesh.Mesh, case: Any) -> Callable[[Expr], Expr]:
    """U(θ) [V] of a surface θ expression: the exact UFL OCV table, or for a phase-field material the
    homogeneous equilibrium potential U₀ − μ_h(θ)/F (the particle model replaces it by U₀ − μ/F)."""
    material = case.material
    table = material.open_circuit_voltage
    if table is not None:
        return partial(kinetics.open_circuit_voltage, stoichiometry=tuple(table.stoichiometry),
                       voltage=tuple(table.voltage))
    pf, rt = material.phase_field, R_GAS * case.temperature
    u0, rt_c, omega = (constant(mesh, v) for v in (pf.reference_voltage, rt, pf.interaction_energy))
    return lambda theta: u0 - phase_field.homogeneous_chemical_potential(theta, rt_c, omega, log=ufl.ln) / F


def equilibrium_voltage(case: Any, theta: float) -> float:
    """The equilibrium potential [V] of a uniform particle at θ: the OCV table U(θ), or for a phase-field
    material U₀ − μ_h(θ)/F at the case temperature."""
    material = case.material
    if material.open_circuit_voltage is not None:
        return float(material.ocv_at(theta))
    pf = material.phase_field
    return float(phase_field.equilibrium_potential(theta, pf.reference_voltage, R_GAS * case.temperature,
                                                   pf.interaction_energy, F))


@dataclass(frozen=True)
class CounterReaction:
    """Butler–Volmer kinetics of the Na-metal counter electrode (φ_metal = 0, so η̂_a = −φ̂_e):
    i_a/i* for ĉ and φ̂_e at the Na-metal face (anodic positive)."""

    law: kinetics.NaMetalButlerVolmer
    concentration_ratio: Expr  # c₀/c_ref
    current_density_scale: Expr  # i* [A/m²]
    rest_potential: float  # φ̂_e at zero current for c = c₀

    @classmethod
    def of_case(cls, mesh: dolfinx.mesh.Mesh, case: Any, scales: Scales) -> CounterReaction:
        """The counter electrode of the case's electrolyte, its numbers as Constants on ``mesh``."""
        ce = case.electrolyte.counter_electrode
        law = kinetics.NaMetalButlerVolmer(
            exchange_current=ce.exchange_current_density,
            alpha_a=ce.anodic_transfer_coefficient,
            alpha_c=ce.cathodic_transfer_coefficient,
        )
        c_rel = scales.electrolyte_concentration / kinetics.REFERENCE_CONCENTRATION
        return cls(
            law=law.with_coefficients(lambda value: constant(mesh, value)),
            concentration_ratio=constant(mesh, c_rel),
            current_density_scale=constant(mesh, scales.current_density),
            rest_potential=law.rest_potential(c_rel),
        )

    def flux(self, c: Expr | float, phi: Expr) -> Expr:
        """i_a/i* for ĉ = c/c₀ and φ̂_e at the Na-metal face (UFL)."""
        return self.law.current_density(-phi, self.concentration_ratio * c) / self.current_density_scale

"""The regular-solution free energy of a phase-separating particle (Cahn–Hilliard reaction model).

Per mole of sites (θ = c_s/c_s,max, Ω_a the interaction energy [J/mol], κ the gradient energy
[J/m], R the gas constant, T [K]):
    f_h(θ) = RT [θ ln θ + (1−θ) ln(1−θ)] + Ω_a θ(1−θ)              [J/mol]
    μ_h(θ) = ∂f_h/∂θ = RT ln(θ/(1−θ)) + Ω_a (1 − 2θ)                 [J/mol]
    μ = μ_h(θ) − (κ/c_s,max) ∇²θ − Ω σ_h                             [J/mol]
The total free energy is G = ∫ c_s,max f_h(θ) + (κ/2)|∇θ|² dV [J]. The homogeneous equilibrium
potential against Na⁺/Na is U₀ − μ_h(θ)/F (non-monotonic for Ω_a > 2RT, the spinodal region); the
coexisting compositions of the symmetric solution are the binodal θ_b, 1 − θ_b with
ln(θ/(1−θ)) = (Ω_a/RT)(2θ − 1); the interface width is λ = √(κ/(c_s,max Ω_a)) [m]. A surface energy
γ_s(θ) = −w (θ − θ²/2) [J/m²] of the particle surface (wetting w = −dγ_s/dθ at θ = 0) adds ∫ γ_s dA to G
and sets the natural condition κ ∇θ·n = w (1 − θ) there (n outward): w > 0 lets the Na-rich phase wet
the surface. The drive fades to zero at θ = 1, so it never pushes the surface to saturation (where the
insertion reaction stops), as a linear γ_s stronger than √(2κ c_s,max (f_h(1) − f_h(θ_b))) would.

The laws take the logarithm as an argument (``log``: numpy.log by default, ufl.ln in weak forms),
so the same expressions serve numbers and UFL.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

Log = Callable[[Any], Any]


def homogeneous_chemical_potential(theta: Any, rt: Any, interaction: Any, log: Log = np.log) -> Any:
    """μ_h(θ) = RT ln(θ/(1−θ)) + Ω_a (1 − 2θ) [J/mol] (RT and Ω_a in J/mol; any unit if both share it)."""
    return rt * log(theta / (1.0 - theta)) + interaction * (1.0 - 2.0 * theta)


def homogeneous_free_energy(theta: Any, rt: Any, interaction: Any, log: Log = np.log) -> Any:
    """f_h(θ) = RT [θ ln θ + (1−θ) ln(1−θ)] + Ω_a θ(1−θ) [J/mol of sites]."""
    return rt * (theta * log(theta) + (1.0 - theta) * log(1.0 - theta)) + interaction * theta * (1.0 - theta)


def chemical_diffusivity_factor(theta: Any, rt: Any, interaction: Any) -> Any:
    """D_chem/D_s = θ(1−θ)/RT · dμ_h/dθ = 1 − 2Ω_a θ(1−θ)/RT (negative inside the spinodal)."""
    return 1.0 - 2.0 * interaction * theta * (1.0 - theta) / rt


def binodal(interaction: float, rt: float) -> tuple[float, float]:
    """The coexisting compositions (θ_b, 1 − θ_b) of the symmetric regular solution, θ_b < 1/2.

    θ_b solves ln(θ/(1−θ)) = (Ω_a/RT)(2θ − 1) (equal μ_h and equal grand potential; by symmetry the
    common tangent is horizontal at μ_h = 0). Raises ValueError for Ω_a ≤ 2RT (no miscibility gap).
    """
    a = interaction / rt
    if not a > 2.0:
        raise ValueError(f"no miscibility gap for Ω_a/RT = {a:.6g} <= 2")

    def g(theta: float) -> float:
        return math.log(theta / (1.0 - theta)) - a * (2.0 * theta - 1.0)

    # g < 0 for θ < e^(−a)/2, g > 0 at the lower spinodal point (g falls from there to g(1/2) = 0)
    lo = max(math.exp(-a - 7.0), 1e-300)
    from scipy.optimize import brentq  # only here: scipy.optimize costs start-up on the run path

    theta = brentq(g, lo, spinodal(interaction, rt)[0], xtol=1e-15, rtol=1e-14, maxiter=200)
    return float(theta), float(1.0 - theta)


def spinodal(interaction: float, rt: float) -> tuple[float, float]:
    """The spinodal compositions, where dμ_h/dθ = 0: θ(1−θ) = RT/(2Ω_a). ValueError for Ω_a ≤ 2RT."""
    a = interaction / rt
    if not a > 2.0:
        raise ValueError(f"no spinodal for Ω_a/RT = {a:.6g} <= 2")
    half_width = 0.5 * math.sqrt(1.0 - 2.0 / a)
    return 0.5 - half_width, 0.5 + half_width


def surface_energy(theta: Any, wetting: Any) -> Any:
    """γ_s(θ) = −w (θ − θ²/2) [J/m²] of the particle surface, relative to the Na-poor surface θ = 0."""
    return -wetting * (theta - 0.5 * theta * theta)


def wetting_drive(theta: Any, wetting: Any) -> Any:
    """−dγ_s/dθ = w (1 − θ) [J/m²]: the natural condition κ ∇θ·n = w (1 − θ) on the surface (n outward)."""
    return wetting * (1.0 - theta)


def complete_wetting_threshold(gradient_energy: float, max_concentration: float, interaction: float,
                               rt: float) -> float:
    """w_c = 2 √(2 κ c_s,max Δf_max) [J/m²]: the smallest wetting w of :func:`surface_energy` for which the
    Na-rich phase wets a planar surface of the Na-poor phase completely (Cahn's construction).

    At a wall in the Na-poor phase θ_b the equilibrium profile has κ|dθ/dx| = √(2 κ c_s,max Δf(θ)), with
    Δf(θ) = f_h(θ) − f_h(θ_b) ≥ 0 (μ_h(θ_b) = 0, symmetric solution). The condition κ ∇θ·n = w (1 − θ) has
    a solution with θ < 1/2 at the wall while w (1 − θ) < √(2 κ c_s,max Δf(θ)) somewhere on [θ_b, 1/2]; both
    sides' ratio is largest at θ = 1/2, so for w ≥ w_c a layer of the Na-rich phase sits on the surface
    from the start: no nucleation barrier. κ [J/m], c_s,max [mol/m³], Ω_a and RT [J/mol]; ValueError for
    Ω_a ≤ 2RT.
    """
    theta_b = binodal(interaction, rt)[0]
    excess = homogeneous_free_energy(0.5, rt, interaction) - homogeneous_free_energy(theta_b, rt, interaction)
    return 2.0 * math.sqrt(2.0 * gradient_energy * max_concentration * excess)


def interface_width(gradient_energy: float, max_concentration: float, interaction: float) -> float:
    """λ = √(κ/(c_s,max Ω_a)) [m] for κ [J/m], c_s,max [mol/m³], Ω_a [J/mol]."""
    return math.sqrt(gradient_energy / (max_concentration * interaction))


def equilibrium_potential(theta: Any, reference_voltage: float, rt: float, interaction: float,
                          faraday: float) -> Any:
    """U₀ − μ_h(θ)/F [V] against Na⁺/Na: the equilibrium potential of a homogeneous particle (numpy)."""
    theta = np.asarray(theta, dtype=float)
    return reference_voltage - homogeneous_chemical_potential(theta, rt, interaction) / faraday

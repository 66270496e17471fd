"""Closed-form references of a case: the long-time constant-flux sphere (for sweeps and reports).

One rule for every caller: the flux N₀ is that of the case's first current-controlled protocol
step (``c_rate``, ``current_density`` or ``current``), taken through the surface of one sphere of
the geometry's particle radius; the stresses use |Ω| (von Mises is not signed). The closed forms
themselves are in :mod:`ecmx.solver.physics.analytic`.
"""

from __future__ import annotations

import math
from typing import Any

from ecmx.solver.physics.analytic import SteadySphere
from ecmx.solver.units import F


def applied_flux(case: Any) -> float | None:
    """N₀ [mol/(m² s)], the magnitude of the molar flux through a sphere's surface in the case's first
    current-controlled protocol step: N₀ = |I|/(F·4πR²), a C-rate giving I from the usable
    capacity of the sphere; None if no step prescribes a current."""
    radius = case.geometry.particle.radius
    area = 4.0 * math.pi * radius**2
    for step in case.protocol:
        if step.c_rate is not None:
            capacity_C = case.material.usable_concentration * (4.0 / 3.0) * math.pi * radius**3 * F
            return step.c_rate * capacity_C / 3600.0 / (F * area)
        if step.current_density is not None:
            return step.current_density / F
        if step.current is not None:
            return step.current / (F * area)
    return None


def applied_specific_current(case: Any) -> float | None:
    """The current per mass of active material [A/kg = mA/g] of :func:`applied_flux`: I/m =
    N₀F·4πR²/(ρ·4πR³/3) = 3N₀F/(ρR); None if no step prescribes a current."""
    flux = applied_flux(case)
    if flux is None:
        return None
    return 3.0 * flux * F / (case.material.density * case.geometry.particle.radius)


def steady_sphere(case: Any) -> SteadySphere | None:
    """The long-time constant-flux sphere of a validated case (SI), or None where the closed form does
    not apply: no current step, D_s tabulated, or an expansion that is not isotropic and linear."""
    material = case.material
    omega = material.partial_molar_volume
    flux = applied_flux(case)
    if omega is None or flux is None or not isinstance(material.diffusivity, float):
        return None
    return SteadySphere(radius=case.geometry.particle.radius, diffusivity=material.diffusivity, flux=flux,
                        partial_molar_volume=abs(omega), youngs_modulus=material.youngs_modulus,
                        poissons_ratio=material.poissons_ratio)


def steady_surface_von_mises(case: Any) -> float | None:
    """|σ*|/15 [Pa], σ* = Ω E N₀ R/((1−ν) D): the long-time surface von Mises of :func:`steady_sphere`
    (the ``steady_surface_von_mises_Pa`` column of a sweep's summary.csv); None where it does not apply."""
    sphere = steady_sphere(case)
    return None if sphere is None else sphere.surface_von_mises

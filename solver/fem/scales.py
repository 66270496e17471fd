"""The reference values that make the coupled cell problem nondimensional.

Lengths by the mean particle radius R, time by t₀ = R²/D_ref (D_ref = D_s(θ₀)), particle
concentration by c_s,max, electrolyte concentration by its initial value c₀, potentials by RT/F and
current density by i* = F D_ref c_s,max/R.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ecmx.solver.units import R_GAS, F


@dataclass(frozen=True)
class Scales:
    """Reference values of the nondimensionalisation (SI)."""

    length: float  # R [m]
    mesh_to_length: float  # nondimensional length per mesh unit (length_unit/R)
    diffusivity: float  # D_ref [m²/s]
    time: float  # R²/D_ref [s]
    particle_concentration: float  # c_s,max [mol/m³]
    electrolyte_concentration: float  # c₀ [mol/m³]
    thermal_voltage: float  # RT/F [V]
    current_density: float  # F D_ref c_s,max / R [A/m²]

    @property
    def current(self) -> float:
        """Current scale i* R² [A] (nondimensional currents are integrals of î over Â)."""
        return self.current_density * self.length**2


def cell_scales(pmesh: Any, case: Any) -> Scales:
    """The scales of a case on its mesh: R the mean particle radius, D_ref = D_s(θ₀)."""
    material = case.material
    radius = float(np.mean(pmesh.particle_radii)) * pmesh.length_unit
    d_ref = float(material.diffusivity_at(float(case.initial_stoichiometry())))
    return Scales(
        length=radius,
        mesh_to_length=pmesh.length_unit / radius,
        diffusivity=d_ref,
        time=radius**2 / d_ref,
        particle_concentration=material.max_concentration,
        electrolyte_concentration=case.electrolyte.concentration,
        thermal_voltage=R_GAS * case.temperature / F,
        current_density=F * d_ref * material.max_concentration / radius,
    )

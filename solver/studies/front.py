"""The phase-boundary columns of ``timeseries.csv``, for particles with a phase-field material.

A phase-separating particle (``material.phase_field``) gets two more columns, after the standard
ones: ``phase_boundary_area_m2``, the area of the θ = 0.5 surface [m²], and
``phase_boundary_radius_m``, the equivalent core–shell front radius R (V_{θ<0.5}/V)^{1/3} [m]
(:mod:`ecmx.solver.fem.phase_boundary`; R the mean particle radius of the mesh). A run of a Fickian
material has neither column.
"""

from __future__ import annotations

from typing import Any

from ecmx.solver.fem.phase_boundary import measure_phase_boundary

PHASE_BOUNDARY_COLUMNS = ("phase_boundary_area_m2", "phase_boundary_radius_m")


class PhaseBoundaryColumns:
    """Measures the phase boundary of the particle concentration field for each timeseries row.

    Args:
        field: c_s [mol/m³], the P1 particle concentration output field (refreshed by the problem).
        max_concentration: c_s,max [mol/m³] (θ = c_s/c_s,max).
        pmesh: the loaded mesh (coordinate system, length unit, particle radii).
    """

    columns = PHASE_BOUNDARY_COLUMNS

    def __init__(self, field: Any, max_concentration: float, pmesh: Any) -> None:
        self._field, self._c_max, self._pmesh = field, max_concentration, pmesh
        self._radius_m = float(pmesh.particle_radii.mean()) * pmesh.length_unit

    def row(self) -> dict[str, float]:
        """The two columns of the present state (collective)."""
        front = measure_phase_boundary(self._field, self._pmesh.coordinates, self._pmesh.length_unit,
                                       self._radius_m, scale=self._c_max)
        return {"phase_boundary_area_m2": front.area_m2, "phase_boundary_radius_m": front.radius_m}


def phase_boundary_columns(problem: Any, case: Any, pmesh: Any) -> PhaseBoundaryColumns | None:
    """The columns for a phase-field material on a loaded mesh, else None."""
    if pmesh is None or getattr(case.material, "phase_field", None) is None:
        return None
    return PhaseBoundaryColumns(problem.fields["particle_concentration"], case.material.max_concentration, pmesh)

"""The crystal of the particles, from validated case data: its chemical-strain law and orientations.

The schema (``ecmx.solver.config``) has checked the chemical-expansion forms (exactly one; tables
increasing, of equal length, lattice parameters positive; ``over`` two increasing stoichiometries);
what it cannot check (how many particles a mesh has, whether matrices are rotations) is checked here.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ecmx.solver.errors import CaseError
from ecmx.solver.physics.chemical_strain import (
    ChemicalStrain,
    FiniteIsotropicStrain,
    LatticeExpansion,
    LinearExpansion,
    VolumeChangeTable,
)


def chemical_strain_of(material: Any) -> ChemicalStrain:
    """The chemical-strain law of a validated material (``ecmx.solver.config.case.Material`` or any
    object with ``max_concentration`` [mol/m³] and a validated ``chemical_expansion``).

    ``partial_molar_volume`` Ω and ``volume_change`` over (θ1, θ2), Ω = (ΔV/V)/(c_s,max (θ2 − θ1)),
    give a :class:`LinearExpansion`; ``volume_change_table`` a :class:`VolumeChangeTable`;
    ``lattice`` a :class:`LatticeExpansion`; ``strain: finite`` wraps an isotropic law in a
    :class:`FiniteIsotropicStrain`.
    """
    c_max = float(material.max_concentration)
    expansion = material.chemical_expansion
    if expansion.lattice is not None:
        t = expansion.lattice
        return LatticeExpansion(c_max, stoichiometry=_floats(t.stoichiometry), a=_floats(t.a), c=_floats(t.c))
    isotropic = _isotropic_law(c_max, expansion)
    if getattr(expansion, "strain", "linear") == "finite":
        return FiniteIsotropicStrain(c_max, volumetric=isotropic)
    return isotropic


def _isotropic_law(c_max: float, expansion: Any) -> LinearExpansion | VolumeChangeTable:
    """The linear law of an isotropic chemical-expansion form."""
    if expansion.volume_change_table is not None:
        t = expansion.volume_change_table
        return VolumeChangeTable(c_max, stoichiometry=_floats(t.stoichiometry), volume_change=_floats(t.value))
    if expansion.partial_molar_volume is not None:
        return LinearExpansion(c_max, omega=float(expansion.partial_molar_volume))
    theta1, theta2 = expansion.over
    return LinearExpansion(c_max, omega=float(expansion.volume_change) / (c_max * (theta2 - theta1)))


def _floats(values: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(v) for v in values)


def rotation_matrices(orientation: Sequence[Any] | np.ndarray | None, count: int) -> np.ndarray | None:
    """``count`` crystal rotations (crystal → lab, proper orthogonal 3×3) as a (count, 3, 3) array,
    None for None; CaseError (key ``mechanics.orientation``) for a wrong count or a non-rotation."""
    if orientation is None:
        return None
    q = np.asarray(orientation, dtype=float).reshape(-1, 3, 3)
    if q.shape[0] != count:
        raise CaseError(f"expected {count} orientation matrices (one per particle), got {q.shape[0]}",
                        key="mechanics.orientation")
    err = np.abs(np.einsum("nij,nkj->nik", q, q) - np.eye(3)).max()
    if err > 1e-6 or np.any(np.linalg.det(q) < 0):
        raise CaseError("orientations must be rotation matrices (orthogonal, det +1)", key="mechanics.orientation")
    return q


def random_orientations(count: int, seed: int) -> np.ndarray:
    """``count`` uniformly distributed rotation matrices (crystal → lab), reproducible by seed."""
    from scipy.spatial.transform import Rotation

    return Rotation.random(count, random_state=seed).as_matrix().reshape(count, 3, 3)

"""Display labels of the comparison outputs: material names as the papers write them, run labels,
and the redox couple a material is on at a given stoichiometry.

Case and directory names are not changed (``hev`` stays ``hev``); only what a reader sees is.
"""

from __future__ import annotations

from typing import Any

DISPLAY_NAMES = {"nvp": "NVP", "hev": "HE-V", "nfm": "NFM", "heo": "HEO", "nvp-two-phase": "NVP two-phase"}
"""Library material name → the name used in the papers (Zhang et al., EES 2025: "HE-V")."""

REDOX_COUPLES: dict[str, tuple[tuple[float, float, str], ...]] = {
    # θ = Na/4 (4 sites): Na1 ↔ Na3 on V⁴⁺/V³⁺ at 3.40 V, Na3 ↔ Na4 on V³⁺/V²⁺ at ~1.6 V (library nvp)
    "nvp": ((0.0, 0.75, "V⁴⁺/V³⁺ (3.40 V)"), (0.75, 1.0, "V³⁺/V²⁺ (~1.6 V)")),
    # θ = Na/4.5: Na1.2 ↔ Na2.2 V⁵⁺/V⁴⁺ 4.03 V, Na2.2 ↔ Na3.2 V⁴⁺/V³⁺ 3.43 V, Na3.2 ↔ Na4.2 V³⁺/V²⁺ 1.67 V (library hev)
    "hev": ((0.0, 2.2 / 4.5, "V⁵⁺/V⁴⁺ (4.03 V)"), (2.2 / 4.5, 3.2 / 4.5, "V⁴⁺/V³⁺ (3.43 V)"),
            (3.2 / 4.5, 1.0, "V³⁺/V²⁺ (1.67 V)")),
}
"""Material → (θ from, θ to, couple and its plateau voltage vs Na⁺/Na), from the plateaus that the
library's OCV tables are built on (their sources). Materials not listed show '–'."""


def display_name(material: str) -> str:
    """``hev`` → ``HE-V``; an unknown name is upper-cased."""
    return DISPLAY_NAMES.get(material, material.upper())


REDUCED_GEOMETRIES = {"sphere-1d": "sphere-1d", "axisymmetric-2d": "axisymmetric"}
"""Geometry kind → how a label names a reduced (not 3D) model of the particle."""


def run_label(case: Any) -> str:
    """The label of a run in figures and tables: the material as in the papers, with the mechanics
    coupling when it is two-way and the reduction when the geometry is not 3D (``NVP``,
    ``NVP, two-way``, ``NVP two-phase, sphere-1d``), so that one material run in 3D and in sphere-1d
    side by side gets two labels."""
    label = display_name(case.material.name) if case.material.name else case.name
    if case.mechanics.enabled and case.mechanics.coupling == "two-way":
        label += ", two-way"
    if case.geometry.kind in REDUCED_GEOMETRIES:
        label += f", {REDUCED_GEOMETRIES[case.geometry.kind]}"
    return label


def redox_couple(material: str, theta: float) -> str:
    """The redox couple of ``material`` at stoichiometry ``theta`` (c_s/c_s,max), or '–'."""
    for low, high, couple in REDOX_COUPLES.get(material, ()):
        if low <= theta <= high:
            return couple
    return "–"

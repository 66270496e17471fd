"""Quantities with units in case files.

Every dimensional value in a case file is either a plain number, taken as SI, or a string with a
unit (``"1 um"``, ``"5e-11 cm^2/s"``, ``"25 degC"``, ``"108 mAh/g"``) converted with pint to SI base
units. A string with the wrong dimension is a :class:`ValueError` whose message names the expected
unit; the schema turns it into a :class:`~ecmx.solver.errors.CaseError` with the key path.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Annotated

import pint
from pydantic import BeforeValidator

F = 96485.33212  # Faraday constant, C/mol
R_GAS = 8.314462618  # gas constant, J/(mol K)


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The shared unit registry (offset units such as degC allowed for single values)."""
    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("mAh = milliampere * hour")
    return ureg


def to_si(value: object, unit: str) -> float:
    """Convert a number (already SI) or a string with a unit to a float in the SI unit ``unit``.

    ``unit`` is the SI unit the value must be expressible in, e.g. ``"m"``, ``"m^2/s"``, ``"K"``.
    Raises ValueError with a message that names the expected unit.
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a number or a quantity in {unit}, got {value!r}")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a number or a quantity in {unit}, got {value!r}")
    try:
        return float(value)  # a bare number, possibly as a string: PyYAML reads 1e-15 as a string
    except ValueError:
        pass
    ureg = registry()
    try:
        quantity = ureg.Quantity(value.strip())
    except (pint.errors.PintError, ValueError, SyntaxError, TypeError, AttributeError) as exc:
        raise ValueError(f"expected a quantity in {unit}, could not read {value!r} ({exc})") from None
    target = ureg.Quantity(1.0, unit) if unit != "1" else ureg.Quantity(1.0)
    if quantity.dimensionality != target.dimensionality:
        got = f"{quantity.units:~}" or "dimensionless"
        raise ValueError(f"expected a quantity in {unit} (dimension {target.dimensionality}), got {value!r} ({got})")
    magnitude = float(quantity.to(unit if unit != "1" else "dimensionless").magnitude)
    return float(f"{magnitude:.15g}")  # drop conversion round-off: "5e-11 cm^2/s" -> 5e-15


def si(unit: str) -> BeforeValidator:
    """A pydantic validator that converts an input to a float in SI unit ``unit``."""
    return BeforeValidator(lambda v: to_si(v, unit) if v is not None else v)


Length = Annotated[float, si("m")]
Time = Annotated[float, si("s")]
Temperature = Annotated[float, si("K")]
Voltage = Annotated[float, si("V")]
Current = Annotated[float, si("A")]
CurrentDensity = Annotated[float, si("A/m^2")]
Diffusivity = Annotated[float, si("m^2/s")]
Concentration = Annotated[float, si("mol/m^3")]
Density = Annotated[float, si("kg/m^3")]
MolarMass = Annotated[float, si("kg/mol")]
MolarVolume = Annotated[float, si("m^3/mol")]
Pressure = Annotated[float, si("Pa")]
Dimensionless = Annotated[float, si("1")]

"""Quantities with units in case files.

Every dimensional value in a case file is either a plain number, taken as SI, or a string with a
unit (``"1 um"``, ``"5e-11 cm^2/s"``, ``"25 degC"``, ``"108 mAh/g"``) converted with pint to SI base
units. A string with the wrong dimension is a :class:`ValueError` whose message names the expected
unit; the schema turns it into a :class:`~ecmx.solver.errors.CaseError` with the key path.

Unit strings are untrusted input, and pint's parser evaluates the arithmetic in them
(``10**10**10 um`` would never finish). :func:`to_si` therefore accepts only a small, bounded
language, checked before pint sees the text: at most :data:`MAX_UNIT_TEXT` characters of letters,
digits, spaces and ``. + - * / ^ ( ) _ % ° ² ³``; no number with more than :data:`MAX_DIGITS` digits;
parentheses nested at most :data:`MAX_PAREN_DEPTH` deep and never empty; at most
:data:`MAX_POWERS` powers (``**`` or ``^``), each of a unit or a number (not of a parenthesised
group, not chained) to a literal integer exponent of magnitude at most :data:`MAX_EXPONENT`.
Every result is a finite float: ``inf``, ``nan``, ``1e400`` and ``1/0 um`` are refused.

The common form "<number> <unit>" with a unit of :data:`SIMPLE_UNITS` (``"1 um"``, ``"25 degC"``,
``"1e-15 m^2/s"``) is converted without pint, to the same float: building pint's registry costs
about 0.7 s, a large part of the start-up of a small run. Anything else goes to pint.
"""

from __future__ import annotations

import math
import re
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import BeforeValidator

if TYPE_CHECKING:
    import pint

F = 96485.33212  # Faraday constant, C/mol
R_GAS = 8.314462618  # gas constant, J/(mol K)

MAX_UNIT_TEXT = 200
"""Longest accepted quantity string, characters."""

MAX_DIGITS = 30
"""Most digits in one run of digits of a quantity string (a number's integer or fraction part)."""

MAX_PAREN_DEPTH = 4
"""Deepest nesting of parentheses in a quantity string."""

MAX_POWERS = 4
"""Most power operators (``**`` or ``^``) in a quantity string."""

MAX_EXPONENT = 12
"""Largest magnitude of a power's exponent (a literal integer: ``m^3``, ``s^-1``)."""

_ALLOWED_SYMBOLS = frozenset(" .+-*/^()_%°µμΩÅ²³")
_POWER = re.compile(r"\*\*|\^")
# the exponent after a power operator: a literal integer, optionally signed or in parentheses,
# not followed by more of a number (2.5, 2e3) or a name
_EXPONENT = re.compile(r"\s*(?:\(\s*([-+]?\d+)\s*\)|([-+]?\d+))(?![\w.(])")
_EXAMPLES = "like '1 um', '5e-11 cm^2/s' or '25 degC'"


# "<number> <unit>" for the units below: (SI unit, factor, offset), SI value = number * factor + offset
# (tests/unit/test_startup.py checks every entry against pint)
SIMPLE_UNITS: dict[str, tuple[str, float, float]] = {
    "m": ("m", 1.0, 0.0), "mm": ("m", 1e-3, 0.0), "um": ("m", 1e-6, 0.0), "µm": ("m", 1e-6, 0.0),
    "μm": ("m", 1e-6, 0.0), "nm": ("m", 1e-9, 0.0),
    "s": ("s", 1.0, 0.0), "ms": ("s", 1e-3, 0.0), "min": ("s", 60.0, 0.0), "h": ("s", 3600.0, 0.0),
    "K": ("K", 1.0, 0.0), "degC": ("K", 1.0, 273.15),
    "V": ("V", 1.0, 0.0), "mV": ("V", 1e-3, 0.0), "A": ("A", 1.0, 0.0), "mA": ("A", 1e-3, 0.0),
    "A/m^2": ("A/m^2", 1.0, 0.0), "mA/cm^2": ("A/m^2", 10.0, 0.0),
    "m^2/s": ("m^2/s", 1.0, 0.0), "cm^2/s": ("m^2/s", 1e-4, 0.0),
    "mol/m^3": ("mol/m^3", 1.0, 0.0), "kg/m^3": ("kg/m^3", 1.0, 0.0), "g/cm^3": ("kg/m^3", 1e3, 0.0),
    "g/mol": ("kg/mol", 1e-3, 0.0), "kg/mol": ("kg/mol", 1.0, 0.0),
    "Pa": ("Pa", 1.0, 0.0), "kPa": ("Pa", 1e3, 0.0), "MPa": ("Pa", 1e6, 0.0), "GPa": ("Pa", 1e9, 0.0),
    "A/kg": ("A/kg", 1.0, 0.0), "mA/g": ("A/kg", 1.0, 0.0), "A/g": ("A/kg", 1e3, 0.0),
}
_SIMPLE = re.compile(r"([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?) +(\S+)")


def _simple_si(text: str, unit: str) -> float | None:
    """The SI value of "<number> <unit>" for a unit of SIMPLE_UNITS of SI unit ``unit``; None otherwise."""
    match = _SIMPLE.fullmatch(text)
    entry = SIMPLE_UNITS.get(match.group(2)) if match else None
    if entry is None or entry[0] != unit:
        return None
    return float(f"{float(match.group(1)) * entry[1] + entry[2]:.15g}")  # as pint's path rounds


@lru_cache(maxsize=1)
def registry() -> pint.UnitRegistry:
    """The shared unit registry (offset units such as degC allowed for single values)."""
    import pint

    ureg = pint.UnitRegistry(autoconvert_offset_to_baseunit=True)
    ureg.define("mAh = milliampere * hour")
    return ureg


def short_repr(value: object) -> str:
    """``repr(value)`` for messages, shortened when it is long (untrusted values may be huge)."""
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:40]}... ({len(text)} characters)"


def _finite(number: float, unit: str, value: object) -> float:
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number or quantity in {unit}, got {short_repr(value)}")
    return number


def _check_characters(text: str) -> None:
    if len(text) > MAX_UNIT_TEXT:
        raise ValueError(f"quantity text is {len(text)} characters long; at most {MAX_UNIT_TEXT} are read")
    for ch in text:
        if not ((ch.isascii() and ch.isalnum()) or ch in _ALLOWED_SYMBOLS):
            raise ValueError(f"unexpected character {ch!r}: expected a quantity {_EXAMPLES}")
    if re.search("[²³]{2}", text):
        raise ValueError("a power of more than one superscript digit: write 'm^3' or 'm³'")
    longest = max((len(run) for run in re.findall(r"\d+", text)), default=0)
    if longest > MAX_DIGITS:
        raise ValueError(f"a number with {longest} digits; at most {MAX_DIGITS} are read")


def _check_parentheses(text: str) -> None:
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            raise ValueError("a ')' without its '('")
        if depth > MAX_PAREN_DEPTH:
            raise ValueError(f"parentheses nested more than {MAX_PAREN_DEPTH} deep")
    if depth:
        raise ValueError("a '(' without its ')'")
    if re.search(r"\(\s*\)", text):
        raise ValueError("empty parentheses '()'")


def _check_powers(text: str) -> None:
    powers = list(_POWER.finditer(text))
    if len(powers) > MAX_POWERS:
        raise ValueError(f"{len(powers)} powers ('**' or '^'); at most {MAX_POWERS} are read")
    for power in powers:
        before = text[: power.start()].rstrip()
        if before.endswith(")"):
            raise ValueError("a power of a parenthesised group: write powers of single units, like 'm^2/s'")
        if before.endswith(("²", "³")):
            raise ValueError("chained powers (like 10**10**10) are not read")
        exponent = _EXPONENT.match(text, power.end())
        if exponent is None:
            raise ValueError(f"expected a literal integer exponent after {power.group()!r}, like 'm^2' or 's^-1'")
        if abs(int(exponent.group(1) or exponent.group(2))) > MAX_EXPONENT:
            raise ValueError(f"exponent {exponent.group().strip()} is larger than {MAX_EXPONENT} in magnitude")
        if _POWER.match(text[exponent.end() :].lstrip()):
            raise ValueError("chained powers (like 10**10**10) are not read")


def check_quantity_text(text: str) -> None:
    """Refuse quantity text outside the bounded language of this module (see the module docstring).

    Raises ValueError saying what was wrong; called before pint parses (and evaluates) the text.
    """
    _check_characters(text)
    _check_parentheses(text)
    _check_powers(text)


def _parse(text: str, unit: str) -> pint.Quantity | float:
    """A bare number as a float, anything else as a pint quantity; ValueError if unreadable."""
    try:
        check_quantity_text(text)
    except ValueError as exc:
        raise ValueError(f"expected a quantity in {unit}, could not read {short_repr(text)}: {exc}") from None
    try:
        return float(text)  # a bare number, possibly as a string: PyYAML reads 1e-15 as a string
    except ValueError:
        pass
    simple = _simple_si(text, unit)
    if simple is not None:
        return simple
    try:
        return registry().Quantity(text)
    # pint's tokenizer and evaluator raise many exception types on malformed text (TokenError,
    # AssertionError, ZeroDivisionError, OverflowError, DefinitionSyntaxError, ...): all of them
    # mean "could not read this quantity"
    except Exception as exc:
        detail = str(exc) or type(exc).__name__
        raise ValueError(f"expected a quantity in {unit}, could not read {short_repr(text)} ({detail})") from None


def to_si(value: object, unit: str) -> float:
    """Convert a number (already SI) or a string with a unit to a finite float in the SI unit ``unit``.

    ``unit`` is the SI unit the value must be expressible in, e.g. ``"m"``, ``"m^2/s"``, ``"K"``.
    Raises ValueError with a message that names the expected unit, for a wrong dimension, text
    outside the bounded quantity language, and any result that is not finite.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected a number or a quantity in {unit}, got {short_repr(value)}")
    if isinstance(value, int | float):
        try:
            return _finite(float(value), unit, value)
        except OverflowError:
            raise ValueError(f"expected a finite number or quantity in {unit}, got an integer too large for a float") from None
    text = value.strip()
    if not text:
        raise ValueError(f"expected a number or a quantity in {unit}, got an empty string")
    quantity = _parse(text, unit)
    if isinstance(quantity, float):
        return _finite(quantity, unit, value)
    ureg = registry()
    target = ureg.Quantity(1.0, unit)
    if quantity.dimensionality != target.dimensionality:
        got = f"{quantity.units:~}" or "dimensionless"
        raise ValueError(f"expected a quantity in {unit} (dimension {target.dimensionality}), got {short_repr(value)} ({got})")
    try:
        magnitude = float(quantity.to(unit).magnitude)
    except (ArithmeticError, TypeError, ValueError):
        raise ValueError(f"expected a finite number or quantity in {unit}, got {short_repr(value)}") from None
    return _finite(float(f"{magnitude:.15g}"), unit, value)  # drop conversion round-off: "5e-11 cm^2/s" -> 5e-15


class ToSI:
    """Converts a number or a quantity string to a float in SI unit ``unit`` (None passes through)."""

    def __init__(self, unit: str):
        self.unit = unit
        """The SI unit, e.g. ``"m^2/s"`` (read by the schema documentation)."""

    def __call__(self, value: object) -> object:
        return to_si(value, self.unit) if value is not None else value


def si(unit: str) -> BeforeValidator:
    """A pydantic validator that converts an input to a float in SI unit ``unit``.

    In a JSON Schema the input is a number (SI) or a string with a unit.
    """
    return BeforeValidator(ToSI(unit), json_schema_input_type=float | str)


Length = Annotated[float, si("m")]
Time = Annotated[float, si("s")]
Temperature = Annotated[float, si("K")]
Voltage = Annotated[float, si("V")]
VoltageRate = Annotated[float, si("V/s")]
Current = Annotated[float, si("A")]
CurrentDensity = Annotated[float, si("A/m^2")]
Diffusivity = Annotated[float, si("m^2/s")]
Concentration = Annotated[float, si("mol/m^3")]
Density = Annotated[float, si("kg/m^3")]
MolarMass = Annotated[float, si("kg/mol")]
MolarVolume = Annotated[float, si("m^3/mol")]
Pressure = Annotated[float, si("Pa")]
Capacitance = Annotated[float, si("F/m^2")]  # per unit area

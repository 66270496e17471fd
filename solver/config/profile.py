"""A radial initial profile θ(r) of the particle: ``initial.profile`` (inline, or a CSV file read as untrusted input).

The profile gives the stoichiometry θ = c_s/c_s,max (dimensionless, in [0, 1]) against the distance r [m]
from the particle centre, at increasing radii from r = 0 to at least the particle radius; between the
points it is linear. The run interpolates it onto the particle's nodes by their distance from the
centre of their particle (sphere-1d, axisymmetric-2d and 3D alike).

A CSV file (``initial.profile: {file: theta.csv}``, relative to the case file and inside its
directory) has one header line naming its columns, found by name in any order, other columns ignored:

- the radius: ``r`` or ``radius`` with a unit, written ``r [um]``, ``radius (nm)`` or ``r_um``,
  ``radius_m`` (a radius needs its unit);
- the stoichiometry: ``stoichiometry``, ``theta`` or ``θ``, without a unit.

Limits: a regular UTF-8 file of at most :data:`~ecmx.solver.files.MAX_CSV_BYTES`, 2 to
:data:`MAX_PROFILE_ROWS` data rows, every cell of the two columns a finite number, θ in [0, 1],
radii strictly increasing from 0. Lines starting with ``#`` and blank lines are skipped; the
delimiter is the one of :mod:`~ecmx.solver.config.measured_data`. The resolved case holds the
table inline (``radius``, ``stoichiometry``), so that it runs again without the file. Every problem
is one :class:`~ecmx.solver.errors.CaseError` naming the case file, the key and, for a file, the
file, the column and the line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
from pydantic import Field, model_validator

from ecmx.solver.config.measured_data import _BRACKETED, _cells, _number, open_csv_table
from ecmx.solver.config.schema import Fraction, Schema
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_CSV_BYTES, Refusal, check_regular_file
from ecmx.solver.units import Length, short_repr, to_si

MAX_PROFILE_ROWS = 10_000
"""Most points of an initial profile (the resolved case.yaml holds them inline)."""

KEY = "initial.profile"
"""The case key of the profile."""

_NAMES = {"r": "radius", "radius": "radius", "stoichiometry": "stoichiometry", "theta": "stoichiometry",
          "θ": "stoichiometry"}


class RadialProfile(Schema):
    """θ(r): the stoichiometry at increasing distances from the particle centre, linear in between."""

    radius: Annotated[list[Annotated[Length, Field(ge=0)]], Field(min_length=2, max_length=MAX_PROFILE_ROWS)] = Field(
        description=f"distances from the particle centre, m: strictly increasing from 0 to at least the particle"
        f" radius (2 to {MAX_PROFILE_ROWS} points)")
    stoichiometry: Annotated[list[Fraction], Field(min_length=2, max_length=MAX_PROFILE_ROWS)] = Field(
        description="θ = c_s/c_s,max at each radius, dimensionless, in [0, 1]")

    @model_validator(mode="after")
    def _table(self) -> RadialProfile:
        r = np.asarray(self.radius)
        if len(self.stoichiometry) != r.size:
            raise ValueError(f"radius has {r.size} points and stoichiometry {len(self.stoichiometry)}: expected equal lengths")
        if r[0] != 0.0:
            raise ValueError(f"the profile starts at r = {r[0]:g} m: expected the first radius at the centre, r = 0")
        bad = np.flatnonzero(np.diff(r) <= 0)
        if bad.size:
            i = int(bad[0]) + 1
            raise ValueError(f"radius {r[i]:g} m (point {i + 1}) does not increase: expected strictly increasing radii")
        return self

    def at(self, r: np.ndarray) -> np.ndarray:
        """θ at distances ``r`` [m] from the centre (linear between the points; r ≤ the last radius)."""
        return np.interp(r, self.radius, self.stoichiometry)

    def sphere_mean(self, radius: float) -> float:
        """The volume mean of θ over a sphere of ``radius`` [m], 3/R³ ∫₀^R θ(r) r² dr, exact for the
        piecewise-linear profile (dimensionless)."""
        r = np.asarray(self.radius)
        nodes = np.concatenate([r[r < radius], [radius]])
        theta = self.at(nodes)
        a, b, ta, tb = nodes[:-1], nodes[1:], theta[:-1], theta[1:]
        slope = (tb - ta) / (b - a)  # ∫_a^b (ta + s (r − a)) r² dr
        integral = (ta - slope * a) * (b**3 - a**3) / 3.0 + slope * (b**4 - a**4) / 4.0
        return float(3.0 * integral.sum() / radius**3)


def resolve_profile_file(file_text: str, case_file: Path | None) -> dict[str, list[float]]:
    """The table of the profile file ``file_text`` (relative to the case file, inside its directory; the
    working directory for a case without a file): ``{"radius": [...], "stoichiometry": [...]}`` in SI."""
    key = f"{KEY}.file"
    directory = case_file.parent.resolve() if case_file is not None else Path.cwd().resolve()
    target = Path(file_text).expanduser()
    path = (target if target.is_absolute() else directory / target).resolve()
    if not path.is_relative_to(directory):
        raise CaseError(f"{file_text} lies outside the case file's directory {directory}: expected a path inside it"
                        " (copy the profile there)", file=case_file, key=key)
    check_regular_file(path, key=key, what="initial profile", max_bytes=MAX_CSV_BYTES, named_in=case_file)
    return read_profile_csv(path, key=key, named_in=case_file)


def read_profile_csv(path: Path, *, key: str, named_in: Path | None) -> dict[str, list[float]]:
    """Read a profile CSV file (module docstring) into SI lists; CaseError for anything wrong."""
    refuse, lines, delimiter = open_csv_table(path, key=key, what="initial profile", named_in=named_in,
                                              expected="a CSV table with columns such as r_um, stoichiometry")
    header_no, header_line = lines[0]
    header = _cells(header_line, delimiter, header_no, refuse)
    columns = _columns(header, header_no, refuse)
    rows = lines[1:]
    if not 2 <= len(rows) <= MAX_PROFILE_ROWS:
        raise refuse.content(f"holds {len(rows)} data rows: expected 2 to {MAX_PROFILE_ROWS}")
    table: dict[str, list[float]] = {"radius": [], "stoichiometry": []}
    for number, line in rows:
        cells = _cells(line, delimiter, number, refuse)
        if len(cells) < len(header):
            raise refuse.content(f"line {number}: expected {len(header)} values, got {len(cells)}")
        for quantity, (index, factor) in columns.items():
            table[quantity].append(_number(cells[index], factor, number, quantity, refuse))
        _check_row(table, number, refuse)
    return table


def _columns(header: list[str], number: int, refuse: Refusal) -> dict[str, tuple[int, float]]:
    """quantity → (column index, factor to SI) of the radius and stoichiometry columns."""
    found: dict[str, tuple[int, float]] = {}
    for index, name in enumerate(header):
        match = _BRACKETED.match(name)
        base, _, unit = (match["name"], "", match["unit"]) if match else name.partition("_")
        quantity = _NAMES.get(base.strip().lower())
        if quantity is None:
            continue
        if quantity in found:
            raise refuse.content(f"line {number}: two {quantity} columns ({header[found[quantity][0]]!r}, {name!r})")
        found[quantity] = (index, _factor(quantity, unit.strip(), name, number, refuse))
    missing = [q for q in ("radius", "stoichiometry") if q not in found]
    if missing:
        raise refuse.content(f"line {number}: no {' or '.join(missing)} column in {header}; expected e.g."
                             " 'r_um, stoichiometry' or 'r [nm], theta'")
    return found


def _factor(quantity: str, unit: str, name: str, number: int, refuse: Refusal) -> float:
    where = f"line {number}, column {name!r}"
    if quantity == "stoichiometry":
        if unit:
            raise refuse.content(f"{where}: θ is dimensionless, got unit {short_repr(unit)}")
        return 1.0
    if not unit:
        raise refuse.content(f"{where}: a radius needs a unit, e.g. r_um or r [nm]")
    try:
        return to_si(f"1 {unit}", "m")
    except ValueError as exc:
        raise refuse.content(f"{where}: unit {short_repr(unit)} is not a length ({exc})") from None


def _check_row(table: dict[str, list[float]], number: int, refuse: Refusal) -> None:
    """The newest row: θ in [0, 1], r from 0 and strictly increasing."""
    theta, r = table["stoichiometry"][-1], table["radius"]
    if not 0.0 <= theta <= 1.0:
        raise refuse.content(f"line {number}, column 'stoichiometry': θ = {theta:g} lies outside [0, 1]")
    if len(r) == 1 and r[0] != 0.0:
        raise refuse.content(f"line {number}, column 'radius': the first radius is {r[0]:g} m: expected 0 (the centre)")
    if len(r) > 1 and r[-1] <= r[-2]:
        raise refuse.content(f"line {number}, column 'radius': r = {r[-1]:g} m does not increase (previous row"
                             f" {r[-2]:g} m)")


__all__ = ["KEY", "MAX_PROFILE_ROWS", "RadialProfile", "read_profile_csv", "resolve_profile_file"]

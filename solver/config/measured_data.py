"""Measured curves: a lab's CSV export (time, current, voltage, capacity) read as untrusted input.

A measured-data file is a CSV table with one header line naming its columns. Columns are found by
name, in any order; other columns (``cycle``, ``step``, ...) are ignored. A name says the quantity
and, optionally, its unit, in one of three spellings:

- ``time [h]``, ``voltage (mV)``: the unit in brackets or parentheses (any unit pint reads);
- ``time_s``, ``voltage_V``, ``capacity_mAh``, ``capacity_Ah_per_kg``: the unit after an underscore
  (``_per_`` stands for ``/``);
- ``time``, ``current``, ``voltage``: no unit, read as SI (s, A, V). A capacity needs a unit.

Quantities (:data:`QUANTITIES`): ``time`` (s), ``current`` (A; the file's own sign convention),
``voltage`` (V), ``capacity`` (charge passed, C = A s; e.g. ``mAh``) and ``specific_capacity``
(charge per mass of active material, C/kg; e.g. ``mAh/g``). A ``capacity`` column whose unit is a
charge per mass is read as ``specific_capacity``. Values come back in SI.

Limits: the file is a regular UTF-8 file of at most :data:`~ecmx.solver.files.MAX_CSV_BYTES`,
with at most :data:`MAX_ROWS` data rows and :data:`MAX_COLUMNS` columns; every cell of a
recognised column is a finite number; a time column is strictly increasing. Lines starting with
``#`` before the header or between rows are comments; blank lines are skipped. The delimiter is a
comma (or a semicolon or tab when the header line holds no comma). Every problem is one
:class:`~ecmx.solver.errors.CaseError` naming the file, the column and the line.
"""

from __future__ import annotations

import csv
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ecmx.solver.files import MAX_CSV_BYTES, Refusal, read_text_file
from ecmx.solver.units import short_repr, to_si

MAX_ROWS = 200_000
"""Most data rows of a measured-data file (a day logged every half second)."""

MAX_COLUMNS = 64
"""Most columns of a measured-data file."""

QUANTITIES: dict[str, str] = {
    "time": "s",
    "current": "A",
    "voltage": "V",
    "capacity": "C",
    "specific_capacity": "C/kg",
}
"""Each quantity a measured curve may hold, with the SI unit its values are returned in."""

ALIASES: dict[str, str] = {"t": "time", "i": "current", "u": "voltage", "v": "voltage", "e": "voltage",
                           "potential": "voltage", "ewe": "voltage", "charge": "capacity", "q": "capacity"}
"""Other names for the quantities (case-insensitive)."""

_BRACKETED = re.compile(r"^(?P<name>[^\[\]()]+?)\s*[\[(]\s*(?P<unit>[^\[\]()]*?)\s*[\])]\s*$")


@dataclass(frozen=True)
class MeasuredCurve:
    """A measured curve: SI arrays by quantity (:data:`QUANTITIES`), all of one length.

    ``headers`` maps each quantity to the header text it was read from (for messages and plots).
    """

    path: Path
    columns: dict[str, np.ndarray]
    headers: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(next(iter(self.columns.values())))

    def __contains__(self, quantity: str) -> bool:
        return quantity in self.columns

    def __getitem__(self, quantity: str) -> np.ndarray:
        """The values of ``quantity`` in its SI unit (:data:`QUANTITIES`)."""
        return self.columns[quantity]


def read_measured_curve(
    path: str | Path, *, require: tuple[str, ...] = (), key: str | None = None, named_in: Path | None = None
) -> MeasuredCurve:
    """Read a measured-data CSV file (see the module docstring) into SI arrays.

    ``require`` lists quantities the file must hold (e.g. ``("time", "voltage")``). ``key`` is the
    dotted key that named the file in ``named_in`` (a fit or GITT file); errors then name that file
    and key, and this file with the column and line (without ``named_in`` they name this file).
    Raises CaseError for anything wrong.
    """
    path = Path(path).expanduser()
    refuse, lines, delimiter = open_csv_table(path, key=key, what="measured-data file", named_in=named_in,
                                              expected="a CSV table with a header naming its columns")
    header_no, header_line = lines[0]
    header = _cells(header_line, delimiter, header_no, refuse)
    if len(header) > MAX_COLUMNS:
        raise refuse.content(f"line {header_no}: {len(header)} columns; at most {MAX_COLUMNS} are read")
    found = _recognise(header, header_no, refuse)
    missing = [q for q in require if q not in found]
    if missing:
        raise refuse.content(f"line {header_no}: no {' or '.join(missing)} column; expected a header naming "
                             f"{', '.join(require)} (e.g. time_s, voltage_V; got {header})")
    if not found:
        raise refuse.content(f"line {header_no}: no recognised column in {header}; expected names such as "
                             "time_s, current_A, voltage_V, capacity_mAh")
    columns = _read_rows(lines[1:], delimiter, len(header), found, refuse)
    if "time" in columns:
        _check_increasing(columns["time"], lines[1:], refuse)
    return MeasuredCurve(path, columns, {q: header[i] for q, (i, _) in found.items()})


def open_csv_table(path: Path, *, key: str | None, what: str, named_in: Path | None,
                   expected: str) -> tuple[Refusal, list[tuple[int, str]], str]:
    """Read a bounded CSV text file: (its Refusal, the (line number, line) pairs that are neither blank nor
    ``#`` comments — the first is the header —, the delimiter of the header). CaseError for an unreadable,
    oversized or empty file; ``expected`` says what the file should hold."""
    refuse = Refusal(path, key=key, what=what, named_in=named_in)
    text = read_text_file(path, key=key, what=what, max_bytes=MAX_CSV_BYTES, named_in=named_in)
    lines = [(n, line) for n, line in enumerate(text.splitlines(), start=1)
             if line.strip() and not line.lstrip().startswith("#")]
    if not lines:
        raise refuse.content(f"holds no header line: expected {expected}")
    return refuse, lines, _delimiter(lines[0][1])


def _delimiter(header_line: str) -> str:
    if "," in header_line:
        return ","
    return ";" if ";" in header_line else ("\t" if "\t" in header_line else ",")


def _cells(line: str, delimiter: str, number: int, refuse: Refusal) -> list[str]:
    try:
        return [cell.strip() for cell in next(csv.reader(io.StringIO(line), delimiter=delimiter), [])]
    except csv.Error as exc:
        raise refuse.content(f"line {number}: malformed CSV ({exc})") from None


def _recognise(header: list[str], number: int, refuse: Refusal) -> dict[str, tuple[int, float]]:
    """The recognised columns: quantity → (column index, factor to SI)."""
    found: dict[str, tuple[int, float]] = {}
    for index, name in enumerate(header):
        parsed = _parse_name(name)
        if parsed is None:
            continue
        quantity, unit = parsed
        quantity, factor = _unit_factor(quantity, unit, name, number, refuse)
        if quantity in found:
            first = header[found[quantity][0]]
            raise refuse.content(f"line {number}: columns {first!r} and {name!r} both give the {quantity}; "
                                 "expected one column per quantity")
        found[quantity] = (index, factor)
    return found


def _parse_name(name: str) -> tuple[str, str | None] | None:
    """(quantity, unit text or None) for a recognised column name, else None."""
    match = _BRACKETED.match(name)
    if match:
        quantity = _quantity(match["name"])
        return (quantity, match["unit"]) if quantity else None
    words = name.strip().split("_")
    for cut in range(len(words), 0, -1):
        quantity = _quantity("_".join(words[:cut]))
        if quantity:
            unit = "_".join(words[cut:]).replace("_per_", "/")
            return quantity, (unit or None)
    return None


def _quantity(text: str) -> str | None:
    word = re.sub(r"\s+", "_", text.strip().lower())
    word = ALIASES.get(word, word)
    return word if word in QUANTITIES else None


def _unit_factor(quantity: str, unit: str | None, name: str, number: int, refuse: Refusal) -> tuple[str, float]:
    """(quantity, SI factor) of a column; a capacity in charge per mass is a specific capacity."""
    where = f"line {number}, column {name!r}"
    if unit is None or not unit.strip():
        if quantity in ("capacity", "specific_capacity"):
            raise refuse.content(f"{where}: a capacity needs a unit, e.g. capacity_mAh or capacity [mAh/g]")
        return quantity, 1.0
    if quantity == "capacity" and _dimension_matches(unit, QUANTITIES["specific_capacity"]):
        quantity = "specific_capacity"
    try:
        factor = to_si(f"1 {unit}", QUANTITIES[quantity])
    except ValueError as exc:
        raise refuse.content(f"{where}: unit {short_repr(unit)} is not a unit of {quantity} ({exc})") from None
    return quantity, factor


def _dimension_matches(unit: str, si_unit: str) -> bool:
    try:
        to_si(f"1 {unit}", si_unit)
    except ValueError:
        return False
    return True


def _read_rows(lines: list[tuple[int, str]], delimiter: str, width: int, found: dict[str, tuple[int, float]],
               refuse: Refusal) -> dict[str, np.ndarray]:
    if len(lines) > MAX_ROWS:
        raise refuse.content(f"holds {len(lines)} data rows; at most {MAX_ROWS} are read")
    if len(lines) < 2:
        raise refuse.content(f"holds {len(lines)} data row(s): expected at least 2")
    values = {q: np.empty(len(lines)) for q in found}
    for row_index, (number, line) in enumerate(lines):
        cells = _cells(line, delimiter, number, refuse)
        if len(cells) < width:
            raise refuse.content(f"line {number}: expected {width} values, got {len(cells)}")
        for quantity, (column, factor) in found.items():
            values[quantity][row_index] = _number(cells[column], factor, number, quantity, refuse)
    return values


def _number(cell: str, factor: float, number: int, quantity: str, refuse: Refusal) -> float:
    try:
        value = float(cell) * factor
    except ValueError:
        value = math.nan
    if not math.isfinite(value):
        raise refuse.content(f"line {number}, column {quantity!r}: expected a finite number, got {short_repr(cell)}")
    return value


def _check_increasing(time: np.ndarray, lines: list[tuple[int, str]], refuse: Refusal) -> None:
    steps = np.diff(time)
    bad = np.flatnonzero(steps <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise refuse.content(f"line {lines[i][0]}, column 'time': time {time[i]:g} s does not increase "
                             f"(previous row {time[i - 1]:g} s); expected strictly increasing time")


__all__ = ["MAX_COLUMNS", "MAX_ROWS", "QUANTITIES", "MeasuredCurve", "read_measured_curve"]

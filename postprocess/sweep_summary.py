"""The schema of a sweep's ``summary.csv``: its columns, and reading and writing it.

The sweep (:mod:`ecmx.solver.studies.sweep`) writes the file and the sweep figures
(:mod:`ecmx.postprocess.sweep_plots`) read it; both take the schema from here, so post-processing
never imports the sweep.

One row per point: ``point``, ``label``, the swept values in SI units under their dotted keys (a
swept ``material`` gives the material name), ``status`` (ok, failed, interrupted, pending),
``reason``, ``wall_time_s``, the key results of the run's ``summary.json`` (:data:`RESULT_KEYS`,
``delivered_capacity_mAh_per_g`` and one concentration spread c_max − c_min [mol/m³] per snapshot
depth of discharge, :func:`spread_key`), and for reference ``material``, ``diffusivity_m2_s``,
``radius_m`` and ``steady_surface_von_mises_Pa``; ``directory`` comes last. Empty cells are
values that were not computed.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ecmx.solver.files import atomic_write_text

SUMMARY_FILE = "summary.csv"

#: summary.csv column <- key in the ``results`` mapping of a run's summary.json.
RESULT_KEYS = {
    "peak_von_mises_Pa": "peak_von_mises_Pa",
    "peak_max_principal_Pa": "peak_max_principal_Pa",
    "discharge_capacity_mAh_per_g": "discharge_capacity_mAh_per_g",
    "charge_capacity_mAh_per_g": "charge_capacity_mAh_per_g",
    "end_voltage_V": "final_voltage_V",
}

#: summary.csv columns that are not swept parameters (besides the spread columns).
FIXED_COLUMNS = {
    "point", "label", "status", "reason", "wall_time_s", "material", "diffusivity_m2_s", "radius_m",
    "steady_surface_von_mises_Pa", "directory", "delivered_capacity_mAh_per_g", *RESULT_KEYS,
}

SPREAD_PREFIX = "concentration_spread_dod"
"""Name prefix of the concentration-spread columns (:func:`spread_key`)."""


def spread_key(dod: float) -> str:
    """summary.csv column of the concentration spread [mol/m³] at a snapshot depth of discharge."""
    return f"{SPREAD_PREFIX}{dod:g}_mol_m3"


def spread_depth(column: str) -> str:
    """The depth of discharge (as written) of a :func:`spread_key` column."""
    return column[len(SPREAD_PREFIX):].split("_")[0]


def swept_columns(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Columns of summary.csv that hold swept values (everything that is not a fixed column)."""
    columns = list(rows[0]) if rows else []
    return [c for c in columns if c not in FIXED_COLUMNS and not c.startswith(SPREAD_PREFIX)]


def write_summary(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write summary.csv atomically (:func:`~ecmx.solver.files.atomic_write_text`): the columns in
    the order the rows first name them, ``directory`` (the long path) last; None as an empty cell."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    columns.sort(key=lambda c: c == "directory")
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=columns, restval="")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: "" if v is None else v for k, v in row.items()})
    atomic_write_text(path, text.getvalue())


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a summary.csv, numbers as floats (empty cells as None)."""
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text

"""The comparison table: per case and depth of discharge, the numbers behind the figures.

Every value is taken from the snapshot field files (the arrays a user sees in ParaView), except
the voltage, which comes from ``timeseries.csv`` at the snapshot state. Written as CSV (SI-derived
units in the column names) and as a Markdown table; a second table gives the ratios of each case
to the last one (e.g. NVP / HE-V).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ecmx.postprocess.labels import redox_couple, run_label
from ecmx.postprocess.reference import applied_specific_current
from ecmx.postprocess.rundata import RunData, Snapshot
from ecmx.postprocess.slices import concentration_spread, peak

MPA = 1e-6


@dataclass
class Row:
    """One case at one depth of discharge. Stresses in MPa, tension positive."""

    case: str
    material: str
    depth_of_discharge: float
    capacity_mAh_per_g: float
    voltage_V: float
    concentration_spread: float
    von_mises_max_MPa: float
    max_principal_max_MPa: float
    hydrostatic_max_MPa: float
    hydrostatic_min_MPa: float
    coupling: str = "one-way"
    current_mA_per_g: float = float("nan")
    stoichiometry_mean: float = float("nan")
    redox_couple: str = "–"
    concentration_spread_window: float = float("nan")
    concentration_spread_mol_m3: float = float("nan")
    label: str = ""


COLUMN_TITLES = {
    "case": "case",
    "material": "material",
    "depth_of_discharge": "DOD",
    "capacity_mAh_per_g": "capacity (mAh/g)",
    "voltage_V": "voltage (V)",
    "concentration_spread": "(c_max − c_min)/c_s,max (per site count)",
    "von_mises_max_MPa": "peak von Mises (MPa)",
    "max_principal_max_MPa": "peak tensile principal (MPa)",
    "hydrostatic_max_MPa": "peak hydrostatic, tension (MPa)",
    "hydrostatic_min_MPa": "peak hydrostatic, compression (MPa)",
    "coupling": "mechanics coupling",
    "current_mA_per_g": "current (mA/g)",
    "stoichiometry_mean": "mean θ",
    "redox_couple": "redox couple (at mean θ)",
    "concentration_spread_window": "(c_max − c_min) / cycled window",
    "concentration_spread_mol_m3": "c_max − c_min (mol/m³)",
    "label": "label",
}
MARKDOWN_COLUMNS = ("label", "depth_of_discharge", "current_mA_per_g", "voltage_V", "redox_couple",
                    "concentration_spread_window", "concentration_spread_mol_m3", "concentration_spread",
                    "von_mises_max_MPa", "max_principal_max_MPa", "hydrostatic_max_MPa", "hydrostatic_min_MPa")
"""The columns of the Markdown table (the CSV has all of :data:`COLUMN_TITLES`)."""

RATIO_COLUMNS = ("concentration_spread", "von_mises_max_MPa", "max_principal_max_MPa", "hydrostatic_max_MPa",
                 "concentration_spread_window", "concentration_spread_mol_m3")


def _nan_if_missing(snapshot: Snapshot, quantity: str, kind: str) -> float:
    return peak(snapshot, quantity, kind) * MPA if snapshot.has(quantity) else float("nan")


def _row_extras(run: RunData, snap: Snapshot, mean_c: float) -> dict[str, object]:
    """The columns that describe the state: coupling, current, mean θ, redox couple, spreads in
    units of the cycled window and in mol/m³."""
    material = run.case.material
    c = snap.values("concentration")
    spread = float(c.max() - c.min())
    theta = mean_c / run.c_max
    current = applied_specific_current(run.case)
    return {
        "coupling": run.case.mechanics.coupling if run.case.mechanics.enabled else "off",
        "current_mA_per_g": float("nan") if current is None else current,
        "stoichiometry_mean": theta,
        "redox_couple": redox_couple(material.name, theta),
        "concentration_spread_window": spread / material.usable_concentration,
        "concentration_spread_mol_m3": spread,
        "label": run_label(run.case),
    }


def snapshot_row(timeseries: dict[str, np.ndarray], snap: Snapshot) -> int:
    """The timeseries row of the snapshot: the one at its time [s] when known, else the nearest depth of
    discharge. The depth of discharge alone is ambiguous: a rest after the snapshot keeps it, and which
    rest row lies nearest by round-off picked a voltage after the current stopped (measured on
    cases/nvp.yaml at DOD 0.9: 3.3787 V at the end of the discharge, 3.3826–3.3827 V read from a rest
    row, which one depending on the steps)."""
    if math.isfinite(snap.time_s) and "time_s" in timeseries:
        return int(np.argmin(np.abs(timeseries["time_s"] - snap.time_s)))
    return int(np.argmin(np.abs(timeseries["depth_of_discharge"] - snap.depth_of_discharge)))


def snapshot_rows(runs: Sequence[RunData], dods: Sequence[float]) -> list[Row]:
    """One row per case and requested depth of discharge that the case reached."""
    rows = []
    for run in runs:
        ts = run.timeseries
        for dod in dods:
            snap = run.snapshot_at(dod)
            if snap is None:
                continue
            k = snapshot_row(ts, snap)
            mean_c = snap.mean_concentration if np.isfinite(snap.mean_concentration) else float(ts["c_mean"][k])
            rows.append(
                Row(
                    case=run.name,
                    material=run.case.material.name,
                    depth_of_discharge=snap.depth_of_discharge,
                    capacity_mAh_per_g=snap.depth_of_discharge * run.case.material.capacity_mAh_per_g,
                    voltage_V=float(ts["voltage_V"][k]),
                    concentration_spread=concentration_spread(snap, run.c_max),
                    von_mises_max_MPa=_nan_if_missing(snap, "von_mises", "max"),
                    max_principal_max_MPa=_nan_if_missing(snap, "max_principal", "max"),
                    hydrostatic_max_MPa=_nan_if_missing(snap, "hydrostatic", "max"),
                    hydrostatic_min_MPa=_nan_if_missing(snap, "hydrostatic", "min"),
                    **_row_extras(run, snap, mean_c),  # type: ignore[arg-type]
                )
            )
    return rows


@dataclass
class Ratio:
    """``numerator`` / ``denominator`` of each :data:`RATIO_COLUMNS` quantity at one DOD."""

    numerator: str
    denominator: str
    depth_of_discharge: float
    values: dict[str, float]
    group: str = ""
    label: str = ""


def ratios(rows: Sequence[Row], reference: str) -> list[Ratio]:
    """Each other case divided by the ``reference`` case, DOD by DOD."""
    by_key = {(r.case, round(r.depth_of_discharge, 6)): r for r in rows}
    out = []
    for r in rows:
        if r.case == reference:
            continue
        ref = by_key.get((reference, round(r.depth_of_discharge, 6)))
        if ref is None:
            continue
        values = {}
        for col in RATIO_COLUMNS:
            num, den = getattr(r, col), getattr(ref, col)
            values[col] = num / den if den not in (0.0,) and np.isfinite(den) else float("nan")
        out.append(Ratio(r.case, reference, r.depth_of_discharge, values))
    return out


def ratios_by_group(rows: Sequence[Row], groups: dict[str, str]) -> list[Ratio]:
    """Within each group (case name → group, e.g. the mechanics coupling), each case divided by the
    group's last case, DOD by DOD; the groups in the order they first appear."""
    out: list[Ratio] = []
    for group in dict.fromkeys(groups.values()):
        members = [r for r in rows if groups.get(r.case) == group]
        if len({r.case for r in members}) < 2:
            continue
        labels = {r.case: r.label or r.case for r in members}
        for item in ratios(members, members[-1].case):
            item.group = group
            item.label = f"{labels[item.numerator]} / {labels[item.denominator]}"
            out.append(item)
    return out


def _format(value: object, column: str) -> str:
    if isinstance(value, str):
        return value
    v = float(value)  # type: ignore[arg-type]
    if not np.isfinite(v):
        return "–"
    if column == "depth_of_discharge":
        return f"{100 * v:.0f} %"
    if column in ("concentration_spread", "concentration_spread_window", "stoichiometry_mean"):
        return f"{v:.4f}"
    if column == "concentration_spread_mol_m3":
        return f"{v:.0f}"
    if column == "voltage_V":
        return f"{v:.3f}"
    return f"{v:.3g}" if abs(v) < 10 else f"{v:.1f}"


def markdown_table(headers: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join(" --- " for _ in headers) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def rows_markdown(rows: Sequence[Row]) -> str:
    columns = list(MARKDOWN_COLUMNS)
    body = [[_format(getattr(r, c), c) for c in columns] for r in rows]
    return markdown_table([COLUMN_TITLES[c] for c in columns], body)


RATIO_TITLES = {
    "concentration_spread": "concentration spread",
    "von_mises_max_MPa": "peak von Mises",
    "max_principal_max_MPa": "peak tensile principal",
    "hydrostatic_max_MPa": "peak hydrostatic (tension)",
    "concentration_spread_window": "spread (per cycled window)",
    "concentration_spread_mol_m3": "spread (mol/m³)",
}
RATIO_ORDER = ("concentration_spread_window", "concentration_spread_mol_m3", "concentration_spread", "von_mises_max_MPa",
               "max_principal_max_MPa", "hydrostatic_max_MPa")
"""The ratio columns in the order the Markdown table shows them."""


def ratios_markdown(items: Sequence[Ratio]) -> str:
    titles = {**RATIO_TITLES, "concentration_spread": "spread (per c_s,max)"}
    headers = ["ratio", "DOD"] + [titles[c] for c in RATIO_ORDER]
    body = [
        [r.label or f"{r.numerator} / {r.denominator}", _format(r.depth_of_discharge, "depth_of_discharge")]
        + [f"{r.values[c]:.3g}" if np.isfinite(r.values[c]) else "–" for c in RATIO_ORDER]
        for r in items
    ]
    return markdown_table(headers, body)


def write_tables(rows: Sequence[Row], items: Sequence[Ratio], directory: Path) -> dict[str, Path]:
    """Write ``table.csv``, ``table.md``, ``ratios.csv`` into ``directory``; returns their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"csv": directory / "table.csv", "markdown": directory / "table.md", "ratios": directory / "ratios.csv"}
    with open(paths["csv"], "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(COLUMN_TITLES))
        writer.writeheader()
        for r in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in asdict(r).items()})
    with open(paths["ratios"], "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["numerator", "denominator", "depth_of_discharge", *RATIO_COLUMNS, "group"])
        for r in items:
            writer.writerow([r.numerator, r.denominator, repr(r.depth_of_discharge), *(repr(r.values[c]) for c in RATIO_COLUMNS),
                             r.group])
    text = ("## Per case and depth of discharge\n\nSpreads c_max − c_min over the particle: per cycled window "
            "c_s,max(θ_hi − θ_lo), in mol/m³, and per c_s,max (depends on the assumed site count). Stresses in "
            "MPa, tension positive.\n\n" + rows_markdown(rows))
    if items:
        text += "\n## Ratios\n\n" + ratios_markdown(items)
    paths["markdown"].write_text(text)
    return paths

"""The written conclusion of a comparison report, generated from its numbers.

It states the headline (spreads per cycled window and in mol/m³, peak stresses, their ratios), says
whether the claim "the first material visibly heterogeneous while the last is uniform" holds with
the shipped inputs, lists which inputs are assumptions (from the materials' ``sources`` and the
model choices: constant D, isotropic linear expansion, one-way coupling, site counts, current
basis, radius) and, for each, what the result is without it, from the two-way runs and the
sensitivity study. Nothing in it is a fixed number: every value is read from the tables.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from ecmx.postprocess.labels import display_name
from ecmx.postprocess.rundata import RunData
from ecmx.postprocess.sensitivity import AXES, Point, _axis_points, claim_intervals
from ecmx.postprocess.tables import Ratio, Row


def _span(values: Sequence[float], fmt: str = "{:.3g}") -> str:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "–"
    lo, hi = min(finite), max(finite)
    return fmt.format(lo) if math.isclose(lo, hi, rel_tol=0.02) else f"{fmt.format(lo)}–{fmt.format(hi)}"


def _pct(values: Sequence[float]) -> str:
    return _span([100 * v for v in values], "{:.2g}") + " %"


def headline(rows: Sequence[Row], ratios: Sequence[Ratio], thresholds: tuple[float, float]) -> list[str]:
    """One sentence per group (coupling): both materials' spreads and stresses and their ratios, and
    whether the claim holds at every compared depth of discharge."""
    out = []
    for group in dict.fromkeys(r.group for r in ratios):
        mine = [r for r in ratios if r.group == group]
        num, den = mine[0].numerator, mine[0].denominator
        a = [r for r in rows if r.case == num]
        b = [r for r in rows if r.case == den]
        la, lb = display_name(a[0].material), display_name(b[0].material)
        holds = all(x.concentration_spread_window >= thresholds[0] for x in a) and all(
            y.concentration_spread_window <= thresholds[1] for y in b)
        out.append(
            f"{group} coupling: {la}'s concentration spread is {_pct([x.concentration_spread_window for x in a])} of its "
            f"cycled window ({_span([x.concentration_spread_mol_m3 for x in a], '{:.0f}')} mol/m³), {lb}'s "
            f"{_pct([y.concentration_spread_window for y in b])} ({_span([y.concentration_spread_mol_m3 for y in b], '{:.0f}')} "
            f"mol/m³); peak von Mises {_span([x.von_mises_max_MPa for x in a])} against "
            f"{_span([y.von_mises_max_MPa for y in b])} MPa (ratio {_span([r.values['von_mises_max_MPa'] for r in mine])}; "
            f"spread ratio {_span([r.values['concentration_spread_window'] for r in mine])} per window, "
            f"{_span([r.values['concentration_spread_mol_m3'] for r in mine])} in mol/m³, "
            f"{_span([r.values['concentration_spread'] for r in mine])} per c_s,max). The claim '{display_name(a[0].material)} "
            f"visibly heterogeneous (≥ {100 * thresholds[0]:g} % of its window) while {display_name(b[0].material)} is "
            f"uniform (≤ {100 * thresholds[1]:g} %)' {'holds' if holds else 'does not hold'} at the compared depths of discharge."
        )
    return out


def claim_range(points: Sequence[Point], names: Sequence[str]) -> str:
    """Where the claim holds along each sensitivity axis (all else as shipped)."""
    num, den = (display_name(n) for n in names)
    parts = []
    units = {"diffusivity": ("D_s of " + num, "{:.2g} m²/s"), "diffusivity_ratio": (f"D_s({den})/D_s({num})", "{:.3g}"),
             "radius": ("radius", "{:.3g} µm")}
    for axis in AXES:
        x, chosen = _axis_points(points, axis)
        if not chosen:
            continue
        name, fmt = units[axis]
        intervals = claim_intervals(x, chosen)
        studied = fmt.format(x.min()) if len(x) == 1 else f"{fmt.format(x.min())}…{fmt.format(x.max())}"
        if not intervals:
            parts.append(f"nowhere for {name} = {studied}")
        else:
            listed = ", ".join(fmt.format(lo) if lo == hi else f"{fmt.format(lo)}…{fmt.format(hi)}" for lo, hi in intervals)
            parts.append(f"for {name} = {listed} (studied {studied})")
    return "; ".join(parts)


def _point(points: Sequence[Point], axis: str, target: float | None = None) -> Point | None:
    chosen = [p for p in points if p.axis == axis]
    if not chosen:
        return None
    if target is None:
        return chosen[0]
    return min(chosen, key=lambda p: abs(math.log(float(p.value) / target)))


def _state_text(p: Point, num: str, den: str) -> str:
    return (f"{num}'s spread {100 * p.numerator.spread_window:.2g} % of its window and {den}'s "
            f"{100 * p.denominator.spread_window:.2g} %, von Mises ratio {p.stress_ratio:.3g}, spread ratio "
            f"{p.spread_ratio:.3g}")


def _assumed(run: RunData, key: str) -> bool:
    text = str(run.case.material.sources.get(key, "")).lower()
    return any(word in text for word in ("assum", "ours", "choice", "estimate"))


def _mid(items: Sequence[Ratio | Row]) -> Ratio | Row:
    return items[len(items) // 2]


def assumptions(runs: Sequence[RunData], rows: Sequence[Row], ratios: Sequence[Ratio], points: Sequence[Point]) -> list[str]:
    """Each assumed input of the first and last run and what the result is without it."""
    first, last = runs[0], [r for r in runs if r.case.mechanics.coupling == runs[0].case.mechanics.coupling][-1]
    num, den = display_name(first.case.material.name), display_name(last.case.material.name)
    base = [r for r in ratios if r.group == (ratios[0].group if ratios else "")]
    out = []
    if any(_assumed(r, "diffusivity") for r in (first, last)) or points:
        out.append(_diffusivity_item(first, last, num, den, points))
    if base and any(_assumed(r, "max_concentration") for r in (first, last)):
        m = _mid(base)
        out.append(f"Site counts (c_s,max of {num} and {den}) are modelling choices; they change only the spread per "
                   f"c_s,max: at DOD {100 * m.depth_of_discharge:.0f} % the spread ratio is "
                   f"{m.values['concentration_spread']:.3g} "
                   f"per c_s,max, {m.values['concentration_spread_window']:.3g} per cycled window and "
                   f"{m.values['concentration_spread_mol_m3']:.3g} in mol/m³ (the last two do not depend on the site count).")
    out += _expansion_item(first, last, num, den, base)
    out += _coupling_item(rows, ratios, num)
    out += _current_item(rows, points, first, last, num, den)
    radius = _axis_points(points, "radius")[0]
    if len(radius):
        out.append(f"Particle radius R = {first.case.geometry.particle.radius / 1e-6:g} µm for {num} and "
                   f"{last.case.geometry.particle.radius / 1e-6:g} µm for {den}; at a fixed C-rate the flux grows with R, so "
                   f"the long-time spread and stress grow with R² (studied: {', '.join(f'{r:.3g}' for r in radius)} µm, "
                   "sensitivity figure).")
    return out


def _diffusivity_item(first: RunData, last: RunData, num: str, den: str, points: Sequence[Point]) -> str:
    d_num, d_den = first.case.material.diffusivity, last.case.material.diffusivity
    text = (f"Solid diffusivities are assumed (sources: {first.case.material.sources.get('diffusivity', '–')}): "
            f"D_s = {d_num if isinstance(d_num, float) else 'a table'} m²/s for {num} and "
            f"{d_den if isinstance(d_den, float) else 'a table'} m²/s for {den}, constant in θ.")
    equal = _point(points, "diffusivity_ratio", 1.0)
    if equal is not None and math.isclose(float(equal.value), 1.0, rel_tol=0.05):
        text += f" At equal D_s (sphere-1d): {_state_text(equal, num, den)}."
    return text


def _expansion_item(first: RunData, last: RunData, num: str, den: str, base: Sequence[Ratio]) -> list[str]:
    omegas = [r.case.material.partial_molar_volume for r in (first, last)]
    if any(o is None for o in omegas) or not base:
        return []
    m = _mid(base)
    equal = m.values["von_mises_max_MPa"] * abs(omegas[1]) / abs(omegas[0])
    return [f"Chemical expansion isotropic and linear in c_s (Ω = {omegas[0]:.3g} m³/mol for {num}, {omegas[1]:.3g} for "
            f"{den}) is an assumption: the papers report anisotropic (and for some materials non-monotonic) lattice "
            f"changes. Stresses scale with Ω: with equal Ω the peak von Mises ratio at DOD {100 * m.depth_of_discharge:.0f} % "
            f"would be {equal:.3g} instead of {m.values['von_mises_max_MPa']:.3g}."]


def _coupling_item(rows: Sequence[Row], ratios: Sequence[Ratio], num: str) -> list[str]:
    groups = list(dict.fromkeys(r.group for r in ratios))
    if "one-way" not in groups or "two-way" not in groups:
        return ["One-way coupling (stress does not act back on diffusion) is an assumption; "
                "add compare.couplings: [one-way, two-way] to see the two-way result."] if "two-way" not in groups else []
    one = [r for r in ratios if r.group == "one-way"]
    two = [r for r in ratios if r.group == "two-way"]
    peak = {g: [r.von_mises_max_MPa for r in rows if r.case == items[0].numerator] for g, items in (("one-way", one),
                                                                                                   ("two-way", two))}
    return [f"One-way coupling (the paper's COMSOL model) neglects stress-assisted diffusion. Two-way: {num}'s peak von "
            f"Mises is {_span(peak['two-way'])} instead of {_span(peak['one-way'])} MPa and the von Mises ratio "
            f"{_span([r.values['von_mises_max_MPa'] for r in two])} instead of "
            f"{_span([r.values['von_mises_max_MPa'] for r in one])}; spread ratio per window "
            f"{_span([r.values['concentration_spread_window'] for r in two])} instead of "
            f"{_span([r.values['concentration_spread_window'] for r in one])}."]


def _current_item(rows: Sequence[Row], points: Sequence[Point], first: RunData, last: RunData, num: str,
                  den: str) -> list[str]:
    a = [r for r in rows if r.case == first.name]
    b = [r for r in rows if r.case == last.name]
    out = []
    if a and b:
        couples = "; ".join(f"DOD {100 * x.depth_of_discharge:.0f} %: {num} {x.voltage_V:.2f} V ({x.redox_couple}), "
                            f"{den} {y.voltage_V:.2f} V ({y.redox_couple})" for x, y in zip(a, b, strict=False))
        out.append(f"Current: {num} at {a[0].current_mA_per_g:.4g} mA/g and {den} at {b[0].current_mA_per_g:.4g} mA/g; "
                   f"voltages and redox couples at the snapshots: {couples}.")
    point = _point(points, "current")
    if point is not None and np.isfinite(point.stress_ratio):
        out.append(f"Like-for-like current ({point.value}, sphere-1d): {_state_text(point, num, den)}.")
    return out


def conclusion(runs: Sequence[RunData], rows: Sequence[Row], ratios: Sequence[Ratio], points: Sequence[Point],
               thresholds: tuple[float, float]) -> tuple[list[str], list[str], str]:
    """(headline sentences, assumption items, where the claim holds) for the report."""
    names = [runs[0].case.material.name, runs[-1].case.material.name] if runs else ["", ""]
    where = claim_range(points, names) if points else ""
    return headline(rows, ratios, thresholds), assumptions(runs, rows, ratios, points) if runs else [], where

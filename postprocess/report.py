"""The comparison report: ``report.md`` and ``report.html`` from one small document model.

The report ties the figures and the table to what was run: a conclusion in words generated from
the numbers (:mod:`ecmx.postprocess.conclusion`), the one-way/two-way ratios, the sensitivity
study, every case's parameters with their sources (the material's and electrolyte's ``sources``),
the geometry, mesh and protocol, the methods, the software versions and the wall time of each run.
``report.md`` links the figures by paths relative to the comparison directory; ``report.html`` is
one file with every image inline (a data URI), so it can be mailed or archived alone.

:func:`build_comparison_report` redraws all of it from a comparison directory's files alone
(``comparison.json``, the run directories); it imports no solver code.
"""

from __future__ import annotations

import base64
import concurrent.futures as cf
import datetime
import html
import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.postprocess import figure_jobs, tables
from ecmx.postprocess import sensitivity as sens
from ecmx.postprocess.conclusion import conclusion
from ecmx.postprocess.labels import display_name
from ecmx.postprocess.reference import steady_sphere
from ecmx.postprocess.rundata import RunData, load_run
from ecmx.postprocess.tables import Ratio, Row, ratios_markdown, rows_markdown
from ecmx.solver.config.case import Case


@dataclass
class Document:
    """A flat list of blocks (heading, paragraph, list, table, image, pre) rendered to MD and HTML."""

    title: str
    blocks: list[tuple[str, Any]] = field(default_factory=list)

    def heading(self, text: str, level: int = 2) -> None:
        self.blocks.append(("heading", (level, text)))

    def paragraph(self, text: str) -> None:
        self.blocks.append(("paragraph", text))

    def bullets(self, items: Sequence[str]) -> None:
        self.blocks.append(("bullets", list(items)))

    def table(self, headers: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
        self.blocks.append(("table", (list(headers), [list(r) for r in rows])))

    def markdown_table(self, text: str) -> None:
        """A table already formatted as Markdown (``| a | b |`` lines)."""
        lines = [line.strip().strip("|") for line in text.strip().splitlines()]
        headers = [c.strip() for c in lines[0].split("|")]
        rows = [[c.strip() for c in line.split("|")] for line in lines[2:]]
        self.table(headers, rows)

    def image(self, path: str, caption: str) -> None:
        self.blocks.append(("image", (path, caption)))

    def pre(self, text: str) -> None:
        self.blocks.append(("pre", text))

    def markdown(self) -> str:
        out = [f"# {self.title}", ""]
        for kind, value in self.blocks:
            if kind == "heading":
                out += ["#" * value[0] + " " + value[1], ""]
            elif kind == "paragraph":
                out += [value, ""]
            elif kind == "bullets":
                out += [f"- {item}" for item in value] + [""]
            elif kind == "table":
                headers, rows = value
                out.append("| " + " | ".join(headers) + " |")
                out.append("|" + "|".join(" --- " for _ in headers) + "|")
                out += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
                out.append("")
            elif kind == "image":
                out += [f"![{Path(value[0]).stem}]({value[0]})", "", f"*{value[1]}*", ""]
            elif kind == "pre":
                out += ["```", value, "```", ""]
        return "\n".join(out)

    def html(self, base: Path | None = None) -> str:
        """One HTML file; images (paths relative to ``base``) inline as data URIs."""
        e = html.escape
        out = [
            "<!DOCTYPE html>",
            '<html lang="en"><head><meta charset="utf-8">',
            f"<title>{e(self.title)}</title>",
            "<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
            "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #bbb;padding:3px 7px;"
            "text-align:left;vertical-align:top}th{background:#eee}img{max-width:100%}figure{margin:1.5em 0}"
            "figcaption{font-style:italic;color:#444}pre{background:#f6f6f6;padding:0.6em;overflow-x:auto}</style>",
            "</head><body>",
            f"<h1>{e(self.title)}</h1>",
        ]
        for kind, value in self.blocks:
            if kind == "heading":
                out.append(f"<h{value[0]}>{e(value[1])}</h{value[0]}>")
            elif kind == "paragraph":
                out.append(f"<p>{_inline_html(value)}</p>")
            elif kind == "bullets":
                out.append("<ul>" + "".join(f"<li>{_inline_html(i)}</li>" for i in value) + "</ul>")
            elif kind == "table":
                headers, rows = value
                out.append("<table><tr>" + "".join(f"<th>{e(h)}</th>" for h in headers) + "</tr>")
                out += ["<tr>" + "".join(f"<td>{_inline_html(c)}</td>" for c in row) + "</tr>" for row in rows]
                out.append("</table>")
            elif kind == "image":
                out.append(f'<figure><img src="{_data_uri(value[0], base)}" alt="{e(value[1])}">'
                           f'<figcaption>{e(value[1])}</figcaption></figure>')
            elif kind == "pre":
                out.append(f"<pre>{e(value)}</pre>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


def _data_uri(path: str, base: Path | None) -> str:
    """``data:image/png;base64,...`` of the image at ``base / path`` (SVG as image/svg+xml)."""
    file = Path(path) if base is None else Path(base) / path
    kind = "image/svg+xml" if file.suffix == ".svg" else "image/png"
    return f"data:{kind};base64," + base64.b64encode(file.read_bytes()).decode("ascii")


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _inline_html(text: str) -> str:
    """Escape, then turn Markdown ``code`` spans into <code> elements."""
    parts = html.escape(str(text)).split("`")
    return "".join(f"<code>{p}</code>" if i % 2 else p for i, p in enumerate(parts))


def _fmt(value: float, unit: str = "") -> str:
    return f"{value:.4g}{(' ' + unit) if unit else ''}"


def material_rows(case: Case) -> list[list[str]]:
    """Parameter, value (SI) and source of the case's material."""
    m = case.material
    src = m.sources
    ce = m.chemical_expansion
    if ce.volume_change is not None:
        expansion = (f"ΔV/V = {ce.volume_change:.4g} over θ = {ce.over[0]:.3g}…{ce.over[1]:.3g} "
                     f"(Ω = {m.partial_molar_volume:.3g} m³/mol)")
    elif ce.partial_molar_volume is not None:
        expansion = f"Ω = {ce.partial_molar_volume:.3g} m³/mol"
    elif ce.volume_change_table is not None:
        expansion = f"ΔV/V(θ) table, {len(ce.volume_change_table.stoichiometry)} points"
    else:
        expansion = f"lattice a(θ), c(θ) table, {len(ce.lattice.stoichiometry)} points (anisotropic)"
    if isinstance(m.diffusivity, float):
        diffusivity = _fmt(m.diffusivity, "m²/s")
    else:
        diffusivity = f"table, {min(m.diffusivity.value):.3g}…{max(m.diffusivity.value):.3g} m²/s"
    items = [
        ("formula", m.formula or "–", "formula"),
        ("density", _fmt(m.density, "kg/m³"), "density"),
        ("molar mass", _fmt(m.molar_mass * 1e3, "g/mol"), "molar_mass"),
        ("c_s,max", _fmt(m.max_concentration, "mol/m³"), "max_concentration"),
        ("stoichiometry window", f"{m.stoichiometry_window[0]:.3g}…{m.stoichiometry_window[1]:.3g}", "stoichiometry_window"),
        ("capacity of the window", _fmt(m.capacity_mAh_per_g, "mAh/g"), "stoichiometry_window"),
        ("D_s", diffusivity, "diffusivity"),
        _ocv_row(m),
        ("i₀,ref", _fmt(m.exchange_current_density, "A/m²"), "exchange_current_density"),
        ("α_a, α_c", f"{m.anodic_transfer_coefficient:g}, {m.cathodic_transfer_coefficient:g}", "anodic_transfer_coefficient"),
        ("E", _fmt(m.youngs_modulus / 1e9, "GPa"), "youngs_modulus"),
        ("ν", f"{m.poissons_ratio:g}", "poissons_ratio"),
        ("chemical expansion", expansion, "chemical_expansion"),
    ]
    return [[name, value, src.get(key, "–")] for name, value, key in items]


def _ocv_row(m: Any) -> tuple[str, str, str]:
    """The OCV table, or for a phase-field material its free-energy parameters (U₀, Ω_a, κ)."""
    ocv, pf = m.open_circuit_voltage, m.phase_field
    if ocv is not None:
        return ("OCV", f"table, {len(ocv.stoichiometry)} points, {min(ocv.voltage):.3g}…{max(ocv.voltage):.3g} V",
                "open_circuit_voltage")
    return ("phase field", f"U₀ = {pf.reference_voltage:.4g} V, Ω_a = {pf.interaction_energy:.4g} J/mol,"
            f" κ = {pf.gradient_energy:.3g} J/m", "phase_field")


def electrolyte_rows(case: Case) -> list[list[str]]:
    el = case.electrolyte
    src = el.sources
    items = [
        ("salt concentration", _fmt(el.concentration, "mol/m³"), "concentration"),
        ("D₊", _fmt(el.cation_diffusivity, "m²/s"), "cation_diffusivity"),
        ("D₋", _fmt(el.anion_diffusivity, "m²/s"), "anion_diffusivity"),
        ("t₊ (= D₊/(D₊+D₋))", f"{el.transference_number:.3f}", "cation_diffusivity"),
        ("Na metal i₀", _fmt(el.counter_electrode.exchange_current_density, "A/m²"), "counter_electrode"),
    ]
    return [[name, value, src.get(key, "–")] for name, value, key in items]


def geometry_text(run: RunData) -> str:
    g = run.case.geometry
    p = g.particle
    shape = p.shape if p.shape != "ellipsoid" else f"ellipsoid {tuple(round(a / 1e-6, 3) for a in p.semi_axes)} µm"
    mesh = run.summary.get("mesh", {})
    if g.kind == "sphere-1d":
        size = f"{g.mesh.elements} radial elements"
    elif g.mesh.size:
        surface = f", {g.mesh.interface_size / 1e-6:g} µm at the particle surface" if g.mesh.interface_size else ""
        size = f"mesh size {g.mesh.size / 1e-6:g} µm{surface}"
    else:
        size = "default mesh size"
    cells = f", {mesh['cells']} cells" if "cells" in mesh else ""
    dofs = run.summary.get("dofs", {}).get("total")
    dof_text = f", {dofs} DOFs" if dofs else ""
    box = (f", electrolyte {g.electrolyte.thickness / 1e-6:g} µm to the Na metal" if g.kind != "sphere-1d"
           else ", uniform electrolyte")
    return f"{g.kind}, {shape} of radius {p.radius / 1e-6:g} µm{box}; {size}{cells}{dof_text}"


_UNTIL = {
    "voltage": lambda v: f"{v:g} V",
    "depth_of_discharge": lambda v: f"DOD {100 * v:g} %",
    "state_of_charge": lambda v: f"SOC {100 * v:g} %",
    "time": lambda v: f"{v:g} s",
    "duration": lambda v: f"{v:g} s",
    "c_rate": lambda v: f"{v:g}C",
}


def protocol_text(case: Case) -> str:
    parts = []
    for s in case.protocol:
        rate = (f"{s.c_rate:g}C" if s.c_rate else f"{s.current_density:g} A/m²" if s.current_density else
                f"{s.current:g} A" if s.current else f"{s.voltage:g} V" if s.voltage else "")
        if s.step == "voltage_sweep":
            rate = (f"at {s.rate * 1e3:g} mV/s between {min(s.limits):g} V and {max(s.limits):g} V, "
                    f"{s.cycles or 1} cycle(s)")
        until = ", ".join(_UNTIL[k](v) for k, v in s.until.model_dump().items() if v is not None)
        duration = f" for {s.duration:g} s" if s.duration else ""
        parts.append(f"{s.step} {rate}{duration}{f' until {until}' if until else ''}".replace("  ", " "))
    return "; ".join(parts)


def _mechanics_text(mechanics: Any) -> str:
    """'on, one-way coupling, P2 displacement' or 'off'."""
    if not mechanics.enabled:
        return "off"
    return f"on, {mechanics.coupling} coupling, P{mechanics.degree} displacement"


def steady_sphere_values(case: Case) -> tuple[float, float] | None:
    """Long-time constant-flux sphere of a case (:func:`ecmx.postprocess.reference.steady_sphere`):
    (centre-to-surface spread N₀R/(2D)/c_s,max, surface von Mises σ*/15 in Pa), or None where the
    closed form does not apply."""
    sphere = steady_sphere(case)
    if sphere is None:
        return None
    return sphere.concentration_spread / case.material.max_concentration, sphere.surface_von_mises


def analytic_reference(runs: Sequence[RunData]) -> str:
    """A sentence comparing the ratios with the closed-form sphere, when every case allows it."""
    values = {run.name: steady_sphere_values(run.case) for run in runs}
    if len(runs) < 2 or any(v is None for v in values.values()):
        return ""
    ref = runs[-1].name
    parts = []
    for run in runs[:-1]:
        (s_num, v_num), (s_den, v_den) = values[run.name], values[ref]
        parts.append(f"{run.name} / {ref}: spread {s_num / s_den:.3g}, surface von Mises {v_num / v_den:.3g}")
    listed = "; ".join(f"{n}: spread {v[0]:.3g}, σ*/15 = {v[1] * 1e-6:.3g} MPa" for n, v in values.items())
    return (
        "For comparison, the long-time constant-flux sphere (docs/model.md §4–5: spread N₀R/(2D c_s,max), surface "
        f"von Mises σ*/15 with σ* = ΩEN₀R/((1−ν)D)) gives {listed}; ratios {'; '.join(parts)}."
    )


def build_report(
    title: str,
    runs: Sequence[RunData],
    dods: Sequence[float],
    rows: Sequence[Row],
    ratio_items: Sequence[Ratio],
    figures: dict[str, str],
    wall_time_s: float,
    source: Path | None,
    failures: dict[str, str] | None = None,
    case_files: dict[str, Path] | None = None,
    summary: Summary | None = None,
) -> Document:
    """Assemble the report; ``figures`` maps figure keys to paths relative to the report,
    ``case_files`` case names to the case files they came from, and ``summary`` holds the
    conclusion and the sensitivity points (absent: no conclusion section)."""
    doc = Document(title)
    names = ", ".join(r.name for r in runs)
    when = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    doc.paragraph(
        f"Cases {names}, snapshots at depths of discharge {', '.join(f'{100 * d:.0f} %' for d in dods)}. "
        f"Written {when} by `ecmx compare{f' {source.name}' if source else ''}` in {wall_time_s:.0f} s."
    )
    if failures:
        doc.heading("Failed runs")
        doc.bullets([f"{name}: {reason}" for name, reason in failures.items()])
    missed = _missed_snapshots(runs)
    if missed:
        doc.heading("Snapshots not reached")
        doc.bullets(missed)

    if summary is not None:
        _conclusion_section(doc, summary)
    if ratio_items:
        _result_section(doc, runs, ratio_items)
    if summary is not None and summary.points:
        _sensitivity_section(doc, summary, figures)
    _figures_section(doc, figures)
    _table_section(doc, rows)
    _paraview_section(doc)
    _methods_section(doc, runs)
    _cases_section(doc, runs, case_files or {})
    _runs_section(doc, runs, wall_time_s)
    return doc


def _missed_snapshots(runs: Sequence[RunData]) -> list[str]:
    """One line per run that ended before some snapshot depth (``missed_snapshots`` of its summary): which
    snapshots, and how each step of its protocol ended (e.g. a voltage limit before the last depth)."""
    lines = []
    for run in runs:
        missed = [str(name) for name in run.summary.get("missed_snapshots") or []]
        if not missed:
            continue
        endings = []
        for step in run.summary.get("protocol") or []:
            end = step.get("end_s")
            when = f" at {end:.0f} s" if isinstance(end, int | float) else ""
            endings.append(f"{step.get('kind', 'step')} ended by {step.get('ended_by', '?')}{when}")
        lines.append(f"{run.name}: {', '.join(missed)} not reached ({'; '.join(endings) or 'no protocol record'}); "
                     "the tables and ratios have no values for it at those depths")
    return lines


def _result_section(doc: Document, runs: Sequence[RunData], ratio_items: Sequence[Ratio]) -> None:
    """The ratios of each case to the last one of its group (one-way, two-way side by side), and the
    analytic sphere for comparison."""
    doc.heading("Result: one-way and two-way coupling side by side")
    verdicts = []
    for label in dict.fromkeys(r.label or f"{r.numerator} / {r.denominator}" for r in ratio_items):
        mine = [r for r in ratio_items if (r.label or f"{r.numerator} / {r.denominator}") == label]
        spread = [r.values["concentration_spread_window"] for r in mine]
        stress = [r.values["von_mises_max_MPa"] for r in mine]
        group = f" ({mine[0].group} coupling)" if mine[0].group else ""
        verdicts.append(
            f"{label}{group}: concentration spread ratio (per cycled window) "
            f"{', '.join(f'{v:.3g}' for v in spread)} and peak von Mises ratio {', '.join(f'{v:.3g}' for v in stress)} "
            f"at DOD {', '.join(f'{100 * r.depth_of_discharge:.0f} %' for r in mine)}."
        )
    doc.bullets(verdicts)
    doc.markdown_table(ratios_markdown(ratio_items))
    reference = analytic_reference([r for r in runs if not r.case.mechanics.enabled or r.case.mechanics.coupling == "one-way"])
    if reference:
        doc.paragraph(reference)


FIGURE_CAPTIONS = {
    "grid": "Mid-plane slices (y = 0, through the particle centre; the Na-metal face is above) of c_s/c_s,max, its "
    "deviation from the particle mean, von Mises stress and the largest principal (tensile, crack-driving) stress; "
    "one colour scale per quantity shared by all panels.",
    "grid_own": "The same slices with each case (row) on its own colour scale, so that a material with small "
    "variations is not drawn in one colour beside a large one.",
    "view3d": "3D view of the particle (the half y < 0 cut away) at each snapshot: c_s/c_s,max and von Mises stress "
    "on its surface and on the cut, each case on its own colour scale.",
    "voltage": "Cell voltage against delivered capacity; dots mark the snapshot states.",
    "profiles": "Radial profiles at each depth of discharge (concentration relative to the particle mean, per cycled "
    "window): mean over rays from the centre (shaded: spread between rays).",
    "peaks": "Peak von Mises stress and concentration spread (per cycled window) against depth of discharge.",
    "surface": "Von Mises stress at the surface probe against time (relaxation after the current stops).",
    "front_profiles": "The phase boundary at each depth of discharge: local state of discharge (θ − θ_lo)/(θ_hi − θ_lo) "
    "and radial, hoop and von Mises stress against r/R (mean over rays); dashed: the front radius of each "
    "phase-separating particle (θ = 0.5 surface). A two-phase particle shows a Na-rich shell around a Na-poor core "
    "with the misfit stress at the front; a solid solution a smooth profile.",
    "front_radius": "Front radius r_f = R (V_{θ<0.5}/V)^{1/3} against depth of discharge (solid) and the "
    "shrinking-core mass balance (dashed): a core at the Na-poor binodal composition θ_α inside a shell at the "
    "Na-rich θ_β, (r_f/R)³ = (θ_β − θ̄)/(θ_β − θ_α), i.e. r_f = R (1 − DOD)^{1/3} when the window is the gap.",
    "free_energy": "Free energy of the phase-separating particle against depth of discharge.",
    "voltammogram": "Cyclic voltammogram: current (charge, anodic, positive) against cell voltage over the"
    " voltage_sweep steps.",
}


def _figures_section(doc: Document, figures: dict[str, str]) -> None:
    """The figures that were drawn, with their captions (the sensitivity figure has its own section)."""
    doc.heading("Figures")
    for key, caption in FIGURE_CAPTIONS.items():
        if key in figures:
            doc.image(figures[key], caption)


def _table_section(doc: Document, rows: Sequence[Row]) -> None:
    doc.heading("Table")
    doc.paragraph(
        "From the snapshot field files (`<case>/snapshots/dod_X.XX/particle.xdmf`; stresses are the nodal, "
        "vertex-averaged fields shown in ParaView, tension positive); the voltage from `timeseries.csv`. "
        "CSV: `table.csv`, `ratios.csv`."
    )
    doc.markdown_table(rows_markdown(rows))


def _paraview_section(doc: Document) -> None:
    doc.heading("Opening the results in ParaView")
    doc.bullets(
        [
            "`<case>/fields/particle.xdmf`: the whole discharge on the particle mesh (c_s and stresses), "
            "one time step every output.fields_interval (default 60 s of simulated time).",
            "`<case>/fields/electrolyte.xdmf`: the electrolyte salt concentration and potential (3D and axisymmetric runs).",
            "`<case>/snapshots/dod_0.10/particle.xdmf` (and `dod_0.50`, `dod_0.90`): the fields at each depth of discharge.",
            "`figures/slices/<case>_dodNNN.vtp`: the slice data drawn in the figure grid.",
            "Mesh coordinates are in µm; concentrations in mol/m³, stresses in Pa. For sphere-1d runs the "
            "mesh is the radius (x = r); for axisymmetric runs the (r, z) half-plane.",
        ]
    )


def _cases_section(doc: Document, runs: Sequence[RunData], case_files: dict[str, Path]) -> None:
    """Each case: geometry, protocol, mechanics, material and electrolyte parameters with sources."""
    doc.heading("Cases")
    for run in runs:
        case = run.case
        doc.heading(f"{case.name} (material {case.material.name})", 3)
        if case.description:
            doc.paragraph(case.description)
        doc.bullets(
            [
                f"Geometry: {geometry_text(run)}.",
                f"Protocol: {protocol_text(case)}; initial stoichiometry θ₀ = {case.initial_stoichiometry():.4g}; "
                f"T = {case.temperature:g} K.",
                f"Mechanics: {_mechanics_text(case.mechanics)}.",
                f"Case file: `{case_files.get(case.name, '?')}`; resolved (SI units): `{run.name}/case.yaml`.",
            ]
        )
        doc.paragraph(f"Material {case.material.name} ({case.material.description.strip() or case.material.formula}):")
        doc.table(["parameter", "value", "source"], material_rows(case))
        doc.paragraph(f"Electrolyte {case.electrolyte.name} ({case.electrolyte.description.strip() or '–'}):")
        doc.table(["parameter", "value", "source"], electrolyte_rows(case))


def _runs_section(doc: Document, runs: Sequence[RunData], wall_time_s: float) -> None:
    """Status, wall time, steps, DOFs, ranks and versions of each run."""
    doc.heading("Runs")
    run_rows = []
    for run in runs:
        s = run.summary
        v = s.get("versions", {})
        steps = s.get("steps", {})
        run_rows.append(
            [
                run.name,
                s.get("status", "–"),
                f"{s.get('wall_time_s', float('nan')):.1f}",
                str(steps.get("accepted", "–")),
                str(s.get("dofs", {}).get("total", "–")),
                str(s.get("mpi_ranks", "–")),
                f"ecmx {v.get('ecmx', '?')}, DOLFINx {v.get('dolfinx', '?')}, Python {v.get('python', '?')}",
            ]
        )
    doc.table(["case", "status", "wall time (s)", "steps", "DOFs", "MPI ranks", "versions"], run_rows)
    doc.paragraph(f"Total wall time of the comparison (runs in parallel, then post-processing): {wall_time_s:.1f} s.")


def write_report(doc: Document, directory: Path) -> dict[str, Path]:
    """Write ``report.md`` and ``report.html`` into ``directory``."""
    paths = {"markdown": directory / "report.md", "html": directory / "report.html"}
    paths["markdown"].write_text(doc.markdown())
    paths["html"].write_text(doc.html(base=directory))
    return paths


@dataclass
class Summary:
    """The conclusion of a comparison (:func:`ecmx.postprocess.conclusion.conclusion`) and its
    sensitivity points (:mod:`ecmx.postprocess.sensitivity`)."""

    headline: list[str]
    assumptions: list[str]
    claim_range: str
    points: list[sens.Point] = field(default_factory=list)
    names: list[str] = field(default_factory=list)
    depth_of_discharge: float = math.nan


def _conclusion_section(doc: Document, summary: Summary) -> None:
    doc.heading("Conclusion")
    doc.paragraph("All spreads are c_max − c_min over the particle; 'per cycled window' divides by c_s,max(θ_hi − θ_lo), "
                  "the concentration the material cycles, which does not depend on the assumed site count.")
    doc.bullets(summary.headline)
    if summary.claim_range:
        doc.paragraph(f"Along the sensitivity axes (sphere-1d runs of the case files as written, one input changed at a "
                      f"time, DOD {100 * summary.depth_of_discharge:.0f} %) the claim holds {summary.claim_range}.")
    if summary.assumptions:
        doc.paragraph("Which inputs are assumptions, and what the result is without them:")
        doc.bullets(summary.assumptions)


def _sensitivity_section(doc: Document, summary: Summary, figures: dict[str, str]) -> None:
    num, den = (display_name(n) for n in summary.names)
    doc.heading("Sensitivity")
    doc.paragraph(f"Sphere-1d runs of both cases cut to their discharge, read at DOD {100 * summary.depth_of_discharge:.0f} %; "
                  "one input changed at a time (CSV: `sensitivity.csv`; runs: `sensitivity/`).")
    if "sensitivity" in figures:
        doc.image(figures["sensitivity"], "Headline ratios, both spreads per cycled window and both peak von Mises stresses "
                  "against each input; star: the shipped point; shaded: where the claim holds; dashed: the closed-form "
                  "long-time sphere.")
    rows = []
    for p in summary.points:
        value = "–" if p.value is None else p.value if isinstance(p.value, str) else f"{float(p.value):.3g}"
        rows.append([p.axis, value, "yes" if p.shipped else "", *(_spread_cell(s) for s in (p.numerator, p.denominator)),
                     *(f"{v:.3g}" if math.isfinite(v) else "–"
                       for v in (p.numerator.von_mises_MPa, p.denominator.von_mises_MPa, p.stress_ratio)),
                     "yes" if p.claim_holds else "no"])
    doc.table(["axis", "value (SI)", "shipped", f"{num} spread (% of window)", f"{den} spread (% of window)",
               f"{num} peak von Mises (MPa)", f"{den} peak von Mises (MPa)", "von Mises ratio", "claim holds"], rows)


def _spread_cell(state: sens.State) -> str:
    """A spread in % of the window, or where the run stopped short of the study's DOD."""
    if math.isfinite(state.spread_window):
        return f"{100 * state.spread_window:.3g}"
    return f"stopped at DOD {100 * state.reached_dod:.0f} %" if math.isfinite(state.reached_dod) else "failed"


def _methods_section(doc: Document, runs: Sequence[RunData]) -> None:
    doc.heading("Methods and sources")
    doc.bullets([
        "Model: single-particle electro-chemo-mechanics, the equations, assumptions and verification in the shipped "
        "`docs/model.md`; every case key in `docs/case-format.md`.",
        "Each case: Fickian solid diffusion with Butler–Volmer kinetics at the particle surface, a dilute binary "
        "Nernst–Planck electrolyte (3D runs) and a Na-metal counter electrode; quasi-static linear elasticity of a "
        "traction-free particle with isotropic chemical strain, coupled one-way (stress from concentration) or two-way "
        "(stress-assisted diffusion) as stated per run; finite elements (DOLFINx).",
        "Source of the comparison: Zhang et al., Energy Environ. Sci. 18 (2025) 7278, doi:10.1039/d5ee00877h (Fig. 5, "
        "COMSOL, one-way coupling). Every material and electrolyte value below carries its own source.",
        "The sensitivity study and the like-for-like current run the same cases on the spherically symmetric (sphere-1d) "
        "mesh; the closed-form long-time sphere is N₀R/(2D) for the spread and σ*/15, σ* = ΩEN₀R/((1−ν)D), for the "
        "surface von Mises stress.",
    ])


@dataclass
class Drawn:
    """What :func:`draw_comparison` drew: the runs read, the table rows, the ratios and the files."""

    runs: list[RunData]
    rows: list[Row]
    ratios: list[Ratio]
    files: dict[str, Path]


def read_manifest(directory: Path, out: Path | None = None) -> dict[str, Any]:
    """``comparison.json`` of a comparison directory (from ``out`` when it holds a newer one)."""
    for folder in (out, directory):
        if folder is not None and (Path(folder) / "comparison.json").is_file():
            return json.loads((Path(folder) / "comparison.json").read_text())
    raise FileNotFoundError(f"{directory} has no comparison.json: not a comparison directory (or written by an older ecmx)")


def comparison_title(manifest: dict[str, Any], runs: Sequence[RunData]) -> str:
    """'NVP vs HE-V: Na concentration and stress during discharge' (+ the common current, if any)."""
    materials = [display_name(r.case.material.name) for r in runs]
    title = " vs ".join(dict.fromkeys(materials)) or "comparison"
    current = manifest.get("current", {})
    basis = (f" at a common {current['specific_current_mA_per_g']:g} mA/g" if current.get("basis") == "same-specific-current"
             else ", each material at its own C-rate")
    return f"{title}: Na concentration and stress during discharge{basis}"


def _summary(directory: Path, manifest: dict[str, Any], runs: Sequence[RunData], rows: Sequence[Row],
             ratios: Sequence[Ratio], files: dict[str, Path], fig_dir: Path, pool: cf.Executor | None = None,
             waits: list[Callable[[], None]] | None = None) -> Summary:
    """The conclusion and the sensitivity points; draws ``sensitivity.png`` and writes ``sensitivity.csv``.
    With ``pool`` the figure is drawn there: what waits for it is appended to ``waits``."""
    study = manifest.get("sensitivity") or {}
    points = sens.read_points(directory, study) if study.get("points") else []
    thresholds = (study.get("heterogeneous", 0.15), study.get("uniform", 0.02))
    names = list(study.get("cases", [r.case.material.name for r in runs[:1] + runs[-1:]]))
    if points:
        names = [next((r.case.material.name for r in runs if r.name == n), n) for n in names]
        wait = sens.start_figure(points, names, study["depth_of_discharge"], fig_dir / "sensitivity.png", pool)
        if waits is not None:
            waits.append(wait)
        else:
            wait()
        files["sensitivity"] = fig_dir / "sensitivity.png"
        files["sensitivity_csv"] = sens.write_csv(points, fig_dir.parent / "sensitivity.csv")
    headline, items, where = conclusion(runs, rows, ratios, points, thresholds)
    return Summary(headline, items, where, list(points), names, study.get("depth_of_discharge", math.nan))


@dataclass
class Begun:
    """The part of :func:`draw_comparison` that needs only the comparison's own runs (not the
    sensitivity runs): the cases drawn (``comparison.json`` entries), their runs read, and the
    figures started (call ``figures`` for their paths; :func:`ecmx.postprocess.figure_jobs.start_figures`)."""

    entries: list[dict[str, Any]]
    runs: list[RunData]
    figures: Callable[[], dict[str, Path]]


def _drawn_cases(directory: Path, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The manifest's cases that completed and left a run directory."""
    return [c for c in manifest["cases"] if not c.get("error") and (_run_dir(directory, c) / "case.yaml").is_file()]


def begin_comparison(directory: Path, out: Path, manifest: dict[str, Any], pool: cf.Executor | None = None) -> Begun:
    """Read the comparison's own runs and start its figures into ``out / "figures"`` (in ``pool``:
    they are drawn while the caller goes on, e.g. while the sensitivity runs still run)."""
    entries = _drawn_cases(Path(directory), manifest)
    runs = [load_run(_run_dir(Path(directory), c)) for c in entries]
    dods = manifest.get("depth_of_discharge") or manifest["depths_of_discharge"]
    return Begun(entries, runs, figure_jobs.start_figures(runs, dods, Path(out) / "figures", pool))


def draw_comparison(directory: Path, out: Path | None = None, manifest: dict[str, Any] | None = None,
                    pool: cf.Executor | None = None, begun: Begun | None = None) -> Drawn:
    """Figures, tables, ``sensitivity.csv`` and the report of the comparison in ``directory``, drawn
    from its files only (``comparison.json``, or ``manifest`` in its format, and the run directories)
    into ``out`` (default: the comparison directory itself). ``pool``: worker processes that draw
    the figures side by side (:mod:`ecmx.postprocess.figure_jobs`; the same files). ``begun``: what
    :func:`begin_comparison` already did for the same cases into the same ``out`` (used only when
    its cases are the manifest's)."""
    directory = Path(directory)
    out = Path(out) if out is not None else directory
    manifest = manifest if manifest is not None else read_manifest(directory, out)
    dods = manifest.get("depth_of_discharge") or manifest["depths_of_discharge"]
    if begun is None or [c["name"] for c in begun.entries] != [c["name"] for c in _drawn_cases(directory, manifest)]:
        begun = begin_comparison(directory, out, manifest, pool)
    entries, runs, figures = begun.entries, begun.runs, begun.figures
    rows = tables.snapshot_rows(runs, dods)
    groups = {c["name"]: c.get("group") or _group(run) for c, run in zip(entries, runs, strict=True)}
    ratios = tables.ratios_by_group(rows, groups)
    written = tables.write_tables(rows, ratios, out)
    more: dict[str, Path] = {}
    waits: list[Callable[[], None]] = []
    summary = _summary(directory, manifest, runs, rows, ratios, more, out / "figures", pool, waits)
    files = {**figures(), **written, **more}
    failures = {c["name"]: c["error"] for c in manifest["cases"] if c.get("error")}
    failures.update({f"sensitivity run {k}": v for k, v in (manifest.get("sensitivity") or {}).get("errors", {}).items()})
    doc = build_report(
        comparison_title(manifest, runs), runs, dods, rows, ratios,
        {k: str(p.relative_to(out)) for k, p in files.items() if p.suffix == ".png"},
        float(manifest.get("wall_time_s", math.nan)), Path(str(manifest.get("file", directory))), failures,
        {c["name"]: _shown(Path(str(c.get("file", "?")))) for c in entries}, summary,
    )
    for wait in waits:  # report.html holds the figures' bytes
        wait()
    files.update({f"report_{k}": p for k, p in write_report(doc, out).items()})
    return Drawn(runs, rows, ratios, files)


def _run_dir(directory: Path, case: dict[str, Any]) -> Path:
    """A recorded case's run directory: ``path`` where given (a redrawn single run), else
    ``<directory>/<name>``."""
    return Path(case["path"]) if case.get("path") else directory / case["name"]


def _group(run: RunData) -> str:
    """The ratio group of a run without a recorded one: its mechanics coupling."""
    return run.case.mechanics.coupling if run.case.mechanics.enabled else "no mechanics"


def _shown(path: Path) -> Path:
    """A path relative to the working directory where it lies below it, else as it is."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except (ValueError, OSError):
        return path


def build_comparison_report(directory: Path) -> list[Path]:
    """Redraw the figures, tables and report of the comparison in ``directory`` from its files
    (no solver runs; seconds). Returns the paths written."""
    return sorted(set(draw_comparison(directory).files.values()))

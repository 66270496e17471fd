"""The comparison report: ``report.md`` and ``report.html`` from one small document model.

The report ties the figures and the table to what was run: every case's parameters with their
sources (the material's and electrolyte's ``sources``), the geometry, mesh and protocol, the
software versions and the wall time of each run. Paths in the report are relative to the
comparison directory, so the directory can be moved or archived as a whole.
"""

from __future__ import annotations

import datetime
import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.postprocess.reference import steady_sphere
from ecmx.postprocess.rundata import RunData
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

    def html(self) -> str:
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
                out.append(f'<figure><img src="{e(value[0])}" alt="{e(value[1])}">'
                           f'<figcaption>{e(value[1])}</figcaption></figure>')
            elif kind == "pre":
                out.append(f"<pre>{e(value)}</pre>")
        out.append("</body></html>")
        return "\n".join(out) + "\n"


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
    ocv = m.open_circuit_voltage
    items = [
        ("formula", m.formula or "–", "formula"),
        ("density", _fmt(m.density, "kg/m³"), "density"),
        ("molar mass", _fmt(m.molar_mass * 1e3, "g/mol"), "molar_mass"),
        ("c_s,max", _fmt(m.max_concentration, "mol/m³"), "max_concentration"),
        ("stoichiometry window", f"{m.stoichiometry_window[0]:.3g}…{m.stoichiometry_window[1]:.3g}", "stoichiometry_window"),
        ("capacity of the window", _fmt(m.capacity_mAh_per_g, "mAh/g"), "stoichiometry_window"),
        ("D_s", diffusivity, "diffusivity"),
        ("OCV", f"table, {len(ocv.stoichiometry)} points, {min(ocv.voltage):.3g}…{max(ocv.voltage):.3g} V",
         "open_circuit_voltage"),
        ("i₀,ref", _fmt(m.exchange_current_density, "A/m²"), "exchange_current_density"),
        ("α_a, α_c", f"{m.anodic_transfer_coefficient:g}, {m.cathodic_transfer_coefficient:g}", "anodic_transfer_coefficient"),
        ("E", _fmt(m.youngs_modulus / 1e9, "GPa"), "youngs_modulus"),
        ("ν", f"{m.poissons_ratio:g}", "poissons_ratio"),
        ("chemical expansion", expansion, "chemical_expansion"),
    ]
    return [[name, value, src.get(key, "–")] for name, value, key in items]


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
) -> Document:
    """Assemble the report; ``figures`` maps figure keys to paths relative to the report and
    ``case_files`` case names to the case files they came from."""
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

    if ratio_items:
        _result_section(doc, runs, ratio_items)
    _figures_section(doc, figures)
    _table_section(doc, rows)
    _paraview_section(doc)
    _cases_section(doc, runs, case_files or {})
    _runs_section(doc, runs, wall_time_s)
    return doc


def _result_section(doc: Document, runs: Sequence[RunData], ratio_items: Sequence[Ratio]) -> None:
    """The ratios of each case to the last one, and the analytic sphere for comparison."""
    doc.heading("Result")
    verdicts = []
    for numerator in dict.fromkeys(r.numerator for r in ratio_items):
        mine = [r for r in ratio_items if r.numerator == numerator]
        spread = [r.values["concentration_spread"] for r in mine]
        stress = [r.values["von_mises_max_MPa"] for r in mine]
        denominator = mine[0].denominator
        verdicts.append(
            f"{numerator} / {denominator}: concentration spread ratio "
            f"{', '.join(f'{v:.3g}' for v in spread)} and peak von Mises ratio {', '.join(f'{v:.3g}' for v in stress)} "
            f"at DOD {', '.join(f'{100 * r.depth_of_discharge:.0f} %' for r in mine)}."
        )
    doc.bullets(verdicts)
    doc.markdown_table(ratios_markdown(ratio_items))
    reference = analytic_reference(runs)
    if reference:
        doc.paragraph(reference)


def _figures_section(doc: Document, figures: dict[str, str]) -> None:
    """The figures that were drawn, with their captions."""
    doc.heading("Figures")
    captions = {
        "grid": "Mid-plane slices (y = 0, through the particle centre; the Na-metal face is above) of c_s/c_s,max "
        "and von Mises stress; one colour scale per quantity for all panels.",
        "voltage": "Cell voltage against delivered capacity; dots mark the snapshot states.",
        "profiles": "Radial profiles at each snapshot (concentration relative to the particle mean): mean over rays from "
        "the centre (shaded: spread between rays).",
        "peaks": "Peak von Mises stress and concentration spread against depth of discharge.",
        "surface": "Von Mises stress at the surface probe against time (relaxation after the current stops).",
    }
    for key, caption in captions.items():
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
    paths["html"].write_text(doc.html())
    return paths

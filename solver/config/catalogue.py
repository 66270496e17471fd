"""The material library as a user browses it (``ecmx materials [NAME]``).

Each particle material with its theoretical capacity (mAh/g) over its stoichiometry window, its
diffusivity D_s (m²/s) and where its values come from; each electrolyte with its concentration and
ion diffusivities. Entries are read and validated with the same schema as a case's material.
"""

from __future__ import annotations

import re

from pydantic import ValidationError

from ecmx.solver.config.library import LIBRARY_DIR, library_names, resolve_entry
from ecmx.solver.config.materials import Electrolyte, Material
from ecmx.solver.config.messages import validation_error


def load_entry(name: str) -> Material | Electrolyte:
    """A library entry (or YAML file) by name, validated; raises CaseError for an unknown or bad one."""
    data = resolve_entry(name, None, "material")
    model: type[Material] | type[Electrolyte] = Electrolyte if "cation_diffusivity" in data else Material
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, LIBRARY_DIR / f"{name}.yaml") from None


def _diffusivity_text(material: Material) -> str:
    d = material.diffusivity
    if isinstance(d, float):
        return f"{d:.3g} m²/s"
    return f"{min(d.value):.3g}…{max(d.value):.3g} m²/s (table)"


def material_line(material: Material) -> str:
    """One line of the listing: name, capacity, window, D_s and formula."""
    lo, hi = material.stoichiometry_window
    return (f"{material.name:<14} {material.capacity_mAh_per_g:7.1f} mAh/g   θ {lo:.3g}–{hi:.3g}   "
            f"D_s {_diffusivity_text(material):<28} {material.formula}")


def electrolyte_line(electrolyte: Electrolyte) -> str:
    """One line of the listing: name, salt concentration and ion diffusivities."""
    return (f"{electrolyte.name:<14} {electrolyte.concentration:.0f} mol/m³   D₊ {electrolyte.cation_diffusivity:.3g} m²/s"
            f"   D₋ {electrolyte.anion_diffusivity:.3g} m²/s")


_DOI = re.compile(r"doi:\s*(10\.\d{4,9}/[^\s,;)]+)", re.IGNORECASE)


def references(entry: Material | Electrolyte) -> str:
    """The DOIs the entry's sources cite, and how many of its values have a source."""
    dois = sorted({m.rstrip(".") for text in entry.sources.values() for m in _DOI.findall(text)})
    cited = f"{len(entry.sources)} values with a source"
    return f"{cited}; doi:{', doi:'.join(dois)}" if dois else cited


def listing() -> str:
    """The whole library: materials, then electrolytes, two lines each (summary, then sources)."""
    lines = ["materials (capacity of the stoichiometry window θ, solid diffusivity):"]
    for name in library_names("material"):
        entry = load_entry(name)
        lines += ["  " + material_line(entry), "      sources: " + references(entry)]  # type: ignore[arg-type]
    lines += ["electrolytes:"]
    for name in library_names("electrolyte"):
        entry = load_entry(name)
        lines += ["  " + electrolyte_line(entry), "      sources: " + references(entry)]  # type: ignore[arg-type]
    lines += ["'ecmx materials NAME' shows one entry with every value and its source."]
    return "\n".join(lines)


def entry_text(name: str) -> str:
    """One entry: its summary line, description, every value (SI) and the source of each."""
    entry = load_entry(name)
    head = material_line(entry) if isinstance(entry, Material) else electrolyte_line(entry)
    lines = [head.strip(), ""]
    if entry.description:
        lines += [" ".join(entry.description.split()), ""]
    values = entry.model_dump(mode="json", exclude={"name", "description", "sources", "formula"}, exclude_none=True)
    lines += ["values (SI units):"] + [f"  {k}: {_short(v)}" for k, v in values.items()]
    lines += ["", "sources:"] + [f"  {k}: {' '.join(v.split())}" for k, v in entry.sources.items()]
    lines += ["", f"file: {LIBRARY_DIR / (name + '.yaml')}"]
    return "\n".join(lines)


def _short(value: object, limit: int = 160) -> str:
    text = str(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"

"""The material library: entries by name or path, and ``base:`` merges.

A material or electrolyte in a case file is a library name (``nvp``), a path to a YAML file
(relative to the file that names it), or a mapping. A mapping with ``base:`` starts from that
library entry or file and overrides its keys. Library files live in ``solver/materials/``; an
electrolyte entry is one whose file has the electrolyte's keys (``cation_diffusivity``), every
other entry is a particle material. Files are read with :func:`~ecmx.solver.config.safe_yaml.read_yaml`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ecmx.solver.config.materials import ChemicalExpansion
from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.errors import CaseError
from ecmx.solver.units import short_repr

LIBRARY_DIR = Path(__file__).parents[1] / "materials"

ELECTROLYTE_KEY = "cation_diffusivity"
"""The key that marks a library file as an electrolyte (every electrolyte has it, no material does)."""


def library_names(section: str | None = None) -> list[str]:
    """Names of the library entries (file stems in ``solver/materials``).

    ``section`` ``"electrolyte"`` lists the electrolytes, ``"material"`` the particle materials,
    None all of them.
    """
    names = []
    for path in sorted(LIBRARY_DIR.glob("*.yaml")):
        if section is None or (section == "electrolyte") == (ELECTROLYTE_KEY in read_yaml(path)):
            names.append(path.stem)
    return names


def locate(name: str, relative_to: Path | None, file: Path | None, key: str) -> Path:
    """Find a library entry by name, or a YAML file by path relative to ``relative_to``.

    A path is returned without checking it: :func:`read_yaml` reports a missing or unreadable file.
    """
    if name.endswith((".yaml", ".yml")) or "/" in name:
        candidate = Path(name).expanduser()
        if not candidate.is_absolute() and relative_to is not None:
            candidate = relative_to / candidate
        return candidate.resolve()
    candidate = LIBRARY_DIR / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    section = key.split(".", 1)[0]
    entries = library_names(section if section in ("material", "electrolyte") else None)
    raise CaseError(
        f"unknown library entry {short_repr(name)}: expected one of {', '.join(entries)} or a path to a .yaml file",
        file=file,
        key=key,
    )


ONE_OF_BLOCKS: dict[str, tuple[str, ...]] = {"chemical_expansion": ChemicalExpansion.forms}
"""Blocks of a material that take exactly one of several forms, with the keys naming each form.

An override of such a block that names a form replaces the base's block whole (the override's form
wins); one that names no form (e.g. only ``over``) merges into it. Blocks whose forms differ in type
(diffusivity: a number or a table; open_circuit_voltage: a table or a CSV path) are replaced by
:func:`deep_merge` already, as a mapping only merges into a mapping.
"""


REPLACED_BY: dict[str, str] = {"phase_field": "open_circuit_voltage"}
"""An override naming the key drops the base's value of the other: ``{base: nvp, phase_field: {...}}``
is NVP with the free energy in place of its OCV table."""


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, other values replace).

    A one-of block (:data:`ONE_OF_BLOCKS`) whose override names one of its forms replaces the base's.
    """
    merged = dict(base)
    for k, v in override.items():
        replaces = isinstance(v, dict) and any(form in v for form in ONE_OF_BLOCKS.get(k, ()))
        if isinstance(v, dict) and isinstance(merged.get(k), dict) and not replaces:
            merged[k] = deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def _is_table_path(key: str, value: Any) -> bool:
    """A string naming a table file: any string for the OCV (never a quantity), a .csv for D_s."""
    if not isinstance(value, str) or not value.strip():
        return False
    return key == "open_circuit_voltage" or value.strip().lower().endswith(".csv")


TABLE_PATH_KEYS = ("open_circuit_voltage", "diffusivity")


def absolutize_table_paths(data: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Make table file paths in a material mapping absolute, relative to the file that named them."""
    out = dict(data)
    for k in TABLE_PATH_KEYS:
        v = out.get(k)
        if _is_table_path(k, v):
            out[k] = _absolute(v, directory)
        elif isinstance(v, dict) and _is_table_path(k, v.get("file")):
            out[k] = v | {"file": _absolute(v["file"], directory)}
    return out


def _absolute(path: str, directory: Path) -> str:
    p = Path(path.strip()).expanduser()
    return str(p if p.is_absolute() else (directory / p).resolve())


def resolve_entry(spec: Any, file: Path | None, key: str, depth: int = 0) -> dict[str, Any]:
    """Turn a library name, path or mapping (with optional ``base:``) into a plain mapping.

    Table file paths come back absolute, each resolved relative to the file that named it.
    """
    directory = file.parent if file is not None else Path.cwd()
    if depth > 8:
        raise CaseError("'base:' chain is too deep (circular?)", file=file, key=key)
    if isinstance(spec, str):
        path = locate(spec, directory, file, key)
        data = read_yaml(path, key, what=f"{key.split('.', 1)[0]} file", named_in=file)
        return resolve_entry(data, path, key, depth + 1)
    if isinstance(spec, dict):
        spec = absolutize_table_paths(spec, directory)
        base = spec.pop("base", None)
        if base is None:
            return spec
        if not isinstance(base, str):
            raise CaseError(f"expected a library name or a file path, got {short_repr(base)}", file=file, key=f"{key}.base")
        merged = deep_merge(resolve_entry(base, file, f"{key}.base", depth + 1), spec)
        for given, dropped in REPLACED_BY.items():
            if given in spec and dropped not in spec:
                merged.pop(dropped, None)
        return merged
    raise CaseError(f"expected a library name or a mapping, got {short_repr(spec)}", file=file, key=key)

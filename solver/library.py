"""The material library: YAML data files for particle materials and electrolytes.

A material or electrolyte in a case file is a library name (``nvp``), a path to a YAML file
(relative to the file that names it), or a mapping. A mapping with ``base:`` starts from that
library entry or file and overrides its keys. Library files live in ``solver/materials/``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ecmx.solver.errors import CaseError

LIBRARY_DIR = Path(__file__).parent / "materials"


def library_names() -> list[str]:
    """Names of the library entries (file stems in ``solver/materials``)."""
    return sorted(p.stem for p in LIBRARY_DIR.glob("*.yaml"))


def read_yaml(path: Path, key: str | None = None) -> dict[str, Any]:
    """Read a YAML mapping with the safe loader; errors name the file (and the key that led to it)."""
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise CaseError(f"file not found: {path}", file=path, key=key) from None
    except OSError as exc:
        raise CaseError(f"cannot read file: {exc.strerror}", file=path, key=key) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise CaseError(f"malformed YAML{where}: {problem}", file=path) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise CaseError(f"expected a YAML mapping at the top level, got {type(data).__name__}", file=path)
    return data


def locate(name: str, relative_to: Path | None, file: Path | None, key: str) -> Path:
    """Find a library entry by name, or a YAML file by path relative to ``relative_to``."""
    if name.endswith((".yaml", ".yml")) or "/" in name:
        candidate = Path(name).expanduser()
        if not candidate.is_absolute() and relative_to is not None:
            candidate = relative_to / candidate
        if candidate.is_file():
            return candidate.resolve()
        raise CaseError(f"file not found: {candidate}", file=file, key=key)
    candidate = LIBRARY_DIR / f"{name}.yaml"
    if candidate.is_file():
        return candidate
    raise CaseError(
        f"unknown library entry {name!r}: expected one of {', '.join(library_names())}"
        " or a path to a .yaml file",
        file=file,
        key=key,
    )


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Recursively merge ``override`` into a copy of ``base`` (mappings merge, other values replace)."""
    merged = dict(base)
    for k, v in override.items():
        if isinstance(v, dict) and isinstance(merged.get(k), dict):
            merged[k] = deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


TABLE_PATH_KEYS = ("open_circuit_voltage", "diffusivity")


def absolutize_table_paths(data: dict[str, Any], directory: Path) -> dict[str, Any]:
    """Make CSV table paths in a material mapping absolute, relative to the file that named them."""
    out = dict(data)
    for k in TABLE_PATH_KEYS:
        v = out.get(k)
        if isinstance(v, str) and v.strip().lower().endswith(".csv"):
            p = Path(v).expanduser()
            out[k] = str(p if p.is_absolute() else (directory / p).resolve())
    return out


def resolve_entry(spec: Any, file: Path | None, key: str, depth: int = 0) -> dict[str, Any]:
    """Turn a library name, path or mapping (with optional ``base:``) into a plain mapping.

    CSV table paths come back absolute, each resolved relative to the file that named it.
    """
    directory = file.parent if file is not None else Path.cwd()
    if depth > 8:
        raise CaseError("'base:' chain is too deep (circular?)", file=file, key=key)
    if isinstance(spec, str):
        path = locate(spec, directory, file, key)
        return resolve_entry(read_yaml(path, key), path, key, depth + 1)
    if isinstance(spec, dict):
        spec = absolutize_table_paths(spec, directory)
        base = spec.pop("base", None)
        if base is None:
            return spec
        if not isinstance(base, str):
            raise CaseError(f"expected a library name or a file path, got {base!r}", file=file, key=f"{key}.base")
        return deep_merge(resolve_entry(base, file, f"{key}.base", depth + 1), spec)
    raise CaseError(f"expected a library name or a mapping, got {spec!r}", file=file, key=key)

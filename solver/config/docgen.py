"""The case-format reference, generated from the schema: every key with its type, unit, default,
allowed values and meaning.

The schema classes (:mod:`.case`, :mod:`.materials`, :mod:`.geometry`, :mod:`.studies`) are the
single source: :func:`schema_keys` walks them into :class:`KeyDoc` rows, which ``ecmx schema``
prints and ``python -m ecmx.solver.config.docgen > docs/case-keys.md`` writes as Markdown (a test
fails when the committed file differs). A key is a dot path (``solver.time_step.max``); ``[]``
stands for any item of a list (``protocol[].c_rate``). Units are the SI units a plain number is
read in; a string with another unit of the same dimension is converted (``"1 um"``).
"""

from __future__ import annotations

import difflib
import enum
import types
import typing
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Annotated, Any, Literal

import annotated_types
from pydantic import BaseModel, BeforeValidator
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from ecmx.solver.config.case import DEFAULT_ELECTROLYTE, Case
from ecmx.solver.config.fit import FitFile
from ecmx.solver.config.studies import CompareFile, SweepFile
from ecmx.solver.errors import CaseError

FILE_KINDS: dict[str, type[BaseModel]] = {"case": Case, "sweep": SweepFile, "compare": CompareFile}
FILE_KINDS["fit"] = FitFile
"""The file kinds with a schema: a case file, a sweep file and a comparison file."""

_BOUNDS = ((annotated_types.Ge, "ge", "≥"), (annotated_types.Gt, "gt", ">"), (annotated_types.Le, "le", "≤"),
           (annotated_types.Lt, "lt", "<"))


@dataclass(frozen=True)
class KeyDoc:
    """One key of a file format, as the documentation shows it (every text already formatted)."""

    path: str
    """Dot path; ``[]`` for any item of a list."""
    type: str
    unit: str
    """SI unit of a plain number ("" for a dimensionless or non-numeric key)."""
    default: str
    """The default ("required" for a key without one, "" for a section)."""
    allowed: str
    """Allowed values or range ("" for any)."""
    description: str


@dataclass
class _Shape:
    """What a field annotation accepts, collected while walking it."""

    types: list[str]
    unit: str = ""
    bounds: list[str] | None = None
    choices: list[Any] | None = None
    models: list[tuple[str, type[BaseModel]]] | None = None
    """(path suffix, section model) of nested sections ("" or "[]" for a list of sections)."""


def _members(annotation: Any) -> list[Any]:
    """The members of a union (None dropped), or the annotation itself."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return [a for a in typing.get_args(annotation) if a is not type(None)]
    return [annotation]


def _metadata(item: Any, shape: _Shape) -> None:
    """Record the unit and bounds that one metadata item of an Annotated type carries."""
    if isinstance(item, FieldInfo):
        for inner in item.metadata:
            _metadata(inner, shape)
    elif isinstance(item, BeforeValidator) and hasattr(item.func, "unit"):
        shape.unit = item.func.unit
    for kind, attribute, sign in _BOUNDS:
        if isinstance(item, kind):
            bound = f"{sign} {_value_text(getattr(item, attribute))}"
            shape.bounds = list(dict.fromkeys([*(shape.bounds or []), bound]))


def _walk(annotation: Any, shape: _Shape, suffix: str = "") -> str:
    """The type text of ``annotation``; units, bounds, choices and sections go into ``shape``."""
    texts = []
    for member in _members(annotation):
        while typing.get_origin(member) is Annotated:
            member, *extra = typing.get_args(member)
            for item in extra:
                _metadata(item, shape)
        union = typing.get_origin(member) in (typing.Union, types.UnionType)
        texts.append(_walk(member, shape, suffix) if union else _member_text(member, shape, suffix))
    return " or ".join(dict.fromkeys(texts))


def _member_text(member: Any, shape: _Shape, suffix: str) -> str:
    """The type text of one union member (not Annotated, not None)."""
    origin, args = typing.get_origin(member), typing.get_args(member)
    if origin is Literal:
        shape.choices = [*(shape.choices or []), *args]
        kinds = {"text" if isinstance(a, str) else "integer" if isinstance(a, int) else "number" for a in args}
        return " or ".join(sorted(kinds))
    if isinstance(member, type) and issubclass(member, BaseModel):
        shape.models = [*(shape.models or []), (suffix, member)]
        return "section" if not suffix.endswith("[]") else "sections"
    if origin is list:
        return f"list of {_walk(args[0], shape, suffix + '[]')}"
    if origin is tuple:
        return f"[{', '.join(_walk(a, shape, suffix) for a in args)}]"
    if origin is dict:
        return f"mapping of {_walk(args[0], shape)} to {_walk(args[1], shape)}"
    simple = {float: "number", int: "integer", str: "text", bool: "true or false", Path: "path", Any: "any value"}
    return simple.get(member, getattr(member, "__name__", str(member)))


def _value_text(value: Any) -> str:
    """A default or allowed value as a case file writes it."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:g}"
    if value == "":
        return '""'
    if isinstance(value, enum.Enum):
        return str(value.value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_value_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_value_text(v)}" for k, v in value.items()) + "}"
    return str(value)


def _default_text(field: FieldInfo, shape: _Shape) -> str:
    if field.is_required():
        return "required"
    default = field.default if field.default is not PydanticUndefined else field.default_factory()  # type: ignore[misc]
    if isinstance(default, BaseModel) or (shape.models and default is not None and not isinstance(default, list)):
        return ""
    return _value_text(default)


def _field_doc(path: str, field: FieldInfo) -> tuple[KeyDoc, _Shape]:
    """The documentation row of one field and what its type accepts."""
    shape = _Shape(types=[])
    for item in field.metadata:
        _metadata(item, shape)
    type_text = _walk(field.annotation, shape)
    allowed = [", ".join(_value_text(c) for c in shape.choices)] if shape.choices else []
    allowed += [" and ".join(shape.bounds)] if shape.bounds else []
    description = " ".join((field.description or "").split())
    return KeyDoc(path, type_text, shape.unit, _default_text(field, shape), "; ".join(allowed), description), shape


def schema_keys(model: type[BaseModel], prefix: str = "") -> list[KeyDoc]:
    """Every key of ``model`` and its sections, depth first, in the order the schema declares them."""
    keys = []
    for name, field in model.model_fields.items():
        doc, shape = _field_doc(f"{prefix}{name}", field)
        keys.append(doc)
        for suffix, section in shape.models or []:
            keys.extend(schema_keys(section, f"{prefix}{name}{suffix}."))
    return list({k.path: k for k in keys}.values())


LOADER_DEFAULTS = {"name": "the case file's stem", "electrolyte": DEFAULT_ELECTROLYTE}
"""Case keys the loader fills when a file leaves them out (the schema itself requires them)."""

LIBRARY_KEYS = ("material", "electrolyte")
"""Case keys that also take a library name or a file path."""


def file_keys(kind: str = "case") -> list[KeyDoc]:
    """Every key of a ``kind`` file (case, sweep, compare) as a user writes it: the case loader's
    defaults and library names included."""
    keys = schema_keys(FILE_KINDS[kind])
    if kind != "case":
        return keys
    adjusted = []
    for k in keys:
        if k.path in LOADER_DEFAULTS:
            k = replace(k, default=LOADER_DEFAULTS[k.path])
        if k.path in LIBRARY_KEYS:
            k = replace(k, type="library name, file path or section")
        adjusted.append(k)
    return adjusted


def normalise_key(key: str) -> str:
    """A user's dot path in the documentation's form: list indices become ``[]`` (``protocol.0.c_rate``
    → ``protocol[].c_rate``)."""
    parts = [p for p in key.strip().split(".") if p]
    out: list[str] = []
    for part in parts:
        if (part.isdigit() or part == "[]") and out:
            out[-1] += "[]"
        else:
            out.append(part)
    return ".".join(out)


def find_keys(key: str, kind: str = "case") -> list[KeyDoc]:
    """The row of ``key`` in the ``kind`` file format, followed by the rows below it.

    A list's items may be named with or without ``[]`` or an index (``protocol.c_rate``). Raises
    CaseError, with the closest keys, for a key the schema does not have.
    """
    keys = file_keys(kind)
    wanted = normalise_key(key)
    for candidate in (wanted, _with_list_items(wanted, keys)):
        found = [k for k in keys if k.path == candidate or k.path.startswith(candidate + ".")
                 or k.path.startswith(candidate + "[]")]
        if found:
            return found
    close = difflib.get_close_matches(wanted, [k.path for k in keys], n=3)
    hint = f"; did you mean {', '.join(close)}?" if close else ""
    raise CaseError(f"no such key in a {kind} file{hint} ('ecmx schema' lists them all)", key=key)


def _with_list_items(path: str, keys: list[KeyDoc]) -> str:
    """``protocol.c_rate`` → ``protocol[].c_rate`` where a prefix of ``path`` names a list of sections."""
    lists = {k.path for k in keys if k.type.startswith("list of sections")}
    parts = path.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if head in lists:
            parts[i - 1] += "[]"
    return ".".join(parts)


FILE_TITLES = {"case": "Case files", "sweep": "Sweep files", "compare": "Comparison files"}
FILE_TITLES["fit"] = "Fit files"

HEADER = """# Case, sweep and comparison file keys

<!-- Generated from the schema by `python -m ecmx.solver.config.docgen > docs/case-keys.md`:
     do not edit by hand (a test fails when this file and the schema differ). -->

Every key of the input file formats, with its type, the SI unit a plain number is read in,
its default, the allowed values and what it means. A dimensional value may also be a string with
any unit of the same dimension (`radius: 1 um`, `temperature: 25 degC`). `[]` stands for any item
of a list (`protocol[].c_rate` is the `c_rate` of a protocol step); on the command line an item is
named by its index (`--set protocol.0.c_rate=2`). `ecmx schema KEY` prints one key from the
terminal. How the keys fit together, with examples: [case-format.md](case-format.md).

`material` and `electrolyte` are also a library name (`nvp`, see `ecmx materials`) or the path of
a YAML file; a mapping with `base: NAME-OR-PATH` starts from that entry and overrides the keys it
gives. An override of a one-of block (`chemical_expansion`, `diffusivity`, `open_circuit_voltage`)
that gives another form replaces the entry's form.
"""


def _cell(text: str) -> str:
    return (text or "—").replace("|", "\\|")


def _markdown_table(keys: list[KeyDoc]) -> list[str]:
    lines = ["| key | type | unit | default | allowed | meaning |", "| --- | --- | --- | --- | --- | --- |"]
    for k in keys:
        cells = [f"`{k.path}`", k.type, f"`{k.unit}`" if k.unit else "", k.default, k.allowed, k.description]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def markdown() -> str:
    """``docs/case-keys.md``: every key of the file formats, one table per top-level section."""
    lines = [HEADER]
    for kind in FILE_KINDS:
        lines.append(f"## {FILE_TITLES[kind]}\n")
        keys = file_keys(kind)
        sections = dict.fromkeys(k.path.split(".")[0].removesuffix("[]") for k in keys)
        top = [k for k in keys if "." not in k.path]
        lines += ["### Top level", "", *_markdown_table(top), ""]
        for section in sections:
            below = [k for k in keys if k.path.startswith((f"{section}.", f"{section}[]."))]
            if below:
                lines += [f"### `{section}`", "", *_markdown_table(below), ""]
    return "\n".join(lines).rstrip() + "\n"


def key_text(key: KeyDoc) -> str:
    """One key for the terminal: its path, meaning, and type, unit, default and allowed values."""
    facts = [f"type: {key.type}", f"unit: {key.unit or '—'}", f"default: {key.default or '—'}"]
    if key.allowed:
        facts.append(f"allowed: {key.allowed}")
    return f"{key.path}\n    {key.description}\n    " + "   ".join(facts)


def tree_text(kind: str = "case") -> str:
    """Every key of a ``kind`` file, one line each, indented by depth: key, [unit], default, meaning."""
    lines = []
    for k in file_keys(kind):
        depth = k.path.count(".")
        unit = f" [{k.unit}]" if k.unit else ""
        default = f" = {k.default}" if k.default else ""
        lines.append(f"{'  ' * depth}{k.path.rsplit('.', 1)[-1]}{unit}{default}  — {k.description}")
    return "\n".join(lines)


if __name__ == "__main__":
    print(markdown(), end="")

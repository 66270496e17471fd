"""JSON Schemas of the case, sweep and comparison files, for editors (``ecmx schema --json``).

pydantic's schema of the validated models, adjusted to what a file may say before ecmx resolves
it: dimensional values are numbers (SI) or strings with a unit; ``material`` and ``electrolyte``
are a library name, a file path or a mapping (with ``base:``, which supplies the keys it leaves
out); an open-circuit voltage is a table or a CSV path, an initial profile a table or {file: CSV};
a case needs no ``name`` (the file's stem) and no ``electrolyte`` (the default). ecmx itself still validates every file fully.
"""

from __future__ import annotations

from typing import Any

from ecmx.solver.config.docgen import FILE_KINDS, FILE_TITLES

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_ENTRY = {"type": "string", "description": "a library name (ecmx materials) or the path of a YAML file"}


_PROFILE_FILE = {"type": "object", "required": ["file"], "additionalProperties": False, "properties": {
    "file": {"type": "string", "description": "a CSV file (columns r with a unit, stoichiometry), inside the case's directory"}}}


def _entry_or_mapping(definition: dict[str, Any]) -> None:
    """A library entry's mapping: ``base:`` allowed, no key required (the base supplies them)."""
    definition["properties"] = {"base": dict(_ENTRY, description="the library entry or YAML file this one starts from"),
                                **definition.get("properties", {})}
    definition.pop("required", None)


def editor_schema(kind: str = "case") -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a ``kind`` file: ``case``, ``sweep`` or ``compare``."""
    schema = FILE_KINDS[kind].model_json_schema(mode="validation")
    schema["$schema"] = SCHEMA_DIALECT
    schema["title"] = f"ecmx {FILE_TITLES[kind].lower()[:-1]}"
    definitions = schema.get("$defs", {})
    if kind == "case":
        for name in ("Material", "Electrolyte"):
            _entry_or_mapping(definitions[name])
        for key in ("material", "electrolyte"):
            _or_string(schema["properties"][key], _ENTRY)
        ocv = definitions["Material"]["properties"]["open_circuit_voltage"]
        _or_string(ocv, {"type": "string", "description": "a CSV file: columns stoichiometry, voltage"})
        _or_string(definitions["Initial"]["properties"]["profile"], _PROFILE_FILE)
        schema["required"] = [k for k in schema.get("required", []) if k not in ("name", "electrolyte")]
    return schema


def _or_string(prop: dict[str, Any], string: dict[str, Any]) -> None:
    """Let the property ``prop`` (a reference or a union) also be the string ``string`` describes."""
    forms = [{"$ref": prop.pop("$ref")}] if "$ref" in prop else prop.pop("anyOf", [])
    prop["anyOf"] = [string, *forms]

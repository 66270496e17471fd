"""``--set dotted.key=value`` overrides of a case mapping, before it is validated.

A key names a path through the mapping (``solver.time_step.max``); a number names a list item
(``protocol.0.c_rate``). Setting a key below ``material`` or ``electrolyte`` where the case names a
library entry overrides that one key of the entry (``{base: <entry>, key: value}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from ecmx.solver.config.safe_yaml import UnsafeYAMLError, describe_yaml_error, load_yaml_text
from ecmx.solver.errors import CaseError


def parse_override(text: str, file: Path | None = None) -> tuple[str, Any]:
    """Parse ``dotted.key=value`` (overriding a key of ``file``).

    The value is read as YAML with the same safe, bounded loader as files (numbers, lists, strings
    with units); text that is not YAML is taken as a string, YAML that the loader refuses (a tag, a
    duplicate key, an alias bomb) is a CaseError.
    """
    if "=" not in text:
        raise CaseError(f"override {text!r}: expected dotted.key=value", file=file, key=text)
    key, raw = text.split("=", 1)
    key = key.strip()
    if not key or any(not part for part in key.split(".")):
        raise CaseError(f"override {text!r}: expected dotted.key=value", file=file, key=key)
    try:
        value = load_yaml_text(raw) if raw.strip() else ""
    except UnsafeYAMLError as exc:
        raise CaseError(f"override value: {describe_yaml_error(exc)}", file=file, key=key) from None
    except yaml.YAMLError:
        value = raw  # not YAML: the text itself
    return key, value


def apply_override(data: dict[str, Any], key: str, value: Any, file: Path | None = None) -> None:
    """Set ``data[k1][k2]...`` from a dotted key; list items by index (``protocol.0.c_rate``)."""
    parts = key.split(".")
    node: Any = data
    for i, part in enumerate(parts[:-1]):
        nxt = _child(node, part, key, file)
        if i == 0 and part in ("material", "electrolyte") and isinstance(nxt, str):
            nxt = {"base": nxt}  # override one key of a library entry
            _set_child(node, part, nxt, key, file)
        elif nxt is None:
            nxt = {}
            _set_child(node, part, nxt, key, file)
        node = nxt
    _set_child(node, parts[-1], value, key, file)


def _child(node: Any, part: str, key: str, file: Path | None) -> Any:
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and part.isdigit() and int(part) < len(node):
        return node[int(part)]
    raise CaseError(f"cannot set {key!r}: {part!r} is not a key or list index here", file=file, key=key)


def _set_child(node: Any, part: str, value: Any, key: str, file: Path | None) -> None:
    if isinstance(node, dict):
        node[part] = value
    elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
        node[int(part)] = value
    else:
        raise CaseError(f"cannot set {key!r}: {part!r} is not a key or list index here", file=file, key=key)

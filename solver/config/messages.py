"""pydantic's validation errors → one :class:`~ecmx.solver.errors.CaseError` a user can act on.

Each problem is one line naming its dotted key path and what was expected: a range with its
bound, the allowed keys (and the closest one) for an unknown key, a missing required key.
"""

from __future__ import annotations

import difflib
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Union

from pydantic import BaseModel, ValidationError

from ecmx.solver.errors import CaseError
from ecmx.solver.units import short_repr


def validation_error(exc: ValidationError, model: type[BaseModel], file: Path | None) -> CaseError:
    """Turn pydantic's errors into one CaseError listing each key path and what was expected."""
    lines = []
    first_key = None
    for err in exc.errors(include_url=False):
        loc = [str(p) for p in err["loc"] if not _is_union_tag(p)]
        key = ".".join(loc)
        first_key = first_key or key
        lines.append(f"key '{key}': {_describe(err, model, loc)}")
    head = lines[0] if len(lines) == 1 else f"{len(lines)} problems:\n  " + "\n  ".join(lines)
    message = head.split(": ", 1)[1] if len(lines) == 1 else head
    return CaseError(message, file=file, key=first_key if len(lines) == 1 else None)


UNION_TAGS = ("float", "int", "str", "constant", "table", "list", "spacing")


def _is_union_tag(part: Any) -> bool:
    # pydantic adds the member type to the location for unions, e.g. 'float' or 'function-before[...]'
    return isinstance(part, str) and (part in UNION_TAGS or "[" in part or part.startswith("tuple"))


def _describe(err: dict[str, Any], model: type[BaseModel], loc: list[str]) -> str:
    kind = err["type"]
    if kind == "extra_forbidden":
        allowed = _fields_at(model, loc[:-1])
        hint = difflib.get_close_matches(loc[-1], allowed, n=1)
        suggestion = f"; did you mean {hint[0]!r}?" if hint else ""
        return f"unknown key{suggestion} (allowed here: {', '.join(allowed)})"
    if kind == "missing":
        return "missing required key"
    bound = RANGE_ERRORS.get(kind)
    if bound is not None:
        limit = err["ctx"][bound[0]]
        value = err.get("input")
        si_units = " (in SI units)" if isinstance(value, str) else ""
        return f"expected a value {bound[1]} {limit:g}{si_units}, got {short_repr(value)}"
    msg = err["msg"]
    for prefix in ("Value error, ", "Assertion failed, "):
        msg = msg.removeprefix(prefix)
    msg = msg.replace("Input should be greater", "expected a value greater")
    msg = msg.replace("Input should be less", "expected a value less")
    msg = msg.replace("Input should be", "expected").replace("List should have", "expected a list with")
    if kind in ("value_error", "assertion_error"):
        return msg or "invalid value"
    value = err.get("input")
    return msg if isinstance(value, dict | list) else f"{msg}, got {short_repr(value)}"


RANGE_ERRORS = {
    "greater_than": ("gt", "greater than"),
    "greater_than_equal": ("ge", "greater than or equal to"),
    "less_than": ("lt", "less than"),
    "less_than_equal": ("le", "less than or equal to"),
}
"""pydantic's range error types: (the bound's name in the error context, words)."""


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The first pydantic model class inside an annotation (through Annotated/Optional/list/Union)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType, list, tuple, Annotated) or origin is not None:
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None


def _fields_at(model: type[BaseModel], loc: list[str]) -> list[str]:
    """Field names of the model found by walking ``loc`` from ``model``."""
    current: type[BaseModel] | None = model
    for part in loc:
        if current is None:
            return []
        if part.isdigit():
            continue
        field = current.model_fields.get(part)
        current = _model_in(field.annotation) if field is not None else None
    return sorted(current.model_fields) if current is not None else []

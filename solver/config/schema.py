"""The base of every case-file section, and the field types several sections share.

Case files are untrusted input: unknown keys are errors and every float must be finite
(``inf``/``NaN`` are refused everywhere). A name that names a results directory is a plain file
name (:data:`PlainName`).
"""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from ecmx.solver.units import short_repr

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
"""A dimensionless number in [0, 1] (a stoichiometry, a state of charge, a depth of discharge)."""

Seed = Annotated[int, Field(ge=0, le=2**63 - 1, description="a non-negative random seed")]

MAX_NAME_LENGTH = 100
"""Longest case name, characters."""

_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]*")


class Schema(BaseModel):
    """Base of every case-file section: unknown keys are errors, every float must be finite."""

    model_config = ConfigDict(extra="forbid", validate_default=True, allow_inf_nan=False)


def _plain_name(name: str) -> str:
    """A name that is safe as one path component: letters, digits, '.', '_', '-' (see Case.name)."""
    if len(name) > MAX_NAME_LENGTH or not _PLAIN_NAME.fullmatch(name) or ".." in name:
        raise ValueError(
            f"expected a plain name (it names the results directory): letters, digits, '.', '_' and '-',"
            f" not starting with '.', without '..', at most {MAX_NAME_LENGTH} characters; got {short_repr(name)}"
        )
    return name


def plain_name_from(text: str) -> str:
    """A plain name made from ``text`` (e.g. a case file's stem): other characters become '_'."""
    name = re.sub(r"\.{2,}", ".", re.sub(r"[^A-Za-z0-9._-]", "_", text)).lstrip(".")[:MAX_NAME_LENGTH]
    return name or "case"


PlainName = Annotated[str, AfterValidator(_plain_name)]
"""A plain name: letters, digits, '.', '_' and '-', not starting with '.', without '..', at most
:data:`MAX_NAME_LENGTH` characters (safe as one path component)."""

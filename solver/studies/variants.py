"""Variants of a comparison's cases: another mechanics coupling, a common specific current, the
sphere-1d cut of the sensitivity study. Each variant is the case file re-validated with overrides
(``dotted.key=value``), so it is checked like any case before anything runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.solver.config.case import Case, load_case
from ecmx.solver.errors import CaseError

RATE_KEYS = ("c_rate", "current_density", "current")
"""The keys that set the current of a protocol step (exactly one per current-controlled step)."""


@dataclass
class PlannedRun:
    """One run of a comparison: the validated case, the case file it came from, and what the
    comparison's manifest records about it (``comparison.json``: group, coupling, role, ...)."""

    case: Case
    file: Path
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.case.name


def specific_current_overrides(case: Case, specific_current: float) -> list[str]:
    """Overrides that run every current-controlled step of ``case`` at ``specific_current`` [A/kg =
    mA/g of active material]: as a C-rate of the material's usable capacity, c_rate = I/Q with Q in
    mAh/g (1C passes the usable capacity in one hour)."""
    c_rate = specific_current / case.material.capacity_mAh_per_g
    overrides = []
    for index, step in enumerate(case.protocol):
        if any(getattr(step, key, None) is not None for key in RATE_KEYS) and step.step != "hold":
            overrides += [f"protocol.{index}.{key}=null" for key in RATE_KEYS if key != "c_rate"]
            overrides.append(f"protocol.{index}.c_rate={c_rate:.10g}")
    return overrides


def own_rate_overrides(case: Case) -> list[str]:
    """Overrides that restore the current of every current-controlled step of ``case`` as its file
    gives it (undoing :func:`specific_current_overrides`)."""
    overrides = []
    for index, step in enumerate(case.protocol):
        if any(getattr(step, key, None) is not None for key in RATE_KEYS) and step.step != "hold":
            for key in RATE_KEYS:
                value = getattr(step, key, None)
                overrides.append(f"protocol.{index}.{key}={'null' if value is None else repr(float(value))}")
    return overrides


def variant(file: Path, base: Sequence[str], overrides: Sequence[str], what: str) -> Case:
    """The case of ``file`` with the comparison's ``base`` overrides and then ``overrides``.

    Raises:
        CaseError: naming the case file, when the variant does not validate (``what`` says which).
    """
    try:
        return load_case(file, [*base, *overrides])
    except CaseError as exc:
        raise CaseError(f"{what}: {exc}", file=file, key=exc.key) from None


def first_discharge_index(case: Case, file: Path) -> int:
    """Index of the case's first current-controlled discharge step (the step a sensitivity run keeps).

    Raises:
        CaseError: the case has none.
    """
    for index, step in enumerate(case.protocol):
        if step.step == "discharge" and any(getattr(step, key, None) is not None for key in RATE_KEYS):
            return index
    raise CaseError("the sensitivity study needs a current-controlled discharge step in each case", file=file, key="protocol")

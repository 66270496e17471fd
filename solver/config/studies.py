"""Schemas of sweep and comparison files (``docs/case-format.md``).

A sweep varies one or more dotted case keys over a list, a linear or a log-spaced range; a
comparison runs several cases side by side. Every point and every case is validated as a full
case before anything runs, so a bad value is reported with its file and key up front. A sweep
axis has at least one value and no value twice, a grid has at most :data:`MAX_SWEEP_POINTS`
points, and the cases of a comparison have distinct names (each names a results directory).
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Discriminator, Field, Tag, ValidationError, field_validator, model_validator

from ecmx.solver.config.case import Case, Snapshots, case_from_dict, load_case
from ecmx.solver.config.messages import validation_error
from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.config.schema import Schema
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_YAML_BYTES, check_regular_file
from ecmx.solver.units import Diffusivity, Length, si

MAX_SWEEP_POINTS = 10_000
"""Most points of a sweep (the product of its axes' lengths)."""


class Spacing(Schema):
    """``{log_space: [a, b], num: n, unit: u}`` or ``{linear_space: [a, b], num: n, unit: u}``."""

    log_space: tuple[float, float] | None = Field(None, description="[start, stop], both > 0, log-spaced, in 'unit'")
    linear_space: tuple[float, float] | None = Field(None, description="[start, stop], evenly spaced, in 'unit'")
    num: Annotated[int, Field(ge=1, le=10000)] = Field(description="number of values, 1 to 10000")
    unit: str | None = Field(None, description="unit of start and stop, e.g. m^2/s (none: SI numbers)")

    @model_validator(mode="after")
    def _one(self) -> Spacing:
        if (self.log_space is None) == (self.linear_space is None):
            raise ValueError("expected exactly one of log_space: [start, stop] or linear_space: [start, stop]")
        if self.log_space is not None and min(self.log_space) <= 0:
            raise ValueError("log_space needs positive start and stop")
        return self

    def values(self) -> list[Any]:
        if self.log_space is not None:
            raw = np.logspace(np.log10(self.log_space[0]), np.log10(self.log_space[1]), self.num)
        else:
            raw = np.linspace(*self.linear_space, self.num)  # type: ignore[misc]
        numbers = [float(f"{v:.12g}") for v in raw]
        return [f"{v:.10g} {self.unit}" for v in numbers] if self.unit else numbers


def _list_or_spacing(value: Any) -> str:
    return "spacing" if isinstance(value, dict | Spacing) else "list"


AxisValues = Annotated[
    Annotated[list[Any], Field(min_length=1, max_length=MAX_SWEEP_POINTS), Tag("list")] | Annotated[Spacing, Tag("spacing")],
    Discriminator(_list_or_spacing),
]
"""A non-empty list of values, or a spacing (``{log_space: [a, b], num: n}``)."""


def _distinct_values(values: list[Any]) -> None:
    """Refuse an axis that gives one value twice (its points would be the same run)."""
    seen: set[str] = set()
    for value in values:
        text = json.dumps(value, sort_keys=True, default=str)
        if text in seen:
            raise ValueError(f"value {value!r} is given more than once: expected distinct values")
        seen.add(text)


class Parameter(Schema):
    """One swept dotted case key and its values (a non-empty list of distinct values, or a spacing)."""

    parameter: str = Field(description="the dotted case key to vary (e.g. material.diffusivity)")
    values: AxisValues = Field(description="its values: a list (numbers, strings with units, names), or a spacing")

    @model_validator(mode="after")
    def _distinct(self) -> Parameter:
        _distinct_values(self.value_list())
        return self

    def value_list(self) -> list[Any]:
        return self.values.values() if isinstance(self.values, Spacing) else list(self.values)


class SweepSpec(Schema):
    """What a sweep varies: one key (``parameter`` + ``values``) or a grid (``parameters``)."""

    base: Path = Field(description="the base case file (relative to the sweep file)")
    parameter: str | None = Field(None, description="the dotted case key of a one-axis sweep")
    values: AxisValues | None = Field(None, description="its values: a list, or a spacing")
    parameters: list[Parameter] | None = Field(None, description="the axes of a grid (every combination runs)")
    set: list[str] = Field([], description="dotted.key=value overrides applied to every point")
    workers: Annotated[int, Field(ge=1)] | None = Field(None, description="points run in parallel, processes (default: cores)")

    @model_validator(mode="after")
    def _params(self) -> SweepSpec:
        single = self.parameter is not None or self.values is not None
        if single and self.parameters:
            raise ValueError("give either parameter + values, or parameters: [...] for a grid, not both")
        if single and (self.parameter is None or self.values is None):
            raise ValueError("a sweep needs both 'parameter' and 'values'")
        if not single and not self.parameters:
            raise ValueError("a sweep needs 'parameter' and 'values' (or 'parameters' for a grid)")
        if single:
            _distinct_values(self.axes()[0].value_list())
        names = [axis.parameter for axis in self.axes()]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"parameter {', '.join(repeated)} is swept on more than one axis: expected one axis per key")
        points = math.prod(len(axis.value_list()) for axis in self.axes())
        if points > MAX_SWEEP_POINTS:
            raise ValueError(f"the sweep has {points} points: expected at most {MAX_SWEEP_POINTS}")
        return self

    def axes(self) -> list[Parameter]:
        if self.parameters:
            return self.parameters
        return [Parameter.model_construct(parameter=self.parameter, values=self.values)]


class StudyOutput(Schema):
    """Where a study writes."""

    directory: Path | None = Field(None, description="the study directory (relative to the working directory)")


class SweepFile(Schema):
    """A sweep file: ``sweep:`` and ``output:``."""

    sweep: SweepSpec = Field(description="what the sweep varies")
    output: StudyOutput = Field(StudyOutput(), description="where it writes (default results/sweep-<file stem>)")


MAX_SENSITIVITY_VALUES = 12
"""Most values of one sensitivity axis (each value is one or two sphere-1d runs)."""

_AXIS = Field(min_length=1, max_length=MAX_SENSITIVITY_VALUES)

SpecificCurrent = Annotated[float, si("A/kg"), Field(gt=0, le=1e5)]
"""A current per mass of active material, A/kg (= mA/g)."""


def _distinct_positive(values: list[float]) -> list[float]:
    if len(set(values)) != len(values):
        raise ValueError("expected distinct values")
    return sorted(values)


class SensitivitySpec(Schema):
    """The built-in sensitivity study of a two-material comparison (fast sphere-1d runs).

    The first case of the comparison is the numerator (NVP), the last one the reference (HE-V).
    Each axis changes one input from the shipped cases, all else as shipped; the cases' protocol
    is cut to their first (discharge) step, ending at ``depth_of_discharge``.
    """

    enabled: bool = Field(True, description="run the sensitivity study (false: off)")
    depth_of_discharge: Annotated[float, Field(gt=0, le=1)] = Field(
        0.5, description="the depth of discharge (fraction) at which spreads and peak stresses are taken")
    diffusivity: Annotated[list[Annotated[Diffusivity, Field(gt=0)]], _AXIS] = Field(
        [1e-17, 1e-16, 1e-15, 1e-14],
        description="D_s of the first case, m²/s; the last case's D_s keeps its shipped ratio to it")
    diffusivity_ratio: Annotated[list[Annotated[float, Field(gt=0, le=1e6)]], _AXIS] = Field(
        [1.0, 10.0, 100.0], description="D_s of the last case over D_s of the first case (first case as shipped)")
    radius: Annotated[list[Annotated[Length, Field(gt=0, le=1e-3)]], _AXIS] = Field(
        [0.25e-6, 0.5e-6, 1e-6, 2e-6], description="particle radius of both cases, m")
    heterogeneous: Annotated[float, Field(gt=0, le=1)] = Field(
        0.15, description="the first case counts as visibly heterogeneous at a spread of at least this fraction of its "
        "cycled window")
    uniform: Annotated[float, Field(gt=0, le=1)] = Field(
        0.02, description="the last case counts as uniform at a spread of at most this fraction of its cycled window")

    @model_validator(mode="after")
    def _sorted(self) -> SensitivitySpec:
        for name in ("diffusivity", "diffusivity_ratio", "radius"):
            setattr(self, name, _distinct_positive(getattr(self, name)))
        return self


class CompareSpec(Schema):
    """The cases of a comparison and the states at which they are compared."""

    cases: Annotated[list[Path], Field(min_length=1)] = Field(description="case files (relative to this file)")
    at: Snapshots = Field(Snapshots(), description="states at which the fields are compared")
    set: list[str] = Field([], description="dotted.key=value overrides applied to every case")
    workers: Annotated[int, Field(ge=1)] | None = Field(
        None, description="cases run in parallel, processes (default: cores); the same processes then draw the figures"
        " side by side")
    couplings: list[Literal["one-way", "two-way"]] | None = Field(
        None, description="run every case with each of these mechanics couplings, side by side (default: as in the cases)")
    current: Literal["own-c-rate", "same-specific-current"] = Field(
        "own-c-rate", description="own-c-rate: each case's protocol as written; same-specific-current: every "
        "current-controlled step at specific_current (mA/g of active material)")
    specific_current: SpecificCurrent = Field(
        100.0, description="current per mass of active material for same-specific-current (and the sensitivity's "
        "like-for-like point), A/kg = mA/g")
    sensitivity: SensitivitySpec | None = Field(
        None, description="the built-in sensitivity study (sphere-1d runs); absent: off")

    @field_validator("couplings")
    @classmethod
    def _distinct_couplings(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and (not value or len(set(value)) != len(value)):
            raise ValueError("expected one or both of one-way, two-way, each once")
        return value


class CompareFile(Schema):
    """A comparison file: ``compare:`` and ``output:``."""

    compare: CompareSpec = Field(description="the cases and the comparison states")
    output: StudyOutput = Field(StudyOutput(), description="where it writes (default results/<file stem>)")


class SweepPoint:
    """One point of a sweep: its overrides, a directory name and the validated case."""

    def __init__(self, index: int, assignments: dict[str, Any], case: Case):
        self.index = index
        self.assignments = assignments
        self.case = case

    @property
    def label(self) -> str:
        parts = [f"{k.split('.')[-1]}={v}".replace(" ", "") for k, v in self.assignments.items()]
        safe = "".join(ch if ch.isalnum() or ch in "=.-_+" else "_" for ch in "_".join(parts))
        return f"point-{self.index:03d}_{safe}"[:120]

    @property
    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.assignments.items()]


class Sweep:
    """A validated sweep: the base case file, the grid of points and the output directory."""

    def __init__(self, path: Path, spec: SweepFile):
        self.path = path
        self.spec = spec
        self.base_path = _relative(path, spec.sweep.base)
        self.points = self._expand()

    def _expand(self) -> list[SweepPoint]:
        axes = self.spec.sweep.axes()
        base = read_yaml(self.base_path, key="sweep.base", what="sweep base", named_in=self.path)
        points = []
        for index, combo in enumerate(itertools.product(*(axis.value_list() for axis in axes))):
            assignments = {axis.parameter: value for axis, value in zip(axes, combo, strict=True)}
            overrides = [*self.spec.sweep.set, *(f"{k}={_as_text(v)}" for k, v in assignments.items())]
            # Shallow keys first: 'material=hev' replaces the whole entry, so it must come before
            # 'material.diffusivity=...' whatever the order of the axes (stable: later wins on ties).
            overrides.sort(key=lambda text: text.split("=", 1)[0].count("."))
            try:
                case = case_from_dict(base, self.base_path, overrides)
            except CaseError as exc:
                raise CaseError(f"sweep point {assignments}: {exc}", file=self.path, key="sweep") from None
            points.append(SweepPoint(index, assignments, case))
        return points

    @property
    def directory(self) -> Path:
        return self.spec.output.directory or Path("results") / f"sweep-{self.path.stem}"


class Comparison:
    """A validated comparison: its cases (each fully resolved) and the output directory."""

    def __init__(self, path: Path, spec: CompareFile):
        self.path = path
        self.spec = spec
        self.case_paths = [
            check_regular_file(_relative(path, p), key=f"compare.cases.{i}", what="case file", max_bytes=MAX_YAML_BYTES,
                               named_in=path)
            for i, p in enumerate(spec.compare.cases)
        ]
        self.cases = [load_case(p, spec.compare.set) for p in self.case_paths]
        self._distinct_names()

    def _distinct_names(self) -> None:
        """Refuse two cases of one name: each writes ``<comparison dir>/<name>/``."""
        names = [c.name for c in self.cases]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            files = ", ".join(str(p) for p, c in zip(self.case_paths, self.cases, strict=True) if c.name in duplicates)
            raise CaseError(
                f"case names must differ (each case writes <comparison dir>/<name>/), repeated: {', '.join(duplicates)}"
                f" (in {files}); give each case its own 'name'",
                file=self.path,
                key="compare.cases",
            )

    @property
    def directory(self) -> Path:
        return self.spec.output.directory or Path("results") / self.path.stem


def _relative(file: Path, target: Path) -> Path:
    target = target.expanduser()
    return target if target.is_absolute() else (file.parent / target).resolve()


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)


def _read_study(path: Path, key: str, model: type[SweepFile] | type[CompareFile]) -> SweepFile | CompareFile:
    data = read_yaml(path, what=f"{key} file")
    if key not in data:
        raise CaseError(f"not a {key} file: expected a top-level '{key}:' mapping", file=path, key=key)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, model, path) from None


def load_sweep(path: str | Path, overrides: Sequence[str] = ()) -> Sweep:
    """Read and validate a sweep file, with every point validated as a full case.

    ``overrides`` (``dotted.key=value``, the CLI's ``--set``) apply to every point after the file's
    ``sweep.set`` list; the swept values still win for the swept keys."""
    path = Path(path).resolve()
    spec: SweepFile = _read_study(path, "sweep", SweepFile)  # type: ignore[assignment]
    spec.sweep.set = [*spec.sweep.set, *overrides]
    return Sweep(path, spec)


def load_comparison(path: str | Path, overrides: Sequence[str] = ()) -> Comparison:
    """Read and validate a comparison file, with every case validated; ``overrides`` (the CLI's
    ``--set``) apply to every case after the file's ``compare.set`` list."""
    path = Path(path).resolve()
    spec: CompareFile = _read_study(path, "compare", CompareFile)  # type: ignore[assignment]
    spec.compare.set = [*spec.compare.set, *overrides]
    return Comparison(path, spec)

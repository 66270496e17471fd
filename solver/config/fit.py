"""Fit files (``ecmx fit FIT.yaml``): which case keys to fit, within which bounds, to which measured curves.

A fit file names a base case, the parameters to fit as dotted case keys (the ``--set`` paths:
``material.exchange_current_density``, ``material.diffusivity.value.3`` or
``material.diffusivity.value[3]`` for the fourth value of a D(θ) table, ``geometry.particle.radius``),
each with bounds and a linear or log scale, and one or more measured curves (a CSV file read by
:mod:`~ecmx.solver.config.measured_data`, the voltage against time or against capacity) with weights.

Fit files are untrusted input like case files: safe YAML, a bounded number of parameters, curves
and model evaluations, the base case and data files given relative to the fit file and lying inside
its directory, and every parameter key naming a number of the resolved base case. Bounds and
starting values may carry units (``"1e-16 m^2/s"``); each is checked by validating the base case
with that value set, so it also lies in the case format's own range for that key.
"""

from __future__ import annotations

import copy
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from ecmx.solver.config.case import MAX_TIME, Case, Snapshots, case_from_dict, load_case
from ecmx.solver.config.measured_data import MeasuredCurve, read_measured_curve
from ecmx.solver.config.messages import validation_error
from ecmx.solver.config.overrides import apply_override, parse_override
from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.config.schema import PlainName, Schema
from ecmx.solver.config.studies import StudyOutput
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_CSV_BYTES, MAX_YAML_BYTES, check_regular_file
from ecmx.solver.units import F, short_repr, si

MAX_FIT_PARAMETERS = 20
"""Most parameters of one fit (each costs one model run per Jacobian)."""

MAX_FIT_CURVES = 20
"""Most measured curves of one fit."""

MAX_FIT_EVALUATIONS = 2000
"""Largest ``fit.max_evaluations`` (model runs, Jacobian columns included)."""

STEPS_PER_SPACING = 5
"""Default model time steps per spacing of the measured points: the voltage between steps is the
integrator's quadratic dense output, which rounds off a kink (a piecewise-linear OCV table's knee)
when a step spans it; at 5 steps per spacing a sphere-1d discharge's knee is read within ~0.3 mV."""

Bound = float | str
"""A number in the key's SI unit, or a string with a unit (``"1e-16 m^2/s"``)."""


class FitParameter(Schema):
    """One fitted case key: its bounds, optional starting value and scale."""

    key: str = Field(description="the dotted case key to fit, as for --set (list items by index: value.3 or value[3])")
    bounds: tuple[Bound, Bound] = Field(description="[lower, upper] of the key, in its SI unit or with a unit")
    initial: Bound | None = Field(None, description="starting value (default: the base case's value)")
    scale: Literal["linear", "log"] | None = Field(
        None, description="fit the value (linear) or its log10 (log; for positive keys spanning decades); "
        "default log when the lower bound is > 0, else linear")


class FitCurve(Schema):
    """One measured curve and how it is compared with the model."""

    file: Path = Field(description="measured-data CSV file (relative to the fit file, inside its directory)")
    name: PlainName | None = Field(None, description="label of the curve in outputs (default: the file's stem)")
    x: Literal["time", "capacity"] = Field(
        "time", description="time: the voltage against time since the file's first row; capacity: against the "
        "charge passed per mass of active material (a specific_capacity column, or capacity with active_mass)")
    weight: Annotated[float, Field(gt=0, le=1e12)] = Field(
        1.0, description="multiplies each point's squared voltage residual (an inverse variance, relative), "
        "dimensionless")
    set: Annotated[list[str], Field(max_length=100)] = Field(
        [], description="dotted.key=value overrides of the base case for this curve's model run (its own experiment, "
        "e.g. protocol.0.c_rate=0.5); curves with the same set share one run per evaluation")
    active_mass: Annotated[float, si("kg"), Field(gt=0, le=1e3)] | None = Field(
        None, description="mass of active material, kg: turns a capacity column in charge units (mAh) into a "
        "specific capacity")


class FitSpec(Schema):
    """What a fit fits, to what, and how hard it tries."""

    base: Path = Field(description="the base case file (relative to the fit file, inside its directory)")
    set: list[str] = Field([], description="dotted.key=value overrides of the base case (before the fit)")
    parameters: Annotated[list[FitParameter], Field(min_length=1, max_length=MAX_FIT_PARAMETERS)] = Field(
        description=f"the fitted case keys, 1 to {MAX_FIT_PARAMETERS}")
    curves: Annotated[list[FitCurve], Field(min_length=1, max_length=MAX_FIT_CURVES)] = Field(
        description=f"the measured curves, 1 to {MAX_FIT_CURVES}")
    workers: Annotated[int, Field(ge=1, le=1024)] | None = Field(
        None, description="model runs in parallel (the Jacobian's columns), processes (default: cores, at most the "
        "number of parameters times the number of distinct curve sets)")
    max_evaluations: Annotated[int, Field(ge=1, le=MAX_FIT_EVALUATIONS)] = Field(
        200, description=f"most model runs, Jacobian columns included, 1 to {MAX_FIT_EVALUATIONS}")
    tolerance: Annotated[float, Field(gt=0, lt=1)] = Field(
        1e-8, description="relative tolerance of the fit (scipy least_squares xtol, ftol and gtol), dimensionless")
    step: Annotated[float, Field(gt=0, le=0.1)] = Field(
        1e-3, description="finite-difference step of the Jacobian, as a fraction of each parameter's (scaled) "
        "bounds width, dimensionless")
    confidence: Annotated[float, Field(gt=0, lt=1)] = Field(
        0.95, description="level of the reported confidence intervals, dimensionless")
    max_time_step: Annotated[float, si("s"), Field(gt=0, le=1e8)] | None = Field(
        None, description="cap on the model's time step, s (default: a fifth of the median spacing of the measured points, a "
        "capacity spacing turned into time at the base case's first C-rate): the model voltage is interpolated "
        "between its steps, so steps much longer than the data's spacing would blur a steep voltage drop")


class FitFile(Schema):
    """A fit file: ``fit:`` and ``output:``."""

    fit: FitSpec = Field(description="what is fitted, to which measured curves")
    output: StudyOutput = Field(StudyOutput(), description="where it writes (default results/fit-<file stem>)")


_INDEX = re.compile(r"\[(\d+)\]")


def normalise_key(key: str) -> str:
    """``a.b[3]`` → ``a.b.3`` (the ``--set`` spelling of a list item)."""
    return _INDEX.sub(r".\1", key.strip())


@dataclass(frozen=True)
class ResolvedParameter:
    """A fitted key with its bounds and start in SI, and its scale."""

    key: str
    lower: float
    upper: float
    initial: float
    scale: str

    def to_scaled(self, value: float) -> float:
        """The optimiser's variable for ``value`` (log10 of it on a log scale)."""
        return float(np.log10(value)) if self.scale == "log" else float(value)

    def from_scaled(self, x: float) -> float:
        """The key's value (SI) for the optimiser's variable ``x``."""
        return float(10.0**x) if self.scale == "log" else float(x)


@dataclass(frozen=True)
class LoadedCurve:
    """A measured curve ready to compare: its label, x (s or C/kg), voltage (V) and weight."""

    name: str
    x_kind: str
    x: np.ndarray
    voltage: np.ndarray
    weight: float
    file: Path
    group: int = 0
    """Index of the curve's experiment (its ``set``) in :attr:`FitProblem.experiments`."""


class FitProblem:
    """A validated fit: the resolved base case, the parameters in SI and the measured curves.

    Everything is checked on construction (CaseError naming the fit file and key); nothing runs.
    """

    def __init__(self, path: Path, spec: FitFile, overrides: list[str]):
        self.path = path
        self.spec = spec
        fit = spec.fit
        self.base_path = inside(path, fit.base, "fit.base", "base case file")
        self.base_case = load_case(self.base_path, [*fit.set, *overrides])
        self.base_data = self.base_case.to_dict()
        self.parameters = [self._parameter(i, p) for i, p in enumerate(fit.parameters)]
        keys = [p.key for p in self.parameters]
        repeated = sorted({k for k in keys if keys.count(k) > 1})
        if repeated:
            raise CaseError(f"parameter {', '.join(repeated)} is given more than once: expected each key once",
                            file=path, key="fit.parameters")
        self.experiments = list(dict.fromkeys(tuple(c.set) for c in fit.curves))
        """The distinct curve ``set`` lists: each is one model run per evaluation."""
        self.curves = [self._curve(i, c) for i, c in enumerate(fit.curves)]
        self.experiment_cases = [self._experiment_case(g) for g in range(len(self.experiments))]
        names = [c.name for c in self.curves]
        if len(set(names)) != len(names):
            raise CaseError(f"curve names must differ (they label the outputs), got {names}: give each a 'name'",
                            file=path, key="fit.curves")

    @property
    def directory(self) -> Path:
        return self.spec.output.directory or Path("results") / f"fit-{self.path.stem}"

    def case_at(self, values: list[float] | np.ndarray, name: str | None = None, experiment: int | None = None) -> Case:
        """The base case (with the ``set`` of ``experiment``, when given) and the fitted keys at ``values``
        (SI), its time step capped (:meth:`time_step_cap`); raises CaseError if it does not validate."""
        data = copy.deepcopy(self.base_data)
        for text in self.experiments[experiment] if experiment is not None else ():
            apply_override(data, *parse_override(text, self.path), self.path)
        for parameter, value in zip(self.parameters, values, strict=True):
            apply_override(data, parameter.key, float(value), self.path)
        if name is not None:
            data["name"] = name
        cap = self.time_step_cap(experiment)
        if cap is not None:
            steps = data.setdefault("solver", {}).setdefault("time_step", {})
            steps["max"] = min(cap, steps.get("max") or cap)
            steps["initial"] = min(steps.get("initial", cap), steps["max"])
        return case_from_dict(data, self.base_path)

    def evaluation_case(self, values: list[float] | np.ndarray, name: str, experiment: int = 0) -> Case:
        """:meth:`case_at` as a fit runs it for ``experiment``: rows at its curves' measured times
        (``output.times``, the integrator's dense output), no snapshots, probes or field series beyond
        the first and last states."""
        case = self.case_at(values, name, experiment)
        times = sorted({float(t) for c in self._curves_of(experiment) if c.x_kind == "time" for t in c.x})
        case.output = case.output.model_copy(update={
            "snapshots": Snapshots(depth_of_discharge=[]), "probes": [], "fields_every": None,
            "fields_interval": MAX_TIME, "times": times or None})
        return case

    def _curves_of(self, experiment: int | None) -> list[LoadedCurve]:
        return [c for c in self.curves if experiment is None or c.group == experiment]

    def time_step_cap(self, experiment: int | None = None) -> float | None:
        """The cap on the model's time step for ``experiment`` (None: every curve), s:
        ``fit.max_time_step``, else :data:`STEPS_PER_SPACING` steps per spacing of its measured points."""
        if self.spec.fit.max_time_step is not None:
            return self.spec.fit.max_time_step
        spacings = [_median_spacing(c.x) * self._seconds_per_x(c) / STEPS_PER_SPACING for c in self._curves_of(experiment)]
        spacings = [s for s in spacings if math.isfinite(s) and s > 0]
        return min(spacings) if spacings else None

    def _seconds_per_x(self, curve: LoadedCurve) -> float:
        """1 for a time curve; for a capacity curve the seconds per C/kg at its experiment's first C-rate."""
        if curve.x_kind == "time":
            return 1.0
        cases = getattr(self, "experiment_cases", None)
        case = cases[curve.group] if cases else self.base_case
        rate = next((step.c_rate for step in case.protocol if step.c_rate is not None), None)
        return 3600.0 / rate / specific_capacity_per_dod(case) if rate else math.nan

    def _experiment_case(self, experiment: int) -> Case:
        """The case of ``experiment`` at the starting values: its ``set`` checked once, up front."""
        index = next(i for i, c in enumerate(self.curves) if c.group == experiment)
        try:
            return self.case_at([p.initial for p in self.parameters], experiment=experiment)
        except CaseError as exc:
            raise CaseError(f"the base case with this curve's set does not validate: {exc.message}", file=self.path,
                            key=f"fit.curves.{index}.set") from None

    def _parameter(self, index: int, spec: FitParameter) -> ResolvedParameter:
        where = f"fit.parameters.{index}"
        key = normalise_key(spec.key)
        current = self._number_at(key, f"{where}.key")
        lower, upper = (self._si(key, b, f"{where}.bounds") for b in spec.bounds)
        initial = current if spec.initial is None else self._si(key, spec.initial, f"{where}.initial")
        if not lower < upper:
            raise CaseError(f"expected bounds [lower, upper] with lower < upper, got [{lower:g}, {upper:g}]",
                            file=self.path, key=f"{where}.bounds")
        if not lower <= initial <= upper:
            what = "the base case's value" if spec.initial is None else "initial"
            raise CaseError(f"{what} {initial:g} lies outside the bounds [{lower:g}, {upper:g}]",
                            file=self.path, key=f"{where}.initial")
        scale = spec.scale or ("log" if lower > 0 else "linear")
        if scale == "log" and lower <= 0:
            raise CaseError(f"a log scale needs a lower bound > 0, got {lower:g}", file=self.path, key=f"{where}.scale")
        return ResolvedParameter(key, lower, upper, initial, scale)

    def _number_at(self, key: str, where: str) -> float:
        node: Any = self.base_data
        for part in key.split("."):
            if isinstance(node, dict) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise CaseError(f"{key!r} is not a key of the resolved base case {self.base_path} ({part!r} not "
                                "found; 'ecmx schema' lists the keys, list items by index: value.3)",
                                file=self.path, key=where)
        if isinstance(node, bool) or not isinstance(node, int | float):
            raise CaseError(f"{key!r} is {short_repr(node)} in the resolved base case: expected a key holding a "
                            "number", file=self.path, key=where)
        return float(node)

    def _si(self, key: str, value: Bound, where: str) -> float:
        """``value`` of ``key`` in SI, read back from the base case validated with it."""
        data = copy.deepcopy(self.base_data)
        apply_override(data, key, value, self.path)
        try:
            case = case_from_dict(data, self.base_path)
        except CaseError as exc:
            raise CaseError(f"{short_repr(value)} is not a valid value of {key}: {exc.message}", file=self.path,
                            key=where) from None
        node: Any = case.to_dict()
        for part in key.split("."):
            node = node[int(part)] if isinstance(node, list) else node[part]
        return float(node)

    def _curve(self, index: int, spec: FitCurve) -> LoadedCurve:
        where = f"fit.curves.{index}"
        path = inside(self.path, spec.file, f"{where}.file", "measured-data file")
        curve = read_measured_curve(path, require=("voltage",), key=f"{where}.file", named_in=self.path)
        x = self._x_values(curve, spec, where)
        group = self.experiments.index(tuple(spec.set))
        return LoadedCurve(spec.name or _label(path.stem), spec.x, x, curve["voltage"], spec.weight, path, group)

    def _x_values(self, curve: MeasuredCurve, spec: FitCurve, where: str) -> np.ndarray:
        if spec.x == "time":
            if "time" not in curve:
                raise CaseError(f"{curve.path} has no time column: expected one (e.g. time_s) for x: time",
                                file=self.path, key=f"{where}.x")
            return curve["time"] - curve["time"][0]
        if "specific_capacity" in curve:
            return np.abs(curve["specific_capacity"])
        if "capacity" in curve and spec.active_mass is not None:
            return np.abs(curve["capacity"]) / spec.active_mass
        need = "a capacity column in charge units needs active_mass" if "capacity" in curve else "no capacity column"
        raise CaseError(f"{curve.path}: {need}; expected a specific capacity (e.g. capacity [mAh/g]) or a capacity "
                        "with active_mass for x: capacity", file=self.path, key=f"{where}.x")


def _median_spacing(x: np.ndarray) -> float:
    steps = np.abs(np.diff(x))
    steps = steps[steps > 0]
    return float(np.median(steps)) if steps.size else math.nan


def _label(stem: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", stem).lstrip(".") or "curve"


def inside(fit_file: Path, target: Path, key: str, what: str) -> Path:
    """``target`` (relative to the fit file) resolved, after checking it is a regular file inside the
    fit file's directory (links followed); CaseError naming ``key`` otherwise."""
    directory = fit_file.parent.resolve()
    path = (target.expanduser() if target.expanduser().is_absolute() else directory / target).resolve()
    if not path.is_relative_to(directory):
        raise CaseError(f"{target} lies outside the fit file's directory {directory}: expected a path inside it "
                        "(copy or link the file there)", file=fit_file, key=key)
    max_bytes = MAX_YAML_BYTES if what == "base case file" else MAX_CSV_BYTES
    return check_regular_file(path, key=key, what=what, max_bytes=max_bytes, named_in=fit_file)


def specific_capacity_per_dod(case: Case) -> float:
    """Charge per mass of active material for a depth of discharge of 1, C/kg."""
    return F * case.material.usable_concentration / case.material.density


def load_fit(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> FitProblem:
    """Read and validate a fit file, its base case (with ``overrides`` after ``fit.set``) and its curves."""
    path = Path(path).resolve()
    data = read_yaml(path, what="fit file")
    if "fit" not in data:
        raise CaseError("not a fit file: expected a top-level 'fit:' mapping", file=path, key="fit")
    try:
        spec = FitFile.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, FitFile, path) from None
    return FitProblem(path, spec, list(overrides))


__all__ = ["FitFile", "FitParameter", "FitProblem", "FitSpec", "LoadedCurve", "ResolvedParameter", "load_fit",
           "normalise_key", "specific_capacity_per_dod"]

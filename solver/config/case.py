"""The case schema: what a YAML case file may say, validated with pydantic and converted to SI.

The format is the contract of ``docs/case-format.md``. Loading a case resolves library names,
``base:`` overrides and ``--set`` dot-path overrides, converts every quantity to SI (pint) and
checks ranges. Anything wrong raises :class:`~ecmx.solver.errors.CaseError` naming the file, the
key path and what was expected, before any mesh or solve starts.

This module holds the run's own sections (initial state, protocol, mechanics, solver settings,
output) and :class:`Case`; materials and electrolytes are in
:mod:`~ecmx.solver.config.materials`, the geometry in :mod:`~ecmx.solver.config.geometry`.

Case files are untrusted input, so every number must be finite (``inf``/``NaN`` are refused
everywhere) and every quantity that sets the cost of a run lies in a documented range: the
temperature, geometry lengths, times, C-rates and currents, the sphere-1d element count and an
estimate of the generated mesh's cell count (checked before gmsh runs). A case ``name`` names the
results directory, so it is a plain file name.
"""

from __future__ import annotations

import copy
import typing
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, PrivateAttr, ValidationError, field_validator, model_validator

from ecmx.solver.config.geometry import Geometry
from ecmx.solver.config.library import resolve_entry
from ecmx.solver.config.materials import Electrolyte, Material
from ecmx.solver.config.messages import validation_error
from ecmx.solver.config.overrides import apply_override, parse_override
from ecmx.solver.config.profile import RadialProfile, resolve_profile_file
from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.config.schema import Fraction, PlainName, Schema, Seed, plain_name_from
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_MESH_BYTES, check_regular_file
from ecmx.solver.units import Current, CurrentDensity, Length, Temperature, Time, Voltage, VoltageRate

MIN_TEMPERATURE, MAX_TEMPERATURE = 150.0, 600.0
"""Accepted temperatures, K (the liquid electrolyte model and its Arrhenius-free data hold far inside)."""

MAX_TIME = 1e8
"""Longest step duration, time limit or time step, s (about three years)."""

MAX_C_RATE = 1000.0
"""Largest C-rate (1C discharges the usable capacity in one hour)."""

MAX_CURRENT = 1000.0
"""Largest step current, A."""

MAX_CURRENT_DENSITY = 1e6
"""Largest step current density, A/m² of particle surface."""

MIN_SWEEP_VOLTAGE, MAX_SWEEP_VOLTAGE = 0.0, 10.0
"""Accepted vertex voltages of a voltage sweep, V against Na⁺/Na (0 V: Na plating; no electrolyte
of the model holds beyond a few volts, 10 V only bounds the input)."""

MIN_SWEEP_SPAN = 1e-3
"""Smallest distance between the two limits of a voltage sweep, V."""

MAX_SWEEP_RATE = 100.0
"""Largest scan rate of a voltage sweep, V/s (the slowest is bounded by the step's length, MAX_TIME)."""

MAX_SWEEP_CYCLES = 10_000
"""Most cycles of one voltage sweep."""

DEFAULT_ELECTROLYTE = "naclo4-ec-pc"
"""The library electrolyte of a case that names none."""


class Initial(Schema):
    """Initial state: a state of charge (1 = charged, Na-poor) or a stoichiometry θ₀."""

    state_of_charge: Fraction | None = Field(
        None, description="initial state of charge, dimensionless (1: charged, θ = θ_lo; the default)"
    )
    stoichiometry: Fraction | None = Field(None, description="initial θ₀ = c_s/c_s,max, dimensionless")
    profile: RadialProfile | None = Field(
        None, description="a radial profile θ(r) from the particle centre: {file: theta.csv} (columns r with a unit,"
        " stoichiometry; relative to the case file, inside its directory) or {radius: [m...], stoichiometry: [...]}")

    @model_validator(mode="after")
    def _one(self) -> Initial:
        given = [k for k in ("state_of_charge", "stoichiometry", "profile") if getattr(self, k) is not None]
        if len(given) > 1:
            raise ValueError(f"give one of state_of_charge, stoichiometry, profile; got {', '.join(given)}")
        return self


Duration = Annotated[Time, Field(gt=0, le=MAX_TIME, description=f"a duration in s, > 0 and at most {MAX_TIME:g} s")]
CRate = Annotated[float, Field(gt=0, le=MAX_C_RATE, description=f"a C-rate, > 0 and at most {MAX_C_RATE:g}")]


class Until(Schema):
    """End conditions of a protocol step; the first one reached ends it."""

    voltage: Voltage | None = Field(None, description="cell voltage that ends the step, V against Na⁺/Na")
    depth_of_discharge: Fraction | None = Field(
        None, description="depth of discharge that ends the step, dimensionless (0 charged, 1 discharged)"
    )
    state_of_charge: Fraction | None = Field(
        None, description="state of charge that ends the step, dimensionless (1 charged, 0 discharged)"
    )
    time: Duration | None = Field(None, description="time limit of the step, s (the same as duration)")
    duration: Duration | None = Field(None, description="time limit of the step, s (the same as time)")
    c_rate: CRate | None = Field(None, description="a hold ends when the current magnitude falls to this C-rate, multiples of 1C")

    @property
    def any(self) -> bool:
        """Whether any end condition is given."""
        return any(v is not None for v in self.model_dump().values())

    @property
    def time_limit(self) -> float | None:
        """Step duration limit in s (``time`` and ``duration`` are synonyms)."""
        limits = [t for t in (self.time, self.duration) if t is not None]
        return min(limits) if limits else None


PositiveCurrent = Annotated[
    Current, Field(gt=0, le=MAX_CURRENT, description=f"a current in A, > 0 and at most {MAX_CURRENT:g} A")
]
PositiveCurrentDensity = Annotated[
    CurrentDensity,
    Field(gt=0, le=MAX_CURRENT_DENSITY, description=f"a current density in A/m², > 0 and at most {MAX_CURRENT_DENSITY:g}"),
]


SweepVoltage = Annotated[
    Voltage, Field(ge=MIN_SWEEP_VOLTAGE, le=MAX_SWEEP_VOLTAGE,
                   description=f"a vertex voltage in V, within [{MIN_SWEEP_VOLTAGE:g}, {MAX_SWEEP_VOLTAGE:g}] V")]
SWEEP_KEYS = ("rate", "limits", "cycles", "start")
"""The keys only a voltage_sweep step takes."""


class Step(Schema):
    """One protocol step. Currents are magnitudes; the step kind gives the sign (charge > 0)."""

    step: Literal["discharge", "charge", "hold", "rest", "gitt", "voltage_sweep"] = Field(
        description="discharge or charge at a current, hold at a voltage, rest at zero current, gitt pulses,"
        " voltage_sweep: cyclic voltammetry (a triangle voltage between two limits)"
    )
    c_rate: CRate | None = Field(None, description="current as a C-rate, multiples of 1C (1C passes the usable capacity in 1 h)")
    current_density: PositiveCurrentDensity | None = Field(
        None, description="current per particle surface area, A/m² (a magnitude)"
    )
    current: PositiveCurrent | None = Field(None, description="cell current, A (a magnitude)")
    voltage: Voltage | None = Field(None, description="voltage of a hold step, V against Na⁺/Na")
    duration: Duration | None = Field(None, description="length of the step, s (of each pulse for gitt)")
    rest_duration: Duration | None = Field(None, description="rest after each gitt pulse, s")
    repeat: Annotated[int, Field(ge=1, le=100_000)] | None = Field(None, description="number of gitt pulses (count), 1 to 100000")
    direction: Literal["discharge", "charge"] = Field("discharge", description="direction of the gitt pulses")
    rate: Annotated[VoltageRate, Field(gt=0, le=MAX_SWEEP_RATE)] | None = Field(
        None, description=f"scan rate of a voltage_sweep, V/s (> 0, at most {MAX_SWEEP_RATE:g} V/s; e.g. '0.1 mV/s')")
    limits: tuple[SweepVoltage, SweepVoltage] | None = Field(
        None, description="the two vertex voltages of a voltage_sweep, V against Na⁺/Na (either order, at least"
        f" {MIN_SWEEP_SPAN * 1e3:g} mV apart)")
    cycles: Annotated[int, Field(ge=1, le=MAX_SWEEP_CYCLES)] | None = Field(
        None, description=f"cycles of a voltage_sweep (count, 1 to {MAX_SWEEP_CYCLES}; default 1), each from the"
        " step's start voltage to the first vertex, the second vertex and back")
    start: Literal["down", "up"] | None = Field(
        None, description="first sweep direction of a voltage_sweep: down (towards the lower limit first) or up;"
        " default: towards the limit farther from the start voltage")
    until: Until = Field(Until(), description="end conditions; the first one reached ends the step")

    @field_validator("limits")
    @classmethod
    def _distinct_limits(cls, limits: tuple[float, float] | None) -> tuple[float, float] | None:
        if limits is not None and abs(limits[1] - limits[0]) < MIN_SWEEP_SPAN:
            raise ValueError(f"expected two limits at least {MIN_SWEEP_SPAN * 1e3:g} mV apart, got {limits[0]:g} V"
                             f" and {limits[1]:g} V")
        return limits

    @model_validator(mode="after")
    def _complete(self) -> Step:
        rates = [k for k in ("c_rate", "current_density", "current") if getattr(self, k) is not None]
        kind = self.step
        sweep_keys = [k for k in SWEEP_KEYS if getattr(self, k) is not None]
        if kind != "voltage_sweep" and sweep_keys:
            raise ValueError(f"a {kind} step takes no {', '.join(sweep_keys)} (keys of a voltage_sweep step)")
        if kind == "voltage_sweep":
            self._check_sweep(rates)
        if kind in ("discharge", "charge", "gitt") and len(rates) != 1:
            raise ValueError(f"a {kind} step needs exactly one of c_rate, current_density, current; got {rates or 'none'}")
        if kind in ("hold", "rest") and rates:
            raise ValueError(f"a {kind} step takes no {', '.join(rates)}")
        if kind == "hold" and self.voltage is None:
            raise ValueError("a hold step needs 'voltage'")
        if kind in ("discharge", "charge") and not self.until.any and self.duration is None:
            raise ValueError(
                f"a {kind} step has no end condition: expected 'until' with voltage, depth_of_discharge,"
                " state_of_charge or time (or a 'duration')"
            )
        if kind == "hold" and not self.until.any and self.duration is None:
            raise ValueError("a hold step has no end condition: expected 'until: {c_rate: ...}' or a time/duration")
        if kind == "rest" and self.duration is None and self.until.time_limit is None:
            raise ValueError("a rest step has no end condition: expected 'duration' (or until: {time: ...})")
        if kind == "gitt":
            if self.duration is None or self.rest_duration is None:
                raise ValueError("a gitt step needs 'duration' (pulse length) and 'rest_duration'")
            if self.repeat is None and not self.until.any:
                raise ValueError("a gitt step has no end condition: expected 'repeat' or 'until'")
        return self

    def _check_sweep(self, rates: list[str]) -> None:
        """A voltage_sweep needs its rate and limits, takes no current or hold voltage, and lasts at most
        MAX_TIME from vertex to vertex over all its cycles."""
        missing = [k for k in ("rate", "limits") if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a voltage_sweep step needs {' and '.join(repr(k) for k in missing)}"
                             " (e.g. rate: 0.1 mV/s, limits: [2.5 V, 4.0 V])")
        extra = [*rates, *(["voltage"] if self.voltage is not None else [])]
        if extra:
            raise ValueError(f"a voltage_sweep step takes no {', '.join(extra)}")
        length = 2.0 * (self.cycles or 1) * abs(self.limits[1] - self.limits[0]) / self.rate
        if length > MAX_TIME:
            raise ValueError(f"a voltage_sweep of {self.cycles or 1} cycles at rate {self.rate:g} V/s lasts {length:.3g} s,"
                             f" more than {MAX_TIME:g} s: raise 'rate' or lower 'cycles'")

    @property
    def sign(self) -> float:
        """+1 for charge (anodic, Na extraction), −1 for discharge; 0 for hold and rest."""
        kind = self.direction if self.step == "gitt" else self.step
        return {"charge": 1.0, "discharge": -1.0}.get(kind, 0.0)


class Mechanics(Schema):
    """Diffusion-induced stress in the particles."""

    enabled: bool = Field(True, description="solve for the diffusion-induced stress (true/false)")
    coupling: Literal["one-way", "two-way"] = Field(
        "one-way", description="one-way: stress from concentration; two-way: the hydrostatic stress also drives diffusion"
    )
    degree: Literal[1, 2] = Field(2, description="polynomial degree of the displacement elements (2: quadratic, recommended)")
    orientation: Literal["random"] | list[list[list[float]]] | None = Field(
        None,
        description="crystal frames for lattice expansion: 'random' (seeded), or one 3×3 rotation matrix per"
        " particle; none: the crystal frame is the mesh frame",
    )
    seed: Seed = Field(0, description="random seed of the 'random' orientations")
    rollers: bool = Field(False, description="particles on the box walls slide without normal motion (3D; true/false)")
    linear_solver: Literal["auto", "direct", "iterative"] = Field(
        "auto", description="elasticity solve: direct (MUMPS Cholesky), iterative (CG + GAMG with the rigid-body"
        " modes) or auto (iterative on 3D meshes of more than 150k displacement DOFs, where the factorisation"
        " dominates memory and time; direct otherwise)"
    )


class TimeStep(Schema):
    """Time-step limits, s, within (0, MAX_TIME]. The error control (``solver.rtol``/``atol``) chooses
    the steps; these only bound them."""

    initial: Duration = Field(
        0.01, description="first step after the start and after every restart (a protocol step or control change), s")
    max: Duration | None = Field(
        None, description="optional cap on the time step, s (default: none; the error control sets the step)")
    min: Duration = Field(1e-6, description="smallest time step, s; a failure at this size stops the run")
    growth: Annotated[float, Field(gt=1)] = Field(
        2.0, description="largest growth factor (> 1) of the step from one step to the next (the integrator uses at most 2)")
    cut: Annotated[float, Field(gt=0, lt=1)] = Field(0.5, description="factor in (0, 1) applied after a failed Newton solve")

    @model_validator(mode="after")
    def _ordered(self) -> TimeStep:
        if not self.min <= self.initial <= (self.max if self.max is not None else MAX_TIME):
            raise ValueError(f"expected min <= initial <= max, got {self.min}, {self.initial}, {self.max} s")
        return self


class NewtonTolerances(Schema):
    """Explicit Newton tolerances (by default they follow from ``solver.rtol``)."""

    rtol: Annotated[float, Field(gt=0, lt=1)] = Field(
        1e-8, description="Newton relative tolerance of the residual, dimensionless")
    atol: Annotated[float, Field(gt=0)] = Field(
        1e-10, description="Newton absolute tolerance of the scaled residual, as a fraction of the 1C current"
    )
    max_iterations: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, description="Newton iterations per step (default: solver.max_newton_iterations)"
    )


NEWTON_FRACTION = 1e-2
"""The derived Newton tolerances are this fraction of ``solver.rtol`` (relative residual) and of
``1e-2 rtol`` (absolute, in units of the 1C current): 1e-8 and 1e-10 at the default rtol 1e-6, so
that the Na balance closes to 1e-10 of the charge passed and Newton's error stays far below the
integration error."""


PHASE_FIELD_RTOL = 1e-4
"""``solver.rtol`` of a case with a phase-field material that sets none. The θ of a phase-field particle
enters the error norm on the scale of its range (``error_magnitudes``), so rtol is an absolute θ
tolerance there. Measured on cases/examples/phase-field-sphere1d.yaml against an rtol-1e-8 run
(bench/bench_phase_field.py): 182 steps, the voltage within 0.09 mV and the depth of discharge at the
cut-off within 3e-5 (at 1e-6: 726 steps, 0.004 mV, 2.5 times the CPU time)."""


class SolverSettings(Schema):
    """Error control of the time integration (variable-order BDF), time-step limits, Newton, the linear solver and
    the step-count guard."""

    time_step: TimeStep = Field(TimeStep(), description="time-step limits, s")
    rtol: Annotated[float, Field(gt=0, lt=1)] = Field(
        1e-6, description="relative tolerance of the local time-integration error of the solution, dimensionless"
        " (default 1e-6; 1e-4 for a phase-field material); θ's error is measured on θ's range [0, 1], ĉ's relative to ĉ,"
        " the cell voltage's relative to V away from restarts"
    )
    atol: Annotated[float, Field(gt=0)] = Field(
        1e-8, description="absolute tolerance of the local time-integration error of θ = c_s/c_s,max and c/c₀"
    )
    newton: NewtonTolerances | None = Field(None, description="explicit Newton tolerances (default: derived from rtol)")
    max_newton_iterations: Annotated[int, Field(ge=1, le=1000)] = Field(25, description="Newton iterations per time step, count")
    linear_solver: Literal["auto", "mumps", "fieldsplit", "ilu", "gmres-lu"] = Field(
        "auto",
        description="auto: fieldsplit on 3D meshes (measured fastest on 1 and 2 ranks, bench/bench_solver.py;"
        " per Newton iteration on one rank 1.5-2.6x cheaper than MUMPS at 3k-26k DOFs, and 1.6-1.9x with a phase-field"
        " particle, whose (theta, mu) blocks fieldsplit solves together by LU), MUMPS for sphere-1d and axisymmetric-2d"
        " (small systems, exact linear solves). The Krylov solvers (fieldsplit, ilu) keep their preconditioner across"
        " Newton iterations and steps until their iterations double or the step changes by more than a factor 2;"
        " gmres-lu: GMRES preconditioned with MUMPS LU factors kept while it converges in at most 6 iterations"
        " (robust; per Newton iteration 1.1-1.8x dearer than fieldsplit at 3k-26k DOFs, more memory)",
    )
    max_steps: Annotated[int, Field(ge=1)] = Field(
        200_000, description="step-count guard: a run that needs more accepted time steps stops (status failed)"
    )

    def newton_tolerances(self) -> NewtonTolerances:
        """The Newton tolerances: ``newton`` when given, else a fraction NEWTON_FRACTION of rtol."""
        if self.newton is not None:
            return self.newton.model_copy(update={
                "max_iterations": self.newton.max_iterations or self.max_newton_iterations})
        return NewtonTolerances(rtol=NEWTON_FRACTION * self.rtol, atol=NEWTON_FRACTION * 1e-2 * self.rtol,
                                max_iterations=self.max_newton_iterations)


class Probe(Schema):
    """A point (m) whose values are written every step: (x, y, z), (r, z) or (r) by geometry dimension."""

    name: str = Field(description="the probe's name (the probe column of probes.csv)")
    point: Annotated[list[Length], Field(min_length=1, max_length=3)] = Field(
        description="(x, y, z), (r, z) or (r) by geometry dimension, m"
    )


class Snapshots(Schema):
    """States at which the full fields are written."""

    depth_of_discharge: list[Fraction] = Field([0.1, 0.5, 0.9], description="depths of discharge, dimensionless")


DEFAULT_FIELDS_INTERVAL = 60.0
"""Field-file interval [s] when neither output.fields_every nor output.fields_interval is given: 1 %
of a 1C discharge per frame, a smooth ParaView animation at a fraction of the cost of every step."""


MAX_OUTPUT_TIMES = 1_000_000
"""Most rows ``output.times`` may ask for."""


OutputTimes = Annotated[list[Annotated[Time, Field(ge=0, le=MAX_TIME)]], Field(max_length=MAX_OUTPUT_TIMES)]


class OutputInterval(Schema):
    """Output rows every ``every`` seconds from the start of the run."""

    every: Duration = Field(description="interval between output rows, s")


class Output(Schema):
    """Where and what to write. A relative directory is relative to the working directory."""

    directory: Path | None = Field(None, description="the results directory (default results/<name>)")
    snapshots: Snapshots = Field(Snapshots(), description="states at which the full fields are written")
    probes: list[Probe] = Field([], description="points whose values are written every step")
    fields_every: Annotated[int, Field(ge=1)] | None = Field(
        None, description="write the field files every N accepted steps (default: by fields_interval only)"
    )
    fields_interval: Duration | None = Field(
        None,
        description="write the field files at the first state at or after every multiple of this simulated "
        f"time, s (default {DEFAULT_FIELDS_INTERVAL:g} s when fields_every is not given either)",
    )
    times: OutputTimes | OutputInterval | None = Field(
        None, description="times (a list, s from the start) or an interval ({every: s}) at which timeseries_times.csv"
        " gets a row interpolated from the integrator's accepted steps")
    max_field_bytes: Annotated[int, Field(ge=1)] = Field(
        20_000_000_000,
        description="output-volume guard, bytes: a run stops (status failed) once its field data (.bin files) exceed it",
    )


class Case(Schema):
    """A fully resolved single run.

    ``name`` names the results directory (``results/<name>``, ``<comparison>/<name>``), so it is a
    plain name: letters, digits, '.', '_' and '-', not starting with '.', without '..', at most
    MAX_NAME_LENGTH characters. The file the case was read from is ``source_path`` (not a key).
    """

    name: PlainName = Field(description="names the results directory (default: the case file's stem)")
    description: str = Field("", description="free text, for reports")
    material: Material = Field(description="a library name, a YAML file or a mapping (with optional base:)")
    electrolyte: Electrolyte = Field(
        description=f"a library name, a YAML file or a mapping (with optional base:); default {DEFAULT_ELECTROLYTE}"
    )
    temperature: Annotated[
        Temperature,
        Field(
            ge=MIN_TEMPERATURE,
            le=MAX_TEMPERATURE,
            description=f"cell temperature in K, within [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}] K",
        ),
    ] = 298.15
    geometry: Geometry = Field(Geometry(), description="the cell geometry and its mesh, m")
    initial: Initial = Field(Initial(), description="the initial state of charge or stoichiometry")
    protocol: Annotated[list[Step], Field(min_length=1)] = Field(description="the protocol steps, run in order (at least one)")
    mechanics: Mechanics = Field(Mechanics(), description="diffusion-induced stress")
    solver: SolverSettings = Field(SolverSettings(), description="time stepping and solver settings")
    output: Output = Field(Output(), description="where and what to write")
    _source_path: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        """The case file this case was read from (None for a case built from data)."""
        return self._source_path

    @source_path.setter
    def source_path(self, path: Path | None) -> None:
        self._source_path = path

    def initial_stoichiometry(self) -> float:
        """θ₀ from ``initial`` (default: fully charged, θ = θ_lo); for a profile its volume mean over a sphere
        of the particle radius (the volume-equivalent radius of an ellipsoid, the mean of an agglomerate's)."""
        lo, hi = self.material.stoichiometry_window
        if self.initial.profile is not None:
            return self.initial.profile.sphere_mean(equivalent_radius(self.geometry))
        if self.initial.stoichiometry is not None:
            return self.initial.stoichiometry
        soc = 1.0 if self.initial.state_of_charge is None else self.initial.state_of_charge
        return hi - soc * (hi - lo)

    def output_directory(self) -> Path:
        """``output.directory``, or ``results/<name>``."""
        return self.output.directory if self.output.directory is not None else Path("results") / self.name

    def to_dict(self) -> dict[str, Any]:
        """The resolved case as plain data (SI numbers), loadable again with :func:`case_from_dict`."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self) -> str:
        """The resolved case as YAML (SI numbers), with a header naming its source file."""
        header = f"# ecmx resolved case (SI units){f' from {self.source_path}' if self.source_path else ''}\n"
        return header + yaml.dump(self.to_dict(), Dumper=YAML_DUMPER, sort_keys=False, width=100)


YAML_DUMPER = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
"""The safe dumper of :meth:`Case.to_yaml`: libyaml's emitter where PyYAML has it (every run writes its
``case.yaml``: 6 ms instead of 30 ms; the same text but where a long quoted string is folded)."""


def _resolve_sections(data: dict[str, Any], file: Path | None) -> None:
    """Fill, in place, what the case file may leave to the loader: library entries made mappings, the
    default electrolyte and name, a mesh-file path made absolute (relative to the case file)."""
    for section in ("material", "electrolyte"):
        if section not in data:
            if section == "electrolyte":
                data[section] = DEFAULT_ELECTROLYTE
            else:
                raise CaseError("missing required key: expected a library name (e.g. nvp) or a mapping", file=file, key=section)
        data[section] = resolve_entry(data[section], file, section)
    data.setdefault("name", plain_name_from(file.stem) if file is not None else "case")
    _resolve_profile(data, file)
    geometry = data.get("geometry")
    if isinstance(geometry, dict) and isinstance(geometry.get("file"), str) and file is not None:
        mesh_path = Path(geometry["file"]).expanduser()
        geometry["file"] = str(mesh_path if mesh_path.is_absolute() else (file.parent / mesh_path).resolve())


def equivalent_radius(geometry: Geometry) -> float:
    """The radius [m] of the sphere of a particle's volume: the sphere's (an irregular particle's mean), an
    ellipsoid's (abc)^(1/3), an agglomerate's mean radius."""
    if geometry.kind == "agglomerate":
        return geometry.agglomerate.radius_mean
    if geometry.particle.shape == "ellipsoid":
        a, b, c = geometry.particle.semi_axes  # type: ignore[misc]
        return float((a * b * c) ** (1.0 / 3.0))
    return geometry.particle.radius


def _resolve_profile(data: dict[str, Any], file: Path | None) -> None:
    """``initial.profile: {file: ...}`` becomes the file's table, in place (the resolved case holds it inline)."""
    initial = data.get("initial")
    profile = initial.get("profile") if isinstance(initial, dict) else None
    if isinstance(profile, dict) and "file" in profile:
        if not isinstance(profile["file"], str) or len(profile) > 1:
            raise CaseError("expected {file: <CSV path>} alone, or an inline {radius: [...], stoichiometry: [...]}",
                            file=file, key="initial.profile")
        initial["profile"] = resolve_profile_file(profile["file"], file)


def _check_profile(case: Case, file: Path | None) -> None:
    """A profile reaches the particle surface (sphere particles; other shapes are checked on the mesh), lies
    inside (0, 1) for a phase-field material and does not come with its seeded perturbation."""
    profile = case.initial.profile
    if profile is None:
        return
    geometry, pf = case.geometry, case.material.phase_field
    if geometry.kind != "agglomerate" and geometry.particle.shape == "sphere" and geometry.kind != "mesh-file":
        radius = geometry.particle.radius
        if profile.radius[-1] < radius * (1.0 - 1e-9):
            raise CaseError(f"the profile ends at r = {profile.radius[-1]:g} m, inside the particle of radius {radius:g} m:"
                            " expected radii covering [0, R]", file=file, key="initial.profile.radius")
    if pf is None:
        return
    if not 0.0 < min(profile.stoichiometry) <= max(profile.stoichiometry) < 1.0:
        raise CaseError("a phase-field particle needs θ strictly inside (0, 1) (its chemical potential diverges at"
                        f" 0 and 1), the profile spans [{min(profile.stoichiometry):g}, {max(profile.stoichiometry):g}]",
                        file=file, key="initial.profile.stoichiometry")
    if pf.initial_perturbation is not None:
        raise CaseError("an initial profile and material.phase_field.initial_perturbation exclude each other:"
                        " put the perturbation into the profile", file=file, key="initial.profile")


def _default_tolerance(case: Case) -> Case:
    """The case with ``solver.rtol`` = PHASE_FIELD_RTOL when its material is a phase-field one and it sets none."""
    if case.material.phase_field is None or "rtol" in case.solver.model_fields_set:
        return case
    return case.model_copy(update={"solver": case.solver.model_copy(update={"rtol": PHASE_FIELD_RTOL})})


def case_from_dict(data: dict[str, Any], file: Path | None = None, overrides: typing.Sequence[str] = ()) -> Case:
    """Validate a case mapping (as read from YAML) into a :class:`Case`; raises CaseError."""
    data = copy.deepcopy(data)
    for text in overrides:
        k, v = parse_override(text, file)
        apply_override(data, k, v, file)
    _resolve_sections(data, file)
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, Case, file) from None
    _check_profile(case, file)
    case = _default_tolerance(case)
    if case.geometry.kind == "mesh-file":
        # existence, type and size only: the mesh's format is checked when it is read (ecmx.meshes)
        check_regular_file(case.geometry.file, key="geometry.file", what="mesh file", max_bytes=MAX_MESH_BYTES, named_in=file)
    case.source_path = file
    return case


def load_case(path: str | Path, overrides: typing.Sequence[str] = ()) -> Case:
    """Read, resolve and validate a case file."""
    path = Path(path)
    data = read_yaml(path, what="case file")
    for top in ("sweep", "compare"):
        if top in data:
            raise CaseError(f"this is a {top} file, not a single case: use 'ecmx {top}'", file=path, key=top)
    return case_from_dict(data, path.resolve(), overrides)


__all__ = [
    "Case",
    "Initial",
    "Mechanics",
    "Output",
    "Probe",
    "Snapshots",
    "SolverSettings",
    "Step",
    "TimeStep",
    "Until",
    "case_from_dict",
    "load_case",
]

"""The case schema: what a YAML case file may say, validated with pydantic and converted to SI.

The format is the contract of ``shared/CASE_FORMAT.md``. Loading a case resolves library names,
``base:`` overrides and ``--set`` dot-path overrides, converts every quantity to SI (pint) and
checks ranges. Anything wrong raises :class:`~ecmx.solver.errors.CaseError` naming the file, the
key path and what was expected, before any mesh or solve starts.

Case files are untrusted input, so every number must be finite (``inf``/``NaN`` are refused
everywhere) and every quantity that sets the cost of a run lies in a documented range: the
temperature, geometry lengths, times, C-rates and currents, the sphere-1d element count and an
estimate of the generated mesh's cell count (:data:`MAX_MESH_CELLS`, checked before gmsh runs).
A case ``name`` names the results directory, so it is a plain file name.
"""

from __future__ import annotations

import copy
import csv
import difflib
import io
import math
import re
import types
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import numpy as np
import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationError,
    field_validator,
    model_validator,
)

from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_CSV_BYTES, MAX_MESH_BYTES, check_regular_file, read_text_file
from ecmx.solver.config.library import UnsafeYAMLError, describe_yaml_error, load_yaml_text, read_yaml, resolve_entry
from ecmx.solver.units import (
    F,
    Concentration,
    Current,
    CurrentDensity,
    Density,
    Diffusivity,
    Length,
    MolarMass,
    MolarVolume,
    Pressure,
    Temperature,
    Time,
    Voltage,
    short_repr,
    si,
)

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]

MIN_TEMPERATURE, MAX_TEMPERATURE = 150.0, 600.0
"""Accepted temperatures, K (the liquid electrolyte model and its Arrhenius-free data hold far inside)."""

MIN_LENGTH, MAX_LENGTH = 1e-9, 1e-3
"""Accepted geometry lengths (radii, semi-axes, box sizes, gaps, mesh sizes), m."""

MAX_TIME = 1e8
"""Longest step duration, time limit or time step, s (about three years)."""

MAX_C_RATE = 1000.0
"""Largest C-rate (1C discharges the usable capacity in one hour)."""

MAX_CURRENT = 1000.0
"""Largest step current, A."""

MAX_CURRENT_DENSITY = 1e6
"""Largest step current density, A/m² of particle surface."""

MAX_SPHERE_ELEMENTS = 20_000
"""Most elements of a sphere-1d mesh."""

MAX_MESH_CELLS = 2_000_000
"""Most cells a generated 2D or 3D mesh may have by :meth:`Geometry.estimated_cells`, refused before
gmsh runs (a 3D mesh this size needs several GB to build and solve)."""

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


def _check_table(x: list[float], y: list[float], what: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"stoichiometry and {what} must have the same length ({len(x)} != {len(y)})")
    if len(x) < 2:
        raise ValueError("a table needs at least two points")
    if np.any(np.diff(x) <= 0):
        raise ValueError("stoichiometry must be strictly increasing")


class Table(Schema):
    """A property tabulated against stoichiometry θ = c_s/c_s,max."""

    stoichiometry: list[Fraction]
    value: list[float]

    @model_validator(mode="after")
    def _consistent(self) -> Table:
        _check_table(self.stoichiometry, self.value, "value")
        return self


class DiffusivityTable(Table):
    """D_s(θ) in m²/s, interpolated linearly in log D."""

    value: list[Annotated[Diffusivity, Field(gt=0)]]


class OCVTable(Schema):
    """Open-circuit voltage U(θ) in V against Na⁺/Na, interpolated linearly."""

    stoichiometry: list[Fraction]
    voltage: list[Voltage]

    @model_validator(mode="after")
    def _consistent(self) -> OCVTable:
        _check_table(self.stoichiometry, self.voltage, "voltage")
        return self

    @staticmethod
    def read_csv(path: Path) -> dict[str, list[float]]:
        """The table of a CSV file with a header line naming the columns ``stoichiometry`` and ``voltage`` (V).

        The file is read through :func:`ecmx.solver.files.read_text_file` (regular file, at most
        ``MAX_CSV_BYTES``, UTF-8). Raises CaseError naming the file, and the line, for a missing,
        unreadable or malformed file: a missing column, a short row, a cell that is not a finite number.
        """
        text = read_text_file(path, key=None, what="OCV table", max_bytes=MAX_CSV_BYTES)
        columns = ("stoichiometry", "voltage")
        rows = csv.reader(io.StringIO(text, newline=""))
        try:
            header = [h.strip() for h in next(rows, [])]
            if not set(columns) <= set(header):
                raise CaseError(f"expected a header line naming the columns {', '.join(columns)}; got {header}", file=path)
            index = {c: header.index(c) for c in columns}
            table: dict[str, list[float]] = {c: [] for c in columns}
            for row in rows:
                if not row or not any(cell.strip() for cell in row):
                    continue
                if len(row) < len(header):
                    raise CaseError(f"line {rows.line_num}: expected {len(header)} values, got {len(row)}", file=path)
                for c in columns:
                    table[c].append(_csv_number(row[index[c]], f"line {rows.line_num}, column {c!r}", path))
        except csv.Error as exc:
            raise CaseError(f"malformed CSV at line {rows.line_num}: {exc}", file=path) from None
        return table


def _csv_number(cell: str, where: str, path: Path) -> float:
    try:
        number = float(cell)
    except ValueError:
        number = math.nan
    if not math.isfinite(number):
        raise CaseError(f"{where}: expected a finite number, got {short_repr(cell)}", file=path)
    return number


class LatticeTable(Schema):
    """Hexagonal/rhombohedral lattice parameters a(θ), c(θ); only their ratios matter (any length unit)."""

    stoichiometry: list[Fraction]
    a: list[Annotated[float, Field(gt=0)]]
    c: list[Annotated[float, Field(gt=0)]]

    @model_validator(mode="after")
    def _consistent(self) -> LatticeTable:
        _check_table(self.stoichiometry, self.a, "a")
        _check_table(self.stoichiometry, self.c, "c")
        return self


class ChemicalExpansion(Schema):
    """Chemical (intercalation) strain; give exactly one form.

    - ``volume_change`` over ``over`` = (θ1, θ2): isotropic, linear in c_s (ΔV/V between θ1 and θ2);
    - ``partial_molar_volume`` Ω in m³/mol: isotropic linear strain Ω Δc/3;
    - ``volume_change_table``: isotropic ΔV/V(θ) relative to the first table entry;
    - ``lattice``: anisotropic strains from a(θ), c(θ) in each particle's crystal frame.
    Insertion of Na expands the lattice when ``volume_change`` > 0 (tension positive).
    """

    volume_change: float | None = None
    over: tuple[Fraction, Fraction] | None = None
    partial_molar_volume: MolarVolume | None = None
    volume_change_table: Table | None = None
    lattice: LatticeTable | None = None

    @model_validator(mode="after")
    def _one_form(self) -> ChemicalExpansion:
        forms = [f for f in ("volume_change", "partial_molar_volume", "volume_change_table", "lattice") if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(
                "expected exactly one of volume_change (with over), partial_molar_volume, volume_change_table, lattice;"
                f" got {forms or 'none'}"
            )
        if self.volume_change is not None and self.over is None:
            raise ValueError("volume_change needs 'over: [theta1, theta2]', the stoichiometry range it spans")
        if self.over is not None and not self.over[0] < self.over[1]:
            raise ValueError("over must be [theta1, theta2] with theta1 < theta2")
        return self

    @property
    def is_anisotropic(self) -> bool:
        return self.lattice is not None


def _table_or_constant(value: Any) -> str:
    return "table" if isinstance(value, dict | BaseModel) else "constant"


class Material(Schema):
    """An intercalation cathode material. All values SI."""

    name: str
    formula: str = ""
    description: str = ""
    density: Annotated[Density, Field(gt=0)]
    molar_mass: Annotated[MolarMass, Field(gt=0)]
    max_concentration: Annotated[Concentration, Field(gt=0)]
    stoichiometry_window: tuple[Fraction, Fraction]
    diffusivity: Annotated[
        Annotated[Annotated[Diffusivity, Field(gt=0)], Tag("constant")] | Annotated[DiffusivityTable, Tag("table")],
        Discriminator(_table_or_constant),
    ]
    open_circuit_voltage: OCVTable
    exchange_current_density: Annotated[CurrentDensity, Field(gt=0)]
    anodic_transfer_coefficient: Annotated[float, Field(gt=0, lt=1)] = 0.5
    cathodic_transfer_coefficient: Annotated[float, Field(gt=0, lt=1)] = 0.5
    youngs_modulus: Annotated[Pressure, Field(gt=0)]
    poissons_ratio: Annotated[float, Field(gt=-1, lt=0.5)]
    chemical_expansion: ChemicalExpansion
    sources: dict[str, str] = {}

    @field_validator("open_circuit_voltage", mode="before")
    @classmethod
    def _ocv_from_csv(cls, v: Any) -> Any:
        """A string is a CSV file (made absolute, relative to the file naming it, when resolved)."""
        if isinstance(v, str):
            try:
                return OCVTable.read_csv(Path(v))
            except CaseError as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _window(self) -> Material:
        lo, hi = self.stoichiometry_window
        if not lo < hi:
            raise ValueError(f"stoichiometry_window must be [low, high] with low < high, got [{lo}, {hi}]")
        ocv = self.open_circuit_voltage.stoichiometry
        if ocv[0] > lo or ocv[-1] < hi:
            raise ValueError(f"open_circuit_voltage must cover the stoichiometry window [{lo}, {hi}], covers [{ocv[0]}, {ocv[-1]}]")
        return self

    @property
    def usable_concentration(self) -> float:
        """Cycled Na concentration c_s,max (θ_hi − θ_lo), mol/m³."""
        lo, hi = self.stoichiometry_window
        return self.max_concentration * (hi - lo)

    @property
    def capacity_mAh_per_g(self) -> float:
        """Theoretical capacity of the usable window, mAh/g."""
        return F * self.usable_concentration / self.density / 3600.0  # C/kg -> mAh/g

    def diffusivity_at(self, theta: np.ndarray | float) -> np.ndarray:
        """D_s(θ) in m²/s (log-linear interpolation of a table, clamped at its ends)."""
        if isinstance(self.diffusivity, float):
            return np.full_like(np.asarray(theta, dtype=float), self.diffusivity)
        t = self.diffusivity
        return np.exp(np.interp(theta, t.stoichiometry, np.log(t.value)))

    def ocv_at(self, theta: np.ndarray | float) -> np.ndarray:
        """U(θ) in V (linear interpolation, clamped at the table ends)."""
        t = self.open_circuit_voltage
        return np.interp(theta, t.stoichiometry, t.voltage)

    @property
    def partial_molar_volume(self) -> float | None:
        """Isotropic Ω in m³/mol where the expansion is linear in c_s, else None."""
        ce = self.chemical_expansion
        if ce.partial_molar_volume is not None:
            return ce.partial_molar_volume
        if ce.volume_change is not None and ce.over is not None:
            return ce.volume_change / ((ce.over[1] - ce.over[0]) * self.max_concentration)
        return None


class CounterElectrode(Schema):
    """Na-metal counter electrode kinetics."""

    exchange_current_density: Annotated[CurrentDensity, Field(gt=0)] = 10.0
    anodic_transfer_coefficient: Annotated[float, Field(gt=0, lt=1)] = 0.5
    cathodic_transfer_coefficient: Annotated[float, Field(gt=0, lt=1)] = 0.5


class Electrolyte(Schema):
    """Binary 1:1 salt solution in the dilute Nernst–Planck model."""

    name: str
    description: str = ""
    concentration: Annotated[Concentration, Field(gt=0)] = 1000.0
    cation_diffusivity: Annotated[Diffusivity, Field(gt=0)]
    anion_diffusivity: Annotated[Diffusivity, Field(gt=0)]
    counter_electrode: CounterElectrode = CounterElectrode()
    sources: dict[str, str] = {}

    @property
    def transference_number(self) -> float:
        """Cation transference number t₊ = D₊/(D₊ + D₋)."""
        return self.cation_diffusivity / (self.cation_diffusivity + self.anion_diffusivity)

    @property
    def salt_diffusivity(self) -> float:
        """Ambipolar salt diffusivity 2D₊D₋/(D₊ + D₋), m²/s."""
        dp, dm = self.cation_diffusivity, self.anion_diffusivity
        return 2 * dp * dm / (dp + dm)


GeometryLength = Annotated[
    Length,
    Field(ge=MIN_LENGTH, le=MAX_LENGTH, description=f"a length in m, within [{MIN_LENGTH:g}, {MAX_LENGTH:g}] m"),
]
Seed = Annotated[int, Field(ge=0, le=2**63 - 1, description="a non-negative random seed")]


class ParticleShape(Schema):
    """One particle: a sphere, an ellipsoid or a seeded irregular (perturbed) sphere."""

    shape: Literal["sphere", "ellipsoid", "irregular"] = "sphere"
    radius: GeometryLength = 1e-6
    semi_axes: tuple[GeometryLength, GeometryLength, GeometryLength] | None = None
    seed: Seed = 0
    roughness: Annotated[float, Field(ge=0, lt=0.5)] = 0.15
    modes: Annotated[int, Field(ge=2, le=12)] = 6  # degrees 0 and 1 only rescale or shift a sphere

    @model_validator(mode="after")
    def _axes(self) -> ParticleShape:
        if self.shape == "ellipsoid" and self.semi_axes is None:
            raise ValueError("an ellipsoid needs semi_axes: [a, b, c]")
        return self


class ElectrolyteRegion(Schema):
    """The electrolyte box around the particle(s)."""

    thickness: GeometryLength = 3e-6
    width: GeometryLength | None = None
    margin: GeometryLength | None = None


class Agglomerate(Schema):
    """N non-overlapping particles with a seeded size distribution."""

    count: Annotated[int, Field(ge=1, le=200)] = 4
    radius_mean: GeometryLength = 1e-6
    radius_std: Annotated[Length, Field(ge=0, le=MAX_LENGTH, description="standard deviation of the radii, m")] = 0.2e-6
    min_gap: GeometryLength = 0.1e-6
    seed: Seed = 0


class MeshSettings(Schema):
    """Mesh sizes (None: defaults from the particle radius) and sphere-1d element count."""

    size: GeometryLength | None = None
    interface_size: GeometryLength | None = None
    elements: Annotated[
        int, Field(ge=2, le=MAX_SPHERE_ELEMENTS, description=f"sphere-1d elements, 2 to {MAX_SPHERE_ELEMENTS}")
    ] = 40
    order: Literal[1] = 1


GeometryKind = Literal["sphere-1d", "axisymmetric-2d", "particle-in-electrolyte", "agglomerate", "mesh-file"]

DEFAULT_MESH_SIZE_FACTORS = {
    "particle-in-electrolyte": (1 / 2, 1 / 10),
    "agglomerate": (1 / 2, 1 / 6),
    "axisymmetric-2d": (1 / 4, 1 / 20),
}
"""(size, interface_size) of a generated mesh as fractions of the particle radius, by geometry kind."""

CELLS_PER_SIZE_CUBED = 6.5
"""Tetrahedra per size³ of volume in gmsh's meshes (calibrated on the built-in geometries)."""

CELLS_PER_SIZE_SQUARED = 3.0
"""Triangles per size² of area in gmsh's meshes (calibrated on the built-in geometries)."""


def default_mesh_sizes(kind: str, size: float | None, interface_size: float | None, radius: float) -> tuple[float, float]:
    """(size far from the interface, interface_size) for a particle of characteristic ``radius``.

    Any length unit (the result is in the unit of the inputs). Defaults (DEFAULT_MESH_SIZE_FACTORS):
    one 3D particle R/2 and R/10, which puts the default sphere's volume and area within 0.4 % of
    4/3 πR³ and 4πR² at about 38k cells; agglomerates R/2 and R/6 of the mean radius (about 1 %
    volume error, ~40k cells for 4 particles); axisymmetric R/4 and R/20 (cheap in 2D). A given size
    alone caps the default interface_size; a given interface_size alone raises the default size.
    """
    far, near = DEFAULT_MESH_SIZE_FACTORS[kind]
    if interface_size is None:
        interface_size = radius * near if size is None else min(radius * near, size)
    if size is None:
        size = max(radius * far, interface_size)
    return size, interface_size


def _ellipsoid_area(a: float, b: float, c: float) -> float:
    """Surface area of an ellipsoid (Knud Thomsen's formula, within 1.1 %)."""
    p = 1.6075
    return 4.0 * math.pi * (((a * b) ** p + (a * c) ** p + (b * c) ** p) / 3.0) ** (1.0 / p)


class Geometry(Schema):
    kind: GeometryKind = "particle-in-electrolyte"
    particle: ParticleShape = ParticleShape()
    electrolyte: ElectrolyteRegion = ElectrolyteRegion()
    agglomerate: Agglomerate = Agglomerate()
    mesh: MeshSettings = MeshSettings()
    file: Path | None = None

    @model_validator(mode="after")
    def _kind_needs(self) -> Geometry:
        if self.kind == "mesh-file" and self.file is None:
            raise ValueError("geometry kind 'mesh-file' needs 'file: path/to/mesh.msh'")
        if self.kind in ("sphere-1d", "axisymmetric-2d") and self.particle.shape == "irregular":
            raise ValueError(f"geometry kind {self.kind!r} needs an axisymmetric particle (sphere or ellipsoid)")
        axes = self.particle.semi_axes
        if self.kind == "axisymmetric-2d" and self.particle.shape == "ellipsoid" and abs(axes[0] - axes[1]) > 1e-9 * max(axes):
            raise ValueError("axisymmetric-2d needs a spheroid: semi_axes a == b (c along the axis)")
        return self

    @model_validator(mode="after")
    def _mesh_affordable(self) -> Geometry:
        if self.kind in DEFAULT_MESH_SIZE_FACTORS:
            _, interface_size, radius = self._sizes()
            if interface_size > radius:
                raise ValueError(
                    f"mesh interface_size {interface_size:.3g} m is larger than the particle radius {radius:.3g} m:"
                    " expected at most the radius, so that the particle is resolved"
                )
            cells = self.estimated_cells()
            if cells > MAX_MESH_CELLS:
                raise ValueError(
                    f"the mesh would have about {cells:.3g} cells (from the domain size and the mesh sizes);"
                    f" expected at most {MAX_MESH_CELLS:.3g}: choose a larger geometry.mesh.size or"
                    " interface_size, or a smaller domain"
                )
        return self

    def _characteristic_radius(self) -> float:
        """The radius the default mesh sizes scale with (as the mesh builders use it), m."""
        particle = self.particle
        if self.kind == "agglomerate":
            mean, std = self.agglomerate.radius_mean, self.agglomerate.radius_std
            return min(mean, 1.5 * max(mean - 2.0 * std, 0.25 * mean))  # smallest radius sampled
        if particle.shape == "ellipsoid":
            a, b, c = particle.semi_axes  # type: ignore[misc]
            return min(a, c) if self.kind == "axisymmetric-2d" else min(a, b, c)
        return particle.radius

    def _sizes(self) -> tuple[float, float, float]:
        """(size, interface_size, characteristic radius) of a generated mesh, m."""
        radius = self._characteristic_radius()
        size, interface_size = default_mesh_sizes(self.kind, self.mesh.size, self.mesh.interface_size, radius)
        return size, interface_size, radius

    def _domain(self) -> tuple[float, float]:
        """(volume, interface area) in 3D or (area, interface length) in 2D of the meshed domain, SI.

        The electrolyte box as the builders make it: a margin below and around the particles
        (default half the largest radius), ``thickness`` above them, or the given ``width``.
        """
        particle, box, agg = self.particle, self.electrolyte, self.agglomerate
        if self.kind == "agglomerate":
            radius = agg.radius_mean + 2.0 * agg.radius_std
            side = max((agg.count * 4.0 / 3.0 * math.pi * agg.radius_mean**3 / 0.3) ** (1 / 3), 2.0 * radius + agg.min_gap)
            margin = box.margin if box.margin is not None else 0.5 * agg.radius_mean
            width = box.width if box.width is not None else side + 2.0 * margin
            return width**2 * (side + margin + box.thickness), agg.count * 4.0 * math.pi * agg.radius_mean**2
        if particle.shape == "ellipsoid":
            a, b, c = particle.semi_axes  # type: ignore[misc]
        else:
            a = b = c = particle.radius * (1.0 + (particle.roughness if particle.shape == "irregular" else 0.0))
        margin = box.margin if box.margin is not None else 0.5 * max(a, b, c)
        width = box.width if box.width is not None else 2.0 * max(a, b) + 2.0 * margin
        height = 2.0 * c + margin + box.thickness
        if self.kind == "axisymmetric-2d":
            return width / 2.0 * height, math.pi * math.sqrt((a * a + c * c) / 2.0)
        return width * width * height, _ellipsoid_area(a, b, c)

    def estimated_cells(self) -> float:
        """A rough estimate (within a factor of about two) of the cell count of the generated mesh.

        sphere-1d: ``mesh.elements``. 3D kinds: CELLS_PER_SIZE_CUBED tetrahedra per interface_size³
        in the band of 2·interface_size on each side of the interface, and per size³ elsewhere;
        axisymmetric-2d: the same in 2D with CELLS_PER_SIZE_SQUARED. A mesh file: 0 (its size is
        checked when it is read).
        """
        if self.kind == "sphere-1d":
            return float(self.mesh.elements)
        if self.kind not in DEFAULT_MESH_SIZE_FACTORS:
            return 0.0
        size, interface_size, _ = self._sizes()
        measure, interface = self._domain()
        dim = 2 if self.kind == "axisymmetric-2d" else 3
        band = min(interface * 4.0 * interface_size, measure)
        per_cell = CELLS_PER_SIZE_SQUARED if dim == 2 else CELLS_PER_SIZE_CUBED
        return per_cell * (band / interface_size**dim + (measure - band) / size**dim)


class Initial(Schema):
    """Initial state: a state of charge (1 = charged, Na-poor) or a stoichiometry θ₀."""

    state_of_charge: Fraction | None = None
    stoichiometry: Fraction | None = None

    @model_validator(mode="after")
    def _one(self) -> Initial:
        if self.state_of_charge is not None and self.stoichiometry is not None:
            raise ValueError("give state_of_charge or stoichiometry, not both")
        return self


Duration = Annotated[Time, Field(gt=0, le=MAX_TIME, description=f"a duration in s, > 0 and at most {MAX_TIME:g} s")]
CRate = Annotated[float, Field(gt=0, le=MAX_C_RATE, description=f"a C-rate, > 0 and at most {MAX_C_RATE:g}")]


class Until(Schema):
    """End conditions of a protocol step; the first one reached ends it."""

    voltage: Voltage | None = None
    depth_of_discharge: Fraction | None = None
    state_of_charge: Fraction | None = None
    time: Duration | None = None
    duration: Duration | None = None
    c_rate: CRate | None = None

    @property
    def any(self) -> bool:
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


class Step(Schema):
    """One protocol step. Currents are magnitudes; the step kind gives the sign (charge > 0)."""

    step: Literal["discharge", "charge", "hold", "rest", "gitt"]
    c_rate: CRate | None = None
    current_density: PositiveCurrentDensity | None = None
    current: PositiveCurrent | None = None
    voltage: Voltage | None = None
    duration: Duration | None = None
    rest_duration: Duration | None = None
    repeat: Annotated[int, Field(ge=1, le=100_000, description="gitt pulses, 1 to 100000")] | None = None
    direction: Literal["discharge", "charge"] = "discharge"
    until: Until = Until()

    @model_validator(mode="after")
    def _complete(self) -> Step:
        rates = [k for k in ("c_rate", "current_density", "current") if getattr(self, k) is not None]
        kind = self.step
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

    @property
    def sign(self) -> float:
        """+1 for charge (anodic, Na extraction), −1 for discharge; 0 for hold and rest."""
        kind = self.direction if self.step == "gitt" else self.step
        return {"charge": 1.0, "discharge": -1.0}.get(kind, 0.0)


class Mechanics(Schema):
    """Diffusion-induced stress in the particles."""

    enabled: bool = True
    coupling: Literal["one-way", "two-way"] = "one-way"
    degree: Literal[1, 2] = 2
    orientation: Literal["random"] | list[list[list[float]]] | None = None
    seed: Seed = 0
    rollers: bool = False
    linear_solver: Literal["direct", "iterative"] = "direct"


class TimeStep(Schema):
    """Time-step control, s: each step within [min, max], all within (0, MAX_TIME]."""

    initial: Duration = 0.1
    max: Duration = 30.0
    min: Duration = 1e-6
    growth: Annotated[float, Field(gt=1)] = 1.5
    cut: Annotated[float, Field(gt=0, lt=1)] = 0.5

    @model_validator(mode="after")
    def _ordered(self) -> TimeStep:
        if not self.min <= self.initial <= self.max:
            raise ValueError(f"expected min <= initial <= max, got {self.min}, {self.initial}, {self.max} s")
        return self


class SolverSettings(Schema):
    time_step: TimeStep = TimeStep()
    rtol: Annotated[float, Field(gt=0, lt=1)] = 1e-8
    atol: Annotated[float, Field(gt=0)] = 1e-10
    max_newton_iterations: Annotated[int, Field(ge=1, le=1000)] = 25
    # "auto": fieldsplit on 3D meshes (measured fastest on 1 and 2 ranks, bench/bench_solver.py),
    # MUMPS for sphere-1d and axisymmetric-2d (small systems, exact linear solves)
    linear_solver: Literal["auto", "mumps", "fieldsplit", "ilu"] = "auto"
    # step-count guard: a run that needs more accepted time steps stops (status "failed")
    max_steps: Annotated[int, Field(ge=1)] = 200_000


class Probe(Schema):
    """A point (m) whose values are written every step: (x, y, z), (r, z) or (r) by geometry dimension."""

    name: str
    point: Annotated[list[Length], Field(min_length=1, max_length=3)]


class Snapshots(Schema):
    depth_of_discharge: list[Fraction] = [0.1, 0.5, 0.9]


class Output(Schema):
    """Where and what to write. A relative directory is relative to the working directory."""

    directory: Path | None = None
    snapshots: Snapshots = Snapshots()
    probes: list[Probe] = []
    fields_every: Annotated[int, Field(ge=1)] = 1
    # output-volume guard: a run stops (status "failed") once its field files (.vtu) exceed this, bytes
    max_field_bytes: Annotated[int, Field(ge=1)] = 20_000_000_000


class Case(Schema):
    """A fully resolved single run.

    ``name`` names the results directory (``results/<name>``, ``<comparison>/<name>``), so it is a
    plain name: letters, digits, '.', '_' and '-', not starting with '.', without '..', at most
    MAX_NAME_LENGTH characters. The file the case was read from is ``source_path`` (not a key).
    """

    name: PlainName
    description: str = ""
    material: Material
    electrolyte: Electrolyte
    temperature: Annotated[
        Temperature,
        Field(
            ge=MIN_TEMPERATURE,
            le=MAX_TEMPERATURE,
            description=f"cell temperature in K, within [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}] K",
        ),
    ] = 298.15
    geometry: Geometry = Geometry()
    initial: Initial = Initial()
    protocol: Annotated[list[Step], Field(min_length=1)]
    mechanics: Mechanics = Mechanics()
    solver: SolverSettings = SolverSettings()
    output: Output = Output()
    _source_path: Path | None = PrivateAttr(default=None)

    @property
    def source_path(self) -> Path | None:
        """The case file this case was read from (None for a case built from data)."""
        return self._source_path

    @source_path.setter
    def source_path(self, path: Path | None) -> None:
        self._source_path = path

    def initial_stoichiometry(self) -> float:
        """θ₀ from ``initial`` (default: fully charged, θ = θ_lo)."""
        lo, hi = self.material.stoichiometry_window
        if self.initial.stoichiometry is not None:
            return self.initial.stoichiometry
        soc = 1.0 if self.initial.state_of_charge is None else self.initial.state_of_charge
        return hi - soc * (hi - lo)

    def output_directory(self) -> Path:
        return self.output.directory if self.output.directory is not None else Path("results") / self.name

    def to_dict(self) -> dict[str, Any]:
        """The resolved case as plain data (SI numbers), loadable again with :func:`case_from_dict`."""
        return self.model_dump(mode="json", exclude_none=True)

    def to_yaml(self) -> str:
        header = f"# ecmx resolved case (SI units){f' from {self.source_path}' if self.source_path else ''}\n"
        return header + yaml.safe_dump(self.to_dict(), sort_keys=False, width=100)


# --------------------------------------------------------------------------------------------
# Loading, overrides and error reporting


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


def case_from_dict(data: dict[str, Any], file: Path | None = None, overrides: typing.Sequence[str] = ()) -> Case:
    """Validate a case mapping (as read from YAML) into a :class:`Case`; raises CaseError."""
    data = copy.deepcopy(data)
    for text in overrides:
        k, v = parse_override(text, file)
        apply_override(data, k, v, file)
    for section in ("material", "electrolyte"):
        if section not in data:
            if section == "electrolyte":
                data[section] = "naclo4-ec-pc"
            else:
                raise CaseError("missing required key: expected a library name (e.g. nvp) or a mapping", file=file, key=section)
        data[section] = resolve_entry(data[section], file, section)
    data.setdefault("name", plain_name_from(file.stem) if file is not None else "case")
    geometry = data.get("geometry")
    if isinstance(geometry, dict) and isinstance(geometry.get("file"), str) and file is not None:
        mesh_path = Path(geometry["file"]).expanduser()
        geometry["file"] = str(mesh_path if mesh_path.is_absolute() else (file.parent / mesh_path).resolve())
    try:
        case = Case.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc, Case, file) from None
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
    msg = msg.replace("Input should be greater", "expected a value greater").replace("Input should be less", "expected a value less")
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


__all__ = [
    "Case",
    "Material",
    "Electrolyte",
    "Geometry",
    "Step",
    "Until",
    "Mechanics",
    "SolverSettings",
    "Output",
    "load_case",
    "case_from_dict",
    "parse_override",
    "apply_override",
    "validation_error",
    "si",
]

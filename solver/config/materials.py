"""Material and electrolyte schemas: property tables, chemical expansion, kinetics data (all SI).

A material is an intercalation cathode: its density, Na-site concentration, usable stoichiometry
window, solid diffusivity (a constant or a table), open-circuit voltage table (inline or a CSV
file), Butler–Volmer data, elastic constants and chemical expansion. An electrolyte is a binary
1:1 salt in the dilute Nernst–Planck model, with the kinetics of the Na-metal counter electrode.
Stoichiometry θ = c_s/c_s,max throughout; voltages are against Na⁺/Na.
"""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Discriminator, Field, Tag, field_validator, model_validator

from ecmx.solver.config.schema import Fraction, Schema, Seed
from ecmx.solver.config.smoothing import monotone_smooth
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_CSV_BYTES, read_text_file
from ecmx.solver.units import (
    Capacitance,
    Concentration,
    CurrentDensity,
    Density,
    Diffusivity,
    F,
    MolarMass,
    MolarVolume,
    Pressure,
    Voltage,
    short_repr,
    si,
)

TransferCoefficient = Annotated[float, Field(gt=0, lt=1)]
"""A Butler–Volmer transfer coefficient α, dimensionless, in (0, 1)."""


def _check_table(x: list[float], y: list[float], what: str) -> None:
    if len(x) != len(y):
        raise ValueError(f"stoichiometry and {what} must have the same length ({len(x)} != {len(y)})")
    if len(x) < 2:
        raise ValueError("a table needs at least two points")
    if np.any(np.diff(x) <= 0):
        raise ValueError("stoichiometry must be strictly increasing")


class Tabulated(Schema):
    """Columns tabulated against stoichiometry: θ strictly increasing, every column as long as θ."""

    columns: ClassVar[tuple[str, ...]] = ()
    """The names of the tabulated columns, checked in this order."""

    stoichiometry: list[Fraction] = Field(description="θ = c_s/c_s,max at each row, strictly increasing")

    @model_validator(mode="after")
    def _consistent(self) -> Tabulated:
        for column in self.columns:
            _check_table(self.stoichiometry, getattr(self, column), column)
        return self


class Table(Tabulated):
    """A dimensionless property tabulated against stoichiometry θ = c_s/c_s,max."""

    columns: ClassVar[tuple[str, ...]] = ("value",)
    value: list[float] = Field(description="the property at each θ, in the unit of the property")


class DiffusivityTable(Table):
    """D_s(θ) in m²/s, interpolated linearly in log D."""

    value: list[Annotated[Diffusivity, Field(gt=0)]] = Field(description="D_s at each θ, m²/s")


class OCVTable(Tabulated):
    """Open-circuit voltage U(θ) in V against Na⁺/Na, interpolated linearly."""

    columns: ClassVar[tuple[str, ...]] = ("voltage",)
    voltage: list[Voltage] = Field(description="U at each θ, V against Na⁺/Na")
    smoothing: Literal["none", "monotone"] = Field(
        "none", description="'monotone': replace the voltages by a monotone smoothing of the points"
        " (isotonic regression, then PCHIP through it) for noisy measured curves")

    @model_validator(mode="after")
    def _smooth(self) -> OCVTable:
        if self.smoothing == "monotone":
            object.__setattr__(self, "voltage", monotone_smooth(self.stoichiometry, self.voltage).tolist())
        return self


class LatticeTable(Tabulated):
    """Hexagonal/rhombohedral lattice parameters a(θ), c(θ); only their ratios matter (any length unit)."""

    columns: ClassVar[tuple[str, ...]] = ("a", "c")
    a: list[Annotated[float, Field(gt=0)]] = Field(description="lattice parameter a at each θ (any length unit)")
    c: list[Annotated[float, Field(gt=0)]] = Field(description="lattice parameter c at each θ (same unit as a)")


def read_ocv_csv(path: Path) -> dict[str, list[float]]:
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


class ChemicalExpansion(Schema):
    """Chemical (intercalation) strain; give exactly one form.

    - ``volume_change`` over ``over`` = (θ1, θ2): isotropic, linear in c_s (ΔV/V between θ1 and θ2);
    - ``partial_molar_volume`` Ω in m³/mol: isotropic linear strain Ω Δc/3;
    - ``volume_change_table``: isotropic ΔV/V(θ) relative to the first table entry;
    - ``lattice``: anisotropic strains from a(θ), c(θ) in each particle's crystal frame.
    Insertion of Na expands the lattice when ``volume_change`` > 0 (tension positive). ``strain``
    turns the volume change of an isotropic form into a length change: ``linear`` (ΔV/V)/3 (default)
    or ``finite`` (1 + ΔV/V)^(1/3) − 1 (2.7 % smaller for NVP's 8.26 %).
    """

    forms: ClassVar[tuple[str, ...]] = ("volume_change", "partial_molar_volume", "volume_change_table", "lattice")
    """The keys that name a form; a ``base:`` override that names one replaces the base's form."""

    volume_change: float | None = Field(None, description="ΔV/V between the θ of 'over', dimensionless")
    over: tuple[Fraction, Fraction] | None = Field(None, description="[θ1, θ2], the stoichiometry range of volume_change")
    partial_molar_volume: MolarVolume | None = Field(None, description="partial molar volume Ω of Na, m³/mol")
    volume_change_table: Table | None = Field(None, description="ΔV/V(θ) relative to the first entry, dimensionless")
    lattice: LatticeTable | None = Field(None, description="lattice parameters a(θ), c(θ) (anisotropic strain)")
    strain: Literal["linear", "finite"] = Field(
        "linear", description="isotropic forms: 'linear' β = (ΔV/V)/3 (default), 'finite' β = (1 + ΔV/V)^(1/3) − 1,"
        " the exact length change of a volume change ΔV/V against the stress-free state")

    @model_validator(mode="after")
    def _one_form(self) -> ChemicalExpansion:
        forms = [f for f in self.forms if getattr(self, f) is not None]
        if len(forms) != 1:
            raise ValueError(
                "expected exactly one of volume_change (with over), partial_molar_volume, volume_change_table, lattice;"
                f" got {forms or 'none'}"
            )
        if self.volume_change is not None and self.over is None:
            raise ValueError("volume_change needs 'over: [theta1, theta2]', the stoichiometry range it spans")
        if self.over is not None and not self.over[0] < self.over[1]:
            raise ValueError("over must be [theta1, theta2] with theta1 < theta2")
        if self.strain == "finite" and self.lattice is not None:
            raise ValueError("strain: finite applies to the isotropic forms; lattice strains are already the exact"
                             " ratios a(θ)/a(θ_ref) − 1, c(θ)/c(θ_ref) − 1")
        return self


MolarEnergy = Annotated[float, si("J/mol")]
GradientEnergy = Annotated[float, si("J/m")]
SurfaceEnergy = Annotated[float, si("J/m^2")]


class InitialPerturbation(Schema):
    """A seeded random perturbation added to the uniform initial θ₀ (phase-field particles only)."""

    amplitude: Annotated[float, Field(gt=0, le=0.2)] = Field(
        description="largest |δθ|, dimensionless: δθ uniform in [−amplitude, amplitude] at each node, then"
        " shifted so the particle's Na content is that of θ₀")
    seed: Seed = Field(0, description="the random seed (the same seed gives the same state on any number of ranks)")


class PhaseField(Schema):
    """The Cahn–Hilliard reaction model of a phase-separating particle (regular-solution free energy).

    μ = RT ln(θ/(1−θ)) + Ω_a(1−2θ) − (κ/c_s,max)∇²θ [J/mol]; the equilibrium potential of a homogeneous
    particle is U₀ − μ/F. The interface width λ = √(κ/(c_s,max Ω_a)) must be resolved by about four
    cells at the particle surface unless ``widened_interface`` is true. ``surface_wetting`` w gives the
    particle surface the energy γ_s(θ) = −w (θ − θ²/2) [J/m²] (heterogeneous nucleation there).
    """

    interaction_energy: Annotated[MolarEnergy, Field(ge=0, le=1e5)] = Field(
        description="regular-solution interaction energy Ω_a, J/mol (> 2RT: a miscibility gap; 4.05 RT: gap"
        " [0.02, 0.98])")
    gradient_energy: Annotated[GradientEnergy, Field(gt=0, le=1.0)] = Field(
        description="gradient energy coefficient κ, J/m (sets the interface width λ = √(κ/(c_s,max Ω_a)))")
    reference_voltage: Annotated[Voltage, Field(gt=0, le=10)] = Field(
        description="U₀, V against Na⁺/Na: the plateau voltage of the two-phase reaction (μ = 0)")
    widened_interface: bool = Field(
        False, description="accept a mesh with fewer than 4 cells across λ (the outputs state it)")
    initial_perturbation: InitialPerturbation | None = Field(
        None, description="a seeded random perturbation of the uniform initial θ₀ (None: uniform)")
    surface_wetting: Annotated[SurfaceEnergy, Field(ge=-1e5, le=1e5)] = Field(
        0.0, description="w, J/m²: the surface energy γ_s(θ) = −w (θ − θ²/2) per area of the particle surface Γ"
        " gives the boundary condition κ ∇θ·n = w (1 − θ) (n outward); w > 0: the Na-rich phase wets Γ (θ higher"
        " at the surface, heterogeneous nucleation there; no barrier from w = 2√(2κ c_s,max Δf_max)), 0: neutral"
        " wetting ∇θ·n = 0 (default)")


def _table_or_constant(value: Any) -> str:
    return "table" if isinstance(value, dict | BaseModel) else "constant"


class Material(Schema):
    """An intercalation cathode material. All values SI."""

    name: str = Field(description="the material's name (a library entry's file stem)")
    formula: str = Field("", description="chemical formula (text, shown in reports)")
    description: str = Field("", description="free text, for reports")
    density: Annotated[Density, Field(gt=0)] = Field(description="mass density, kg/m³")
    molar_mass: Annotated[MolarMass, Field(gt=0)] = Field(description="molar mass of one formula unit, kg/mol")
    max_concentration: Annotated[Concentration, Field(gt=0)] = Field(
        description="c_s,max, concentration of Na sites (θ = 1), mol/m³"
    )
    stoichiometry_window: tuple[Fraction, Fraction] = Field(
        description="[θ_lo, θ_hi], the cycled range: θ_lo charged, θ_hi discharged; sets the capacity and 1C"
    )
    diffusivity: Annotated[
        Annotated[Annotated[Diffusivity, Field(gt=0)], Tag("constant")] | Annotated[DiffusivityTable, Tag("table")],
        Discriminator(_table_or_constant),
    ] = Field(description="solid diffusivity D_s, m²/s: a constant or a table against θ (log-interpolated)")
    open_circuit_voltage: OCVTable | None = Field(
        None, description="U(θ), V against Na⁺/Na: a table or the path of a CSV file with columns stoichiometry,"
        " voltage; required unless phase_field is given, and absent with it"
    )
    exchange_current_density: Annotated[CurrentDensity, Field(gt=0)] = Field(
        description="i₀,ref, A/m², at θ = 0.5 and the reference salt concentration 1000 mol/m³"
    )
    anodic_transfer_coefficient: TransferCoefficient = Field(0.5, description="α_a, dimensionless")
    cathodic_transfer_coefficient: TransferCoefficient = Field(0.5, description="α_c, dimensionless")
    double_layer_capacitance: Annotated[Capacitance, Field(ge=0)] | None = Field(
        None, description="C_dl, F/m², of the particle/electrolyte interface (e.g. '20 uF/cm^2'); none: no double layer"
    )
    youngs_modulus: Annotated[Pressure, Field(gt=0)] = Field(description="Young's modulus E, Pa")
    poissons_ratio: Annotated[float, Field(gt=-1, lt=0.5)] = Field(description="Poisson's ratio ν, dimensionless")
    chemical_expansion: ChemicalExpansion = Field(description="the intercalation strain (one of its forms)")
    sources: dict[str, str] = Field({}, description="where each value comes from (key → citation)")
    phase_field: PhaseField | None = Field(
        None, description="a phase-separating particle (Cahn–Hilliard reaction model) instead of a Fickian one")

    @field_validator("phase_field")
    @classmethod
    def _no_ocv_with_phase_field(cls, v: PhaseField | None, info: Any) -> PhaseField | None:
        """With phase_field the equilibrium potential comes from the free energy: no OCV table."""
        if v is not None and info.data.get("open_circuit_voltage") is not None:
            raise ValueError("open_circuit_voltage must be absent with phase_field (the equilibrium potential"
                             " U₀ − μ/F comes from the free energy); remove material.open_circuit_voltage")
        return v

    @field_validator("open_circuit_voltage", mode="before")
    @classmethod
    def _ocv_from_csv(cls, v: Any) -> Any:
        """A string, or the ``file`` of a mapping (``{file: ocv.csv, smoothing: monotone}``), is a CSV
        file (made absolute, relative to the file naming it, when resolved)."""
        path = v if isinstance(v, str) else v.get("file") if isinstance(v, dict) else None
        if not isinstance(path, str):
            return v
        try:
            table = read_ocv_csv(Path(path))
        except CaseError as exc:
            raise ValueError(str(exc)) from None
        return table if isinstance(v, str) else table | {k: x for k, x in v.items() if k != "file"}

    @model_validator(mode="after")
    def _window(self) -> Material:
        lo, hi = self.stoichiometry_window
        if not lo < hi:
            raise ValueError(f"stoichiometry_window must be [low, high] with low < high, got [{lo}, {hi}]")
        if self.open_circuit_voltage is None:
            if self.phase_field is None:
                raise ValueError("open_circuit_voltage is required (or phase_field, a phase-separating particle)")
            return self
        ocv = self.open_circuit_voltage.stoichiometry
        if ocv[0] > lo or ocv[-1] < hi:
            raise ValueError(f"open_circuit_voltage must cover the stoichiometry window [{lo}, {hi}], "
                             f"covers [{ocv[0]}, {ocv[-1]}]")
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
        """U(θ) in V (linear interpolation, clamped at the table ends); a phase-field material has no
        table (its equilibrium potential is :func:`ecmx.solver.fem.reactions.equilibrium_voltage`)."""
        if self.open_circuit_voltage is None:
            raise ValueError(f"material {self.name!r} is a phase-field material: it has no OCV table")
        t = self.open_circuit_voltage
        return np.interp(theta, t.stoichiometry, t.voltage)

    @property
    def partial_molar_volume(self) -> float | None:
        """Isotropic Ω in m³/mol where the expansion is linear in c_s, else None."""
        ce = self.chemical_expansion
        if ce.strain == "finite":
            return None
        if ce.partial_molar_volume is not None:
            return ce.partial_molar_volume
        if ce.volume_change is not None and ce.over is not None:
            return ce.volume_change / ((ce.over[1] - ce.over[0]) * self.max_concentration)
        return None


class CounterElectrode(Schema):
    """Na-metal counter electrode kinetics."""

    exchange_current_density: Annotated[CurrentDensity, Field(gt=0)] = Field(
        10.0, description="i₀,a of Na ⇌ Na⁺ + e⁻ at the reference salt concentration, A/m²"
    )
    anodic_transfer_coefficient: TransferCoefficient = Field(0.5, description="α_a, dimensionless")
    cathodic_transfer_coefficient: TransferCoefficient = Field(0.5, description="α_c, dimensionless")

    @model_validator(mode="after")
    def _consistent_mass_action(self) -> CounterElectrode:
        """The mass-action law i₀,a [exp(α_a η̂) − (c/c_ref) exp(−α_c η̂)] rests at the Nernst potential
        of Na⁺ only when α_a + α_c = 1 (docs/model.md §3)."""
        total = self.anodic_transfer_coefficient + self.cathodic_transfer_coefficient
        if abs(total - 1.0) > 1e-9:
            raise ValueError(
                "anodic_transfer_coefficient + cathodic_transfer_coefficient must equal 1 for the Na-metal"
                f" mass-action law (thermodynamic consistency), got {total:.6g}"
            )
        return self


class Electrolyte(Schema):
    """Binary 1:1 salt solution in the dilute Nernst–Planck model."""

    name: str = Field(description="the electrolyte's name (a library entry's file stem)")
    description: str = Field("", description="free text, for reports")
    concentration: Annotated[Concentration, Field(gt=0)] = Field(
        1000.0, description="bulk salt concentration, also the initial one, mol/m³"
    )
    cation_diffusivity: Annotated[Diffusivity, Field(gt=0)] = Field(description="D₊ of Na⁺, m²/s")
    anion_diffusivity: Annotated[Diffusivity, Field(gt=0)] = Field(description="D₋ of the anion, m²/s")
    counter_electrode: CounterElectrode = Field(CounterElectrode(), description="Na-metal counter electrode kinetics")
    sources: dict[str, str] = Field({}, description="where each value comes from (key → citation)")

    @property
    def transference_number(self) -> float:
        """Cation transference number t₊ = D₊/(D₊ + D₋)."""
        return self.cation_diffusivity / (self.cation_diffusivity + self.anion_diffusivity)

    @property
    def salt_diffusivity(self) -> float:
        """Ambipolar salt diffusivity 2D₊D₋/(D₊ + D₋), m²/s."""
        dp, dm = self.cation_diffusivity, self.anion_diffusivity
        return 2 * dp * dm / (dp + dm)

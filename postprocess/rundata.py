"""Reading a finished run directory back for comparison figures, tables and reports.

A run directory (``docs/case-format.md``, "What a run writes") holds ``case.yaml``,
``timeseries.csv``, ``probes.csv``, ``summary.json`` and ParaView files (XDMF series,
:mod:`ecmx.postprocess.xdmf`; older runs wrote ``.pvd``/``.vtu`` series, still read). This module reads them
into plain numpy arrays and pyvista grids; it never imports DOLFINx, so figures and tables can be
made (and tested) without a solver.

Snapshot fields live on the particle mesh in micrometres, with concentrations in mol/m³ and
stresses in Pa (tension positive). The particle mesh is a 3D mesh (``cartesian``), the (r, z)
half-plane of an axisymmetric particle (``axisymmetric``, r = x, z = y) or the radius of a sphere
(``spherical``, r = x).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
import yaml

from ecmx.postprocess.xdmf import read_xdmf
from ecmx.solver.config.case import Case, case_from_dict

QUANTITY_NAMES: dict[str, tuple[str, ...]] = {
    "concentration": ("particle_concentration_mol_m3", "particle_concentration", "c_s", "concentration"),
    "von_mises": ("von_mises_Pa", "von_mises", "von_mises_stress", "sigma_vm"),
    "hydrostatic": ("hydrostatic_Pa", "hydrostatic", "hydrostatic_stress", "sigma_h"),
    "max_principal": ("max_principal_Pa", "max_principal", "principal_stresses_Pa", "principal_stresses"),
    "radial_stress": ("radial_stress_Pa", "radial_stress", "sigma_r"),
    "tangential_stress": ("tangential_stress_Pa", "tangential_stress", "sigma_t"),
}
"""Array names in the field files for each quantity (the names with units that
``ecmx.postprocess.writers`` writes first, then those of older runs; first match wins). A
``principal_stresses`` vector holds σ1 ≥ σ2 ≥ σ3; its largest component is used."""

SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
"""PyYAML's safe loader in C where libyaml is installed (the same data as ``yaml.safe_load``, about
8 times faster: a comparison reads 20 ``case.yaml`` files), else in Python."""

COORDINATE_SYSTEMS = {
    "sphere-1d": "spherical",
    "axisymmetric-2d": "axisymmetric",
    "particle-in-electrolyte": "cartesian",
    "agglomerate": "cartesian",
    "mesh-file": "cartesian",
}


def read_csv_columns(path: Path) -> dict[str, np.ndarray]:
    """A CSV file as ``{column: array}``; numeric columns as float arrays, others as str arrays."""
    with open(path, newline="") as fh:
        rows = list(csv.DictReader(fh))
    if not rows:
        return {}
    columns: dict[str, np.ndarray] = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        try:
            columns[name] = np.array([float(v) if v not in ("", None) else math.nan for v in values])
        except ValueError:
            columns[name] = np.array(values, dtype=str)
    return columns


@dataclass
class Snapshot:
    """Particle fields at one depth of discharge, read from a ParaView file of the run."""

    depth_of_discharge: float
    path: Path
    grid: pv.UnstructuredGrid
    coordinate_system: str
    centre: np.ndarray
    """Particle centre in mesh units (µm), shape (3,)."""
    radius: float
    """Particle radius in mesh units (µm)."""
    time_s: float = math.nan
    mean_concentration: float = math.nan
    """Volume-averaged c_s (mol/m³) as the solver reported it (``summary.json``), NaN if absent."""

    def has(self, quantity: str) -> bool:
        return self.array_name(quantity) is not None

    def array_name(self, quantity: str) -> str | None:
        """The array in :attr:`grid` that holds ``quantity`` (see :data:`QUANTITY_NAMES`)."""
        names = set(self.grid.point_data) | set(self.grid.cell_data)
        for name in QUANTITY_NAMES.get(quantity, (quantity,)):
            if name in names:
                return name
        return None

    def association(self, quantity: str) -> str:
        """``"point"`` (nodal, e.g. P1) or ``"cell"`` (per cell, e.g. DG0)."""
        name = self._name(quantity)
        return "point" if name in self.grid.point_data else "cell"

    def values(self, quantity: str) -> np.ndarray:
        """The scalar values of ``quantity`` (nodal or per cell), SI units."""
        name = self._name(quantity)
        data = self.grid.point_data[name] if name in self.grid.point_data else self.grid.cell_data[name]
        data = np.asarray(data, dtype=float)
        if data.ndim == 2:
            if quantity != "max_principal":
                raise ValueError(f"{self.path}: array {name!r} is not a scalar")
            data = data.max(axis=1)
        return data

    def scalar_grid(self, quantities: list[str]) -> pv.UnstructuredGrid:
        """A copy of the mesh holding only the listed quantities, under their canonical names."""
        out = pv.UnstructuredGrid(self.grid.cells, self.grid.celltypes, self.grid.points.copy())
        for q in quantities:
            if not self.has(q):
                continue
            target = out.point_data if self.association(q) == "point" else out.cell_data
            target[q] = self.values(q)
        return out

    def _name(self, quantity: str) -> str:
        name = self.array_name(quantity)
        if name is None:
            arrays = sorted(set(self.grid.point_data) | set(self.grid.cell_data))
            raise KeyError(f"{self.path}: no array for {quantity!r} (has {arrays})")
        return name


@dataclass
class RunData:
    """Everything the comparison needs from one run directory."""

    directory: Path
    case: Case
    timeseries: dict[str, np.ndarray]
    probes: dict[str, np.ndarray]
    summary: dict[str, Any]
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.case.name

    @property
    def c_max(self) -> float:
        """c_s,max of the material, mol/m³."""
        return self.case.material.max_concentration

    def snapshot_at(self, depth_of_discharge: float, tol: float = 5e-3) -> Snapshot | None:
        for s in self.snapshots:
            if abs(s.depth_of_discharge - depth_of_discharge) <= tol:
                return s
        return None

    def probe_series(self, probe: str) -> dict[str, np.ndarray]:
        """Rows of ``probes.csv`` for one probe name."""
        if not self.probes or "probe" not in self.probes:
            return {}
        mask = self.probes["probe"] == probe
        return {k: v[mask] for k, v in self.probes.items()} if mask.any() else {}


def load_run(directory: Path) -> RunData:
    """Read a run directory written by :func:`ecmx.solver.studies.run.run_case`."""
    directory = Path(directory)
    case_file = directory / "case.yaml"
    case = case_from_dict(yaml.load(case_file.read_text(), Loader=SAFE_LOADER), case_file)
    timeseries = read_csv_columns(directory / "timeseries.csv")
    probes_path = directory / "probes.csv"
    probes = read_csv_columns(probes_path) if probes_path.is_file() else {}
    summary_path = directory / "summary.json"
    summary = json.loads(summary_path.read_text()) if summary_path.is_file() else {}
    run = RunData(directory, case, timeseries, probes, summary)
    run.snapshots = find_snapshots(run)
    return run


def particle_frame(case: Case) -> tuple[np.ndarray, float]:
    """Centre (µm, shape (3,)) and volume-equivalent radius (µm) of the case's particle."""
    p = case.geometry.particle
    radius = p.radius
    if p.shape == "ellipsoid" and p.semi_axes is not None:
        radius = float(np.prod(p.semi_axes)) ** (1.0 / 3.0)
    return np.zeros(3), radius / 1e-6


def find_snapshots(run: RunData) -> list[Snapshot]:
    """The snapshot field files of a run, one per requested depth of discharge."""
    entries = [e for e in run.summary.get("snapshots", []) if "particle" in e]
    snapshots = []
    centre, radius = particle_frame(run.case)
    system = run.summary.get("mesh", {}).get("coordinate_system") or COORDINATE_SYSTEMS[run.case.geometry.kind]
    for entry in entries:
        path = run.directory / entry["particle"]
        grid = read_grid(path)
        snapshots.append(
            Snapshot(
                depth_of_discharge=float(entry["depth_of_discharge"]),
                path=path,
                grid=grid,
                coordinate_system=system,
                centre=centre,
                radius=radius,
                time_s=float(entry.get("time_s", math.nan)),
                mean_concentration=float(entry.get("c_mean", math.nan)),
            )
        )
    return sorted(snapshots, key=lambda s: s.depth_of_discharge)


def read_grid(path: Path, time: float | None = None) -> pv.UnstructuredGrid:
    """One time step of a ParaView file (.xdmf, .pvd, .vtu, .pvtu) as a single unstructured grid,
    each mesh node once (:func:`merge_coincident_points`).

    ``time`` selects a step of a time series (default: the last one).
    """
    path = Path(path)
    if path.suffix == ".xdmf":
        data = xdmf_grid(path, time)
    elif path.suffix == ".pvd":
        reader = pv.get_reader(str(path))
        if reader.time_values:
            reader.set_active_time_value(reader.time_values[-1] if time is None else time)
        data = reader.read()
    else:
        data = pv.read(str(path))
    if isinstance(data, pv.MultiBlock):
        data = data.combine(merge_points=True)
    if not isinstance(data, pv.UnstructuredGrid):
        data = data.cast_to_unstructured_grid()
    return merge_coincident_points(data)


def xdmf_grid(path: Path, time: float | None = None) -> pv.UnstructuredGrid:
    """A step of an ecmx ``.xdmf`` series (:func:`ecmx.postprocess.xdmf.read_xdmf`) as a pyvista grid
    (points in µm; its field data, e.g. ``length_unit_m``, kept)."""
    step = read_xdmf(path, time)
    grid = pv.UnstructuredGrid({_VTK_CELLS[step.cell_type]: step.cells}, step.points)
    for name, values in step.point_data.items():
        grid.point_data[name] = values
    for name, values in step.cell_data.items():
        grid.cell_data[name] = values
    for name, value in step.field_data.items():
        grid.field_data[name] = [value]
    return grid


_VTK_CELLS = {"line": pv.CellType.LINE, "triangle": pv.CellType.TRIANGLE, "quad": pv.CellType.QUAD,
              "tetra": pv.CellType.TETRA, "hexahedron": pv.CellType.HEXAHEDRON}


def merge_coincident_points(grid: pv.UnstructuredGrid) -> pv.UnstructuredGrid:
    """``grid`` with every point that no cell uses dropped and exactly coincident points merged.

    A field file written on several MPI ranks holds each rank's nodes, gathered on rank 0
    (``ecmx.postprocess.writers``): a node on a process boundary appears once per rank that holds
    it, with the same coordinates and values, and a rank's ghost nodes may belong to none of its
    cells. Merged, the grid is the mesh of a serial run. Point data is taken from one of the
    copies; cell data and the order of the cells are kept.
    """
    connectivity = np.asarray(grid.cell_connectivity)
    if grid.n_cells == 0 or grid.n_points == 0:
        return grid
    used = np.unique(connectivity)
    unique, first, inverse = np.unique(grid.points[used], axis=0, return_index=True, return_inverse=True)
    if len(unique) == grid.n_points:
        return grid
    new_index = np.full(grid.n_points, -1, dtype=np.int64)
    new_index[used] = inverse.ravel()
    sizes = np.diff(grid.cell_offsets)
    cells = np.insert(new_index[connectivity], grid.cell_offsets[:-1], sizes)
    merged = pv.UnstructuredGrid(cells, np.asarray(grid.celltypes), np.asarray(unique))
    for name in grid.point_data:
        merged.point_data[name] = np.asarray(grid.point_data[name])[used[first]]
    for name in grid.cell_data:
        merged.cell_data[name] = np.asarray(grid.cell_data[name])
    return merged

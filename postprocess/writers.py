"""Result files of a run: timeseries.csv, probes.csv, ParaView field files, summary.json.

The CSV columns are the contract of shared/CASE_FORMAT.md. Rows are flushed as soon as they are
written, so a run that stops leaves complete, readable rows. Empty cells mean "not computed" (for
example the stress columns when mechanics is off), never zero.

Field files are DOLFINx XDMF (``.xdmf`` + ``.h5``), one file set per submesh (``particle.xdmf``,
``electrolyte.xdmf``), which ParaView opens without asking for a reader. Functions that XDMF cannot
store as they are (higher degree than the mesh geometry) are interpolated to P1 (the same value shape)
before writing. Mesh coordinates are in micrometres.

MPI: CSV and JSON files are written by rank 0; field files are written collectively.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401  (before dolfinx)

import csv
import json
import math
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import basix
import basix.ufl
import dolfinx
import dolfinx.fem
import dolfinx.io
from mpi4py import MPI

TIMESERIES_COLUMNS = (
    "time_s", "step", "current_A", "voltage_V", "state_of_charge", "depth_of_discharge",
    "c_mean", "c_min", "c_max", "c_surface_mean",
    "von_mises_max", "hydrostatic_min", "hydrostatic_max",
    "electrolyte_c_min", "electrolyte_c_max",
    "na_balance_error", "newton_iterations", "dt_s",
)
PROBE_COLUMNS = (
    "time_s", "probe", "c", "von_mises", "hydrostatic", "radial_stress", "tangential_stress",
    "electrolyte_c", "electrolyte_potential",
)


def _cell(value: Any) -> str:
    """A CSV cell: full-precision floats, empty for None/NaN (not computed or not applicable)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(value)
    return str(value)


class CsvWriter:
    """A CSV file with a fixed header, one flushed row per call; rank 0 writes.

    Args:
        path: file to create.
        columns: header; rows may omit columns (empty cells) but not add unknown ones.
        comm: communicator; only its rank 0 touches the file.
    """

    def __init__(self, path: Path, columns: Sequence[str], comm: MPI.Comm = MPI.COMM_WORLD):
        self.path = Path(path)
        self.columns = tuple(columns)
        self._file = None
        if comm.rank == 0:
            self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
            self._writer = csv.writer(self._file)
            self._writer.writerow(self.columns)
            self._file.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row (collective in name only: ranks other than 0 do nothing) and flush it."""
        unknown = set(row) - set(self.columns)
        if unknown:
            raise KeyError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        if self._file is None:
            return
        self._writer.writerow([_cell(row.get(c)) for c in self.columns])
        self._file.flush()

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def _writable(function: dolfinx.fem.Function) -> bool:
    """True when XDMF can store ``function`` as it is (Lagrange of the geometry degree, or DG0)."""
    element = function.function_space.ufl_element()
    degree = element.embedded_superdegree
    if element.basix_element.family != basix.ElementFamily.P:
        return False
    if element.discontinuous:
        return degree == 0
    return degree == function.function_space.mesh.geometry.cmap.degree


class _Output:
    """A function to write and, where XDMF cannot store it, its P1 interpolant."""

    def __init__(self, name: str, function: dolfinx.fem.Function):
        self.source = function
        if _writable(function):
            self.target = function
        else:
            mesh = function.function_space.mesh
            shape = function.function_space.value_shape
            element = basix.ufl.element("Lagrange", mesh.basix_cell(), mesh.geometry.cmap.degree,
                                        shape=tuple(shape) if len(shape) else None)
            self.target = dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, element), name=name)
        self.name = name

    def update(self) -> dolfinx.fem.Function:
        if self.target is not self.source:
            self.target.interpolate(self.source)
        self.target.name = self.name
        return self.target


class FieldSeries:
    """One XDMF time series of functions that live on one mesh.

    Args:
        comm: the mesh's communicator (writing is collective).
        path: ``.xdmf`` file to create (the ``.h5`` goes beside it).
        functions: output name -> function; all on the same mesh.
    """

    def __init__(self, comm: MPI.Comm, path: Path, functions: Mapping[str, dolfinx.fem.Function]):
        if not functions:
            raise ValueError("a field series needs at least one function")
        meshes = {id(f.function_space.mesh) for f in functions.values()}
        if len(meshes) != 1:
            raise ValueError(f"{Path(path).name}: all functions of one file must live on one mesh")
        self.path = Path(path)
        self.outputs = [_Output(name, f) for name, f in functions.items()]
        self.mesh = next(iter(functions.values())).function_space.mesh
        self._file = dolfinx.io.XDMFFile(comm, str(self.path), "w")
        self._file.write_mesh(self.mesh)
        self.times: list[float] = []

    def write(self, time: float) -> None:
        """Append all functions at ``time`` [s] (collective)."""
        for output in self.outputs:
            self._file.write_function(output.update(), float(time))
        self.times.append(float(time))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def write_fields_once(comm: MPI.Comm, directory: Path, groups: Mapping[str, Mapping[str, dolfinx.fem.Function]],
                      time: float) -> list[Path]:
    """Write one XDMF file set per mesh group (``<directory>/<group>.xdmf``) at a single time.

    Collective. Returns the ``.xdmf`` paths.
    """
    if comm.rank == 0:
        Path(directory).mkdir(parents=True, exist_ok=True)
    comm.barrier()
    paths = []
    for group, functions in groups.items():
        series = FieldSeries(comm, Path(directory) / f"{group}.xdmf", functions)
        series.write(time)
        series.close()
        paths.append(series.path)
    return paths


def write_json(path: Path, data: Mapping[str, Any], comm: MPI.Comm = MPI.COMM_WORLD) -> None:
    """Write JSON atomically (temporary file, then rename) on rank 0. NaN/inf become null."""
    if comm.rank != 0:
        return
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(_json_safe(data), f, indent=2)
        f.write("\n")
    os.replace(tmp, path)


def _json_safe(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if hasattr(value, "item"):  # numpy scalar
        return _json_safe(value.item())
    return value

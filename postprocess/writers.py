"""Result files of a run: timeseries.csv, probes.csv, ParaView field files, summary.json.

The CSV columns are the contract of shared/CASE_FORMAT.md. Rows are flushed as soon as they are
written, so a run that stops leaves complete, readable rows. Empty cells mean "not computed" (for
example the stress columns when mechanics is off), never zero.

Field files are VTK time series: ``<name>.pvd`` listing one binary ``.vtu`` per time (the mesh
gathered on rank 0), one file set per submesh (``particle.pvd``, ``electrolyte.pvd``). ParaView
opens ``.pvd`` without asking for a reader; pyvista and meshio read the ``.vtu`` files (DOLFINx's own
VTKFile output is VTU 2.2, which meshio 5 refuses, and XDMF needs h5py for meshio and crashes
VTK's XDMF reader in pyvista here). DG0 functions are written as cell data, all others as their
values at the mesh vertices. Mesh coordinates are in micrometres.

MPI: CSV and JSON files are written by rank 0; field files are written collectively. Every writing
call is collective and ends on every rank together: a file-system error on rank 0 (disk full, a
read-only or removed directory) raises :class:`~ecmx.solver.errors.OutputError` on every rank.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

import contextlib
import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

import dolfinx
import dolfinx.fem
import dolfinx.plot
import meshio
import numpy as np
from mpi4py import MPI

from ecmx.solver.collective import on_root
from ecmx.solver.errors import OutputError
from ecmx.solver.files import atomic_write_text

T = TypeVar("T")

TIMESERIES_COLUMNS = (
    "time_s", "step", "current_A", "voltage_V", "state_of_charge", "depth_of_discharge",
    "c_mean", "c_min", "c_max", "c_surface_mean",
    "von_mises_max", "hydrostatic_min", "hydrostatic_max",
    "electrolyte_c_min", "electrolyte_c_max",
    "na_balance_error", "newton_iterations", "dt_s",
    # ecmx extensions (after the CASE_FORMAT columns): crack driver, surface stress, elastic energy
    "max_principal_max", "surface_von_mises_mean", "strain_energy_J",
)
PROBE_COLUMNS = (
    "time_s", "probe", "c", "von_mises", "hydrostatic", "radial_stress", "tangential_stress",
    "electrolyte_c", "electrolyte_potential",
)


def output_error(exc: OSError) -> OutputError:
    """An OSError of a result file as one clear message: what failed, on which file."""
    where = f" {exc.filename}" if exc.filename else ""
    return OutputError(f"cannot write the results{where}: {exc.strerror or exc}")


def writing(comm: MPI.Comm, function: Callable[..., T], *args: Any) -> T:
    """Run a file-writing ``function`` on rank 0 of ``comm``; its result on every rank, or its
    failure as OutputError on every rank (an OSError) or its own exception (collective)."""

    def guarded() -> T:
        try:
            return function(*args)
        except OSError as exc:
            raise output_error(exc) from None

    return on_root(comm, guarded)


def _cell(value: Any) -> str:
    """A CSV cell: full-precision floats, empty for None/NaN (not computed or not applicable)."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else repr(float(value))  # numpy floats as plain numbers
    return str(value)


class CsvWriter:
    """A CSV file with a fixed header, flushed after every call; rank 0 writes (collective).

    Args:
        path: file to create.
        columns: header; rows may omit columns (empty cells) but not add unknown ones.
        comm: communicator; only its rank 0 touches the file.

    Raises:
        OutputError: the file could not be created or written (on every rank).
    """

    def __init__(self, path: Path, columns: Sequence[str], comm: MPI.Comm = MPI.COMM_WORLD):
        self.path = Path(path)
        self.columns = tuple(columns)
        self.comm = comm
        self._file = None
        writing(comm, self._open)

    def _open(self) -> None:
        self._file = open(self.path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._writer = csv.writer(self._file)
        self._append([self.columns])

    def _append(self, lines: list[Sequence[str]]) -> None:
        self._writer.writerows(lines)
        self._file.flush()

    def write(self, row: Mapping[str, Any]) -> None:
        """Write one row and flush it (collective)."""
        self.write_rows([row])

    def write_rows(self, rows: Iterable[Mapping[str, Any]]) -> None:
        """Write rows and flush them (collective)."""
        rows = list(rows)
        for row in rows:
            unknown = set(row) - set(self.columns)
            if unknown:
                raise KeyError(f"{self.path.name}: unknown columns {sorted(unknown)}")
        writing(self.comm, self._append, [[_cell(row.get(c)) for c in self.columns] for row in rows])

    def close(self) -> None:
        """Close the file (rank 0; idempotent). Every row was flushed when written, so a failure here
        (after a failed write, which raised) is not raised again."""
        if self._file is not None:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):
                file.close()


class PvdFiles:
    """The files of a ParaView time series on disk: ``<name>.pvd`` listing one ``<name>_NNNNNN.vtu``
    (binary, zlib-compressed VTU written by meshio) per time. Not collective: one process writes.

    The ``.pvd`` is rewritten (atomically) after every ``.vtu``, so it always lists complete files.
    Its directory is created at the first write; its parent must exist (a removed results directory
    stays removed).
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.times: list[float] = []
        self.files: list[str] = []

    def append(self, time: float, points: np.ndarray, cells: tuple[str, np.ndarray],
               point_data: Mapping[str, np.ndarray], cell_data: Mapping[str, np.ndarray] | None = None) -> int:
        """Write the ``.vtu`` of ``time`` [s] (``cells``: meshio cell type and connectivity; points in
        µm) and the updated ``.pvd``; returns the ``.vtu`` size in bytes."""
        name = f"{self.path.stem}_{len(self.times):06d}.vtu"
        self.path.parent.mkdir(exist_ok=True)
        mesh = meshio.Mesh(points, [cells], point_data=dict(point_data),
                           cell_data={k: [v] for k, v in (cell_data or {}).items()})
        meshio.write(self.path.parent / name, mesh, file_format="vtu", binary=True, compression="zlib")
        lines = ['<?xml version="1.0"?>', '<VTKFile type="Collection" version="0.1">', "  <Collection>"]
        lines += [f'    <DataSet timestep="{t!r}" group="" part="0" file="{f}"/>'
                  for t, f in zip([*self.times, time], [*self.files, name], strict=True)]
        lines += ["  </Collection>", "</VTKFile>", ""]
        atomic_write_text(self.path, "\n".join(lines))
        self.times.append(time)
        self.files.append(name)
        return (self.path.parent / name).stat().st_size


_MESHIO_CELLS = {"interval": "line", "triangle": "triangle", "quadrilateral": "quad",
                 "tetrahedron": "tetra", "hexahedron": "hexahedron"}


class _GatheredMesh:
    """A mesh's owned cells, with its P1 nodes as points, gathered on rank 0 for VTU output.

    Points are the nodes of a first-order Lagrange space (ghost nodes included, so a node on a
    process boundary appears once per rank that holds it; harmless for visualisation).
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh):
        comm = mesh.comm
        self.mesh = mesh
        self.comm = comm
        self.space = dolfinx.fem.functionspace(mesh, ("Lagrange", 1))
        topology, _, x = dolfinx.plot.vtk_mesh(self.space)
        tdim = mesh.topology.dim
        self.num_cells = mesh.topology.index_map(tdim).size_local
        self.num_points = x.shape[0]
        nodes = topology.reshape(self.num_cells, -1)[:, 1:] if self.num_cells else np.zeros((0, 1), np.int32)
        parts = comm.gather((x, nodes), root=0)
        self.cell_type = _MESHIO_CELLS[mesh.topology.cell_name()]
        if comm.rank == 0:
            offsets = np.cumsum([0] + [p[0].shape[0] for p in parts[:-1]])
            self.points = np.vstack([p[0] for p in parts])
            self.cells = np.vstack([p[1].reshape(-1, p[1].shape[-1]) + o for p, o in zip(parts, offsets, strict=True)
                                    if p[1].size]).astype(np.int32)

    def gather(self, local: np.ndarray) -> np.ndarray | None:
        """Concatenate per-rank rows on rank 0 (None elsewhere)."""
        parts = self.comm.gather(local, root=0)
        return np.concatenate(parts, axis=0) if self.comm.rank == 0 else None


def _vtk_components(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """(n, *shape) values as VTK wants them: vectors with 3 components, tensors 3×3 (zero-padded)."""
    n = values.shape[0]
    if len(shape) == 0:
        return values.reshape(n)
    if len(shape) == 1:
        out = np.zeros((n, 3))
        out[:, : shape[0]] = values.reshape(n, shape[0])
        return out
    out = np.zeros((n, 3, 3))
    out[:, : shape[0], : shape[1]] = values.reshape(n, *shape)
    return out.reshape(n, 9)


class _Output:
    """One function as a VTU array: DG0 as cell data, anything else as nodal (P1-node) point data."""

    def __init__(self, name: str, function: dolfinx.fem.Function, grid: _GatheredMesh):
        self.name = name
        self.source = function
        self.grid = grid
        space = function.function_space
        element = space.ufl_element()
        self.shape = tuple(space.value_shape)
        self.cellwise = element.discontinuous and element.embedded_superdegree == 0
        if self.cellwise:
            self._cell_dofs = space.dofmap.list[: grid.num_cells, 0]
            self._bs = space.dofmap.bs
        else:
            components = [()] if not self.shape else list(np.ndindex(*self.shape))
            points = grid.space.element.interpolation_points
            self._expressions = [dolfinx.fem.Expression(function if c == () else function[c], points)
                                 for c in components]
            self._work = dolfinx.fem.Function(grid.space)

    def values(self) -> np.ndarray | None:
        """This function's current values, gathered on rank 0 (collective)."""
        if self.cellwise:
            array = self.source.x.array.reshape(-1, self._bs)[self._cell_dofs]
        else:
            columns = []
            for expression in self._expressions:
                self._work.interpolate(expression)
                columns.append(self._work.x.array[: self.grid.num_points].copy())
            array = np.stack(columns, axis=1)
        gathered = self.grid.gather(array)
        return None if gathered is None else _vtk_components(gathered, self.shape)


class FieldSeries:
    """A ParaView time series: ``<name>.pvd`` listing one ``<name>_NNNNNN.vtu`` per time.

    All functions live on one mesh; DG0 functions become cell data, all others nodal point data at
    the mesh vertices (P1 interpolation). The ``.pvd`` is rewritten after every time, so it always
    lists complete files; its directory is created at the first write (its parent must exist).
    Collective; rank 0 writes (the mesh is gathered there). ``bytes_written`` counts the ``.vtu``
    bytes so far (on every rank).

    Args:
        comm: the mesh's communicator.
        path: ``.pvd`` file to create; the ``.vtu`` files go beside it.
        functions: output (array) name -> function; all on the same mesh.
    """

    def __init__(self, comm: MPI.Comm, path: Path, functions: Mapping[str, dolfinx.fem.Function]):
        if not functions:
            raise ValueError("a field series needs at least one function")
        meshes = {id(f.function_space.mesh) for f in functions.values()}
        if len(meshes) != 1:
            raise ValueError(f"{Path(path).name}: all functions of one file must live on one mesh")
        self.comm = comm
        self.path = Path(path)
        self.mesh = next(iter(functions.values())).function_space.mesh
        self.grid = _GatheredMesh(self.mesh)
        self.outputs = [_Output(name, f, self.grid) for name, f in functions.items()]
        self.times: list[float] = []
        self._files = PvdFiles(self.path)
        self.bytes_written = 0

    def write(self, time: float) -> int:
        """Append all functions at ``time`` [s]; returns the bytes of the new ``.vtu`` file (collective).

        Raises:
            OutputError: a file could not be written (on every rank).
        """
        point_data, cell_data = {}, {}
        for output in self.outputs:
            values = output.values()
            if self.comm.rank == 0:
                (cell_data if output.cellwise else point_data)[output.name] = values
        size = writing(self.comm, self._write_files, float(time), point_data, cell_data)
        self.times.append(float(time))
        self.bytes_written += size
        return size

    def _write_files(self, time: float, point_data: dict[str, np.ndarray], cell_data: dict[str, np.ndarray]) -> int:
        """Rank 0: the ``.vtu`` of one time and the updated ``.pvd``; returns the ``.vtu`` size."""
        return self._files.append(time, self.grid.points, (self.grid.cell_type, self.grid.cells), point_data,
                                  cell_data)

    def close(self) -> None:
        """Nothing stays open between writes; kept for symmetry with other writers."""


def write_fields_once(comm: MPI.Comm, directory: Path, groups: Mapping[str, Mapping[str, dolfinx.fem.Function]],
                      time: float) -> dict[str, FieldSeries]:
    """Write one ParaView file set per mesh group (``<directory>/<group>.pvd``) at a single time.

    Collective. Returns group -> the written series (its ``path`` and ``bytes_written``).
    """
    written = {}
    for group, functions in groups.items():
        series = FieldSeries(comm, Path(directory) / f"{group}.pvd", functions)
        series.write(time)
        series.close()
        written[group] = series
    return written


def write_json(path: Path, data: Mapping[str, Any], comm: MPI.Comm = MPI.COMM_WORLD) -> None:
    """Write JSON atomically (temporary file, then rename) on rank 0 (collective). NaN/inf become null.

    Raises:
        OutputError: the file could not be written (on every rank).
    """
    writing(comm, atomic_write_text, Path(path), json.dumps(_json_safe(data), indent=2) + "\n")


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

"""ParaView field files of DOLFINx functions (the other run files: :mod:`ecmx.postprocess.run_files`).

Field files are VTK time series: ``<name>.pvd`` listing one binary ``.vtu`` per time (the mesh
gathered on rank 0), one file set per submesh (``particle.pvd``, ``electrolyte.pvd``). ParaView
opens ``.pvd`` without asking for a reader; pyvista and meshio read the ``.vtu`` files (DOLFINx's own
VTKFile output is VTU 2.2, which meshio 5 refuses, and XDMF needs h5py for meshio and crashes
VTK's XDMF reader in pyvista here). DG0 functions are written as cell data, all others as their
values at the mesh vertices. Mesh coordinates are in micrometres.

MPI: field files are written collectively (rank 0 writes the gathered mesh); a file-system error on
rank 0 raises :class:`~ecmx.solver.errors.OutputError` on every rank.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

from collections.abc import Mapping
from pathlib import Path

import dolfinx
import dolfinx.fem
import dolfinx.plot
import numpy as np
from mpi4py import MPI

from ecmx.postprocess.run_files import PvdFiles, writing

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

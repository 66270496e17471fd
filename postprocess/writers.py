"""ParaView field files of DOLFINx functions (the other run files: :mod:`ecmx.postprocess.run_files`).

Field files are XDMF time series (:mod:`ecmx.postprocess.xdmf`): ``<name>.xdmf`` and its data file
``<name>.bin`` per mesh (``particle``, ``electrolyte``), the mesh gathered on rank 0 and stored once,
then the arrays of every time. ParaView 5.11 opens the ``.xdmf`` (XDMF3 reader), as do VTK and
pyvista. DG0 functions are written as cell data, all others as their values at the mesh vertices.

Only the physical fields of :data:`ARRAYS` are written, each under a name that carries its unit
(internal fields such as ``harmonic_hydrostatic`` never are), plus ``theta`` = c_s/c_s,max when the
particle concentration is written. Coordinates and displacement are both in micrometres.

MPI: field files are written collectively (rank 0 writes the gathered mesh); a file-system error on
rank 0 raises :class:`~ecmx.solver.errors.OutputError` on every rank.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import dolfinx
import dolfinx.fem
import dolfinx.plot
import numpy as np
from mpi4py import MPI

from ecmx.postprocess.run_files import writing
from ecmx.postprocess.xdmf import LENGTH_UNIT_M, XdmfSeries

_MESHIO_CELLS = {"interval": "line", "triangle": "triangle", "quadrilateral": "quad",
                 "tetrahedron": "tetra", "hexahedron": "hexahedron"}


@dataclass(frozen=True)
class ArraySpec:
    """How a solver field appears in the field files: array ``name``, ``unit`` and the factor from
    the solver's SI values to that unit."""

    name: str
    unit: str
    scale: float = 1.0


ARRAYS: dict[str, ArraySpec] = {
    "particle_concentration": ArraySpec("particle_concentration_mol_m3", "mol/m^3"),
    "displacement": ArraySpec("displacement_um", "um", 1.0 / LENGTH_UNIT_M),
    "stress": ArraySpec("stress_Pa", "Pa"),
    "principal_stresses": ArraySpec("principal_stresses_Pa", "Pa"),
    "von_mises": ArraySpec("von_mises_Pa", "Pa"),
    "hydrostatic": ArraySpec("hydrostatic_Pa", "Pa"),
    "max_principal": ArraySpec("max_principal_Pa", "Pa"),
    "radial_stress": ArraySpec("radial_stress_Pa", "Pa"),
    "tangential_stress": ArraySpec("tangential_stress_Pa", "Pa"),
    "strain_energy_density": ArraySpec("strain_energy_density_J_m3", "J/m^3"),
    "electrolyte_concentration": ArraySpec("electrolyte_concentration_mol_m3", "mol/m^3"),
    "electrolyte_potential": ArraySpec("electrolyte_potential_V", "V"),
    "chemical_potential": ArraySpec("chemical_potential_J_mol", "J/mol"),
}
"""Solver field -> its array in the field files; fields not listed (internal ones) are not written.
Stresses are tension-positive."""

THETA = ArraySpec("theta", "1")
"""The state of lithiation/sodiation c_s/c_s,max (dimensionless), beside the particle concentration."""


class _GatheredMesh:
    """A mesh's owned cells, with its P1 nodes as points, gathered on rank 0 for VTU output.

    Points are the nodes of a first-order Lagrange space (ghost nodes included, so a node on a
    process boundary appears once per rank that holds it; harmless for visualisation).
    """

    def __init__(self, mesh: dolfinx.mesh.Mesh, length_unit: float):
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
            self.points = np.vstack([p[0] for p in parts]) * (length_unit / LENGTH_UNIT_M)  # µm
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


def _same_nodes(space: dolfinx.fem.FunctionSpace, grid_space: dolfinx.fem.FunctionSpace) -> bool:
    """True when the values of ``space`` are the grid's nodal values as they are: first-order
    Lagrange (any block size) on the grid's mesh, numbered like it. Such a function is copied, not
    interpolated (no compiled Expression per component: start-up and every write are cheaper).
    Collective: every rank takes the same path."""
    element = space.ufl_element()
    scalar = getattr(element, "sub_elements", None) or [element]
    base = scalar[0] if element.block_size > 1 else element
    same = (space.mesh is grid_space.mesh and not element.discontinuous and base.embedded_superdegree == 1
            and base.basix_element.family == grid_space.ufl_element().basix_element.family
            and np.array_equal(space.dofmap.list, grid_space.dofmap.list))
    return bool(space.mesh.comm.allreduce(same, op=MPI.LAND))  # collective: an Expression is compiled on all ranks


class _Output:
    """One function as an array (its values × ``scale``): DG0 as cell data, anything else as nodal
    (P1-node) point data."""

    def __init__(self, name: str, function: dolfinx.fem.Function, grid: _GatheredMesh, scale: float = 1.0):
        self.name = name
        self.source = function
        self.grid = grid
        self.scale = float(scale)
        space = function.function_space
        element = space.ufl_element()
        self.shape = tuple(space.value_shape)
        self.cellwise = element.discontinuous and element.embedded_superdegree == 0
        self._direct = not self.cellwise and _same_nodes(space, grid.space)
        if self.cellwise:
            self._cell_dofs = space.dofmap.list[: grid.num_cells, 0]
            self._bs = space.dofmap.bs
        elif self._direct:
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
        elif self._direct:
            array = self.source.x.array.reshape(-1, self._bs)[: self.grid.num_points].copy()
        else:
            columns = []
            for expression in self._expressions:
                self._work.interpolate(expression)
                columns.append(self._work.x.array[: self.grid.num_points].copy())
            array = np.stack(columns, axis=1)
        gathered = self.grid.gather(array * self.scale)
        return None if gathered is None else _vtk_components(gathered, self.shape)


class FieldSeries:
    """A ParaView time series of the physical fields on one mesh: ``<name>.xdmf`` + ``<name>.bin``.

    The fields of :data:`ARRAYS` among ``functions`` become arrays named with their units (others
    are left out), plus ``theta`` (with field data ``c_max_mol_m3``) when ``c_max`` is given and the
    particle concentration is among them. The ``.xdmf`` is rewritten after every time, so it always
    lists complete times; its directory is created at the first write (its parent must exist).
    Collective; rank 0 writes (the mesh is gathered there). ``bytes_written`` counts the data bytes
    so far (on every rank).

    Args:
        comm: the mesh's communicator.
        path: ``.xdmf`` file to create; the ``.bin`` file goes beside it.
        functions: solver field name -> function; all on the same mesh.
        c_max: c_s,max [mol/m³] for ``theta``.
        length_unit: metres per mesh coordinate unit (the files are in µm).
    """

    def __init__(self, comm: MPI.Comm, path: Path, functions: Mapping[str, dolfinx.fem.Function], *,
                 c_max: float | None = None, length_unit: float = LENGTH_UNIT_M):
        written = {name: f for name, f in functions.items() if name in ARRAYS}
        if not written:
            raise ValueError(f"{Path(path).name}: none of {sorted(functions)} is a field to write")
        meshes = {id(f.function_space.mesh) for f in written.values()}
        if len(meshes) != 1:
            raise ValueError(f"{Path(path).name}: all functions of one file must live on one mesh")
        self.comm = comm
        self.path = Path(path)
        self.c_max = c_max
        self.length_unit = length_unit
        self.mesh = next(iter(written.values())).function_space.mesh
        self.grid = _GatheredMesh(self.mesh, length_unit)
        self.outputs = [_Output(ARRAYS[name].name, f, self.grid, ARRAYS[name].scale) for name, f in written.items()]
        self.grid_values = {}
        if c_max is not None and "particle_concentration" in written:
            self.outputs.append(_Output(THETA.name, written["particle_concentration"], self.grid, 1.0 / c_max))
            self.grid_values["c_max_mol_m3"] = float(c_max)
        units = {spec.name: spec.unit for spec in (*ARRAYS.values(), THETA)}
        self._files = XdmfSeries(self.path, {o.name: units[o.name] for o in self.outputs})
        self.times: list[float] = []
        self.bytes_written = 0

    def write(self, time: float) -> int:
        """Append all arrays at ``time`` [s]; returns the data bytes written (collective).

        Raises:
            OutputError: a file could not be written (on every rank).
        """
        point_data, cell_data = {}, {}
        for output in self.outputs:
            values = output.values()
            if self.comm.rank == 0:
                (cell_data if output.cellwise else point_data)[output.name] = values
        size = writing(self.comm, self._append, float(time), point_data, cell_data)
        self.times.append(float(time))
        self.bytes_written += size
        return size

    def _append(self, time: float, point_data: dict[str, np.ndarray], cell_data: dict[str, np.ndarray]) -> int:
        """Rank 0 (which holds the gathered mesh): the arrays of one time; returns their bytes."""
        return self._files.append(time, self.grid.points, (self.grid.cell_type, self.grid.cells), point_data,
                                  cell_data, self.grid_values)

    def keep_first(self, times: list[float]) -> None:
        """Continue the files on disk after their first ``len(times)`` times (``times`` [s]: those
        times; a resumed run). Rank 0 only: it alone touches the files."""
        self.bytes_written = self._files.keep_first(len(times))
        self.times = list(times)

    def sibling(self, path: Path) -> FieldSeries:
        """A new series at ``path`` with the same arrays, sharing this one's gathered mesh and
        interpolation expressions (a snapshot costs one write, no set-up). Not collective."""
        twin = copy.copy(self)
        twin.path = Path(path)
        twin._files = XdmfSeries(twin.path, self._files.units)
        twin.times, twin.bytes_written = [], 0
        return twin

    def close(self) -> None:
        """Nothing stays open between writes; kept for symmetry with other writers."""

"""ParaView field files as XDMF time series: one ``<name>.xdmf`` and one ``<name>.bin`` per mesh.

The ``.bin`` file holds raw little-endian arrays, appended: the mesh (topology, then point
coordinates) once, then every array of every time. The ``.xdmf`` file (XDMF 3, a small XML file)
describes a temporal collection of grids whose data items point into the ``.bin`` file by byte
offset (``Format="Binary"``, ``Seek``); it is rewritten atomically after every time, so it always
lists complete times only, and a run that stops leaves a readable series. ParaView (5.11: "XDMF3
reader", chosen by ``OpenDataFile``), VTK's and pyvista's XDMF readers open it; :func:`read_xdmf`
reads it back with numpy alone (no DOLFINx, no VTK).

Conventions (the contract of the files, docs/paraview.md):

- coordinates and displacement in micrometres (field data ``length_unit_m`` = 1e-6);
- the unit of every array in its name (``von_mises_Pa``, ``particle_concentration_mol_m3``,
  ``displacement_um``); dimensionless arrays (``theta`` = c/c_max) carry none; the units are also
  listed as JSON in the ``<Information Name="units">`` element;
- times in s, rounded to 10 significant digits (:func:`round_time`);
- scalar field data (per time) as grid-centred attributes, e.g. ``c_max_mol_m3``.

Not collective: one process writes (:mod:`ecmx.postprocess.writers` gathers the mesh on rank 0).
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np

from ecmx.solver.files import atomic_write_text

LENGTH_UNIT_M = 1e-6
"""Metres per unit of the coordinates and the displacement in the field files (micrometres)."""

TOPOLOGY = {"line": ("Polyline", 2), "triangle": ("Triangle", 3), "quad": ("Quadrilateral", 4),
            "tetra": ("Tetrahedron", 4), "hexahedron": ("Hexahedron", 8)}
"""meshio cell type -> XDMF topology type and nodes per cell."""

_CELL_TYPES = {xdmf: meshio for meshio, (xdmf, _) in TOPOLOGY.items()}
_ATTRIBUTE_TYPES = {1: "Scalar", 3: "Vector", 9: "Tensor"}


def round_time(time: float) -> float:
    """``time`` [s] to 10 significant digits (``3239.9999999999873`` -> ``3240.0``)."""
    return float(f"{float(time):.10g}")


@dataclass
class _Item:
    """One array stored in the ``.bin`` file: its byte offset, shape and numpy dtype."""

    seek: int
    shape: tuple[int, ...]
    dtype: str

    def xml(self, path: str) -> str:
        kind, precision = ("Int", 4) if self.dtype == "<i4" else ("Float", 8)
        dims = " ".join(str(d) for d in self.shape)
        return (f'<DataItem Format="Binary" NumberType="{kind}" Precision="{precision}" Endian="Little" '
                f'Seek="{self.seek}" Dimensions="{dims}">{escape(path)}</DataItem>')


class XdmfSeries:
    """A time series on one fixed mesh: ``<path>`` (.xdmf) and its data file ``<path>.bin``.

    Args:
        path: the ``.xdmf`` file to create; its directory is created at the first write (its parent
            must exist, so a removed results directory stays removed).
        units: array name -> unit, listed in the file (``"1"`` for dimensionless arrays).
    """

    def __init__(self, path: Path, units: Mapping[str, str] | None = None):
        self.path = Path(path)
        self.data_path = self.path.with_suffix(".bin")
        self.units = dict(units or {})
        self.times: list[float] = []
        self._grids: list[str] = []  # the XML of each time, rendered once
        self._mesh: tuple[str, _Item, _Item] | None = None  # (meshio cell type, cells, points)
        self._size = 0

    def append(self, time: float, points: np.ndarray, cells: tuple[str, np.ndarray],
               point_data: Mapping[str, np.ndarray], cell_data: Mapping[str, np.ndarray] | None = None,
               grid_values: Mapping[str, float] | None = None) -> int:
        """Add the arrays of ``time`` [s] (rounded, :func:`round_time`); the mesh (points in µm,
        ``cells``: meshio cell type and connectivity) is stored at the first call and must not
        change. Returns the bytes added to the ``.bin`` file."""
        self.path.parent.mkdir(exist_ok=True)
        before = self._size
        with open(self.data_path, "ab" if self._mesh else "wb") as data:  # a new series starts empty
            if self._mesh is None:
                cell_type, connectivity = cells
                self._mesh = (cell_type, self._put(data, np.asarray(connectivity, dtype="<i4")),
                              self._put(data, np.asarray(points, dtype="<f8").reshape(-1, 3)))
            attributes = "".join(_attribute(name, centre, self._put(data, np.asarray(values, dtype="<f8")),
                                            self.data_path.name)
                                 for centre, arrays in (("Node", point_data), ("Cell", cell_data or {}))
                                 for name, values in arrays.items())
            data.flush()
        self.times.append(round_time(time))
        values = {"length_unit_m": LENGTH_UNIT_M, **(grid_values or {})}
        self._grids.append(f'   <Grid Name="{self.path.stem}_{len(self._grids):06d}" GridType="Uniform">\n'
                           f'    <Time Value="{self.times[-1]!r}"/>\n{self._mesh_xml()}{attributes}'
                           + "".join(_grid_attribute(n, v) for n, v in values.items()) + "   </Grid>")
        atomic_write_text(self.path, self._xml())
        return self._size - before

    def keep_first(self, count: int) -> int:
        """Continue the series on disk after its first ``count`` times (a resumed run): later times
        leave the ``.xdmf``, the ``.bin`` is cut after the kept data. Returns the kept data bytes."""
        grids = _uniform_grids(ET.parse(self.path).getroot())[:count] if count and self.path.is_file() else []
        self._grids, self.times, self._mesh, self._size = [], [], None, 0
        if not grids:
            self.data_path.unlink(missing_ok=True)
            self.path.unlink(missing_ok=True)
            return 0
        topology = grids[0].find("Topology")
        self._mesh = (_CELL_TYPES[topology.get("TopologyType")], _item(topology.find("DataItem")),
                      _item(grids[0].find("Geometry/DataItem")))
        items = [_item(d) for g in grids for d in g.iter("DataItem") if d.get("Format") == "Binary"]
        self._size = max(i.seek + int(np.prod(i.shape)) * np.dtype(i.dtype).itemsize for i in items)
        for grid in grids:
            grid.tail = None
            self._grids.append("   " + ET.tostring(grid, encoding="unicode"))
            self.times.append(float(grid.find("Time").get("Value")))
        with open(self.data_path, "r+b") as data:
            data.truncate(self._size)
        atomic_write_text(self.path, self._xml())
        return self._size

    def _put(self, data, array: np.ndarray) -> _Item:
        array = np.ascontiguousarray(array)
        item = _Item(self._size, array.shape, array.dtype.str)
        data.write(array.tobytes())
        self._size += array.nbytes
        return item

    def _mesh_xml(self) -> str:
        """Topology and geometry: every time points at the same bytes of the ``.bin`` file."""
        cell_type, cells, points = self._mesh
        topology, per_cell = TOPOLOGY[cell_type]
        bin_name = self.data_path.name
        return (f'    <Topology TopologyType="{topology}" NodesPerElement="{per_cell}" '
                f'NumberOfElements="{cells.shape[0]}">{cells.xml(bin_name)}</Topology>\n'
                f'    <Geometry GeometryType="XYZ">{points.xml(bin_name)}</Geometry>\n')

    def _xml(self) -> str:
        lines = ['<?xml version="1.0"?>', '<Xdmf Version="3.0">', " <Domain>",
                 f'  <Information Name="units" Value={quoteattr(json.dumps(self.units, sort_keys=True))}/>',
                 f'  <Information Name="length_unit_m" Value="{LENGTH_UNIT_M!r}"/>',
                 f'  <Grid Name={quoteattr(self.path.stem)} GridType="Collection" CollectionType="Temporal">']
        lines += self._grids
        lines += ["  </Grid>", " </Domain>", "</Xdmf>", ""]
        return "\n".join(lines)


def _attribute(name: str, centre: str, item: _Item, bin_name: str) -> str:
    width = int(np.prod(item.shape[1:])) if len(item.shape) > 1 else 1
    kind = _ATTRIBUTE_TYPES.get(width, "Matrix")
    return (f'    <Attribute Name={quoteattr(name)} AttributeType="{kind}" Center="{centre}">'
            f"{item.xml(bin_name)}</Attribute>\n")


def _grid_attribute(name: str, value: float) -> str:
    """A grid-centred scalar (ParaView field data)."""
    return (f'    <Attribute Name={quoteattr(name)} AttributeType="Scalar" Center="Grid">'
            f'<DataItem Format="XML" NumberType="Float" Precision="8" Dimensions="1">{float(value)!r}'
            "</DataItem></Attribute>\n")


@dataclass
class XdmfStep:
    """One time of a series read back by :func:`read_xdmf` (points in µm, arrays in their units)."""

    time: float
    points: np.ndarray
    cell_type: str
    cells: np.ndarray
    point_data: dict[str, np.ndarray]
    cell_data: dict[str, np.ndarray]
    field_data: dict[str, float]
    units: dict[str, str]


def xdmf_times(path: Path) -> list[float]:
    """The times [s] an ``.xdmf`` series lists."""
    return [float(g.find("Time").get("Value")) for g in _uniform_grids(ET.parse(path).getroot())]


def read_xdmf(path: Path, time: float | None = None) -> XdmfStep:
    """The step of an ``.xdmf`` series written by :class:`XdmfSeries` closest to ``time`` [s]
    (default: the last). Data files are read only from the series' own directory.

    Raises:
        ValueError: the file is not such a series, or a data item lies outside its data file.
    """
    path = Path(path)
    root = ET.parse(path).getroot()
    grids = _uniform_grids(root)
    if not grids:
        raise ValueError(f"{path}: no time steps")
    times = [float(g.find("Time").get("Value")) for g in grids]
    grid = grids[-1 if time is None else int(np.argmin(np.abs(np.asarray(times) - time)))]
    topology = grid.find("Topology")
    point_data, cell_data, field_data = {}, {}, {}
    for attribute in grid.findall("Attribute"):
        centre, name = attribute.get("Center"), attribute.get("Name")
        values = _read_item(path, attribute.find("DataItem"))
        target = {"Node": point_data, "Cell": cell_data}.get(centre)
        if target is None:
            field_data[name] = float(values.reshape(-1)[0])
        else:
            target[name] = values
    units = next((json.loads(i.get("Value")) for i in root.iter("Information") if i.get("Name") == "units"), {})
    return XdmfStep(float(grid.find("Time").get("Value")), _read_item(path, grid.find("Geometry/DataItem")),
                    _CELL_TYPES[topology.get("TopologyType")], _read_item(path, topology.find("DataItem")),
                    point_data, cell_data, field_data, units)


def _uniform_grids(root: ET.Element) -> list[ET.Element]:
    return [g for g in root.iter("Grid") if g.get("GridType", "Uniform") == "Uniform"]


def _item(element: ET.Element) -> _Item:
    """The stored-array description of a binary data item."""
    dtype = "<i4" if element.get("NumberType") == "Int" else "<f8"
    return _Item(int(element.get("Seek", 0)), tuple(int(d) for d in element.get("Dimensions").split()), dtype)


def _read_item(path: Path, item: ET.Element) -> np.ndarray:
    """A data item: inline XML numbers or a binary slice of a data file beside ``path``."""
    shape = tuple(int(d) for d in item.get("Dimensions").split())
    if item.get("Format") == "XML":
        return np.array(item.text.split(), dtype=float).reshape(shape)
    dtype = np.dtype("<i4") if item.get("NumberType") == "Int" else np.dtype("<f8")
    data = path.parent / Path(item.text.strip()).name
    seek, count = int(item.get("Seek", 0)), int(np.prod(shape))
    if seek < 0 or seek + count * dtype.itemsize > data.stat().st_size:
        raise ValueError(f"{path}: a data item lies outside {data.name}")
    return np.fromfile(data, dtype=dtype, count=count, offset=seek).reshape(shape)

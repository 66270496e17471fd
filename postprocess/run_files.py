"""The plain files of a run directory: timeseries.csv, probes.csv, summary.json and ParaView series.

The CSV columns are the contract of the case format (docs/): :data:`TIMESERIES_COLUMNS` and
:data:`PROBE_COLUMNS`. Rows are flushed as soon as they are written, so a run that stops leaves
complete, readable rows. Empty cells mean "not computed" (for example the stress columns when
mechanics is off), never zero. Field files are XDMF series (:mod:`ecmx.postprocess.xdmf`); runs of
older ecmx versions hold VTK time series, ``<name>.pvd`` listing one binary ``.vtu`` per time
(:class:`PvdFiles`, still read by :mod:`ecmx.postprocess.rundata`); mesh coordinates in micrometres.

MPI: these files are written by rank 0 (:func:`writing`); every writing call is collective and
ends on every rank together: a file-system error on rank 0 (disk full, a read-only or removed
directory) raises :class:`~ecmx.solver.errors.OutputError` on every rank. Nothing here needs
DOLFINx (:mod:`ecmx.postprocess.writers` turns DOLFINx functions into these files), so test
stand-ins and readers can write a run directory in the same format.
"""

from __future__ import annotations

import contextlib
import csv
import json
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar

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
    # ecmx extensions (after the docs/case-format.md columns): crack driver, surface stress, elastic energy
    "max_principal_max", "surface_von_mises_mean", "strain_energy_J",
    "free_energy_J",  # phase-field particles: G = ∫ c_s,max f_h(θ) + (κ/2)|∇θ|² dV + ∫_Γ γ_s(θ) dA
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
    """The field files of older ecmx runs: ``<name>.pvd`` listing one ``<name>_NNNNNN.vtu`` (binary,
    zlib-compressed VTU written by meshio) per time. Runs now write XDMF series
    (:class:`~ecmx.postprocess.xdmf.XdmfSeries`); this writer makes runs in the older format (the
    readers' compatibility, test stand-ins). Not collective: one process writes.

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
        import meshio  # only for this older format (a 0.25 s import)

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

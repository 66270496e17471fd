"""The recorder: the time-loop observer that writes a run's result files, and nothing else.

It writes, into the run's (partial) results directory:

```
case.yaml                 the resolved case (SI)
timeseries.csv            one row per accepted step (and the initial state), docs/case-format.md columns
timeseries_times.csv      rows at output.times, interpolated between accepted steps (when asked for)
probes.csv                one row per probe per accepted step
fields/particle.xdmf      ParaView time series on the particle mesh (c_s, θ, stresses, displacement),
                          its data in fields/particle.bin (ecmx.postprocess.xdmf)
fields/electrolyte.xdmf   ... on the electrolyte mesh (c, φ_e; not for sphere-1d)
snapshots/dod_0.10/       one field file set per snapshot depth of discharge
```

and builds the contents of ``summary.json`` (:meth:`Recorder.summary`; the run driver,
:mod:`ecmx.solver.studies.run`, writes it). The mechanics are solved before the recorder sees a
step (the coupling, :mod:`ecmx.solver.fem.coupling`, observes first); the recorder only reads
their quantities and fields. Stresses are in Pa, concentrations in mol/m³, times in s.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import logging
import math
import platform
import sys
from pathlib import Path
from typing import Any

import dolfinx
import numpy as np
from mpi4py import MPI

from ecmx.postprocess.run_files import PROBE_COLUMNS, TIMESERIES_COLUMNS, CsvWriter, writing
from ecmx.postprocess.writers import FieldSeries
from ecmx.solver import __version__
from ecmx.solver.config.case import DEFAULT_FIELDS_INTERVAL, MAX_OUTPUT_TIMES
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.physics.coordinates import by_name
from ecmx.solver.studies.front import phase_boundary_columns
from ecmx.solver.studies.output_times import TimesOutput
from ecmx.solver.timeloop.protocol import Segment
from ecmx.solver.timeloop.runner import ProtocolRunner, StepRecord
from ecmx.solver.units import F

log = logging.getLogger(__name__)

# timeseries.csv column -> MechanicsProblem.quantities() key
STRESS_COLUMNS = {
    "von_mises_max": "von_mises_max", "hydrostatic_min": "hydrostatic_min", "hydrostatic_max": "hydrostatic_max",
    "max_principal_max": "max_principal_max", "surface_von_mises_mean": "surface_von_mises_mean",
    "strain_energy_J": "strain_energy",
}
PROBE_STRESSES = ("von_mises", "hydrostatic", "radial_stress", "tangential_stress")
# Mechanics quantities whose extreme over the run summary.json reports (results.<name>), Pa
STRESS_PEAKS = {"von_mises_max": "peak_von_mises_Pa", "max_principal_max": "peak_max_principal_Pa",
                "hydrostatic_max": "peak_hydrostatic_Pa", "hydrostatic_min": "min_hydrostatic_Pa"}


TIMES_FILE = "timeseries_times.csv"  # rows at output.times (ecmx.solver.studies.output_times)


def snapshot_name(depth_of_discharge: float) -> str:
    """Directory name of a snapshot, e.g. ``dod_0.10``."""
    return f"dod_{depth_of_discharge:.2f}"


def probe_points(case: Any, pmesh: Any) -> np.ndarray:
    """The case's probe points (n, 3) in mesh units (micrometres for ecmx meshes)."""
    points = np.array([_padded(p.point) for p in case.output.probes]).reshape(-1, 3)
    return points / (pmesh.length_unit if pmesh is not None else 1e-6)


def check_probes(problem: Any, case: Any, pmesh: Any) -> None:
    """Refuse a probe that lies in no field's domain (in neither the particle nor the electrolyte)
    with a CaseError naming ``output.probes.<i>.point`` (collective: the probe values agree)."""
    if not case.output.probes:
        return
    values = problem.probe(probe_points(case, pmesh))
    for i, probe in enumerate(case.output.probes):
        if all(np.isnan(np.asarray(v)[i]) for v in values.values()):
            where = ", ".join(f"{c / 1e-6:g}" for c in _padded(probe.point))
            raise CaseError(f"probe {probe.name!r} at ({where}) µm lies outside the mesh; expected a point inside the "
                            "particle or the electrolyte", file=case.source_path, key=f"output.probes.{i}.point")


class Recorder:
    """Observer of the time loop that writes the result files (the mechanics already solved).

    :meth:`start` writes ``case.yaml`` and the CSV headers, :meth:`finish` the final fields and
    closes the files; nothing is written before :meth:`start`. Every method is collective; a file
    that cannot be written raises OutputError on every rank. Field files larger in total than
    ``output.max_field_bytes`` stop the run (SolveError).
    """

    def __init__(self, problem: Any, case: Any, out: Path, comm: MPI.Comm, *, mechanics: Any = None,
                 pmesh: Any = None):
        self.problem = problem
        self.case = case
        self.out = out
        self.comm = comm
        self.mechanics = mechanics
        self.pmesh = pmesh
        self.runner: ProtocolRunner | None = None
        self.timeseries: CsvWriter | None = None
        self.probes: CsvWriter | None = None
        self.times_csv: CsvWriter | None = None  # timeseries_times.csv, when output.times is set
        self.times_output = TimesOutput(case.output.times, MAX_OUTPUT_TIMES)
        self.probe_names = [p.name for p in case.output.probes]
        self.probe_points = probe_points(case, pmesh)
        self.mechanics_probe_points = _mesh_coordinates(self.probe_points, pmesh)
        self.fields_every = case.output.fields_every
        self.fields_interval = case.output.fields_interval
        if self.fields_every is None and self.fields_interval is None:
            self.fields_interval = DEFAULT_FIELDS_INTERVAL
        self.last_interval = -1  # the interval (time // fields_interval) of the last field write
        length_unit = pmesh.length_unit if pmesh is not None else 1e-6
        self.series = {group: FieldSeries(comm, out / "fields" / f"{group}.xdmf", functions, length_unit=length_unit,
                                          c_max=case.material.max_concentration)
                       for group, functions in self._field_groups().items()}
        self.field_bytes = 0  # field data bytes written (fields and snapshots)
        self.records = 0
        self.last_fields_time: float | None = None
        self.last: StepRecord | None = None
        self.snapshots: list[dict[str, Any]] = []
        self.discharge_C = 0.0
        self.charge_C = 0.0
        self.max_balance_error = 0.0
        self.max_newton = 0
        self.voltage_range = [float("inf"), float("-inf")]
        self.stress_row: dict[str, float | None] = dict.fromkeys(STRESS_COLUMNS)
        self.mechanics_quantities: dict[str, float] = {}  # of the last accepted step
        self.stress_peaks: dict[str, float | None] = dict.fromkeys(STRESS_PEAKS)  # extremes over the run
        self.front = phase_boundary_columns(problem, case, pmesh)  # phase-field materials only
        self.timeseries_columns = TIMESERIES_COLUMNS + (self.front.columns if self.front is not None else ())

    def _field_groups(self) -> dict[str, dict[str, Any]]:
        """Output functions per mesh: ``particle`` (c_s and stresses) and ``electrolyte`` (c, φ_e)."""
        fields = dict(self.problem.fields)
        particle = {"particle_concentration": fields.pop("particle_concentration")}
        if "chemical_potential" in fields:  # phase-field particles
            particle["chemical_potential"] = fields.pop("chemical_potential")
        if self.mechanics is not None:
            particle.update(self.mechanics.fields)
        groups = {"particle": particle}
        if fields:
            groups["electrolyte"] = fields
        return groups

    def start(self) -> None:
        """Write ``case.yaml``, create the CSV files with their headers and the ``fields`` directory
        (collective)."""
        writing(self.comm, (self.out / "case.yaml").write_text, self.case.to_yaml(), "utf-8")
        writing(self.comm, (self.out / "fields").mkdir)
        self.timeseries = CsvWriter(self.out / "timeseries.csv", self.timeseries_columns, self.comm)
        self.probes = CsvWriter(self.out / "probes.csv", PROBE_COLUMNS, self.comm)
        if self.case.output.times is not None:
            self.times_csv = CsvWriter(self.out / TIMES_FILE, self.timeseries_columns, self.comm)

    # -- observer interface ---------------------------------------------------------------------
    def segment_started(self, segment: Segment, position: int, count: int) -> None:
        """Nothing is written when a segment starts (``summary.json`` lists the segments); the
        interpolation of ``output.times`` restarts."""
        self.times_output.restart()

    def step_accepted(self, record: StepRecord) -> None:
        """Write the step's timeseries and probe rows, and its fields when due (:meth:`_fields_due`)."""
        self.problem.fields  # noqa: B018  (CellProblem refreshes its SI fields on access)
        if self.mechanics is not None:  # solved for this step by the coupling (fem.coupling), observed first
            self._read_stresses()
        row = self._timeseries_row(record)
        self.timeseries.write(row)
        due = self.times_output.rows(row)
        if due and self.times_csv is not None:
            self.times_csv.write_rows(due)
        self._write_probes(record)
        if self._fields_due(record.time_s):
            self._write_fields(record.time_s)
            self._check_field_bytes()
        self.records += 1
        self.last = record
        self._tally(record)

    def _read_stresses(self) -> None:
        """The mechanics quantities of this step [Pa, J]: the stress columns and the run's extremes."""
        self.mechanics_quantities = self.mechanics.quantities()
        self.stress_row = {col: self.mechanics_quantities.get(key) for col, key in STRESS_COLUMNS.items()}
        for key in STRESS_PEAKS:
            value, peak = self.mechanics_quantities.get(key), self.stress_peaks[key]
            if value is not None:
                extreme = min if key.endswith("_min") else max
                self.stress_peaks[key] = value if peak is None else extreme(peak, value)

    def _timeseries_row(self, record: StepRecord) -> dict[str, Any]:
        q = record.quantities
        return {
            "time_s": record.time_s, "step": record.step, "current_A": q["current_A"], "voltage_V": q["voltage_V"],
            "state_of_charge": record.state_of_charge, "depth_of_discharge": record.depth_of_discharge,
            "c_mean": q["c_mean"], "c_min": q["c_min"], "c_max": q["c_max"], "c_surface_mean": q["c_surface_mean"],
            **self.stress_row,
            "electrolyte_c_min": q.get("electrolyte_c_min"), "electrolyte_c_max": q.get("electrolyte_c_max"),
            "na_balance_error": record.na_balance_error, "newton_iterations": record.newton_iterations,
            "dt_s": record.dt_s, "free_energy_J": q.get("free_energy_J"),
            **(self.front.row() if self.front is not None else {}),
        }

    def _tally(self, record: StepRecord) -> None:
        """Charge passed [C] (discharge: I < 0), the largest Na balance error and Newton count, and the
        voltage range [V], for ``summary.json``."""
        q = record.quantities
        passed = q["current_A"] * record.dt_s
        if passed < 0:
            self.discharge_C -= passed
        else:
            self.charge_C += passed
        self.max_balance_error = max(self.max_balance_error, abs(record.na_balance_error))
        self.max_newton = max(self.max_newton, record.newton_iterations)
        self.voltage_range = [min(self.voltage_range[0], q["voltage_V"]), max(self.voltage_range[1], q["voltage_V"])]

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        name = snapshot_name(depth_of_discharge)
        directory = self.out / "snapshots" / name
        writing(self.comm, lambda: directory.parent.mkdir(exist_ok=True))
        written = {group: series.sibling(directory / f"{group}.xdmf") for group, series in self.series.items()}
        for series in written.values():
            series.write(record.time_s)
        self.field_bytes += sum(series.bytes_written for series in written.values())
        q = record.quantities
        self.snapshots.append({
            "name": name, "depth_of_discharge": depth_of_discharge, "time_s": record.time_s,
            "voltage_V": q["voltage_V"], "c_min": q["c_min"], "c_max": q["c_max"], "c_mean": q["c_mean"],
            **self.mechanics_quantities,
            "directory": f"snapshots/{name}",
            **{group: str(series.path.relative_to(self.out)) for group, series in written.items()},
        })
        log.info("snapshot at DOD %.2f (t = %.6g s) written to %s", depth_of_discharge, record.time_s, directory)
        self._check_field_bytes()

    # -- writing ---------------------------------------------------------------------------------
    def _interval(self, time_s: float) -> int:
        """The index of the ``fields_interval`` that ``time_s`` [s] lies in (a state at k·Δ is in k)."""
        return int(np.floor(time_s / self.fields_interval + 1e-9)) if self.fields_interval else 0

    def _fields_due(self, time_s: float) -> bool:
        """Fields are written for the initial state, every ``fields_every`` accepted steps and at the
        first state at or after each multiple of ``fields_interval`` (either rule, where both are set);
        the final state is written by :meth:`finish`."""
        if self.records == 0:
            return True
        by_steps = self.fields_every is not None and self.records % self.fields_every == 0
        return by_steps or (self.fields_interval is not None and self._interval(time_s) > self.last_interval)

    def _write_fields(self, time_s: float) -> None:
        self.problem.fields  # noqa: B018  (refresh)
        for series in self.series.values():
            self.field_bytes += series.write(time_s)
        self.last_fields_time = time_s
        self.last_interval = self._interval(time_s)

    def _check_field_bytes(self) -> None:
        """The output-volume guard: stop once the field files exceed ``output.max_field_bytes``."""
        limit = self.case.output.max_field_bytes
        if self.field_bytes > limit:
            raise SolveError(f"the field files reached {self.field_bytes:,} bytes, over the limit "
                             f"output.max_field_bytes = {limit:,}; raise it, or write fields less often "
                             "(output.fields_interval or output.fields_every)")

    def _write_probes(self, record: StepRecord) -> None:
        if not self.probe_names:
            return
        values = self.problem.probe(self.probe_points)
        stresses = self.mechanics.probe(self.mechanics_probe_points) if self.mechanics is not None else {}
        rows = []
        for i, name in enumerate(self.probe_names):
            row = {"time_s": record.time_s, "probe": name,
                   "c": _at(values, "particle_concentration", i),
                   "electrolyte_c": _at(values, "electrolyte_concentration", i),
                   "electrolyte_potential": _at(values, "electrolyte_potential", i)}
            for key in PROBE_STRESSES:
                row[key] = _at(stresses, key, i)
            rows.append(row)
        self.probes.write_rows(rows)

    def finish(self, final_fields: bool = True) -> None:
        """Write the final state's fields if the stride skipped them (unless ``final_fields`` is
        False); close every file (collective)."""
        try:
            if final_fields and self.last is not None and self.last_fields_time != self.last.time_s:
                self._write_fields(self.last.time_s)
        finally:
            for writer in (*self.series.values(), self.timeseries, self.probes, self.times_csv):
                if writer is not None:
                    writer.close()

    # -- summary ---------------------------------------------------------------------------------
    def summary(self, status: str, reason: str | None, wall_time_s: float) -> dict[str, Any]:
        """The contents of summary.json."""
        case, runner = self.case, self.runner
        return {
            "case": case.name,
            "description": case.description,
            "status": status,
            "reason": reason,
            "material": case.material.name,
            "electrolyte": case.electrolyte.name,
            "geometry": case.geometry.kind,
            "mechanics": case.mechanics.enabled,
            "versions": {"ecmx": __version__, "dolfinx": dolfinx.__version__, "python": platform.python_version()},
            "mpi_ranks": self.comm.size,
            "wall_time_s": wall_time_s,
            "mesh": self._mesh_counts(),
            "dofs": self._dof_counts(),
            "steps": {
                "accepted": runner.steps_accepted if runner else 0,
                "tried": runner.tries if runner else 0,
                "rejected": (runner.tries - runner.steps_accepted) if runner else 0,
            },
            "protocol": runner.segment_log if runner else [],
            "results": self._results(),
            "snapshots": self.snapshots,
            "missed_snapshots": [snapshot_name(d) for d in runner.pending_snapshots] if runner else [],
            "files": {
                "timeseries": "timeseries.csv", "probes": "probes.csv",
                **({"timeseries_times": TIMES_FILE} if self.times_csv is not None else {}),
                "fields": {group: str(series.path.relative_to(self.out)) for group, series in self.series.items()},
            },
            "command": " ".join(sys.argv),
            **self._phase_field(),
        }

    def _phase_field(self) -> dict[str, Any]:
        """``phase_field`` of summary.json for phase-field particles: the interface width λ [m], the
        largest particle cell at Γ [m] and whether λ is resolved (4 cells) or widened; else nothing."""
        particle = getattr(self.problem, "particle", None)
        if getattr(particle, "interface_width_m", None) is None:
            return {}
        width = particle.interface_width_m
        return {"phase_field": {"interface_width_m": width if math.isfinite(width) else None,  # None: Ω_a = 0
                                "surface_cell_size_m": particle.surface_cell_size_m,
                                "widened_interface": particle.widened_interface}}

    def _results(self) -> dict[str, Any]:
        """``results`` of summary.json: capacities [C, mAh/g], stress extremes [Pa], final state."""
        material, last = self.case.material, self.last
        lo, hi = material.stoichiometry_window
        volume = self.problem.capacity_C / (F * material.max_concentration * (hi - lo))
        mass_g = material.density * volume * 1e3
        results: dict[str, Any] = {
            "capacity_C": self.problem.capacity_C,
            "capacity_mAh_per_g": material.capacity_mAh_per_g,
            "discharge_capacity_mAh_per_g": self.discharge_C / 3.6 / mass_g,
            "charge_capacity_mAh_per_g": self.charge_C / 3.6 / mass_g,
            "max_abs_na_balance_error": self.max_balance_error,
            "max_newton_iterations": self.max_newton,
            **{name: self.stress_peaks[key] for key, name in STRESS_PEAKS.items()},
        }
        if last is not None:
            results.update({
                "final_time_s": last.time_s, "final_voltage_V": last.quantities["voltage_V"],
                "final_current_A": last.quantities["current_A"], "final_state_of_charge": last.state_of_charge,
                "min_voltage_V": self.voltage_range[0], "max_voltage_V": self.voltage_range[1],
            })
        return results

    def _mesh_counts(self) -> dict[str, Any]:
        counts: dict[str, Any] = {}
        if self.pmesh is not None:
            msh = self.pmesh.mesh
            tdim = msh.topology.dim
            counts.update({"kind": self.pmesh.kind, "cells": msh.topology.index_map(tdim).size_global,
                           "vertices": msh.topology.index_map(0).size_global,
                           "coordinate_system": self.pmesh.coordinate_system})
        for group, series in self.series.items():
            m = series.mesh
            counts[f"{group}_cells"] = m.topology.index_map(m.topology.dim).size_global
        return counts

    def _dof_counts(self) -> dict[str, int]:
        counts = {}
        for name, f in self.problem.fields.items():
            im = f.function_space.dofmap.index_map
            counts[name] = im.size_global * f.function_space.dofmap.index_map_bs
        counts["total"] = self.problem.num_dofs
        return counts


def _at(values: dict[str, np.ndarray], key: str, i: int) -> float | None:
    """Probe value ``i`` of ``key``; None when absent or NaN (the point is not in that domain)."""
    if key not in values:
        return None
    v = float(np.asarray(values[key])[i])
    return None if np.isnan(v) else v


def _padded(point: Any) -> np.ndarray:
    p = np.zeros(3)
    p[: len(point)] = np.asarray(point, dtype=float)
    return p


def _mesh_coordinates(points: np.ndarray, pmesh: Any) -> np.ndarray:
    """Cartesian points (mesh units) in the mesh's own coordinates (a sphere-1d mesh is centred on
    the first particle centre); unchanged without a mesh."""
    if pmesh is None:
        return np.array(points, dtype=float).reshape(-1, 3)
    system = by_name(pmesh.coordinate_system)
    return system.to_mesh_coordinates(np.array(points, dtype=float).reshape(-1, 3), pmesh.particle_centres[0])

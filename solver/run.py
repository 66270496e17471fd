"""The run driver: one case from mesh to results directory.

``run_case`` loads the mesh, builds the coupled :class:`~ecmx.solver.problem.CellProblem` (and the
one-way mechanics, when enabled), runs the protocol with adaptive steps and writes:

```
<out>/case.yaml           the resolved case (SI)
<out>/timeseries.csv      one row per accepted step (and the initial state), CASE_FORMAT.md columns
<out>/probes.csv          one row per probe per accepted step
<out>/fields/particle.pvd     ParaView time series on the particle mesh (c_s, stresses)
<out>/fields/electrolyte.pvd  ... on the electrolyte mesh (c, φ_e; not for sphere-1d)
<out>/snapshots/dod_0.10/particle.pvd, electrolyte.pvd   one file set per snapshot depth of discharge
<out>/summary.json        status, key results, versions, wall time, mesh and DOF counts
```

Results are written into ``<out>.partial`` and renamed to ``<out>`` at the end, so ``<out>`` never
holds a half-written run. An existing ``<out>`` is an error unless ``overwrite``. A run that fails
(Newton at the minimum step) still renames what it wrote, with ``summary.json`` status ``"failed"``
and the reason, and then raises :class:`~ecmx.solver.errors.SolveError`.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401  (before dolfinx)

import logging
import os
import platform
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dolfinx
import dolfinx.mesh
import numpy as np
from mpi4py import MPI

from ecmx.postprocess.writers import (
    PROBE_COLUMNS,
    TIMESERIES_COLUMNS,
    CsvWriter,
    FieldSeries,
    write_fields_once,
    write_json,
)
from ecmx.solver import __version__
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.protocol import ProtocolRunner, Segment, StepRecord, build_protocol
from ecmx.solver.stepping import StepController
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


@dataclass
class RunResult:
    """What a run produced.

    Attributes:
        directory: the results directory.
        status: ``"completed"`` (a failed run raises SolveError after writing its files).
        summary: the contents of summary.json.
    """

    directory: Path
    status: str
    summary: dict[str, Any] = field(default_factory=dict)

    @property
    def timeseries(self) -> Path:
        return self.directory / "timeseries.csv"

    @property
    def probes(self) -> Path:
        return self.directory / "probes.csv"


def snapshot_name(depth_of_discharge: float) -> str:
    """Directory name of a snapshot, e.g. ``dod_0.10``."""
    return f"dod_{depth_of_discharge:.2f}"


class ResultsDirectory:
    """``<out>`` written through ``<out>.partial`` and renamed into place at the end (rank 0 acts).

    Raises:
        CaseError: ``<out>`` exists and ``overwrite`` is False.
    """

    def __init__(self, path: Path, comm: MPI.Comm, overwrite: bool = False):
        self.path = Path(path).absolute()
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.comm = comm
        self.overwrite = overwrite
        exists = comm.bcast(self.path.exists() if comm.rank == 0 else None, root=0)
        if exists and not overwrite:
            raise CaseError(f"results directory {self.path} already exists; use --overwrite to replace it "
                            "or --out to write elsewhere", key="output.directory")

    def create(self) -> Path:
        """Create an empty ``<out>.partial`` (a stale one from a killed run is removed)."""
        if self.comm.rank == 0:
            if self.partial.exists():
                log.warning("removing a stale partial results directory %s", self.partial)
                shutil.rmtree(self.partial)
            self.partial.mkdir(parents=True)
        self.comm.barrier()
        return self.partial

    def finish(self) -> Path:
        """Rename ``<out>.partial`` to ``<out>`` (replacing an old ``<out>`` when overwriting)."""
        if self.comm.rank == 0:
            old = None
            if self.path.exists():
                if not self.overwrite:
                    raise CaseError(f"results directory {self.path} appeared during the run; results left in "
                                    f"{self.partial}", key="output.directory")
                old = self.path.with_name(f"{self.path.name}.old-{os.getpid()}")
                os.replace(self.path, old)
            os.replace(self.partial, self.path)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        self.comm.barrier()
        return self.path


def run_case(case: Any, out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD, progress: bool = True,
             overwrite: bool = False, cache_dir: Path | None = None) -> RunResult:
    """Run one case and write its results directory (collective over ``comm``).

    Args:
        case: the resolved :class:`~ecmx.solver.config.Case`.
        out_dir: results directory (default: ``case.output.directory``, else ``results/<name>``).
        comm: MPI communicator the mesh is distributed over.
        progress: show a progress bar (rank 0, only on a terminal).
        overwrite: replace an existing results directory.
        cache_dir: mesh cache directory (default: the meshes module's own).

    Returns:
        The :class:`RunResult` of a completed run.

    Raises:
        CaseError: the results directory exists (without ``overwrite``), or bad input.
        SolveError: the run could not be completed; the files written so far are in the results
            directory, with ``summary.json`` status ``"failed"``.
    """
    started = time.perf_counter()
    directory = ResultsDirectory(Path(out_dir) if out_dir is not None else case.output_directory(), comm, overwrite)
    from ecmx.meshes import load_mesh
    from ecmx.solver.mechanics import mechanics_for_case
    from ecmx.solver.problem import CellProblem

    pmesh = load_mesh(case.geometry, comm=comm, cache_dir=cache_dir)
    problem = CellProblem(pmesh, case)
    problem.set_initial_state()
    mechanics = mechanics_for_case(problem, pmesh, case) if case.mechanics.enabled else None
    return run_problem(problem, case, directory, comm=comm, mechanics=mechanics, pmesh=pmesh, progress=progress,
                       started=started)


def run_problem(problem: Any, case: Any, directory: ResultsDirectory | str | Path, *,
                comm: MPI.Comm = MPI.COMM_WORLD, overwrite: bool = False, mechanics: Any = None, pmesh: Any = None,
                progress: bool = False, started: float | None = None) -> RunResult:
    """Run the case's protocol on a built problem (at its initial state) and write the results.

    Collective. ``mechanics`` (optional) is solved one-way after every accepted step. Raises like
    :func:`run_case`.
    """
    started = time.perf_counter() if started is None else started
    if not isinstance(directory, ResultsDirectory):
        directory = ResultsDirectory(Path(directory), comm, overwrite)
    out = directory.create()
    if comm.rank == 0:
        (out / "case.yaml").write_text(case.to_yaml(), encoding="utf-8")
    recorder = Recorder(problem, case, out, comm, mechanics=mechanics, pmesh=pmesh)
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    controller = StepController.from_settings(case.solver.time_step)
    runner = ProtocolRunner(problem, steps, controller, capacity_C=problem.capacity_C,
                            stoichiometry_window=case.material.stoichiometry_window,
                            snapshot_dods=case.output.snapshots.depth_of_discharge, observer=recorder)
    recorder.runner = runner
    status, reason, error = "completed", None, None
    bar = ProgressBar(runner, enabled=progress and comm.rank == 0)
    recorder.progress = bar
    try:
        with bar:
            runner.run()
    except SolveError as exc:
        status, reason, error = "failed", str(exc), exc
    except KeyboardInterrupt:
        status, reason = "interrupted", "interrupted by the user"
        raise
    except Exception as exc:  # an internal error: keep what was written, then re-raise
        status, reason = "failed", f"internal error: {type(exc).__name__}: {exc}"
        raise
    finally:
        try:
            recorder.finish()
        finally:
            summary = recorder.summary(status, reason, time.perf_counter() - started)
            write_json(out / "summary.json", summary, comm)
            path = directory.finish()
    if error is not None:
        raise SolveError(f"{reason} (t = {runner.time:.6g} s; files written so far are in {path})") from error
    return RunResult(path, status, summary)


class Recorder:
    """Observer of the time loop that writes the result files and runs the one-way mechanics."""

    def __init__(self, problem: Any, case: Any, out: Path, comm: MPI.Comm, *, mechanics: Any = None,
                 pmesh: Any = None):
        self.problem = problem
        self.case = case
        self.out = out
        self.comm = comm
        self.mechanics = mechanics
        self.pmesh = pmesh
        self.runner: ProtocolRunner | None = None
        self.progress: ProgressBar | None = None
        self.timeseries = CsvWriter(out / "timeseries.csv", TIMESERIES_COLUMNS, comm)
        self.probes = CsvWriter(out / "probes.csv", PROBE_COLUMNS, comm)
        self.probe_names = [p.name for p in case.output.probes]
        self.probe_points = np.array([_padded(p.point) for p in case.output.probes]).reshape(-1, 3) / (
            pmesh.length_unit if pmesh is not None else 1e-6)
        self.mechanics_probe_points = _mesh_coordinates(self.probe_points, pmesh)
        self.fields_every = case.output.fields_every
        self.series = {group: FieldSeries(comm, out / "fields" / f"{group}.pvd", functions)
                       for group, functions in self._field_groups().items()}
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

    def _field_groups(self) -> dict[str, dict[str, Any]]:
        """Output functions per mesh: ``particle`` (c_s and stresses) and ``electrolyte`` (c, φ_e)."""
        fields = dict(self.problem.fields)
        particle = {"particle_concentration": fields.pop("particle_concentration")}
        if self.mechanics is not None:
            particle.update(self.mechanics.fields)
        groups = {"particle": particle}
        if fields:
            groups["electrolyte"] = fields
        return groups

    # -- observer interface ---------------------------------------------------------------------
    def segment_started(self, segment: Segment, position: int, count: int) -> None:
        if self.progress is not None:
            self.progress.segment(segment, position, count)

    def step_accepted(self, record: StepRecord) -> None:
        q = record.quantities
        self.problem.fields  # noqa: B018  (CellProblem refreshes its SI fields on access)
        if self.mechanics is not None:
            try:
                self.mechanics.solve()
            except RuntimeError as exc:  # the linear solve failed: the run cannot go on
                raise SolveError(f"mechanics solve failed at t = {record.time_s:.6g} s: {exc}") from exc
            if self.problem.harmonic_hydrostatic is not None:  # two-way coupling
                self.problem.harmonic_hydrostatic.interpolate(self.mechanics.fields["harmonic_hydrostatic"])
            self.mechanics_quantities = self.mechanics.quantities()
            self.stress_row = {col: self.mechanics_quantities.get(key) for col, key in STRESS_COLUMNS.items()}
            for key in STRESS_PEAKS:
                value, peak = self.mechanics_quantities.get(key), self.stress_peaks[key]
                if value is not None:
                    extreme = min if key.endswith("_min") else max
                    self.stress_peaks[key] = value if peak is None else extreme(peak, value)
        row = {
            "time_s": record.time_s, "step": record.step, "current_A": q["current_A"], "voltage_V": q["voltage_V"],
            "state_of_charge": record.state_of_charge, "depth_of_discharge": record.depth_of_discharge,
            "c_mean": q["c_mean"], "c_min": q["c_min"], "c_max": q["c_max"], "c_surface_mean": q["c_surface_mean"],
            **self.stress_row,
            "electrolyte_c_min": q.get("electrolyte_c_min"), "electrolyte_c_max": q.get("electrolyte_c_max"),
            "na_balance_error": record.na_balance_error, "newton_iterations": record.newton_iterations,
            "dt_s": record.dt_s,
        }
        self.timeseries.write(row)
        self._write_probes(record)
        if self.records % self.fields_every == 0:
            self._write_fields(record.time_s)
        self.records += 1
        self.last = record
        passed = q["current_A"] * record.dt_s
        if passed < 0:
            self.discharge_C -= passed
        else:
            self.charge_C += passed
        self.max_balance_error = max(self.max_balance_error, abs(record.na_balance_error))
        self.max_newton = max(self.max_newton, record.newton_iterations)
        self.voltage_range = [min(self.voltage_range[0], q["voltage_V"]), max(self.voltage_range[1], q["voltage_V"])]
        if self.progress is not None:
            self.progress.update(record)

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        name = snapshot_name(depth_of_discharge)
        directory = self.out / "snapshots" / name
        groups = {group: {o.name: o.source for o in series.outputs} for group, series in self.series.items()}
        paths = write_fields_once(self.comm, directory, groups, record.time_s)
        q = record.quantities
        self.snapshots.append({
            "name": name, "depth_of_discharge": depth_of_discharge, "time_s": record.time_s,
            "voltage_V": q["voltage_V"], "c_min": q["c_min"], "c_max": q["c_max"], "c_mean": q["c_mean"],
            **self.mechanics_quantities,
            "directory": f"snapshots/{name}",
            **{group: str(path.relative_to(self.out)) for group, path in paths.items()},
        })
        log.info("snapshot at DOD %.2f (t = %.6g s) written to %s", depth_of_discharge, record.time_s, directory)

    # -- writing ---------------------------------------------------------------------------------
    def _write_fields(self, time_s: float) -> None:
        self.problem.fields  # noqa: B018  (refresh)
        for series in self.series.values():
            series.write(time_s)
        self.last_fields_time = time_s

    def _write_probes(self, record: StepRecord) -> None:
        if not self.probe_names:
            return
        values = self.problem.probe(self.probe_points)
        stresses = self.mechanics.probe(self.mechanics_probe_points) if self.mechanics is not None else {}
        for i, name in enumerate(self.probe_names):
            row = {"time_s": record.time_s, "probe": name,
                   "c": _at(values, "particle_concentration", i),
                   "electrolyte_c": _at(values, "electrolyte_concentration", i),
                   "electrolyte_potential": _at(values, "electrolyte_potential", i)}
            for key in PROBE_STRESSES:
                row[key] = _at(stresses, key, i)
            self.probes.write(row)

    def finish(self) -> None:
        """Write the final state's fields if the stride skipped them; close every file (collective)."""
        try:
            if self.last is not None and self.last_fields_time != self.last.time_s:
                self._write_fields(self.last.time_s)
        finally:
            for series in self.series.values():
                series.close()
            self.timeseries.close()
            self.probes.close()

    # -- summary ---------------------------------------------------------------------------------
    def summary(self, status: str, reason: str | None, wall_time_s: float) -> dict[str, Any]:
        """The contents of summary.json."""
        case, runner, last = self.case, self.runner, self.last
        material = case.material
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
        return {
            "case": case.name,
            "description": case.description,
            "status": status,
            "reason": reason,
            "material": material.name,
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
            "results": results,
            "snapshots": self.snapshots,
            "missed_snapshots": [snapshot_name(d) for d in runner.pending_snapshots] if runner else [],
            "files": {
                "timeseries": "timeseries.csv", "probes": "probes.csv",
                "fields": {group: f"fields/{group}.pvd" for group in self.series},
            },
            "command": " ".join(sys.argv),
        }

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
    """Cartesian points (mesh units) in the mesh's own coordinates: sphere-1d meshes are radial
    (r = |p − centre|), axisymmetric ones (r, z) = (√(x² + y²), z)."""
    system = pmesh.coordinate_system if pmesh is not None else "cartesian"
    out = np.array(points, dtype=float).reshape(-1, 3)
    if system == "spherical":
        r = np.linalg.norm(out - np.asarray(pmesh.particle_centres)[0], axis=1)
        out = np.column_stack([r, np.zeros_like(r), np.zeros_like(r)])
    elif system == "axisymmetric":
        out = np.column_stack([np.hypot(out[:, 0], out[:, 1]), out[:, 2], np.zeros(len(out))])
    return out


class ProgressBar:
    """A rich progress bar over the protocol (rank 0, on a terminal only)."""

    def __init__(self, runner: ProtocolRunner, enabled: bool):
        self.runner = runner
        self.enabled = enabled and sys.stderr.isatty()
        self._progress = None
        self._task = None

    def __enter__(self) -> ProgressBar:
        if self.enabled:
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                      TimeElapsedColumn(), TextColumn("{task.fields[state]}"), transient=False)
            self._progress.__enter__()
            self._task = self._progress.add_task("starting", total=1.0, state="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.update(self._task, completed=self.runner.progress_fraction)
            self._progress.__exit__(*exc)

    def segment(self, segment: Segment, position: int, count: int) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"step {position + 1}/{count} {segment.kind}")

    def update(self, record: StepRecord) -> None:
        if self._progress is not None:
            q = record.quantities
            state = f"t={record.time_s:9.4g} s  V={q['voltage_V']:.4f}  SOC={record.state_of_charge:.3f}  dt={record.dt_s:.3g} s"
            self._progress.update(self._task, completed=self.runner.progress_fraction, state=state)

"""The run driver: one case from mesh to results directory.

``run_case`` loads the mesh, builds the coupled :class:`~ecmx.solver.fem.cell_problem.CellProblem` (and the
one-way mechanics, when enabled), runs the protocol with adaptive steps and writes:

```
<out>/case.yaml           the resolved case (SI)
<out>/timeseries.csv      one row per accepted step (and the initial state), CASE_FORMAT.md columns
<out>/probes.csv          one row per probe per accepted step
<out>/fields/particle.pvd     ParaView time series on the particle mesh (c_s, stresses)
<out>/fields/electrolyte.pvd  ... on the electrolyte mesh (c, φ_e; not for sphere-1d)
<out>/snapshots/dod_0.10/particle.pvd, electrolyte.pvd   one file set per snapshot depth of discharge
<out>/summary.json        status, key results, versions, wall time, mesh and DOF counts
<out>/.ecmx-owner         ecmx's ownership marker and lock (see ecmx.solver.studies.outdir)
```

The results directory (:class:`ResultsDirectory`): everything is checked before the mesh is
built, and nothing is written when a check fails (CaseError). Results are written into
``<out>.partial``, which ecmx creates with its marker and locks for the whole run (a second run on
the same directory is refused, naming the holder), and renamed to ``<out>`` at the end, so ``<out>``
never holds a half-written run. An existing ``<out>`` is an error unless ``overwrite``, which only
replaces a directory ecmx wrote (never ``/``, ``~``, the working directory or its parents, or the
case file's directory), atomically.

How a run ends (``summary.json`` status):

- ``"completed"``: renamed to ``<out>``;
- ``"failed"`` because the solve failed (Newton at the minimum step), a guard stopped it
  (``solver.max_steps``, ``output.max_field_bytes``) or an internal error: renamed to ``<out>``,
  then :class:`~ecmx.solver.errors.SolveError` (or the internal error) is raised;
- ``"failed"`` because results could not be written (disk full, read-only or removed directory):
  stays ``<out>.partial``, :class:`~ecmx.solver.errors.OutputError` is raised;
- ``"interrupted"`` (Ctrl-C, agreed between MPI ranks before the next try of a step): stays
  ``<out>.partial``, KeyboardInterrupt is raised.

Every failure path is collective: under MPI all ranks raise together.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

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
    writing,
)
from ecmx.solver import __version__
from ecmx.solver.collective import DeferredInterrupt, on_root
from ecmx.solver.errors import CaseError, OutputError, SolveError
from ecmx.solver.studies.outdir import (
    MARKER,
    DirectoryInUse,
    DirectoryLock,
    check_replaceable,
    expand,
    is_owned,
    locked_by,
    protected_reason,
    replace_directory,
)
from ecmx.solver.timeloop.protocol import ProtocolRunner, Segment, StepRecord, build_protocol
from ecmx.solver.timeloop.stepping import StepController
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
    """``<out>``, written through a locked ``<out>.partial`` and moved into place at the end.

    Construction checks everything and writes nothing (collective; CaseError on every rank):
    ``<out>`` is not a protected directory (``protected_reason``); an existing ``<out>`` needs
    ``overwrite`` and must be ecmx's own (or empty) and not in use; an existing ``<out>.partial``
    must be ecmx's and not locked (a stale one from a killed run is removed by :meth:`create`);
    the nearest existing parent must be a writable directory. ``~`` is expanded.

    Then :meth:`create` makes and locks ``<out>.partial``, and :meth:`finish` moves it into place or
    :meth:`keep_partial` leaves it unfinished; both release the lock. Rank 0 of ``comm`` does the
    file-system work.

    Args:
        path: the results directory ``<out>``.
        comm: the run's communicator.
        overwrite: replace an existing ``<out>`` (ecmx's own only).
        case_file: the case file, whose directory (and its parents) are never replaced.
        file, key: the input file and key that named ``path`` (for messages).

    Raises:
        CaseError: a check failed (DirectoryInUse when another ecmx process holds the directory).
    """

    def __init__(self, path: str | Path, comm: MPI.Comm, overwrite: bool = False, *, case_file: Path | None = None,
                 file: Path | None = None, key: str | None = "output.directory"):
        self.path = expand(path)
        self.comm = comm
        self.overwrite = overwrite
        self.case_file = case_file
        self._where: dict[str, Any] = {"file": file, "key": key}
        self._lock: DirectoryLock | None = None
        self._created = False
        on_root(comm, self._check)
        self.partial = self.path.with_name(self.path.name + ".partial")

    def _check(self) -> None:
        path, where = self.path, self._where
        reason = protected_reason(path, self.case_file)
        if reason is not None:
            raise CaseError(f"refusing to write results to {path}: {reason}", **where)
        if path.exists() or path.is_symlink():
            if not self.overwrite:
                raise CaseError(f"results directory {path} already exists; use --overwrite to replace it "
                                "or --out to write elsewhere", **where)
            if not _empty_directory(path):
                check_replaceable(path, case_file=self.case_file, **where)
                _refuse_if_locked(path, path, where)
        partial = path.with_name(path.name + ".partial")
        if partial.exists() or partial.is_symlink():
            reason = protected_reason(partial, self.case_file)
            if reason is not None:
                raise CaseError(f"refusing to replace {partial}: {reason}", **where)
            if not is_owned(partial):
                raise CaseError(f"{partial} exists and is not an unfinished ecmx run (a file, a symbolic link or a "
                                f"directory without the {MARKER} marker); move it away", **where)
            _refuse_if_locked(partial, path, where)
        _check_parent(path, where)

    def create(self) -> Path:
        """Make ``<out>.partial`` with ecmx's marker and lock it; returns it (collective, idempotent).

        A stale ``<out>.partial`` (ecmx's, unlocked: its run was killed) is removed first.
        """
        if not self._created:
            on_root(self.comm, self._create)
            self._created = True
        return self.partial

    def _create(self) -> None:
        if self.partial.exists() or self.partial.is_symlink():
            with DirectoryLock.acquire(self.partial, "run", **self._where):
                log.warning("removing %s, the unfinished results of a run that was killed", self.partial)
                shutil.rmtree(self.partial)
        self._lock = DirectoryLock.create(self.partial, "run", **self._where)

    def finish(self) -> Path:
        """Move ``<out>.partial`` to ``<out>``, replacing an old ``<out>`` when overwriting, and release
        the lock (collective). Returns ``<out>``.

        Raises:
            CaseError: ``<out>`` appeared during the run (without ``overwrite``) or may not be replaced.
            OutputError: the rename failed; the results stay in ``<out>.partial``.
        """
        on_root(self.comm, self._finish)
        return self.path

    def _finish(self) -> None:
        try:
            if self.path.exists() or self.path.is_symlink():
                self._replace()
            else:
                os.rename(self.partial, self.path)
            self._lock.moved_to(self.path)
        except OSError as exc:
            where = self.path if self._lock.holds(self.path) else self.partial
            name = f" ({exc.filename})" if exc.filename else ""
            raise OutputError(f"cannot put the results in place at {self.path}: {exc.strerror or exc}{name}; "
                              f"they are in {where}") from None
        finally:
            self._release()

    def _replace(self) -> None:
        if not self.overwrite:
            raise CaseError(f"results directory {self.path} appeared during the run; results left in {self.partial}",
                            **self._where)
        if _empty_directory(self.path):
            replace_directory(self.partial, self.path)
            return
        check_replaceable(self.path, case_file=self.case_file, **self._where)
        with DirectoryLock.acquire(self.path, "run", **self._where):  # not while another process writes it
            replace_directory(self.partial, self.path)

    def keep_partial(self) -> Path:
        """Leave the unfinished run in ``<out>.partial`` and release the lock; returns that path."""
        self._release()
        return self.partial

    def _release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None


def _empty_directory(path: Path) -> bool:
    """True for a real, empty directory (replacing it loses nothing)."""
    return path.is_dir() and not path.is_symlink() and not any(path.iterdir())


def _refuse_if_locked(path: Path, results: Path, where: dict[str, Any]) -> None:
    holder = locked_by(path)
    if holder is not None:
        raise DirectoryInUse(f"results directory {results} is in use by {holder} (lock on {path}); wait for it to "
                             "finish or choose another output directory", **where)


def _check_parent(path: Path, where: dict[str, Any]) -> None:
    """Refuse when the nearest existing parent of ``path`` is not a directory ecmx can write into."""
    parent = path.parent
    while not (parent.exists() or parent.is_symlink()):
        parent = parent.parent
    if not parent.is_dir():
        raise CaseError(f"cannot create {path}: {parent} is not a directory", **where)
    if not os.access(parent, os.W_OK | os.X_OK):
        raise CaseError(f"cannot create {path}: {parent} is not writable", **where)


def results_directory(case: Any, out_dir: str | Path | None, comm: MPI.Comm, overwrite: bool) -> ResultsDirectory:
    """The checked results directory of a run: ``out_dir``, else ``output.directory``, else
    ``results/<name>`` (``name`` must be a plain name, so that the directory lies inside ``results``).
    Collective; writes nothing."""
    source = case.source_path
    if out_dir is not None:
        return ResultsDirectory(out_dir, comm, overwrite, case_file=source, key=None)
    if case.output.directory is not None:
        return ResultsDirectory(case.output.directory, comm, overwrite, case_file=source, file=source)
    parent, name = Path("results"), case.name
    if "\0" in name or expand(parent / name).parent != expand(parent):
        raise CaseError(f"{name!r} cannot name a results directory inside {parent}/: expected a plain name (no path "
                        "separators, not '.' or '..'), or set output.directory", file=source, key="name")
    return ResultsDirectory(parent / name, comm, overwrite, case_file=source, file=source, key="name")


def run_case(case: Any, out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD, progress: bool = True,
             overwrite: bool = False, cache_dir: Path | None = None) -> RunResult:
    """Run one case and write its results directory (collective over ``comm``).

    Args:
        case: the resolved :class:`~ecmx.solver.config.Case`.
        out_dir: results directory (default: ``case.output.directory``, else ``results/<name>``);
            ``~`` is expanded.
        comm: MPI communicator the mesh is distributed over.
        progress: show a progress bar (rank 0, only on a terminal).
        overwrite: replace an existing results directory (only one that ecmx wrote).
        cache_dir: mesh cache directory (default: the meshes module's own).

    Returns:
        The :class:`RunResult` of a completed run.

    Raises:
        CaseError: the results directory may not be written (exists without ``overwrite``, is
            protected, not ecmx's, in use by another run), a probe lies outside the mesh, or other
            bad input; checked before the mesh is built, nothing is written.
        SolveError: the run could not be completed; the files written so far are in the results
            directory, with ``summary.json`` status ``"failed"``.
        OutputError: results could not be written; what was written is in ``<out>.partial``.
        KeyboardInterrupt: interrupted; what was written is in ``<out>.partial``.
    """
    started = time.perf_counter()
    directory = results_directory(case, out_dir, comm, overwrite)
    from ecmx.meshes import load_mesh
    from ecmx.solver.fem.mechanics import mechanics_for_case
    from ecmx.solver.fem.cell_problem import CellProblem

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

    Collective. ``mechanics`` (optional) is solved one-way after every accepted step. Probes are
    checked (CaseError) before anything is written. Raises like :func:`run_case`.
    """
    started = time.perf_counter() if started is None else started
    if not isinstance(directory, ResultsDirectory):
        directory = ResultsDirectory(directory, comm, overwrite, case_file=case.source_path)
    check_probes(problem, case, pmesh)
    out = directory.create()
    recorder = Recorder(problem, case, out, comm, mechanics=mechanics, pmesh=pmesh)
    error: BaseException | None = None
    try:
        _run_protocol(problem, case, recorder, comm, progress)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    error = _close(recorder, error)
    summary = recorder.summary(_status(error), _reason(error), time.perf_counter() - started)
    try:
        write_json(out / "summary.json", summary, comm)
    except OutputError as exc:
        error = _worse(error, exc)
    if isinstance(error, KeyboardInterrupt):
        raise KeyboardInterrupt(f"the unfinished run is in {directory.keep_partial()}") from None
    if isinstance(error, OutputError):
        raise OutputError(f"{error}; the unfinished run is in {directory.keep_partial()}") from error
    path = directory.finish()
    if isinstance(error, SolveError):
        time_s = recorder.runner.time if recorder.runner is not None else 0.0
        raise SolveError(f"{error} (t = {time_s:.6g} s; files written so far are in {path})") from error
    if error is not None:
        raise error
    return RunResult(path, "completed", summary)


def _run_protocol(problem: Any, case: Any, recorder: Recorder, comm: MPI.Comm, progress: bool) -> None:
    """Open the result files and run the protocol, the recorder observing (collective).

    A Ctrl-C stops the run on every rank before the next try of a step; ``solver.max_steps`` caps
    the accepted steps.
    """
    recorder.start()
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    interrupts = DeferredInterrupt(comm)
    runner = ProtocolRunner(problem, steps, StepController.from_settings(case.solver.time_step),
                            capacity_C=problem.capacity_C, stoichiometry_window=case.material.stoichiometry_window,
                            snapshot_dods=case.output.snapshots.depth_of_discharge, observer=recorder,
                            max_steps=case.solver.max_steps, guard=interrupts.check)
    recorder.runner = runner
    recorder.progress = ProgressBar(runner, enabled=progress and comm.rank == 0)
    with interrupts, recorder.progress:
        runner.run()


def _close(recorder: Recorder, error: BaseException | None) -> BaseException | None:
    """Close the recorder's files (and write the final fields unless writing already failed); the
    error that ends the run."""
    try:
        recorder.finish(final_fields=not isinstance(error, OutputError))
    except OutputError as exc:
        return _worse(error, exc)
    return error


def _worse(error: BaseException | None, output: OutputError) -> BaseException | None:
    """The error to report when writing failed too: the write failure, unless the run was already
    interrupted, stopped by a write failure or hit an internal error."""
    if error is None or (isinstance(error, SolveError) and not isinstance(error, OutputError)):
        return output
    return error


def _status(error: BaseException | None) -> str:
    if error is None:
        return "completed"
    return "interrupted" if isinstance(error, KeyboardInterrupt) else "failed"


def _reason(error: BaseException | None) -> str | None:
    if error is None:
        return None
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by the user (Ctrl-C)"
    if isinstance(error, SolveError):
        return str(error)
    return f"internal error: {type(error).__name__}: {error}"


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
    """Observer of the time loop that writes the result files and runs the one-way mechanics.

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
        self.progress: ProgressBar | None = None
        self.timeseries: CsvWriter | None = None
        self.probes: CsvWriter | None = None
        self.probe_names = [p.name for p in case.output.probes]
        self.probe_points = probe_points(case, pmesh)
        self.mechanics_probe_points = _mesh_coordinates(self.probe_points, pmesh)
        self.fields_every = case.output.fields_every
        self.series = {group: FieldSeries(comm, out / "fields" / f"{group}.pvd", functions)
                       for group, functions in self._field_groups().items()}
        self.field_bytes = 0  # .vtu bytes written (fields and snapshots)
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

    def start(self) -> None:
        """Write ``case.yaml``, create the CSV files with their headers and the ``fields`` directory
        (collective)."""
        writing(self.comm, (self.out / "case.yaml").write_text, self.case.to_yaml(), "utf-8")
        writing(self.comm, (self.out / "fields").mkdir)
        self.timeseries = CsvWriter(self.out / "timeseries.csv", TIMESERIES_COLUMNS, self.comm)
        self.probes = CsvWriter(self.out / "probes.csv", PROBE_COLUMNS, self.comm)

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
            self._check_field_bytes()
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
        writing(self.comm, lambda: directory.parent.mkdir(exist_ok=True))
        groups = {group: {o.name: o.source for o in series.outputs} for group, series in self.series.items()}
        written = write_fields_once(self.comm, directory, groups, record.time_s)
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
    def _write_fields(self, time_s: float) -> None:
        self.problem.fields  # noqa: B018  (refresh)
        for series in self.series.values():
            self.field_bytes += series.write(time_s)
        self.last_fields_time = time_s

    def _check_field_bytes(self) -> None:
        """The output-volume guard: stop once the field files exceed ``output.max_field_bytes``."""
        limit = self.case.output.max_field_bytes
        if self.field_bytes > limit:
            raise SolveError(f"the field files reached {self.field_bytes:,} bytes, over the limit "
                             f"output.max_field_bytes = {limit:,}; raise it, or write fields less often "
                             "(output.fields_every)")

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
            for writer in (*self.series.values(), self.timeseries, self.probes):
                if writer is not None:
                    writer.close()

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

"""Parameter sweeps: one normal run directory per point, run in parallel, resumable, failure-tolerant.

``ecmx sweep FILE`` expands the sweep file (:mod:`ecmx.solver.config.studies`) into points and runs
each point as an ordinary run (``ecmx.solver.studies.run.run_case``) in ``<sweep dir>/<point label>/``, so
every point directory can be inspected, plotted or rerun with ``ecmx run <point dir>/case.yaml``.

The sweep directory is ecmx's (:mod:`ecmx.solver.studies.study_dir`): created with its ownership marker, or
empty, or written by an earlier sweep; anything else is refused before anything is written. The
sweep holds its lock from start to end, so a second sweep on the same directory refuses, naming the
first. Inside it the sweep writes only its own files (``summary.csv``, ``sweep.yaml``, ``figures/``,
the point directories), each atomically; point directories are checked to lie inside it.

Completion marker. A point is finished when ``<point dir>/.ecmx-complete`` exists, records the
same resolved case (SHA-256 of the case as plain data), and the run's files are all there
(:func:`missing_run_files`: case.yaml, timeseries.csv, probes.csv, summary.json with status
"completed", and the field files it lists). The marker is written last, atomically, only after the
run returned without error and its files were verified, and it holds the point's summary row, so a
resumed sweep rebuilds ``summary.csv`` without reading anything else. A rerun skips finished points;
points that failed, never ran, were interrupted, lost files since, or whose resolved case changed (an
edited base case) run again; ``force=True`` reruns everything. A point that fails (a
:class:`SolveError`, any other exception, a crashed worker process, or a run that left files
missing) is recorded as ``failed`` with the reason, in the summary and in ``<point dir>/.ecmx-failed``;
the other points finish.

Interrupts. Ctrl-C stops a sweep promptly: local worker processes are terminated, points that were
running are recorded as ``interrupted`` (not failed; their unfinished runs stay in
``<point dir>.partial``), the others stay ``pending``, ``summary.csv`` is rewritten and
KeyboardInterrupt is raised with a message saying so (the CLI exits with 130). Worker processes
exit by themselves when the sweep process dies (:mod:`ecmx.solver.studies.workers`). Under MPI a run
agrees on an interrupt across its ranks at its next step, and a group stops before its next point.

Parallelism.
- Local: ``workers`` processes (default ``sweep.workers``, else the number of cores), each running
  whole points serially on ``MPI.COMM_SELF``. The processes are started with ``spawn``: a fork
  would copy the parent's MPI/PETSc state. One worker runs the points in this process.
- MPI (``mpiexec -n N ecmx sweep FILE --mpi``): ``COMM_WORLD`` is split into N/ranks_per_point
  groups of consecutive ranks; group g runs pending points g, g + groups, ... on its
  sub-communicator; group leaders send each point's row to rank 0, which draws the progress bar and
  writes ``summary.csv``.

``summary.csv`` (rewritten atomically after every finished point): one row per point with the
swept values in SI units (a swept ``material`` gives the material name), ``status`` (ok, failed,
interrupted, pending), ``reason``, ``wall_time_s``, the key results of the run's ``summary.json`` (peak von Mises
and peak largest principal stress in Pa, the particle concentration spread max − min in mol/m³ at
each snapshot depth of discharge, the discharge, charge and delivered capacity in mAh/g and the end
voltage in V), and for reference the point's material, diffusivity, radius and the analytic steady
surface von Mises σ*/15 of a sphere (docs/model.md §4).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import hashlib
import json
import os
import re
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.postprocess.reference import steady_surface_von_mises
from ecmx.postprocess.sweep_summary import RESULT_KEYS, SUMMARY_FILE, spread_key, write_summary
from ecmx.solver.collective import DeferredInterrupt, on_root
from ecmx.solver.config.case import Case
from ecmx.solver.config.studies import Sweep, SweepPoint
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.files import atomic_write_text, read_json_object
from ecmx.solver.studies.outdir import DirectoryLock, expand
from ecmx.solver.studies.progress import ProgressDisplay
from ecmx.solver.studies.study_dir import (
    check_outputs,
    child_directory,
    open_study_directory,
    publish,
    staged_outputs,
)
from ecmx.solver.studies.workers import process_pool

COMPLETE_MARKER = ".ecmx-complete"
FAILED_MARKER = ".ecmx-failed"
SWEEP_COPY = "sweep.yaml"
FIGURES = "figures"
SWEEP_OUTPUTS = (SUMMARY_FILE, SWEEP_COPY, FIGURES)
"""What the sweep itself writes into its directory (besides the point directories)."""
RUN_SUMMARY_FILE = "summary.json"
RUN_FILES = ("case.yaml", "timeseries.csv", "probes.csv", RUN_SUMMARY_FILE)
"""Files every completed run directory holds (besides the field files its summary.json lists)."""
INTERRUPTED = "interrupted by the user (Ctrl-C) before it finished"

#: A runner has the signature of ``ecmx.solver.studies.run.run_case``; it must be picklable (a module-level
#: function) for worker processes. It leaves ``summary.json`` in ``out_dir`` and raises on failure.
Runner = Callable[..., Any]


@dataclass
class PointTask:
    """What a worker needs to run one point (picklable)."""

    index: int
    label: str
    directory: Path
    case: Case
    case_hash: str
    base_row: dict[str, Any]


@dataclass
class PointResult:
    """The outcome of one point: its summary row and whether it was solved in this sweep."""

    index: int
    row: dict[str, Any]
    ran: bool

    @property
    def status(self) -> str:
        return str(self.row["status"])


@dataclass
class SweepResult:
    """What :func:`run_sweep` did: the summary file and each point's row, in point order."""

    directory: Path
    summary_path: Path
    points: list[PointResult] = field(default_factory=list)

    @property
    def rows(self) -> list[dict[str, Any]]:
        return [p.row for p in self.points]

    @property
    def failed(self) -> list[PointResult]:
        return [p for p in self.points if p.status != "ok"]

    @property
    def solved(self) -> int:
        """Number of points solved by this call (the rest were already complete)."""
        return sum(p.ran for p in self.points)


# --------------------------------------------------------------------------------------------
# Rows of summary.csv


def _value_at(data: Any, dotted: str) -> Any:
    node = data
    for part in dotted.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    if isinstance(node, dict):
        return node.get("name", json.dumps(node, sort_keys=True))
    return node


def _base_row(point: SweepPoint, case: Case, directory: Path) -> dict[str, Any]:
    """The part of a point's row known before it runs: its swept values in SI and reference data."""
    data = case.to_dict()
    row: dict[str, Any] = {"point": point.index, "label": point.label}
    for key in point.assignments:
        row[key] = _value_at(data, key)
    material = case.material
    row["material"] = material.name
    row["diffusivity_m2_s"] = material.diffusivity if isinstance(material.diffusivity, float) else None
    row["radius_m"] = case.geometry.particle.radius
    row["steady_surface_von_mises_Pa"] = steady_surface_von_mises(case)
    row["directory"] = str(directory)
    return row


def _results_from_run(directory: Path, case: Case) -> dict[str, Any]:
    """Key results from the run's summary.json (missing values stay empty).

    The delivered capacity is the discharge capacity, or the charge capacity of a run that only
    charges; the concentration spread is c_max − c_min of the particle at each snapshot.
    """
    summary = read_json_object(directory / RUN_SUMMARY_FILE)
    if summary is None:
        return {}
    results = summary.get("results") or {}
    row: dict[str, Any] = {column: results.get(key) for column, key in RESULT_KEYS.items()}
    discharge, charge = row["discharge_capacity_mAh_per_g"], row["charge_capacity_mAh_per_g"]
    row["delivered_capacity_mAh_per_g"] = discharge if discharge else charge
    spreads = _spreads(summary.get("snapshots"))
    for dod in case.output.snapshots.depth_of_discharge:
        row[spread_key(dod)] = spreads.get(round(dod, 9))
    return row


def _spreads(snapshots: Any) -> dict[float, float]:
    """{DOD: c_max − c_min} from summary.json's snapshots (a list, or a mapping by snapshot name)."""
    out: dict[float, float] = {}
    for snap in snapshots.values() if isinstance(snapshots, dict) else snapshots or []:
        dod, c_min, c_max = snap.get("depth_of_discharge"), snap.get("c_min"), snap.get("c_max")
        if dod is not None and c_min is not None and c_max is not None:
            out[round(float(dod), 9)] = float(c_max) - float(c_min)
    return out


def _run_status(directory: Path) -> tuple[str | None, str | None]:
    """``status`` and ``reason`` of the run's summary.json (None, None when it is missing)."""
    summary = read_json_object(directory / RUN_SUMMARY_FILE) or {}
    return summary.get("status"), summary.get("reason")


def case_hash(case: Case) -> str:
    """SHA-256 of the resolved case (as plain data): a finished point is reused only for the same case."""
    return hashlib.sha256(json.dumps(case.to_dict(), sort_keys=True).encode()).hexdigest()



def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, default=str))


# --------------------------------------------------------------------------------------------
# Is a point's run complete?

_PVD_DATASET = re.compile(r'\bfile="([^"]+)"')
_XDMF_DATA = re.compile(r'Format="Binary"[^>]*>([^<]+)</DataItem>')


def missing_run_files(directory: Path) -> list[str]:
    """What keeps ``directory`` from being a completed run; empty when it is one.

    A completed run has case.yaml, timeseries.csv, probes.csv, a summary.json whose status is
    "completed", and every field file that summary.json lists (``files.fields`` and the snapshots'
    ``.xdmf`` or, from older runs, ``.pvd`` files), each with the data files that it names.
    """
    missing = [name for name in RUN_FILES if not (directory / name).is_file()]
    summary = read_json_object(directory / RUN_SUMMARY_FILE)
    if summary is None:
        return missing if RUN_SUMMARY_FILE in missing else [*missing, f"a readable {RUN_SUMMARY_FILE}"]
    if summary.get("status") != "completed":
        missing.append(f"{RUN_SUMMARY_FILE} with status 'completed' (it says {summary.get('status')!r})")
    for listed in _listed_field_files(summary):
        missing.extend(_missing_series_files(directory, listed))
    return missing


def _listed_field_files(summary: dict[str, Any]) -> list[str]:
    """The .xdmf (or older .pvd) paths (relative to the run) that a run's summary.json lists."""
    files = summary.get("files")
    fields = files.get("fields") if isinstance(files, dict) else None
    listed = list(fields.values()) if isinstance(fields, dict) else []
    snapshots = summary.get("snapshots")
    entries = snapshots.values() if isinstance(snapshots, dict) else snapshots if isinstance(snapshots, list) else []
    for entry in entries:
        if isinstance(entry, dict):
            listed.extend(v for v in entry.values() if isinstance(v, str) and v.endswith((".pvd", ".xdmf")))
    return [p for p in listed if isinstance(p, str)]


def _missing_series_files(directory: Path, listed: str) -> list[str]:
    """``listed`` (a field file of the run) if it is missing or outside the run, else the data files it
    names that are missing."""
    pvd = directory / listed
    if directory.resolve() not in pvd.resolve().parents or not pvd.is_file():
        return [listed]
    names = (_XDMF_DATA if pvd.suffix == ".xdmf" else _PVD_DATASET).findall(pvd.read_text(errors="replace"))
    return [f"{listed}: {name}" for name in dict.fromkeys(names) if not (pvd.parent / name).is_file()]


def _real_directory(path: Path) -> bool:
    """True for a directory that is not a symbolic link (a point's run directory, once it exists)."""
    return path.is_dir() and not path.is_symlink()


def _incomplete_reason(directory: Path) -> str | None:
    """Why a run that returned without an error did not leave a complete run directory (None if it did)."""
    if not _real_directory(directory):
        return "the run left no results directory"
    status, reason = _run_status(directory)
    if status is not None and status != "completed":
        return f"run status {status!r}: {reason}"
    missing = missing_run_files(directory)
    return f"the run directory lacks {', '.join(missing)}" if missing else None


# --------------------------------------------------------------------------------------------
# Running one point


def completed_row(task: PointTask) -> dict[str, Any] | None:
    """The recorded row of a finished point, or None if it has to run: no completion marker, another
    case, or a run directory that lost files since (a marker is trusted only with its files)."""
    marker = read_json_object(task.directory / COMPLETE_MARKER)
    if marker is None or marker.get("case_sha256") != task.case_hash:
        return None
    row = marker.get("row")
    if not isinstance(row, dict) or row.get("status") != "ok" or missing_run_files(task.directory):
        return None
    return {**task.base_row, **row, "directory": str(task.directory)}


def run_point(task: PointTask, runner: Runner | None = None, comm: Any = None) -> dict[str, Any]:
    """Run one point into its directory and return its summary row. Collective over ``comm``.

    Failures do not raise: the row says ``failed`` with the reason (an exception, a summary.json
    whose status is not "completed", or a run directory that lacks files), or ``interrupted`` when
    the runner raised KeyboardInterrupt (``run_case`` agrees on it across ``comm``). Rank 0 of
    ``comm`` reads the key results into the row and writes the completion marker, as the last file,
    only after a successful run whose files it verified (:func:`missing_run_files`).
    """
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_SELF
    if runner is None:
        from ecmx.solver.studies.run import run_case as runner
    leader = comm.rank == 0
    if leader and _real_directory(task.directory):
        for name in (COMPLETE_MARKER, FAILED_MARKER):
            with contextlib.suppress(FileNotFoundError):
                (task.directory / name).unlink()
    comm.barrier()
    start = time.perf_counter()
    status, reason, details = "ok", "", ""
    try:
        runner(task.case, out_dir=task.directory, overwrite=True, progress=False, comm=comm)
    except SolveError as exc:
        status, reason = "failed", str(exc)
    except KeyboardInterrupt as exc:
        status, reason = "interrupted", f"{INTERRUPTED}; {exc}" if str(exc) else INTERRUPTED
    except Exception as exc:  # a point's error must not stop the sweep
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        details = traceback.format_exc()
    # Free the run's PETSc objects now, on every rank of the group together: their destruction is
    # collective, and left to a later garbage collection it can hang ranks that got there at
    # different times (or after another rank reached MPI_Finalize).
    gc.collect()
    wall = comm.allreduce(time.perf_counter() - start, op=_mpi_max())
    row = {**task.base_row, "status": status, "reason": reason, "wall_time_s": round(wall, 3)}
    if leader and status != "interrupted":  # an interrupted point leaves no marker: it runs again
        _record_point(task, row, details)
    return row


def _record_point(task: PointTask, row: dict[str, Any], details: str) -> None:
    """Rank 0 after a point's run: its key results into ``row``, then the completion marker (after
    the run's files are verified) or the failure marker."""
    if row["status"] == "ok":
        incomplete = _incomplete_reason(task.directory)
        if incomplete is not None:
            row.update(status="failed", reason=incomplete)
    if not _real_directory(task.directory):
        return  # the run made no directory (it was refused, or its results stayed in <dir>.partial)
    row.update(_results_from_run(task.directory, task.case))
    record = {"case_sha256": task.case_hash, "row": row}
    try:
        if row["status"] == "ok":
            _write_json_atomic(task.directory / COMPLETE_MARKER, record)
        else:
            _write_json_atomic(task.directory / FAILED_MARKER, {**record, "traceback": details})
    except OSError as exc:  # (disk full, read-only): the point is not recorded as finished
        reason = f"cannot write the point's marker in {task.directory}: {exc.strerror or exc}"
        row.update(status="failed", reason=reason)


def _mpi_max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def _worker_run(task: PointTask, runner: Runner | None) -> dict[str, Any]:
    """Entry point of a local worker process: one point on MPI.COMM_SELF."""
    return run_point(task, runner)


def _crashed_row(task: PointTask) -> dict[str, Any]:
    reason = "the worker process running this point died (crash or out of memory)"
    row = {**task.base_row, "status": "failed", "reason": reason, "wall_time_s": None}
    if _real_directory(task.directory):
        _write_json_atomic(task.directory / FAILED_MARKER, {"case_sha256": task.case_hash, "row": row})
    return row


def _interrupted_row(task: PointTask) -> dict[str, Any]:
    return {**task.base_row, "status": "interrupted", "reason": INTERRUPTED, "wall_time_s": None}


# --------------------------------------------------------------------------------------------
# The sweep


def point_tasks(study: Sweep, directory: Path) -> list[PointTask]:
    """One task per sweep point; each point's case writes to its own directory, inside ``directory``.

    Raises:
        CaseError: a point directory would not lie directly inside ``directory``.
    """
    tasks = []
    for point in study.points:
        point_dir = child_directory(directory, point.label, file=study.path, key="sweep",
                                    reserved=SWEEP_OUTPUTS)
        output = point.case.output.model_copy(update={"directory": point_dir})
        case = point.case.model_copy(update={"output": output})
        tasks.append(PointTask(point.index, point.label, point_dir, case, case_hash(case), _base_row(point, case, point_dir)))
    return tasks


def run_sweep(
    study: Sweep,
    workers: int | None = None,
    force: bool = False,
    mpi: bool = False,
    ranks_per_point: int = 1,
    runner: Runner | None = None,
    progress: bool = True,
    plots: bool = True,
) -> SweepResult:
    """Run the points of a sweep that are not finished yet and write ``summary.csv``.

    Args:
        study: the validated sweep (:func:`ecmx.solver.config.studies.load_sweep`).
        workers: local worker processes (default ``sweep.workers``, else the number of cores).
        force: rerun points that are already complete.
        mpi: split ``COMM_WORLD`` into groups of ``ranks_per_point`` ranks, each running its
            round-robin share of the points; collective over ``COMM_WORLD``.
        runner: replaces ``run_case`` (tests); a picklable function with its signature.
        progress: show a progress bar over points (rank 0).
        plots: draw the sweep figures into ``<sweep dir>/figures`` at the end (rank 0).

    Returns the summary path and each point's row, on every rank.

    Raises:
        CaseError: no points, a bad sweep directory (not ecmx's, or in use by another sweep), a
            point directory outside it, or several MPI ranks without ``mpi``; nothing is written.
        KeyboardInterrupt: Ctrl-C; summary.csv records the interrupted points (see the module doc).
    """
    from mpi4py import MPI

    if not study.points:
        raise CaseError("the sweep has no points: expected at least one value on every axis", file=study.path,
                        key="sweep")
    directory = expand(study.directory)
    tasks = point_tasks(study, directory)
    if mpi:
        return _run_mpi(study, tasks, directory, force, ranks_per_point, runner, progress, plots)
    if MPI.COMM_WORLD.size > 1:
        raise CaseError(
            f"ecmx sweep started on {MPI.COMM_WORLD.size} MPI ranks without --mpi: add --mpi to split"
            " the ranks into groups that run points",
            key="--mpi",
        )
    locks: list[DirectoryLock] = []
    try:
        done = _open_sweep(study, tasks, directory, force, locks)
        result = _run_local(study, tasks, directory, done, workers, runner, progress)
        if plots:
            draw_figures(result)
    finally:
        _release(locks)
    return result


def _open_sweep(study: Sweep, tasks: list[PointTask], directory: Path, force: bool,
                locks: list[DirectoryLock]) -> dict[int, dict[str, Any]]:
    """Create or adopt and lock the sweep directory (the lock is appended to ``locks``), keep a copy
    of the sweep file in it, and return the rows of the points already finished (none if ``force``)."""
    locks.append(open_study_directory(directory, "sweep", file=study.path))
    check_outputs(directory, (SUMMARY_FILE, SWEEP_COPY), (FIGURES,), file=study.path)
    copy = directory / SWEEP_COPY
    if study.path.resolve() != copy.resolve():
        atomic_write_text(copy, f"# copy of {study.path.resolve()} (base: {study.base_path})\n{study.path.read_text()}")
    done = {} if force else {t.index: completed_row(t) for t in tasks}
    return {i: row for i, row in done.items() if row is not None}


def _release(locks: list[DirectoryLock]) -> None:
    for lock in locks:
        lock.release()


def _run_local(study: Sweep, tasks: list[PointTask], directory: Path, done: dict[int, dict[str, Any]],
               workers: int | None, runner: Runner | None, progress: bool) -> SweepResult:
    """The points that are not done, in this process or in a pool of worker processes."""
    results = {i: PointResult(i, row, ran=False) for i, row in done.items()}
    pending = [t for t in tasks if t.index not in results]
    summary_path = directory / SUMMARY_FILE
    n_workers = max(1, min(workers or study.spec.sweep.workers or os.cpu_count() or 1, max(len(pending), 1)))
    with _PointsProgress(len(tasks), len(results), enabled=progress) as bar:

        def finished(task: PointTask, row: dict[str, Any]) -> None:
            results[task.index] = PointResult(task.index, row, ran=True)
            bar.point_done(task.label, row["status"])
            write_summary(summary_path, _ordered_rows(tasks, results))

        write_summary(summary_path, _ordered_rows(tasks, results))
        try:
            if n_workers == 1:
                _run_serial(pending, runner, finished)
            else:
                _run_pool(pending, n_workers, runner, finished)
        except KeyboardInterrupt:
            raise _stopped(summary_path, _ordered_rows(tasks, results)) from None
    return SweepResult(directory, summary_path, [results[t.index] for t in tasks])


def _stopped(summary_path: Path, rows: list[dict[str, Any]]) -> KeyboardInterrupt:
    """Rewrite summary.csv after Ctrl-C; the KeyboardInterrupt to raise, saying what was recorded."""
    write_summary(summary_path, rows)
    interrupted = sum(r["status"] == "interrupted" for r in rows)
    pending = sum(r["status"] == "pending" for r in rows)
    return KeyboardInterrupt(
        f"sweep stopped: {interrupted} point(s) interrupted, {pending} not started; every point's status "
        f"is in {summary_path}; run the sweep again to resume"
    )


def draw_figures(result: SweepResult) -> None:
    """Draw the sweep figures aside and put them in place as ``<sweep dir>/figures``."""
    from ecmx.postprocess.sweep_plots import plot_sweep

    with staged_outputs(result.directory) as staging:
        plot_sweep(result.summary_path, staging / FIGURES)
        publish(staging, result.directory)


def _ordered_rows(tasks: list[PointTask], results: dict[int, PointResult]) -> list[dict[str, Any]]:
    pending = {"status": "pending", "reason": "", "wall_time_s": None}
    return [results[t.index].row if t.index in results else {**t.base_row, **pending} for t in tasks]


def _run_serial(tasks: list[PointTask], runner: Runner | None,
                finished: Callable[[PointTask, dict[str, Any]], None]) -> None:
    """Run the tasks one after the other in this process; KeyboardInterrupt at an interrupted point."""
    for task in tasks:
        try:
            row = run_point(task, runner)
        except KeyboardInterrupt:  # outside the run itself, which returns its interrupt as a row
            row = _interrupted_row(task)
        finished(task, row)
        if row["status"] == "interrupted":
            raise KeyboardInterrupt


def _run_pool(
    tasks: list[PointTask], workers: int, runner: Runner | None, finished: Callable[[PointTask, dict[str, Any]], None]
) -> None:
    """Run tasks on a pool of spawned processes. If a worker dies, the pool breaks: the points it
    left unfinished are rerun one at a time, each in a fresh process, so a crash is pinned on the
    point that caused it and the other points still finish."""
    unfinished = _pool_pass(tasks, workers, runner, finished)
    for task in unfinished:
        if _pool_pass([task], 1, runner, finished):
            finished(task, _crashed_row(task))


def _pool_pass(
    tasks: list[PointTask], workers: int, runner: Runner | None, finished: Callable[[PointTask, dict[str, Any]], None]
) -> list[PointTask]:
    """One pool over ``tasks``; returns the tasks left unfinished because the pool broke.

    Each worker is given one point at a time, so the points in flight are the points being run: on
    Ctrl-C they are recorded as interrupted, the others stay pending, and the workers are terminated.
    """
    queue = iter(tasks)
    in_flight: dict[cf.Future, PointTask] = {}
    unfinished: list[PointTask] = []
    with process_pool(workers) as pool:

        def submit_next() -> None:
            task = next(queue, None)
            if task is None:
                return
            try:
                in_flight[pool.submit(_worker_run, task, runner)] = task
            except cf.process.BrokenProcessPool:  # a worker died since the last result came back
                unfinished.append(task)

        for _ in range(workers):
            submit_next()
        try:
            while in_flight:
                done, _ = cf.wait(in_flight, return_when=cf.FIRST_COMPLETED)
                for future in done:
                    task = in_flight.pop(future)
                    try:
                        row = future.result()
                    except cf.process.BrokenProcessPool:
                        unfinished.append(task)
                        continue
                    finished(task, row)
                    if not unfinished:
                        submit_next()
        except KeyboardInterrupt:
            for task in in_flight.values():
                finished(task, _interrupted_row(task))
            raise
    return sorted([*unfinished, *queue], key=lambda t: t.index)


# --------------------------------------------------------------------------------------------
# MPI mode

_TAG_ROW = 77


def _run_mpi(
    study: Sweep,
    tasks: list[PointTask],
    directory: Path,
    force: bool,
    ranks_per_point: int,
    runner: Runner | None,
    progress: bool,
    plots: bool,
) -> SweepResult:
    """The MPI mode of :func:`run_sweep` (collective over COMM_WORLD); rank 0 holds the lock."""
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    if ranks_per_point < 1 or world.size % ranks_per_point:
        raise CaseError(
            f"--ranks-per-point {ranks_per_point} must divide the number of MPI ranks ({world.size})",
            key="--ranks-per-point",
        )
    locks: list[DirectoryLock] = []
    try:
        # Rank 0 decides what runs, so every rank sees the same list even on a lagging file system.
        done = on_root(world, _open_sweep, study, tasks, directory, force, locks)
        result, stopped = _run_groups(tasks, directory, done, ranks_per_point, runner, progress)
        if stopped:
            raise on_root(world, _stopped, result.summary_path, result.rows)
        if plots:
            on_root(world, draw_figures, result)
    finally:
        _release(locks)
    return result


def _run_groups(tasks: list[PointTask], directory: Path, done: dict[int, dict[str, Any]], ranks_per_point: int,
                runner: Runner | None, progress: bool) -> tuple[SweepResult, bool]:
    """Split COMM_WORLD into groups that run the pending points round-robin; rank 0 collects the rows
    and writes summary.csv. Returns the result and whether Ctrl-C stopped any group (all ranks).

    Ctrl-C between points only sets a flag, on which a group agrees before its next point; inside a
    point the run agrees on it at its next step and the point comes back ``interrupted``. Either way
    the group runs no further point, and its leader tells rank 0 that it is done.
    """
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    root = world.rank == 0
    summary_path = directory / SUMMARY_FILE
    pending = [t for t in tasks if t.index not in done]
    groups = world.size // ranks_per_point
    color = world.rank // ranks_per_point
    group = world.Split(color, world.rank)
    results = {i: PointResult(i, row, ran=False) for i, row in done.items()}
    try:
        bar = _PointsProgress(len(tasks), len(results), enabled=progress and root)
        with bar, DeferredInterrupt(group) as between:

            def record(index: int, row: dict[str, Any]) -> None:
                results[index] = PointResult(index, row, ran=True)
                bar.point_done(row["label"], row["status"])

            inbox = _Inbox(world, groups - 1, record)
            if root:
                write_summary(summary_path, _ordered_rows(tasks, results))
            outgoing = []

            def deliver(task: PointTask, row: dict[str, Any]) -> None:
                if root:
                    record(task.index, row)
                    inbox.drain(block=False)
                    write_summary(summary_path, _ordered_rows(tasks, results))
                elif group.rank == 0:
                    outgoing.append(world.isend((task.index, row), dest=0, tag=_TAG_ROW))

            stopped = _run_group_points(pending[color::groups], runner, group, between, deliver)
            if group.rank == 0 and not root:
                outgoing.append(world.isend(None, dest=0, tag=_TAG_ROW))  # this group is done
            if root:
                inbox.drain(block=True)
                write_summary(summary_path, _ordered_rows(tasks, results))
            MPI.Request.waitall(outgoing)
            stopped = world.allreduce(stopped or between.pending, op=MPI.LOR)
    finally:
        group.Free()
    rows = world.bcast(_ordered_rows(tasks, results) if root else None, root=0)
    ran = {t.index for t in pending}
    points = [PointResult(t.index, row, ran=t.index in ran and row["status"] != "pending")
              for t, row in zip(tasks, rows, strict=True)]
    return SweepResult(directory, summary_path, points), stopped


def _run_group_points(tasks: list[PointTask], runner: Runner | None, group: Any, between: DeferredInterrupt,
                      deliver: Callable[[PointTask, dict[str, Any]], None]) -> bool:
    """Run a group's points in turn on its communicator, handing each row to ``deliver``; stop at a
    Ctrl-C agreed between points or at an interrupted point. Returns whether it stopped so."""
    for task in tasks:
        try:
            between.check()
        except KeyboardInterrupt:
            return True
        with _python_sigint():
            row = run_point(task, runner, comm=group)
        deliver(task, row)
        if row["status"] == "interrupted":
            return True
    return False


class _Inbox:
    """Rank 0's receiver of the rows that the other groups' leaders send, and of their "done" (None)."""

    def __init__(self, world: Any, senders: int, record: Callable[[int, dict[str, Any]], None]):
        self.world = world
        self.open = senders
        self.record = record

    def drain(self, block: bool) -> None:
        """Record what has arrived; with ``block``, wait until every other group is done."""
        from mpi4py import MPI

        while self.open and (block or self.world.iprobe(source=MPI.ANY_SOURCE, tag=_TAG_ROW)):
            message = self.world.recv(source=MPI.ANY_SOURCE, tag=_TAG_ROW)
            if message is None:
                self.open -= 1
            else:
                self.record(*message)


@contextlib.contextmanager
def _python_sigint() -> Iterator[None]:
    """Python's own SIGINT handler inside the block, so that a run installs its own interrupt
    handling (``run_case`` defers Ctrl-C to its next step, agreed across its ranks)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


class _PointsProgress(ProgressDisplay):
    """The progress display over a sweep's points: the last finished point and the failures so far."""

    def __init__(self, total: int, done: int, enabled: bool):
        super().__init__("sweep", total, completed=done, enabled=enabled)
        self.failed = 0

    def point_done(self, label: str, status: str) -> None:
        self.failed += status == "failed"
        failed = f", {self.failed} failed" if self.failed else ""
        self.advance(f"{label}: {status}{failed}")

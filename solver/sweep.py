"""Parameter sweeps: one normal run directory per point, run in parallel, resumable, failure-tolerant.

``ecmx sweep FILE`` expands the sweep file (:mod:`ecmx.solver.study_config`) into points and runs
each point as an ordinary run (``ecmx.solver.run.run_case``) in ``<sweep dir>/<point label>/``, so
every point directory can be inspected, plotted or rerun with ``ecmx run <point dir>/case.yaml``.

Completion marker. A point is finished when ``<point dir>/.ecmx-complete`` exists and records the
same resolved case (SHA-256 of the case as plain data). The marker is written last, atomically,
after the run returned without error, and it holds the point's summary row, so a resumed sweep
rebuilds ``summary.csv`` without reading anything else. A rerun skips finished points; points that
failed, never ran, were interrupted, or whose resolved case changed since (an edited base case) run
again; ``force=True`` reruns everything. A point that fails (a :class:`SolveError`, any other
exception, or a crashed worker process) is recorded as ``failed`` with the reason, in the summary
and in ``<point dir>/.ecmx-failed``; the other points finish.

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
pending), ``reason``, ``wall_time_s``, the key results of the run's ``summary.json`` (peak von Mises
and peak largest principal stress in Pa, the particle concentration spread max − min in mol/m³ at
each snapshot depth of discharge, the discharge, charge and delivered capacity in mAh/g and the end
voltage in V), and for reference the point's material, diffusivity, radius and the analytic steady
surface von Mises σ*/15 of a sphere (MODEL.md §4).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import csv
import gc
import hashlib
import json
import math
import os
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.solver.config import Case
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.workers import process_pool, worker_environment
from ecmx.solver.study_config import Sweep, SweepPoint
from ecmx.solver.units import F

COMPLETE_MARKER = ".ecmx-complete"
FAILED_MARKER = ".ecmx-failed"
SUMMARY_FILE = "summary.csv"
RUN_SUMMARY_FILE = "summary.json"

#: summary.csv column <- key in the ``results`` mapping of a run's summary.json.
RESULT_KEYS = {
    "peak_von_mises_Pa": "peak_von_mises_Pa",
    "peak_max_principal_Pa": "peak_max_principal_Pa",
    "discharge_capacity_mAh_per_g": "discharge_capacity_mAh_per_g",
    "charge_capacity_mAh_per_g": "charge_capacity_mAh_per_g",
    "end_voltage_V": "final_voltage_V",
}

#: A runner has the signature of ``ecmx.solver.run.run_case``; it must be picklable (a module-level
#: function) for worker processes. It leaves ``summary.json`` in ``out_dir`` and raises on failure.
Runner = Callable[..., Any]

# Environment of local worker processes: one thread each (the workers are the parallelism), and no
# MPI launcher variables, so a worker started from inside an mpiexec job initialises MPI on its own.


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
# Analytic reference


def applied_flux(case: Case) -> float | None:
    """Magnitude of the molar flux N₀ [mol/(m² s)] through a sphere's surface in the first
    current-controlled protocol step, N₀ = |I|/(F·4πR²); None if no step prescribes a current."""
    radius = case.geometry.particle.radius
    area = 4.0 * math.pi * radius**2
    for step in case.protocol:
        if step.c_rate is not None:
            capacity_C = case.material.usable_concentration * (4.0 / 3.0) * math.pi * radius**3 * F
            return step.c_rate * capacity_C / 3600.0 / (F * area)
        if step.current_density is not None:
            return step.current_density / F
        if step.current is not None:
            return step.current / (F * area)
    return None


def steady_surface_von_mises(case: Case) -> float | None:
    """σ*/15 [Pa], the long-time galvanostatic surface von Mises of a sphere (MODEL.md §4–5),
    σ* = Ω E N₀ R/((1−ν) D), for the point's isotropic linear expansion Ω and constant D_s.

    None where it does not apply: anisotropic or tabulated expansion, tabulated D_s, no current step.
    """
    material = case.material
    omega = material.partial_molar_volume
    flux = applied_flux(case)
    if omega is None or flux is None or not isinstance(material.diffusivity, float):
        return None
    radius = case.geometry.particle.radius
    sigma_star = abs(omega) * material.youngs_modulus * flux * radius / ((1.0 - material.poissons_ratio) * material.diffusivity)
    return sigma_star / 15.0


# --------------------------------------------------------------------------------------------
# Rows of summary.csv


def spread_key(dod: float) -> str:
    """summary.csv column of the concentration spread at a snapshot depth of discharge."""
    return f"concentration_spread_dod{dod:g}_mol_m3"


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
    path = directory / RUN_SUMMARY_FILE
    try:
        summary = json.loads(path.read_text())
    except (OSError, ValueError):
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
    try:
        summary = json.loads((directory / RUN_SUMMARY_FILE).read_text())
    except (OSError, ValueError):
        return None, None
    return summary.get("status"), summary.get("reason")


def case_hash(case: Case) -> str:
    """SHA-256 of the resolved case (as plain data): a finished point is reused only for the same case."""
    return hashlib.sha256(json.dumps(case.to_dict(), sort_keys=True).encode()).hexdigest()


def write_summary(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write summary.csv atomically (a temporary file in the same directory, then os.replace)."""
    columns: list[str] = []
    for row in rows:
        columns.extend(k for k in row if k not in columns)
    columns.sort(key=lambda c: c == "directory")  # the long path last
    fd, tmp = tempfile.mkstemp(prefix=".summary-", suffix=".csv", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=columns, restval="")
            writer.writeheader()
            for row in rows:
                writer.writerow({k: "" if v is None else v for k, v in row.items()})
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_summary(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a summary.csv, numbers as floats (empty cells as None)."""
    with open(path, newline="") as fh:
        return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(fh)]


def _number(text: str) -> Any:
    if text == "":
        return None
    try:
        return float(text)
    except ValueError:
        return text


def _write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


# --------------------------------------------------------------------------------------------
# Running one point


def completed_row(task: PointTask) -> dict[str, Any] | None:
    """The recorded row of a finished point, or None if it has to run (no marker, or another case)."""
    try:
        marker = json.loads((task.directory / COMPLETE_MARKER).read_text())
    except (OSError, ValueError):
        return None
    if marker.get("case_sha256") != task.case_hash or marker.get("row", {}).get("status") != "ok":
        return None
    return {**task.base_row, **marker["row"], "directory": str(task.directory)}


def run_point(task: PointTask, runner: Runner | None = None, comm: Any = None) -> dict[str, Any]:
    """Run one point into its directory and return its summary row. Collective over ``comm``.

    Failures do not raise: the row says ``failed`` with the reason (an exception, or a summary.json
    whose status is not "completed"). Rank 0 of ``comm`` reads the key results into the row and
    writes the completion marker, only after a successful run, as the last file.
    """
    if comm is None:
        from mpi4py import MPI

        comm = MPI.COMM_SELF
    if runner is None:
        from ecmx.solver.run import run_case as runner
    leader = comm.rank == 0
    if leader:
        task.directory.mkdir(parents=True, exist_ok=True)
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
    except Exception as exc:  # a point's error must not stop the sweep
        status, reason = "failed", f"{type(exc).__name__}: {exc}"
        details = traceback.format_exc()
    # Free the run's PETSc objects now, on every rank of the group together: their destruction is
    # collective, and left to a later garbage collection it can hang ranks that got there at
    # different times (or after another rank reached MPI_Finalize).
    gc.collect()
    wall = comm.allreduce(time.perf_counter() - start, op=_mpi_max())
    row = {**task.base_row, "status": status, "reason": reason, "wall_time_s": round(wall, 3)}
    if leader:
        task.directory.mkdir(parents=True, exist_ok=True)
        row.update(_results_from_run(task.directory, task.case))
        run_status, run_reason = _run_status(task.directory)
        if status == "ok" and run_status != "completed":
            status = "failed"
            missing = f"the run wrote no {RUN_SUMMARY_FILE}"
            row.update(status=status, reason=missing if run_status is None else f"run status {run_status!r}: {run_reason}")
        record = {"case_sha256": task.case_hash, "row": row}
        if status == "ok":
            _write_json_atomic(task.directory / COMPLETE_MARKER, record)
        else:
            _write_json_atomic(task.directory / FAILED_MARKER, {**record, "traceback": details})
    return row


def _mpi_max() -> Any:
    from mpi4py import MPI

    return MPI.MAX


def _worker_run(task: PointTask, runner: Runner | None) -> dict[str, Any]:
    """Entry point of a local worker process: one point on MPI.COMM_SELF."""
    return run_point(task, runner)


def _crashed_row(task: PointTask) -> dict[str, Any]:
    reason = "the worker process running this point died (crash or out of memory)"
    row = {**task.base_row, "status": "failed", "reason": reason, "wall_time_s": None}
    task.directory.mkdir(parents=True, exist_ok=True)
    _write_json_atomic(task.directory / FAILED_MARKER, {"case_sha256": task.case_hash, "row": row})
    return row


# --------------------------------------------------------------------------------------------
# The sweep


def point_tasks(study: Sweep, directory: Path) -> list[PointTask]:
    """One task per sweep point; each point's case writes to its own directory."""
    tasks = []
    for point in study.points:
        point_dir = directory / point.label
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
        study: the validated sweep (:func:`ecmx.solver.study_config.load_sweep`).
        workers: local worker processes (default ``sweep.workers``, else the number of cores).
        force: rerun points that are already complete.
        mpi: split ``COMM_WORLD`` into groups of ``ranks_per_point`` ranks, each running its
            round-robin share of the points; collective over ``COMM_WORLD``.
        runner: replaces ``run_case`` (tests); a picklable function with its signature.
        progress: show a progress bar over points (rank 0).
        plots: draw the sweep figures into ``<sweep dir>/figures`` at the end (rank 0).

    Returns the summary path and each point's row, on every rank.
    """
    from mpi4py import MPI

    directory = study.directory.resolve()
    tasks = point_tasks(study, directory)
    if mpi:
        result = _run_mpi(study, tasks, directory, force, ranks_per_point, runner, progress)
        if plots and MPI.COMM_WORLD.rank == 0:
            _plot(result)
        return result
    if MPI.COMM_WORLD.size > 1:
        raise CaseError(
            f"ecmx sweep started on {MPI.COMM_WORLD.size} MPI ranks without --mpi: add --mpi to split"
            " the ranks into groups that run points",
            key="--mpi",
        )
    _prepare_directory(study, directory)
    results: dict[int, PointResult] = {}
    pending = []
    for task in tasks:
        row = None if force else completed_row(task)
        if row is None:
            pending.append(task)
        else:
            results[task.index] = PointResult(task.index, row, ran=False)
    summary_path = directory / SUMMARY_FILE
    n_workers = max(1, min(workers or study.spec.sweep.workers or os.cpu_count() or 1, max(len(pending), 1)))
    with _ProgressBar(len(tasks), len(results), enabled=progress) as bar:

        def finished(task: PointTask, row: dict[str, Any]) -> None:
            results[task.index] = PointResult(task.index, row, ran=True)
            bar.advance(task.label, row["status"])
            write_summary(summary_path, _ordered_rows(tasks, results))

        write_summary(summary_path, _ordered_rows(tasks, results))
        if n_workers == 1:
            for task in pending:
                finished(task, run_point(task, runner))
        else:
            _run_pool(pending, n_workers, runner, finished)
    result = SweepResult(directory, summary_path, [results[t.index] for t in tasks])
    if plots:
        _plot(result)
    return result


def _plot(result: SweepResult) -> None:
    from ecmx.postprocess.sweep_plots import plot_sweep

    plot_sweep(result.summary_path, result.directory / "figures")


def _prepare_directory(study: Sweep, directory: Path) -> None:
    """Create the sweep directory and keep a copy of the sweep file in it (for the record)."""
    directory.mkdir(parents=True, exist_ok=True)
    copy = directory / "sweep.yaml"
    if study.path.resolve() != copy.resolve():
        copy.write_text(f"# copy of {study.path.resolve()} (base: {study.base_path})\n{study.path.read_text()}")


def _ordered_rows(tasks: list[PointTask], results: dict[int, PointResult]) -> list[dict[str, Any]]:
    pending = {"status": "pending", "reason": "", "wall_time_s": None}
    return [results[t.index].row if t.index in results else {**t.base_row, **pending} for t in tasks]


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
    """One pool over ``tasks``; returns the tasks left unfinished because the pool broke."""
    if not tasks:
        return []
    unfinished: list[PointTask] = []
    with worker_environment(), process_pool(workers) as pool:
        futures = {pool.submit(_worker_run, task, runner): task for task in tasks}
        try:
            for future in cf.as_completed(futures):
                task = futures[future]
                try:
                    row = future.result()
                except cf.process.BrokenProcessPool:
                    unfinished.append(task)
                    continue
                finished(task, row)
        except BaseException:
            pool.shutdown(wait=False, cancel_futures=True)
            raise
    return sorted(unfinished, key=lambda t: t.index)


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
) -> SweepResult:
    from mpi4py import MPI

    world = MPI.COMM_WORLD
    if ranks_per_point < 1 or world.size % ranks_per_point:
        raise CaseError(
            f"--ranks-per-point {ranks_per_point} must divide the number of MPI ranks ({world.size})",
            key="--ranks-per-point",
        )
    root = world.rank == 0
    summary_path = directory / SUMMARY_FILE
    # Rank 0 decides what runs, so every rank sees the same list even on a lagging file system.
    plan = None
    if root:
        _prepare_directory(study, directory)
        done = {} if force else {t.index: completed_row(t) for t in tasks}
        plan = {i: row for i, row in done.items() if row is not None}
    done_rows: dict[int, dict[str, Any]] = world.bcast(plan, root=0)
    pending = [t for t in tasks if t.index not in done_rows]
    groups = world.size // ranks_per_point
    color = world.rank // ranks_per_point
    group = world.Split(color, world.rank)
    mine = pending[color::groups]
    results = {i: PointResult(i, row, ran=False) for i, row in done_rows.items()}
    outgoing = []
    try:
        with _ProgressBar(len(tasks), len(results), enabled=progress and root) as bar:

            def record(index: int, row: dict[str, Any]) -> None:
                results[index] = PointResult(index, row, ran=True)
                bar.advance(row["label"], row["status"])

            def drain(block_until: int) -> None:
                while len(results) < block_until or world.iprobe(source=MPI.ANY_SOURCE, tag=_TAG_ROW):
                    index, row = world.recv(source=MPI.ANY_SOURCE, tag=_TAG_ROW)
                    record(index, row)
                write_summary(summary_path, _ordered_rows(tasks, results))

            if root:
                write_summary(summary_path, _ordered_rows(tasks, results))
            for task in mine:
                row = run_point(task, runner, comm=group)
                if root:
                    record(task.index, row)
                    drain(0)
                elif group.rank == 0:
                    outgoing.append(world.isend((task.index, row), dest=0, tag=_TAG_ROW))
            if root:
                drain(len(tasks))
            MPI.Request.waitall(outgoing)
    finally:
        group.Free()
    rows = world.bcast([results[t.index].row for t in tasks] if root else None, root=0)
    ran = {t.index for t in pending}
    points = [PointResult(t.index, row, ran=t.index in ran) for t, row in zip(tasks, rows, strict=True)]
    return SweepResult(directory, summary_path, points)


# --------------------------------------------------------------------------------------------
# Progress


class _ProgressBar:
    """One rich progress bar over points (a no-op when disabled)."""

    def __init__(self, total: int, done: int, enabled: bool):
        self.enabled = enabled
        self.total, self.done, self.failed = total, done, 0
        self._progress = None
        self._task = None

    def __enter__(self) -> _ProgressBar:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(
                TextColumn("sweep"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                TextColumn("{task.description}"),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._task = self._progress.add_task(self._text(""), total=self.total, completed=self.done)
        return self

    def _text(self, last: str) -> str:
        failed = f", {self.failed} failed" if self.failed else ""
        return f"{last}{failed}"

    def advance(self, label: str, status: str) -> None:
        self.done += 1
        self.failed += status != "ok"
        if self._progress is not None:
            self._progress.update(self._task, advance=1, description=self._text(f"{label}: {status}"))

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

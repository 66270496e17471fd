"""Sweeps run as a scheduler's job array: one point per job, collected afterwards.

``ecmx sweep FILE --point K`` runs point K alone (0-based, the ``K`` of ``point-K_...``), as one
job of a Slurm, PBS or LSF job array would (``--point $SLURM_ARRAY_TASK_ID``); under ``mpiexec -n
N`` on the N ranks. ``ecmx sweep FILE
--collect``, run once every job has finished, builds ``summary.csv`` and the figures from the point
directories. The point directories are exactly those of a local sweep (:mod:`ecmx.solver.studies.sweep`),
with the same completion and failure markers, so the collected ``summary.csv`` equals a local
sweep's, and a local ``ecmx sweep FILE`` afterwards reruns only what is not complete.

Locks. Jobs run at the same time, so a point job does not lock the sweep directory: it creates it
when missing (marking it as ecmx's; several jobs may race to do so), refuses while a whole sweep
holds it, and locks only its own point, through ``<sweep dir>/.ecmx-points/<label>/`` (a second
job on the same point is refused, naming the first). The run itself locks ``<point dir>.partial``
as every run does. ``--collect`` locks the sweep directory like a local sweep; a point whose job is
still running is listed as ``pending`` with the holder in its reason.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

from ecmx.postprocess.sweep_summary import write_summary
from ecmx.solver.collective import on_root
from ecmx.solver.config.studies import Sweep
from ecmx.solver.errors import CaseError
from ecmx.solver.files import read_json_object
from ecmx.solver.studies.outdir import MARKER, DirectoryLock, check_writable_into, expand, locked_by
from ecmx.solver.studies.sweep import (
    FAILED_MARKER,
    PointResult,
    PointTask,
    SweepResult,
    _open_sweep,
    _release,
    completed_row,
    draw_figures,
    point_tasks,
    run_point,
)

POINT_LOCKS = ".ecmx-points"
"""Hidden directory of the sweep directory that holds one lock directory per point job."""


def run_one_point(study: Sweep, index: int, *, force: bool = False, runner: Any = None) -> dict[str, Any]:
    """Run point ``index`` of the sweep into its point directory; returns its summary row.

    Collective over ``MPI.COMM_WORLD``: under ``mpiexec -n N`` the point runs on the N ranks (rank 0
    holds the point's lock). A point that is already complete (same resolved case, files all there)
    is not run again unless ``force``. Writes no ``summary.csv`` (see :func:`collect_sweep`).

    Raises:
        CaseError: no such point, a bad sweep directory, a whole sweep running in it, or another job
            running this point; nothing is written.
    """
    from mpi4py import MPI

    if not 0 <= index < len(study.points):
        raise CaseError(f"--point {index} is not a point of this sweep: expected 0 to {len(study.points) - 1}",
                        file=study.path, key="--point")
    comm = MPI.COMM_WORLD
    directory = expand(study.directory)
    task = point_tasks(study, directory)[index]
    locks: list[DirectoryLock] = []
    try:
        done = on_root(comm, _claim_point, directory, task, study.path, force, locks)
        if done is not None:
            return {**done, "reason": "already complete (use --force to rerun)"}
        return run_point(task, runner, comm=comm)
    finally:
        _release(locks)


def _claim_point(directory: Path, task: PointTask, file: Path, force: bool,
                 locks: list[DirectoryLock]) -> dict[str, Any] | None:
    """Rank 0: adopt the sweep directory, lock the point (appended to ``locks``); the point's row if
    it is already complete (and not ``force``), else None."""
    _adopt_sweep_directory(directory, file)
    locks.append(DirectoryLock.create(directory / POINT_LOCKS / task.label, "sweep point", key="--point", file=file))
    return None if force else completed_row(task)


def _adopt_sweep_directory(directory: Path, file: Path) -> None:
    """Create the sweep directory (or adopt an empty one) with ecmx's marker, without locking it;
    refuse one that is not ecmx's or that a whole sweep holds."""
    check_writable_into(directory, file=file)
    directory.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):  # another job made it first
        os.close(os.open(directory / MARKER, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o666))
    holder = locked_by(directory)
    if holder is not None:
        raise CaseError(f"sweep directory {directory} is in use by {holder}: a whole sweep runs there; run points "
                        "as separate jobs or the whole sweep, not both", file=file, key="--point")


def collect_sweep(study: Sweep, plots: bool = True) -> SweepResult:
    """Build ``summary.csv`` (and the figures) from the point directories, running nothing.

    Each point's row is its completion marker's (``ok``), or its failure marker's (``failed``),
    when they record the same resolved case; else it is ``pending`` (never run, interrupted, an
    edited case, or still running: the reason says which).

    Raises:
        CaseError: a bad sweep directory, or one in use by a whole sweep or another collect.
    """
    from mpi4py import MPI

    if MPI.COMM_WORLD.size > 1:
        raise CaseError(f"ecmx sweep --collect started on {MPI.COMM_WORLD.size} MPI ranks: it only reads files; "
                        "run it as one process", key="--collect")
    directory = expand(study.directory)
    tasks = point_tasks(study, directory)
    locks: list[DirectoryLock] = []
    try:
        _open_sweep(study, tasks, directory, True, locks)
        points = [PointResult(task.index, _collected_row(directory, task), ran=False) for task in tasks]
        result = SweepResult(directory, directory / "summary.csv", points)
        write_summary(result.summary_path, result.rows)
        if plots:
            draw_figures(result)
    finally:
        _release(locks)
    return result


def _collected_row(directory: Path, task: PointTask) -> dict[str, Any]:
    row = completed_row(task)
    if row is not None:
        return row
    failed = read_json_object(task.directory / FAILED_MARKER)
    if failed is not None and failed.get("case_sha256") == task.case_hash and isinstance(failed.get("row"), dict):
        return {**task.base_row, **failed["row"], "directory": str(task.directory)}
    holder = locked_by(directory / POINT_LOCKS / task.label)
    reason = f"running ({holder})" if holder else "not run yet (or interrupted, or its case changed since)"
    return {**task.base_row, "status": "pending", "reason": reason, "wall_time_s": None}

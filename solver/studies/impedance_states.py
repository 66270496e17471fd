"""The impedance study over several states of charge (``ecmx impedance --state-of-charge 0.2,0.5,0.8``).

Each state is an independent spectrum (:mod:`ecmx.solver.studies.impedance`), computed in a pool of
worker processes (:mod:`ecmx.solver.studies.workers`, one state per worker at a time, on
``MPI.COMM_SELF``), or, under ``mpiexec`` (more than one rank), one after the other on all ranks.
A state whose solve fails is recorded as failed and the others finish. Results directory (written
through a locked ``<out>.partial``, held from before the first solve, and moved into place once
everything is written; nothing is written when the directory is refused):

```
<out>/soc-0.50/...               the files of a single-state run (impedance.csv, plots, case.yaml,
                                 summary.json); a failed state: summary.json (status "failed", reason)
<out>/impedance_by_state.csv     state_of_charge + the columns of impedance.csv, ok states only
<out>/nyquist.png, bode.png      all ok states together (+ .pdf)
<out>/summary.json               status ("completed" or "failed"), each state's status and reason
```
"""

from __future__ import annotations

import concurrent.futures as cf
import gc
import os
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.studies.impedance import (
    COLUMNS,
    Spectrum,
    case_at_state_of_charge,
    compute_spectrum,
    default_directory_case,
    state_labels,
    versions,
    write_spectrum,
)
from ecmx.solver.studies.workers import process_pool

BY_STATE_FILE = "impedance_by_state.csv"
BY_STATE_COLUMNS = ("state_of_charge", *COLUMNS)
CRASHED = "the worker process computing this state died (crash or out of memory)"


@dataclass(frozen=True)
class StateTask:
    """One state of charge to compute (picklable): its index, label (sub-directory) and case."""

    index: int
    state_of_charge: float
    label: str
    case: Any
    frequencies_hz: np.ndarray
    cache_dir: Path | None = None


@dataclass
class StateOutcome:
    """A state's spectrum (None when it failed) and its summary.json entries."""

    task: StateTask
    spectrum: Spectrum | None
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.spectrum is not None


@dataclass
class StatesResult:
    """What :func:`run_impedance_states` wrote: the directory and each state's outcome, in order."""

    directory: Path
    outcomes: list[StateOutcome]

    @property
    def failed(self) -> list[StateOutcome]:
        return [o for o in self.outcomes if not o.ok]


def compute_state(task: StateTask, comm: MPI.Comm = MPI.COMM_SELF) -> StateOutcome:
    """The spectrum of one state (collective over ``comm``); a failure is returned, not raised."""
    started = time.perf_counter()
    try:
        spectrum, sizes = compute_spectrum(task.case, task.frequencies_hz, comm, task.cache_dir)
        info: dict[str, Any] = {"status": "completed", **sizes}
    except SolveError as exc:
        spectrum, info = None, {"status": "failed", "reason": str(exc)}
    except Exception as exc:  # one state's error must not stop the others
        spectrum, info = None, {"status": "failed", "reason": f"{type(exc).__name__}: {exc}",
                                "traceback": traceback.format_exc()}
    gc.collect()  # free the PETSc objects now, collectively (as a sweep point does)
    info["wall_time_s"] = time.perf_counter() - started
    return StateOutcome(task, spectrum, info)


def _worker(task: StateTask, compute: Any) -> StateOutcome:
    """Entry point of a worker process: one state on MPI.COMM_SELF."""
    return compute(task)


def state_tasks(case: Any, states: list[float], frequencies_hz: np.ndarray,
                cache_dir: Path | None = None) -> list[StateTask]:
    """One task per state of charge, with its case at rest at that state."""
    return [StateTask(i, soc, label, case_at_state_of_charge(case, soc), np.asarray(frequencies_hz, dtype=float),
                      cache_dir)
            for i, (soc, label) in enumerate(zip(states, state_labels(states), strict=True))]


def run_impedance_states(case: Any, states: list[float], frequencies_hz: np.ndarray,
                         out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD,
                         overwrite: bool = False, workers: int | None = None, cache_dir: Path | None = None,
                         compute: Any = compute_state) -> StatesResult:
    """The spectra of ``case`` at each of ``states`` into one results directory (collective).

    Args:
        workers: worker processes when ``comm`` has one rank (default: the cores, at most one per
            state); with several ranks the states run one after the other on all of them.
        compute: replaces :func:`compute_state` (tests); picklable, module-level.

    Raises:
        CaseError: a bad ``workers`` or results directory, before anything is written.
    """
    from ecmx.solver.studies.impedance import MAX_STATES
    from ecmx.solver.studies.run import results_directory

    if workers is not None and (isinstance(workers, bool) or not 1 <= workers <= MAX_STATES):
        raise CaseError(f"expected a whole number of workers from 1 to {MAX_STATES}, got {workers!r}", key="--workers")
    started = time.perf_counter()
    tasks = state_tasks(case, states, frequencies_hz, cache_dir)
    directory = results_directory(case if out_dir is not None else default_directory_case(case), out_dir, comm,
                                  overwrite)
    partial = directory.create()
    try:
        outcomes = _compute_all(tasks, comm, workers, compute)
        _write_states(partial, case, outcomes, comm, time.perf_counter() - started)
    except BaseException:
        directory.keep_partial()
        raise
    return StatesResult(directory.finish(), outcomes)


def _compute_all(tasks: list[StateTask], comm: MPI.Comm, workers: int | None, compute: Any) -> list[StateOutcome]:
    """Every task's outcome, in task order: in this process's ranks (several) or in a pool."""
    count = max(1, min(workers or os.cpu_count() or 1, len(tasks)))
    if comm.size > 1 or count == 1:
        return [compute(task, comm) for task in tasks]
    outcomes, broken = _pool_pass(tasks, count, compute)
    for task in broken:  # the pool broke: rerun each unfinished state alone, pinning a crash on its state
        again, still_broken = _pool_pass([task], 1, compute)
        outcomes.update(again)
        if still_broken:
            outcomes[task.index] = StateOutcome(task, None, {"status": "failed", "reason": CRASHED})
    return [outcomes[t.index] for t in tasks]


def _pool_pass(tasks: list[StateTask], workers: int, compute: Any) -> tuple[dict[int, StateOutcome], list[StateTask]]:
    """One pool over ``tasks``: the outcomes that came back, and the tasks lost when the pool broke."""
    outcomes: dict[int, StateOutcome] = {}
    broken: list[StateTask] = []
    with process_pool(workers) as pool:
        futures: dict[cf.Future, StateTask] = {}
        for task in tasks:
            try:
                futures[pool.submit(_worker, task, compute)] = task
            except cf.process.BrokenProcessPool:
                broken.append(task)
        for future in cf.as_completed(futures):
            task = futures[future]
            try:
                outcomes[task.index] = future.result()
            except cf.process.BrokenProcessPool:
                broken.append(task)
            except Exception as exc:  # the outcome did not come back (e.g. it could not be pickled)
                outcomes[task.index] = StateOutcome(task, None, {"status": "failed",
                                                                 "reason": f"{type(exc).__name__}: {exc}"})
    return outcomes, sorted(broken, key=lambda t: t.index)


def _write_states(out: Path, case: Any, outcomes: list[StateOutcome], comm: MPI.Comm, wall: float) -> None:
    """Each state's sub-directory, the combined table and plots and summary.json (collective)."""
    from ecmx.postprocess.run_files import write_json, writing

    for outcome in outcomes:
        _write_state(out / outcome.task.label, outcome, comm)
    rows = [{"state_of_charge": o.task.state_of_charge, **row} for o in outcomes if o.ok for row in o.spectrum.rows()]
    _write_table(out / BY_STATE_FILE, rows, comm)
    if rows:
        from ecmx.postprocess.impedance_plots import plot_impedance_states

        writing(comm, plot_impedance_states, out / BY_STATE_FILE, out, case.name)
    failed = sum(not o.ok for o in outcomes)
    summary = {"status": "failed" if failed else "completed", "states_failed": failed,
               "points": len(outcomes[0].task.frequencies_hz), "mpi_ranks": comm.size, "wall_time_s": wall,
               "states": [_state_entry(o) for o in outcomes], "versions": versions()}
    write_json(out / "summary.json", summary, comm)


def _write_state(sub: Path, outcome: StateOutcome, comm: MPI.Comm) -> None:
    """A state's sub-directory: a single-state run's files, or, for a failed state, its summary.json."""
    from ecmx.postprocess.run_files import write_json, writing

    writing(comm, sub.mkdir)
    task = outcome.task
    summary = {"state_of_charge": task.state_of_charge, "stoichiometry": float(task.case.initial_stoichiometry()),
               "points": len(task.frequencies_hz), **outcome.info, "mpi_ranks": comm.size}
    if outcome.ok:
        write_spectrum(sub, task.case, outcome.spectrum, summary, comm)
        return
    writing(comm, (sub / "case.yaml").write_text, task.case.to_yaml(), "utf-8")
    write_json(sub / "summary.json", {**summary, "versions": versions()}, comm)


def _write_table(path: Path, rows: list[dict[str, float]], comm: MPI.Comm) -> None:
    from ecmx.postprocess.run_files import CsvWriter

    table = CsvWriter(path, BY_STATE_COLUMNS, comm)
    table.write_rows(rows)
    table.close()


def _state_entry(outcome: StateOutcome) -> dict[str, Any]:
    """A state's entry in the top summary.json."""
    info = outcome.info
    return {"state_of_charge": outcome.task.state_of_charge, "directory": outcome.task.label,
            "status": info["status"], "reason": info.get("reason", ""), "wall_time_s": info.get("wall_time_s")}


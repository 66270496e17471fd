"""Comparisons: run several cases side by side, then draw, tabulate and report them together.

``ecmx compare FILE`` runs every case of the comparison file (:mod:`ecmx.solver.config.studies`)
into ``<comparison dir>/<case name>/`` — an ordinary run directory (``ecmx.solver.studies.run``) with its
ParaView files — and then writes, into the comparison directory:

- ``figures/``: mid-plane slice grids of c_s/c_s,max, its deviation, von Mises and the largest
  principal stress on shared colour scales (``grid``) and with each case on its own
  (``grid_own_scale``), the 3D particle view (3D runs), voltage, radial profiles, peaks, surface
  probe and sensitivity plots, each PNG + PDF (``figures/slices/*.vtp``: the slice data drawn);
- ``table.csv``, ``table.md``, ``ratios.csv``: per case and DOD the voltage, redox couple,
  concentration spreads (per cycled window, mol/m³, per c_s,max) and peak stresses, and their ratios
  to the last case of the same coupling (NVP / HE-V for ``nvp-vs-hev.yaml``);
- ``sensitivity/`` and ``sensitivity.csv``: the built-in sensitivity study
  (:mod:`ecmx.solver.studies.sensitivity`, ``compare.sensitivity``);
- ``comparison.json`` (what was run: the comparison file, its depths of discharge, its cases in
  order with their groups, the sensitivity points), from which ``ecmx report`` redraws everything
  (:mod:`ecmx.solver.studies.redraw`); ``report.md`` and a one-file ``report.html``, drawn from the
  directory's files by :func:`ecmx.postprocess.report.draw_comparison`.

``compare.couplings`` runs each case once per mechanics coupling (one-way and two-way side by side)
and ``compare.current: same-specific-current`` runs every case at one current per mass
(:mod:`ecmx.solver.studies.variants`).

Every case gets snapshots at the comparison's depths of discharge (added to its own).

The comparison directory is ecmx's (:mod:`ecmx.solver.studies.study_dir`): created with its ownership
marker, or empty, or written by an earlier comparison; anything else is refused before anything
is written, ``--overwrite`` or not. The comparison holds its lock from start to end (a second
comparison on it refuses, naming the first). Each case directory must lie directly inside it (a
case ``name`` such as ``../x`` is refused) and an existing one is replaced only with
``--overwrite`` (by ``run_case``, which replaces only ecmx's own run directories). The outputs above
are drawn aside and then put in place one by one, so a failure while drawing leaves the previous
ones as they were.

Parallelism: without MPI, the cases run in ``workers`` processes (default: ``compare.workers``,
else one per case up to the number of cores; the runs handed to them longest expected first,
:mod:`ecmx.solver.studies.schedule`), started with ``spawn`` (a fork would copy the
parent's MPI/PETSc state), each case on ``MPI.COMM_SELF`` with single-threaded BLAS; the same
processes then draw the figures side by side (:mod:`ecmx.postprocess.figure_jobs`), starting as
soon as the comparison's own runs have finished, ahead of the sensitivity runs still waiting
(:mod:`ecmx.solver.studies.early_drawing`, :mod:`ecmx.solver.studies.job_queue`). Under
``mpiexec -n N`` the cases run one after the other on all N ranks. Post-processing runs on rank 0;
its failure is raised on every rank (no rank is left waiting).

A case that fails does not stop the others: the comparison is drawn from the cases that finished,
the report lists the failures, and :class:`~ecmx.solver.errors.SolveError` is raised at the end.
Ctrl-C stops the comparison (worker processes are terminated; under MPI the running case stops at
its next step on every rank) and raises KeyboardInterrupt; nothing is post-processed.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import gc
import json
import logging
import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.solver.collective import on_root
from ecmx.solver.config.case import Case, Snapshots
from ecmx.solver.config.studies import Comparison
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.files import atomic_write_text
from ecmx.solver.studies.early_drawing import EarlyDrawing
from ecmx.solver.studies.job_queue import PriorityPool
from ecmx.solver.studies.outdir import DirectoryLock, check_writable_into, expand
from ecmx.solver.studies.prestart import Prestarted
from ecmx.solver.studies.progress import CasesProgress
from ecmx.solver.studies.schedule import longest_first
from ecmx.solver.studies.sensitivity import DIRECTORY as SENSITIVITY_DIRECTORY
from ecmx.solver.studies.sensitivity import sensitivity_plan
from ecmx.solver.studies.study_dir import check_outputs, child_directory, open_study_directory, publish, staged_outputs
from ecmx.solver.studies.variants import PlannedRun, specific_current_overrides, variant
from ecmx.solver.studies.workers import process_pool, terminate_workers

log = logging.getLogger(__name__)

Runner = Callable[..., Any]
"""``run_case``-like callable: ``runner(case, out_dir=..., overwrite=..., progress=..., comm=...)``."""

RECORD_FILE = "comparison.json"
"""What ``ecmx report`` needs to redraw the comparison: its file, states, cases and sensitivity points."""
OUTPUT_FILES = ("table.csv", "table.md", "ratios.csv", "report.md", "report.html", RECORD_FILE, "sensitivity.csv")
OUTPUT_DIRECTORIES = ("figures",)
OUTPUTS = (*OUTPUT_DIRECTORIES, *OUTPUT_FILES)
"""What post-processing writes into the comparison directory (replaced on every comparison)."""
RESERVED = (*OUTPUTS, SENSITIVITY_DIRECTORY)
"""Names a case may not take (each case writes ``<comparison dir>/<name>/``)."""


@dataclass
class CaseOutcome:
    """How one case's run ended: ``error`` is None for a completed run."""

    name: str
    directory: Path
    wall_time_s: float
    error: str | None = None


@dataclass
class ComparisonResult:
    """What ``run_comparison`` produced (post-processing results on rank 0 only)."""

    directory: Path
    outcomes: list[CaseOutcome]
    wall_time_s: float
    runs: list[Any] = field(default_factory=list)
    rows: list[Any] = field(default_factory=list)
    ratios: list[Any] = field(default_factory=list)
    files: dict[str, Path] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)

    @property
    def failures(self) -> dict[str, str]:
        return {o.name: o.error for o in self.outcomes if o.error is not None}


def comparison_cases(study: Comparison) -> list[Case]:
    """The comparison's cases (each coupling variant of ``compare.couplings``, at the current basis
    of ``compare.current``), each with snapshots at the comparison's depths of discharge too."""
    return [run.case for run in comparison_runs(study)]


def _coupling_name(case: Case, coupling: str | None) -> str:
    """A variant keeps the case's name for the case's own coupling, else gets ``-<coupling>``."""
    return case.name if coupling in (None, case.mechanics.coupling) else f"{case.name}-{coupling}"


def comparison_runs(study: Comparison) -> list[PlannedRun]:
    """The comparison's own runs (sensitivity runs aside), validated, in order: for each coupling of
    ``compare.couplings`` (default: the cases' own), every case.

    Raises:
        CaseError: a variant does not validate, or two runs would share a name.
    """
    compare = study.spec.compare
    dods = compare.at.depth_of_discharge
    runs = []
    for coupling in compare.couplings or [None]:
        for case, path in zip(study.cases, study.case_paths, strict=True):
            overrides = [] if coupling in (None, case.mechanics.coupling) else [f"mechanics.coupling={coupling}"]
            if compare.current == "same-specific-current":
                overrides += specific_current_overrides(case, compare.specific_current)
            if overrides:  # a variant: the case file again, with the comparison's and the variant's overrides
                name = _coupling_name(case, coupling)
                run = variant(path, compare.set, [*overrides, f"name={name}"], f"comparison variant {name}")
            else:  # the case itself, as validated
                run = case.model_copy(deep=True)
            wanted = sorted(set(run.output.snapshots.depth_of_discharge) | set(dods))
            run.output.snapshots = Snapshots(depth_of_discharge=wanted)
            group = run.mechanics.coupling if run.mechanics.enabled else "no mechanics"
            runs.append(PlannedRun(run, path, {"group": group, "base": case.name}))
    names = [r.name for r in runs]
    if len(set(names)) != len(names):
        raise CaseError(f"two runs of the comparison would share a name ({', '.join(names)}): rename a case",
                        file=study.path, key="compare.couplings")
    return runs


def planned_directories(study: Comparison, runs: Sequence[PlannedRun], directory: Path) -> list[Path]:
    """``<directory>/<name>`` for each comparison run and ``<directory>/sensitivity/<name>`` for each
    sensitivity run, each checked to lie directly inside its parent.

    Raises:
        CaseError: naming the case file and its ``name``, for a name that would write elsewhere
            (``..``, an absolute path, a separator, a link) or over an output of the comparison.
    """
    dirs = []
    for run in runs:
        parent = directory / SENSITIVITY_DIRECTORY if "role" in run.info else directory
        dirs.append(child_directory(parent, run.name, file=run.file, key="name", reserved=RESERVED))
    return dirs


def case_directories(study: Comparison, directory: Path) -> list[Path]:
    """The directories of :func:`comparison_runs` (see :func:`planned_directories`)."""
    return planned_directories(study, comparison_runs(study), directory)


def run_comparison(
    study: Comparison,
    workers: int | None = None,
    overwrite: bool = False,
    runner: Runner | None = None,
    progress: bool = True,
    prestarted: Prestarted | None = None,
) -> ComparisonResult:
    """Run the comparison's cases and write its figures, tables and report (see the module doc).

    Args:
        study: the validated comparison (``load_comparison``).
        workers: parallel case processes (default: ``compare.workers``, else cases up to cores).
        overwrite: replace existing case directories (ecmx's own) in the comparison directory.
        runner: what runs one case (default :func:`ecmx.solver.studies.run.run_case`); must be picklable
            (a module-level function) when the cases run in worker processes.
        progress: show a bar over the cases and one per case (read from the ``timeseries.csv`` each case
            is writing; :class:`~ecmx.solver.studies.progress.CasesProgress`).
        prestarted: worker processes already started (:mod:`ecmx.solver.studies.prestart`), used
            when there are as many as the comparison wants, else ended at once.

    Raises:
        CaseError: the comparison directory is not ecmx's or is in use, a case name does not name a
            directory inside it, or it already holds case results and ``overwrite`` is False;
            nothing is written.
        SolveError: one or more cases failed (after everything else was written), or the
            post-processing failed (on every rank).
        KeyboardInterrupt: Ctrl-C.
    """
    from mpi4py import MPI

    started = time.perf_counter()
    comm = MPI.COMM_WORLD
    directory = expand(study.directory)
    extra, manifest = sensitivity_plan(study)
    planned = [*comparison_runs(study), *extra]
    cases = [run.case for run in planned]
    locks: list[DirectoryLock] = []
    count = _worker_count(study, cases, workers)
    own = [run.name for run in planned if "role" not in run.info]
    try:
        case_dirs = on_root(comm, _open_comparison, study, planned, directory, overwrite, locks, manifest)
        with (EarlyDrawing(directory, own, lambda done: _manifest(study, planned, done, manifest)) as early,
              _local_pool(count, comm, prestarted) as pool):
            early.pool = pool
            try:
                outcomes = _run_cases(study, cases, case_dirs, overwrite, runner, count, comm, progress, pool,
                                      early.note)
            except KeyboardInterrupt:
                raise KeyboardInterrupt(f"comparison stopped before its post-processing; the runs so far are in "
                                        f"{directory}") from None
            result = ComparisonResult(directory, outcomes, 0.0, manifest=_manifest(study, planned, outcomes, manifest))
            on_root(comm, _post_process, study, result, started, pool, early)
    finally:
        for lock in locks:
            lock.release()
    result.wall_time_s = time.perf_counter() - started
    if result.failures:
        listed = "; ".join(f"{name}: {reason}" for name, reason in result.failures.items())
        raise SolveError(f"{len(result.failures)} of {len(cases)} case(s) failed ({listed}); the others are in {directory}")
    return result


def _open_comparison(study: Comparison, planned: Sequence[PlannedRun], directory: Path, overwrite: bool,
                     locks: list[DirectoryLock], sensitivity: dict[str, Any] | None = None) -> list[Path]:
    """Rank 0: check the case directories, create or adopt and lock the comparison directory (the
    lock is appended to ``locks``) and check what it holds; returns the case directories.
    ``sensitivity``: the manifest entry of :func:`sensitivity_plan` (None: planned again).

    An existing case directory needs ``overwrite`` and must be an ecmx run directory (or empty).
    """
    case_dirs = planned_directories(study, planned, directory)
    locks.append(open_study_directory(directory, "comparison", file=study.path))
    check_outputs(directory, OUTPUT_FILES, OUTPUT_DIRECTORIES, file=study.path)
    if any("role" in run.info for run in planned):
        _sensitivity_directory(directory, study.path)
    record_comparison(study, directory, planned, sensitivity)
    existing = [(d, run.file) for d, run in zip(case_dirs, planned, strict=True) if d.exists() or d.is_symlink()]
    if existing and not overwrite:
        raise CaseError(
            f"comparison directory {directory} already holds results of {', '.join(d.name for d, _ in existing)}; "
            "use --overwrite to replace them",
            file=study.path,
            key="output.directory",
        )
    for case_dir, case_file in existing:
        check_writable_into(case_dir, key="name", file=case_file)
    return case_dirs


def _sensitivity_directory(directory: Path, file: Path) -> None:
    """Create ``<directory>/sensitivity`` (inside the locked comparison directory, so ecmx's); a file or
    link of that name is refused."""
    path = directory / SENSITIVITY_DIRECTORY
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise CaseError(f"{path} exists and is not a directory (or is a symbolic link)", file=file, key="compare.sensitivity")
    path.mkdir(exist_ok=True)


def _manifest(study: Comparison, planned: Sequence[PlannedRun], outcomes: Sequence[CaseOutcome] = (),
              sensitivity: dict[str, Any] | None = None) -> dict[str, Any]:
    """What ``comparison.json`` records: the comparison file, its depths of discharge and its runs in
    order (name, case file, group, and once run their wall time and error), the current basis and the
    sensitivity points; enough to redraw everything from the directory alone (``ecmx report``,
    :func:`ecmx.postprocess.report.build_comparison_report`)."""
    compare = study.spec.compare
    by_name = {o.name: o for o in outcomes}
    done = {name: {"wall_time_s": o.wall_time_s, "error": o.error} for name, o in by_name.items()}
    cases = [{"name": run.name, "file": str(run.file), **run.info, **done.get(run.name, {})}
             for run in planned if "role" not in run.info]
    errors = {run.name: by_name[run.name].error for run in planned
              if "role" in run.info and run.name in by_name and by_name[run.name].error}
    return {
        "file": str(study.path),
        "depth_of_discharge": list(compare.at.depth_of_discharge),
        "current": {"basis": compare.current, "specific_current_mA_per_g": compare.specific_current},
        "cases": cases,
        "sensitivity": {**sensitivity, "errors": errors} if sensitivity else {},
    }


def record_comparison(study: Comparison, directory: Path, planned: Sequence[PlannedRun] | None = None,
                      sensitivity: dict[str, Any] | None = None) -> None:
    """Write ``comparison.json`` (atomically) before the runs start (:func:`_manifest`, no outcomes
    yet), so that ``ecmx report`` can redraw even an interrupted comparison; the post-processing
    rewrites it with the outcomes. ``sensitivity``: the manifest entry of the sensitivity runs in
    ``planned`` as :func:`sensitivity_plan` made it (None: planned again, which validates every
    variant a second time)."""
    planned = comparison_runs(study) if planned is None else planned
    if all("role" not in run.info for run in planned):
        sensitivity = {}
    elif sensitivity is None:
        sensitivity = sensitivity_plan(study)[1]
    atomic_write_text(directory / RECORD_FILE, json.dumps(_manifest(study, planned, (), sensitivity), indent=1,
                                                         default=str))


def _worker_count(study: Comparison, cases: Sequence[Case], workers: int | None) -> int:
    """Local worker processes: ``workers``, else ``compare.workers``, else one per case up to the cores."""
    count = workers or study.spec.compare.workers or min(len(cases), os.cpu_count() or 1)
    return max(1, min(count, len(cases)))


@contextlib.contextmanager
def _local_pool(workers: int, comm: Any, prestarted: Prestarted | None = None) -> Iterator[PriorityPool | None]:
    """The comparison's worker processes, kept from its first run to its last figure (None under MPI
    or with one worker: everything runs in this process): ``prestarted``'s when it has ``workers``
    processes. The runs queue behind the figure jobs
    (:class:`~ecmx.solver.studies.job_queue.PriorityPool`), so figures started while runs wait go first."""
    if prestarted is not None and (comm.size > 1 or workers != prestarted.workers):
        terminate_workers(prestarted.pool)  # not the pool wanted: its idle workers would only take memory
        prestarted = None
    if comm.size > 1 or workers < 2:
        yield None
        return
    with contextlib.nullcontext(prestarted.pool) if prestarted is not None else process_pool(workers) as pool:
        queue = PriorityPool(pool, workers)
        try:
            yield queue
        finally:
            queue.cancel_waiting()
        # Every call has returned (the comparison waited for each): end the idle workers now rather
        # than wait for their interpreters' teardown (MPI, PETSc, VTK: about a second each).
        terminate_workers(pool)


def _run_cases(study: Comparison, cases: list[Case], case_dirs: list[Path], overwrite: bool, runner: Runner | None,
               workers: int, comm: Any, progress: bool = True, pool: PriorityPool | None = None,
               finished: Callable[[CaseOutcome], None] | None = None) -> list[CaseOutcome]:
    """Run every case: one after the other on all ranks under MPI, else in local worker processes
    (``pool``, with ``workers`` processes; None: in this process). ``finished`` gets each local
    outcome as it comes."""
    if comm.size == 1:
        return _run_local(cases, case_dirs, overwrite, runner, workers if pool is not None else 1, progress, pool,
                          finished)
    outcomes = []
    for case, out_dir in zip(cases, case_dirs, strict=True):
        outcomes.append(_run_one(case, out_dir, overwrite, runner, comm))
        # Destroy the finished case's PETSc objects now, on every rank together: left to the
        # garbage collector they are destroyed (collectively) at different moments on different
        # ranks, e.g. on one rank inside the next case's form compilation, and the ranks deadlock.
        gc.collect()
        comm.barrier()
    return outcomes


def _run_one(case: Case, out_dir: Path, overwrite: bool, runner: Runner | None, comm: Any = None) -> CaseOutcome:
    """Run one case; a failure is returned, not raised (Ctrl-C is raised). Collective over ``comm``
    (default COMM_SELF)."""
    from mpi4py import MPI

    comm = MPI.COMM_SELF if comm is None else comm
    if runner is None:
        from ecmx.solver.studies.run import run_case as runner
    start = time.perf_counter()
    error = None
    try:
        runner(case, out_dir=out_dir, overwrite=overwrite, progress=False, comm=comm)
    except SolveError as exc:
        error = str(exc)
    except Exception as exc:  # one case's failure must not lose the others
        error = f"{type(exc).__name__}: {exc}"
        if comm.rank == 0:
            traceback.print_exc()
    wall = comm.allreduce(time.perf_counter() - start, op=MPI.MAX)
    return CaseOutcome(case.name, out_dir, wall, error)


def _run_local(cases: Sequence[Case], case_dirs: Sequence[Path], overwrite: bool, runner: Runner | None,
               workers: int, progress: bool = True, pool: PriorityPool | None = None,
               finished: Callable[[CaseOutcome], None] | None = None) -> list[CaseOutcome]:
    """Run the cases in this process (one worker) or in ``workers`` spawned processes (``pool``
    when given, else a pool of their own); ``finished`` gets each outcome after it is shown."""
    outcomes: dict[str, CaseOutcome] = {}
    display = CasesProgress(cases, case_dirs, enabled=progress)

    def done(outcome: CaseOutcome) -> None:
        outcomes[outcome.name] = outcome
        state = "done" if outcome.error is None else f"FAILED ({outcome.error})"
        display.note(f"[{len(outcomes)}/{len(cases)}] {outcome.name}: {state} in {outcome.wall_time_s:.1f} s")
        display.advance(outcome.name)
        if finished is not None:
            finished(outcome)

    display.note(f"running {len(cases)} case(s) with {workers} worker(s) into {case_dirs[0].parent}")
    with display:
        _run_cases_locally(cases, case_dirs, overwrite, runner, workers, done, pool)
    return [outcomes[c.name] for c in cases]


def _run_cases_locally(cases: Sequence[Case], case_dirs: Sequence[Path], overwrite: bool, runner: Runner | None,
                       workers: int, done: Callable[[CaseOutcome], None], pool: PriorityPool | None = None) -> None:
    """Run the cases in this process (one worker) or in ``workers`` spawned processes (``pool`` when
    given); ``done`` gets each outcome as it comes (a worker that died is a failed case)."""
    if workers == 1:
        for case, out_dir in zip(cases, case_dirs, strict=True):
            done(_run_one(case, out_dir, overwrite, runner))
    elif pool is None:
        with process_pool(workers) as own:
            _run_in_pool(cases, case_dirs, overwrite, runner, done, PriorityPool(own, workers))
    else:
        _run_in_pool(cases, case_dirs, overwrite, runner, done, pool)


def _run_in_pool(cases: Sequence[Case], case_dirs: Sequence[Path], overwrite: bool, runner: Runner | None,
                 done: Callable[[CaseOutcome], None], pool: PriorityPool) -> None:
    """Queue every case in ``pool`` (longest expected first, behind any figure job:
    :func:`~ecmx.solver.studies.schedule.longest_first`, from the runs' earlier times in ``case_dirs``
    where there are some) and pass each outcome to ``done``."""
    futures = {pool.submit_later(_run_one, cases[i], case_dirs[i], overwrite, runner): (cases[i], case_dirs[i])
               for i in longest_first(cases, case_dirs)}
    for future in cf.as_completed(futures):
        case, out_dir = futures[future]
        try:
            done(future.result())
        except cf.process.BrokenProcessPool:
            done(CaseOutcome(case.name, out_dir, float("nan"), "the worker process died (crash or out of memory)"))


def _shown(path: Path) -> Path:
    """A path relative to the working directory where it lies below it, else absolute."""
    try:
        return path.resolve().relative_to(Path.cwd())
    except ValueError:
        return path


def _post_process(study: Comparison, result: ComparisonResult, started: float, pool: cf.Executor | None = None,
                  early: EarlyDrawing | None = None) -> None:
    """Rank 0: figures, tables and report from the runs that completed, drawn aside and then put in
    place (the figures in ``pool``'s worker processes, when given; ``early``: the figures already
    started into its staging directory). Any failure becomes a SolveError (with the traceback
    logged) and leaves the previous outputs as they were."""
    try:
        if early is not None and early.error is not None:
            raise early.error
        begun = early.begun if early is not None else None
        with contextlib.ExitStack() as stack:
            staging = early.staging if begun is not None else stack.enter_context(staged_outputs(result.directory))
            _draw(study, result, staging, started, pool, begun)
            publish(staging, result.directory)
            result.files = {key: result.directory / path.relative_to(staging) for key, path in result.files.items()}
    except Exception as exc:
        log.error("post-processing of the comparison failed:\n%s", traceback.format_exc())
        raise SolveError(f"the post-processing of the comparison failed ({type(exc).__name__}: {exc}); "
                         f"the case results are in {result.directory}") from None


def _recorded(study: Any, result: ComparisonResult) -> dict[str, Any]:
    """The manifest of a redraw (``ecmx report``): the directory's ``comparison.json`` with the
    outcomes found now, or one made from the cases and outcomes (an older comparison, a single run)."""
    path = result.directory / RECORD_FILE
    manifest = json.loads(path.read_text()) if path.is_file() else {}
    if not isinstance(manifest, dict) or "cases" not in manifest:
        manifest = {"file": str(study.path), "depth_of_discharge": list(study.spec.compare.at.depth_of_discharge),
                    "cases": [{"name": c.name, "file": str(p)} for c, p in zip(study.cases, study.case_paths, strict=True)]}
    by_name = {o.name: o for o in result.outcomes}
    for case in manifest["cases"]:
        if case["name"] in by_name:
            outcome = by_name[case["name"]]
            case.update(wall_time_s=outcome.wall_time_s, error=outcome.error, path=str(outcome.directory))
    return manifest


def _draw(study: Comparison, result: ComparisonResult, out: Path, started: float, pool: cf.Executor | None = None,
          begun: Any = None) -> None:
    """``comparison.json``, then the figures, tables and report (:mod:`ecmx.postprocess.report`, from
    the comparison directory's files) into ``out``; ``result.files`` maps each to its path there.
    ``begun``: :func:`ecmx.postprocess.report.begin_comparison` already done into ``out``."""
    from ecmx.postprocess import report, tables

    manifest = result.manifest or _recorded(study, result)
    manifest["wall_time_s"] = time.perf_counter() - started
    if result.manifest:  # a comparison that ran (a redraw keeps the record as it is)
        (out / RECORD_FILE).write_text(json.dumps(manifest, indent=1, default=str) + "\n")
    drawn = report.draw_comparison(result.directory, out, manifest, pool, begun)
    result.runs, result.rows, result.ratios = drawn.runs, drawn.rows, drawn.ratios
    result.files = {**({"manifest": out / RECORD_FILE} if result.manifest else {}), **drawn.files}
    print(tables.rows_markdown(result.rows))
    if result.ratios:
        print(tables.ratios_markdown(result.ratios))
    print(f"wall time {time.perf_counter() - started:.1f} s", file=sys.stderr)

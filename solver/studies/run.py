"""The run driver: one case from mesh to results directory.

``run_case`` loads the mesh, builds the coupled :class:`~ecmx.solver.fem.cell_problem.CellProblem` (and the
one-way mechanics, when enabled), runs the protocol with adaptive steps and writes:

```
<out>/case.yaml           the resolved case (SI)
<out>/timeseries.csv      one row per accepted step (and the initial state), docs/case-format.md columns
<out>/timeseries_times.csv rows at output.times, interpolated between accepted steps (when asked for)
<out>/probes.csv          one row per probe per accepted step
<out>/fields/particle.xdmf     ParaView time series on the particle mesh (c_s, θ, stresses; data in .bin)
<out>/fields/electrolyte.xdmf  ... on the electrolyte mesh (c, φ_e; not for sphere-1d)
<out>/snapshots/dod_0.10/particle.xdmf, electrolyte.xdmf   one file set per snapshot depth of discharge
<out>/summary.json        status, key results, versions, wall time, mesh and DOF counts
<out>/.ecmx-owner         ecmx's ownership marker and lock (see ecmx.solver.studies.outdir)
<out>.partial/checkpoint/ while it runs: the state to resume from (ecmx.solver.studies.resume; removed at the end)
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

# isort: split

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mpi4py import MPI

from ecmx.postprocess.run_files import write_json
from ecmx.solver.collective import DeferredInterrupt, on_root
from ecmx.solver.errors import CaseError, OutputError, SolveError
from ecmx.solver.fem.coupling import TwoWayCoupling, coupling_for
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
from ecmx.solver.studies.progress import ProgressDisplay, RunProgress
from ecmx.solver.studies.recorder import Recorder, check_probes
from ecmx.solver.studies.resume import Checkpointer, ResumePoint, ResumingRecorder, resume_point
from ecmx.solver.studies.timing import PhaseClock
from ecmx.solver.timeloop.integrators import BdfIntegrator
from ecmx.solver.timeloop.observers import ObserverChain
from ecmx.solver.timeloop.protocol import build_protocol
from ecmx.solver.timeloop.runner import ProtocolRunner
from ecmx.solver.timeloop.staggered import StaggeredSteps, stress_potential_scale
from ecmx.solver.timeloop.stepping import StepController

log = logging.getLogger(__name__)

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


class ResumedDirectory(ResultsDirectory):
    """``<out>`` of a resumed run (:mod:`ecmx.solver.studies.resume`): the unfinished ``<out>.partial`` is
    locked and continued, not replaced."""

    def _check(self) -> None:
        partial = self.path.with_name(self.path.name + ".partial")
        if not is_owned(partial):
            ended = f"; {self.path} holds a run that ended (only an interrupted run resumes)" if self.path.exists() else ""
            raise CaseError(f"nothing to resume: no unfinished run in {partial}{ended}", **self._where)
        super()._check()

    def _create(self) -> None:
        self._lock = DirectoryLock.acquire(self.partial, "run", **self._where)


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


def results_directory(case: Any, out_dir: str | Path | None, comm: MPI.Comm, overwrite: bool,
                      kind: type[ResultsDirectory] = ResultsDirectory) -> ResultsDirectory:
    """The checked results directory of a run: ``out_dir``, else ``output.directory``, else
    ``results/<name>`` (``name`` must be a plain name, so that the directory lies inside ``results``).
    Collective; writes nothing."""
    source = case.source_path
    if out_dir is not None:
        return kind(out_dir, comm, overwrite, case_file=source, key=None)
    if case.output.directory is not None:
        return kind(case.output.directory, comm, overwrite, case_file=source, file=source)
    parent, name = Path("results"), case.name
    if "\0" in name or expand(parent / name).parent != expand(parent):
        raise CaseError(f"{name!r} cannot name a results directory inside {parent}/: expected a plain name (no path "
                        "separators, not '.' or '..'), or set output.directory", file=source, key="name")
    return kind(parent / name, comm, overwrite, case_file=source, file=source, key="name")


def run_case(case: Any, out_dir: str | Path | None = None, comm: MPI.Comm = MPI.COMM_WORLD, progress: bool = True,
             overwrite: bool = False, cache_dir: Path | None = None, resume: bool = False) -> RunResult:
    """Run one case and write its results directory (collective over ``comm``).

    Args:
        case: the resolved :class:`~ecmx.solver.config.Case`.
        out_dir: results directory (default: ``case.output.directory``, else ``results/<name>``);
            ``~`` is expanded.
        comm: MPI communicator the mesh is distributed over.
        progress: show a progress bar (rank 0, only on a terminal).
        overwrite: replace an existing results directory (only one that ecmx wrote).
        cache_dir: mesh cache directory (default: the meshes module's own).
        resume: continue the interrupted run in ``<out>.partial`` from its last checkpoint
            (:mod:`ecmx.solver.studies.resume`; CaseError, before the mesh is built, when it cannot).

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
    started, clock = time.perf_counter(), PhaseClock()
    directory = results_directory(case, out_dir, comm, overwrite, ResumedDirectory if resume else ResultsDirectory)
    resumed = resume_point(directory, case, comm) if resume else None
    with clock.phase("imports"):
        import dolfinx.jit

        from ecmx.meshes import load_mesh
        from ecmx.solver.fem.cell_problem import CellProblem
        from ecmx.solver.fem.mechanics_case import mechanics_for_case

    with clock.patched(dolfinx.jit, "ffcx_jit", "jit"):
        with clock.phase("mesh"):
            pmesh = load_mesh(case.geometry, comm=comm, cache_dir=cache_dir)
        with clock.phase("setup"):
            problem = CellProblem(pmesh, case)
            problem.set_initial_state()
            mechanics = mechanics_for_case(problem, pmesh, case) if case.mechanics.enabled else None
        return run_problem(problem, case, directory, comm=comm, mechanics=mechanics, pmesh=pmesh, progress=progress,
                           started=started, resumed=resumed, clock=clock)


def run_problem(problem: Any, case: Any, directory: ResultsDirectory | str | Path, *,
                comm: MPI.Comm = MPI.COMM_WORLD, overwrite: bool = False, mechanics: Any = None, pmesh: Any = None,
                progress: bool = False, started: float | None = None, resumed: ResumePoint | None = None,
                clock: PhaseClock | None = None) -> RunResult:
    """Run the case's protocol on a built problem (at its initial state) and write the results.

    Collective. ``mechanics`` (optional) is solved one-way after every accepted step. Probes are
    checked (CaseError) before anything is written. ``clock`` (default: a new one) times the phases
    into ``summary.json`` ``timing`` (:mod:`ecmx.solver.studies.timing`). Raises like :func:`run_case`.
    """
    started = time.perf_counter() if started is None else started
    clock = PhaseClock() if clock is None else clock
    if not isinstance(directory, ResultsDirectory):
        directory = ResultsDirectory(directory, comm, overwrite, case_file=case.source_path)
    check_probes(problem, case, pmesh)
    out = directory.create()
    recorder = (Recorder if resumed is None else ResumingRecorder)(problem, case, out, comm, mechanics=mechanics,
                                                                   pmesh=pmesh)
    _time_phases(clock, problem, mechanics, recorder)
    error: BaseException | None = None
    try:
        with clock.phase("time_loop"):
            _run_protocol(problem, case, recorder, comm, progress, resumed)
    except (Exception, KeyboardInterrupt) as exc:
        error = exc
    with clock.phase("finish"):
        error = _close(recorder, error)
    summary = recorder.summary(_status(error), _reason(error), time.perf_counter() - started)
    summary["timing"] = clock.summary()
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


def _time_phases(clock: PhaseClock, problem: Any, mechanics: Any, recorder: Recorder) -> None:
    """Hook ``clock`` onto the work of the time loop: the cell problem's tries (``cell_solve``), the
    mechanics solves and stress integrals, and the recorder (``recording``, holding ``fields``,
    ``probes`` and ``stress_quantities``; ``snapshots`` apart)."""
    clock.wrap(problem, "try_step", "cell_solve")
    clock.wrap(mechanics, "solve", "mechanics_solve")
    clock.wrap(mechanics, "quantities", "stress_quantities")
    clock.wrap(recorder, "step_accepted", "recording")
    clock.wrap(recorder, "_write_fields", "fields")
    clock.wrap(recorder, "_write_probes", "probes")
    clock.wrap(recorder, "snapshot", "snapshots")


def _run_protocol(problem: Any, case: Any, recorder: Recorder, comm: MPI.Comm, progress: bool,
                  resumed: ResumePoint | None = None) -> None:
    """Open the result files and run the protocol (collective). Observers, in order: the
    chemo-mechanical coupling (when mechanics is on), the recorder, the progress display (rank 0).
    Two-way coupling also iterates the stagger within every step (:class:`StaggeredSteps`, which
    then observes in the coupling's place and skips the solve its accepted try already made).

    A Ctrl-C stops the run on every rank before the next try of a step; ``solver.max_steps`` caps
    the accepted steps.
    """
    recorder.start()
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    steps = steps if resumed is None else resumed.remaining(steps)
    interrupts = DeferredInterrupt(comm)
    coupling = coupling_for(problem, recorder.mechanics) if recorder.mechanics is not None else None
    integrator = BdfIntegrator.for_problem(problem, case.solver.rtol, case.solver.atol, comm)
    if isinstance(coupling, TwoWayCoupling):  # iterate the stagger within each step
        problem = coupling = StaggeredSteps(problem, coupling, case.solver.rtol, stress_potential_scale(case),
                                            atol=case.solver.atol, magnitude=problem.error_magnitudes[0],
                                            predictor=integrator.predictor_weights)
    runner = ProtocolRunner(problem, steps, StepController.from_settings(case.solver.time_step),
                            capacity_C=problem.capacity_C, stoichiometry_window=case.material.stoichiometry_window,
                            snapshot_dods=case.output.snapshots.depth_of_discharge,
                            max_steps=case.solver.max_steps, guard=interrupts.check, integrator=integrator)
    display = ProgressDisplay("starting", 1.0, enabled=progress and comm.rank == 0)
    shown = RunProgress(runner, display, case.protocol)
    checkpoints = Checkpointer(problem, recorder, runner, comm, resumed)
    if resumed is not None:
        resumed.restore(problem, recorder, runner, comm)
    runner.observer = ObserverChain(coupling, recorder, checkpoints, shown)
    recorder.runner = runner
    with interrupts, display:
        try:
            runner.run()
        finally:
            shown.finished()
    checkpoints.discard()


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

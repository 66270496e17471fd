"""Checkpoints of a run, and ``ecmx run --resume``: continue an interrupted run from its last checkpoint.

At a field output (``output.fields_interval`` or ``fields_every``; the first, then one at most every
:data:`INTERVAL_S` seconds of wall time, so that checkpoints cost little) and at each snapshot,
:class:`Checkpointer` writes ``<out>.partial/checkpoint/``:

```
checkpoint/state.json               time, protocol position, step counts, the time loop's state
                                    (step-size controller, integrator level times, the segment's
                                    accepted quantities), the recorder's tallies, how many rows and
                                    field files were written, and the generation G of the arrays
checkpoint/rank-NNNNN-GGGGGG.npz    this MPI rank's arrays: every unknown of the coupled problem
                                    (u*), its time history uₙ, uₙ₋₁ (h*), the integrator's levels (i*)
```

Collectively and atomically: every rank writes its arrays of the next generation beside the
current ones, and only then rank 0 replaces ``state.json`` (atomically) and deletes the older
generation, so ``state.json`` always names one whole state; the directory is removed when the
protocol completes. What is stored is generic: the arrays of all
unknowns (``problem.state_arrays()``, restored with ``problem.restore_state``), the problem's time
history (``problem.checkpoint_state()``/``restore_checkpoint_state``) and the time loop's
(``runner.checkpoint_state()``/``restore_checkpoint_state``: the step-size controller, the BDF
levels, the event-location levels).

A run that was interrupted (Ctrl-C, a killed process, a full disk) leaves ``<out>.partial``;
``ecmx run CASE_FILE --resume`` (:func:`resume_point`) locks it, restores the unknowns and the
counters, cuts ``timeseries.csv`` and ``probes.csv`` back to the checkpoint's rows, removes field
and snapshot files written after it, and runs the rest of the protocol; ``timeseries.csv``
continues the old one (no repeated rows) and the resumed run takes the same steps as an
uninterrupted one (the interrupted segment goes on with its BDF order, clock and the step the controller had
chosen, no restart), so its results equal the uninterrupted run's to round-off.

What cannot resume, and why (each refused with a CaseError that says so):

- a run with no ``<out>.partial`` or no checkpoint in it (nothing was stored yet);
- a run whose resolved case changed since (the checkpoint records its SHA-256), or resumed on a
  different number of MPI ranks (each rank stores its own part of the distributed arrays);
- a checkpoint written by an ecmx that did not store the time integrator's state (it could not
  continue the same steps);
- a run that ended as ``failed`` (it was moved to ``<out>``: rerun it, e.g. with a larger
  ``solver.max_steps``).

Inside a GITT train or a voltage sweep no checkpoint is taken (its pulses, rests and sweep legs keep
clocks of their own); an interrupted train or sweep resumes from the last checkpoint before it.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import shutil
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from mpi4py import MPI

from ecmx.postprocess.run_files import PROBE_COLUMNS, CsvWriter, output_error, writing
from ecmx.solver.collective import on_root, raise_if_any
from ecmx.solver.errors import CaseError
from ecmx.solver.files import atomic_write_text
from ecmx.solver.studies.recorder import Recorder
from ecmx.solver.timeloop.protocol import ProtocolStep, Segment
from ecmx.solver.timeloop.runner import ProtocolRunner, StepRecord

CHECKPOINT = "checkpoint"
STATE_FILE = "state.json"
INTERVAL_S = 10.0
"""Wall time between checkpoints at field outputs, s (the first field output and snapshots always)."""
RECORDER_STATE = ("field_bytes", "records", "last_fields_time", "last_interval", "snapshots", "discharge_C", "charge_C",
                  "max_balance_error", "max_newton", "voltage_range", "stress_row", "mechanics_quantities",
                  "stress_peaks")
"""Recorder attributes that a checkpoint stores (summary.json tallies and output counters)."""


def case_sha256(case: Any) -> str:
    """SHA-256 of the resolved case: a checkpoint resumes only the same case."""
    return hashlib.sha256(json.dumps(case.to_dict(), sort_keys=True, default=str).encode()).hexdigest()


class Checkpointer:
    """Time-loop observer (after the recorder) that writes the checkpoint whenever the recorder has
    written fields for the accepted step, and after each snapshot (collective).

    ``resumed`` is the checkpoint a resumed run started from: the runner's protocol positions then
    count from its step, and the step it cut keeps its original start time.
    """

    def __init__(self, problem: Any, recorder: Recorder, runner: ProtocolRunner, comm: MPI.Comm,
                 resumed: ResumePoint | None = None):
        self.problem, self.recorder, self.runner, self.comm = problem, recorder, runner, comm
        self.offset = 0 if resumed is None else int(resumed.state["position"])
        self.cut_start = None if resumed is None else float(resumed.state["segment_start_s"])
        self.generation = 0 if resumed is None else int(resumed.state["generation"])
        self.written: float | None = None  # time.monotonic() of the last checkpoint
        self.position = 0
        self.segment_start = 0.0
        self.in_train = False

    def segment_started(self, segment: Segment, position: int, count: int) -> None:
        self.position = position + self.offset
        self.segment_start = self.runner.time if self.cut_start is None else self.cut_start
        self.cut_start = None
        self.in_train = segment.kind.startswith(("gitt", "sweep"))

    def step_accepted(self, record: StepRecord) -> None:
        if record.dt_s > 0.0 and self.recorder.last_fields_time == record.time_s and self._due():
            self.write(record)

    def _due(self) -> bool:
        """Whether the interval since the last checkpoint has passed (rank 0 decides for all)."""
        due = self.written is None or time.monotonic() - self.written >= INTERVAL_S
        return bool(self.comm.bcast(due, root=0)) if self.comm.size > 1 else due

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        if record.dt_s > 0.0:
            self.write(record)

    def write(self, record: StepRecord) -> None:
        """Store the state after ``record`` (skipped inside a GITT train or a voltage sweep)."""
        if self.in_train:
            return
        directory = self.recorder.out / CHECKPOINT
        writing(self.comm, lambda: directory.mkdir(exist_ok=True))
        generation = self.generation + 1
        error = None
        loop, levels = self.runner.checkpoint_state()
        arrays = {**_named("u", self.problem.state_arrays()), **_named("h", self.problem.checkpoint_state()),
                  **_named("i", levels)}
        try:
            np.savez(directory / arrays_name(self.comm.rank, generation), **arrays)
        except OSError as exc:
            error = output_error(exc)
        raise_if_any(self.comm, error)
        state = json.dumps({**self._state(record), "loop": loop, "generation": generation}, default=str)
        writing(self.comm, _publish, directory, state, generation)
        self.generation, self.written = generation, time.monotonic()

    def discard(self) -> None:
        """Remove the checkpoint once the protocol is done: a finished run does not resume (collective)."""
        writing(self.comm, _remove_flat, self.recorder.out / CHECKPOINT)

    def _state(self, record: StepRecord) -> dict[str, Any]:
        ended = any(e.terminal and e.scope == "step" for e in record.events)  # the next step starts now
        runner, recorder = self.runner, self.recorder
        return {
            "case_sha256": case_sha256(recorder.case), "ranks": self.comm.size, "time_s": record.time_s,
            "position": self.position + ended, "segment_start_s": record.time_s if ended else self.segment_start,
            "steps_accepted": runner.steps_accepted, "tries": runner.tries,
            "segment_log": runner.segment_log, "pending_snapshots": runner.pending_snapshots,
            "recorder": {name: getattr(recorder, name) for name in RECORDER_STATE},
            "series": {group: s.times for group, s in recorder.series.items()},
            "probe_rows": recorder.records * len(recorder.probe_names),
        }


def _named(prefix: str, arrays: list[np.ndarray]) -> dict[str, np.ndarray]:
    """``arrays`` as npz entries ``<prefix>0``, ``<prefix>1``, ..."""
    return {f"{prefix}{i}": a for i, a in enumerate(arrays)}


def _unnamed(arrays: Any, prefix: str) -> list[np.ndarray]:
    """The entries ``<prefix>0``, ``<prefix>1``, ... of an npz file, in order."""
    count = sum(1 for name in arrays.files if name[:1] == prefix and name[1:].isdigit())
    return [arrays[f"{prefix}{i}"] for i in range(count)]


def arrays_name(rank: int, generation: int) -> str:
    """File of one rank's arrays of one checkpoint generation."""
    return f"rank-{rank:05d}-{generation:06d}.npz"


def _publish(directory: Path, state: str, generation: int) -> None:
    """Rank 0: make ``generation`` the checkpoint (``state.json`` replaced atomically), then delete
    the arrays of the others."""
    atomic_write_text(directory / STATE_FILE, state)
    for old in directory.glob("rank-*.npz"):
        if not old.name.endswith(f"-{generation:06d}.npz"):
            old.unlink(missing_ok=True)


def _remove_flat(directory: Path) -> None:
    """Remove a directory of plain files (a checkpoint), if it is there."""
    for entry in directory.glob("*"):
        entry.unlink()
    with contextlib.suppress(FileNotFoundError):
        directory.rmdir()


@dataclass
class ResumePoint:
    """A checkpoint read back: its state and the path it was read from."""

    directory: Path
    state: dict[str, Any]

    @property
    def time_s(self) -> float:
        return float(self.state["time_s"])

    def remaining(self, steps: list[ProtocolStep]) -> list[ProtocolStep]:
        """The protocol steps still to run: the interrupted step, its time limits shortened by the
        time it already ran, then the steps after it."""
        position = int(self.state["position"])
        if position >= len(steps):
            return []
        elapsed = self.time_s - float(self.state["segment_start_s"])
        step = steps[position]
        segments = [replace(s, events=[replace(e, target=e.target - elapsed) if e.quantity == "time" else replace(e)
                                       for e in s.events]) for s in step.segments]
        return [replace(step, segments=segments), *steps[position + 1:]]

    def restore(self, problem: Any, recorder: Recorder, runner: ProtocolRunner, comm: MPI.Comm) -> None:
        """Put the checkpoint's unknowns and time history into ``problem`` (accepted), the time loop's
        state and counters into ``runner``, the tallies into ``recorder``, and cut the result files
        back to it (collective)."""
        state = self.state
        with np.load(self.directory / arrays_name(comm.rank, int(state["generation"]))) as arrays:
            problem.restore_state(_unnamed(arrays, "u"))
            problem.restore_checkpoint_state(_unnamed(arrays, "h"))
            levels = _unnamed(arrays, "i")
        runner.time = self.time_s
        runner.restore_checkpoint_state(state["loop"], levels)
        runner.steps_accepted, runner.tries = int(state["steps_accepted"]), int(state["tries"])
        runner.pending_snapshots = [float(d) for d in state["pending_snapshots"]]
        for name in RECORDER_STATE:
            setattr(recorder, name, state["recorder"][name])
        recorder.resumed_log = state["segment_log"]
        recorder.cut_start = float(state["segment_start_s"])
        writing(comm, _cut_files, recorder, state)


def _cut_files(recorder: Recorder, state: dict[str, Any]) -> None:
    """Rank 0: the result files as they were at the checkpoint."""
    out = recorder.out
    _keep_rows(out / "timeseries.csv", int(state["recorder"]["records"]))
    _keep_rows(out / "probes.csv", int(state["probe_rows"]))
    for group, series in recorder.series.items():
        _keep_series(series, [float(t) for t in state["series"].get(group, [])])
    kept = {s["name"] for s in state["recorder"]["snapshots"]}
    snapshots = out / "snapshots"
    for directory in snapshots.iterdir() if snapshots.is_dir() else []:
        if directory.name not in kept:
            shutil.rmtree(directory)


def _keep_rows(path: Path, rows: int) -> None:
    """Keep the header and the first ``rows`` rows of a CSV file."""
    with open(path, newline="", encoding="utf-8") as fh:
        lines = list(csv.reader(fh))[: rows + 1]
    text = io.StringIO()
    csv.writer(text).writerows(lines)
    path.write_text(text.getvalue(), encoding="utf-8")


def _keep_series(series: Any, times: list[float]) -> None:
    """Keep the first ``len(times)`` times of a field series (``.xdmf`` and ``.bin``) and let the
    series continue from there."""
    series.keep_first(times)


class ResumingRecorder(Recorder):
    """The recorder of a resumed run: it reopens the result files instead of creating them, and does
    not write the restored state again (it is the checkpoint's last row)."""

    resumed_log: list[dict[str, Any]]
    cut_start: float

    def start(self) -> None:
        self.timeseries = _Appending(self.out / "timeseries.csv", self.timeseries_columns, self.comm)
        self.probes = _Appending(self.out / "probes.csv", PROBE_COLUMNS, self.comm)
        self._restored = False

    def step_accepted(self, record: StepRecord) -> None:
        if self._restored:
            super().step_accepted(record)
            return
        self._restored = True
        self.problem.fields  # noqa: B018  (CellProblem refreshes its SI fields on access)
        if self.mechanics is not None:
            self._read_stresses()
        self.last = record

    def summary(self, status: str, reason: str | None, wall_time_s: float) -> dict[str, Any]:
        """summary.json, its ``protocol`` log joined to the interrupted run's (a segment that the
        interruption cut is one entry, with its original start)."""
        data = super().summary(status, reason, wall_time_s)
        after = data["protocol"]
        if after:
            after[0] = {**after[0], "start_s": self.cut_start}
        data["protocol"] = [*self.resumed_log, *after]
        return data


class _Appending(CsvWriter):
    """A CsvWriter that appends to its existing file (no header)."""

    def _open(self) -> None:
        self._file = open(self.path, "a", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._writer = csv.writer(self._file)


def resume_point(directory: Any, case: Any, comm: MPI.Comm) -> ResumePoint:
    """The checkpoint of the unfinished run in ``directory.partial``, checked against ``case`` and
    ``comm`` (collective; CaseError saying why a run cannot resume)."""
    return on_root(comm, _read_checkpoint, directory.partial, case, comm.size)


def _read_checkpoint(partial: Path, case: Any, ranks: int) -> ResumePoint:
    where = {"file": case.source_path, "key": "--resume"}
    state_file = partial / CHECKPOINT / STATE_FILE
    try:
        state = json.loads(state_file.read_text())
    except (OSError, ValueError):
        raise CaseError(f"cannot resume {partial}: it holds no checkpoint (the run stopped before its first field "
                        "output); run it again without --resume", **where) from None
    if state.get("case_sha256") != case_sha256(case):
        raise CaseError(f"cannot resume {partial}: the case changed since it ran (the checkpoint is of another "
                        "resolved case); run it again without --resume", **where)
    if not isinstance(state.get("loop"), dict):
        raise CaseError(f"cannot resume {partial}: its checkpoint was written by an older ecmx without the time "
                        "integrator's state; run it again without --resume", **where)
    if state.get("ranks") != ranks:
        raise CaseError(f"cannot resume {partial} on {ranks} MPI rank(s): it ran on {state.get('ranks')}, and each "
                        "rank stored its own part of the state", **where)
    return ResumePoint(partial / CHECKPOINT, state)




"""One progress display for runs, sweeps and comparisons, in terminals and in Jupyter.

A display has one bar per task (a run; a sweep's points; a comparison's cases, one bar each),
with its title, percentage, elapsed time, an estimate of the time left (ETA) and a state line
(``t=… V=… SOC=…`` for a run, the last finished point or case for a study). Two sibling
renderers draw it: :class:`_TerminalBars` (rich, where standard error is a terminal) and
:class:`_NotebookBars` (a text bar updated in place in a Jupyter notebook, through IPython's
display; no widgets needed). Elsewhere (a pipe, a log file, MPI ranks other than 0, or
``enabled=False``) nothing is drawn and only :meth:`ProgressDisplay.note` writes its line.

How far a run is: :class:`ProtocolProgress` measures each protocol step by the simulated time or
the charge it has passed, not by its voltage: a discharge to a voltage cut-off counts the state of
charge from where the step started to the end of the window (the cut-off normally comes near
it), a step to a state or depth of charge counts toward that state, and time limits, durations
and GITT trains count the time elapsed. The run's bar is (finished steps + fraction of this
step) / steps and never moves back. :class:`CasesProgress` gives each case of a comparison its
own bar, read from the ``timeseries.csv`` that the case's run is writing (the runs may be in
other processes).
"""

from __future__ import annotations

import contextlib
import csv
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from ecmx.solver.timeloop.protocol import Segment
from ecmx.solver.timeloop.runner import ProtocolRunner, StepRecord


def in_notebook() -> bool:
    """True inside a Jupyter kernel (IPython's ZMQ shell), where a terminal bar would not draw."""
    ipython = sys.modules.get("IPython")
    shell = getattr(ipython, "get_ipython", lambda: None)() if ipython is not None else None
    return type(shell).__name__ == "ZMQInteractiveShell"


class _TerminalBars:
    """rich progress bars on a terminal stream."""

    def __init__(self, stream: TextIO):
        from rich.console import Console
        from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

        self.progress = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn("{task.percentage:>3.0f}%"),
                                 TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                                 TextColumn("{task.fields[state]}"), console=Console(file=stream))
        self.progress.start()

    def add(self, title: str, total: float, completed: float) -> Any:
        return self.progress.add_task(title, total=total, completed=completed, state="")

    def update(self, task: Any, completed: float, title: str, state: str) -> None:
        self.progress.update(task, completed=completed, description=title, state=state)

    def print(self, line: str) -> None:
        self.progress.console.print(line, highlight=False, markup=False)

    def stop(self) -> None:
        self.progress.stop()


class _NotebookBars:
    """Text bars in a Jupyter notebook, one output updated in place (at most every 0.2 s)."""

    WIDTH = 30

    def __init__(self, stream: TextIO):
        from IPython.display import display

        self.started = time.monotonic()
        self.tasks: list[dict[str, Any]] = []
        self.handle = display({"text/plain": ""}, raw=True, display_id=True)
        self.shown = 0.0

    def add(self, title: str, total: float, completed: float) -> int:
        self.tasks.append({"title": title, "total": total, "completed": completed, "state": "",
                           "started": time.monotonic()})
        return len(self.tasks) - 1

    def update(self, task: int, completed: float, title: str, state: str) -> None:
        self.tasks[task].update(completed=completed, title=title, state=state)
        if time.monotonic() - self.shown >= 0.2:
            self._show()

    def _line(self, task: dict[str, Any]) -> str:
        fraction = min(max(task["completed"] / task["total"], 0.0), 1.0) if task["total"] else 0.0
        elapsed = time.monotonic() - task["started"]
        left = elapsed * (1.0 - fraction) / fraction if fraction > 0 else None
        bar = "#" * round(fraction * self.WIDTH)
        eta = "?" if left is None else _clock(left)
        return (f"{task['title']} [{bar:<{self.WIDTH}}] {100 * fraction:3.0f}% {_clock(elapsed)} ETA {eta} "
                f"{task['state']}")

    def _show(self) -> None:
        self.shown = time.monotonic()
        self.handle.update({"text/plain": "\n".join(self._line(t) for t in self.tasks)}, raw=True)

    def print(self, line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    def stop(self) -> None:
        self._show()


def _clock(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class ProgressDisplay:
    """Progress bars over units of work (a fraction 1.0 for a run, points for a sweep).

    Use it as a context manager; :meth:`update` moves the first bar, :meth:`advance` counts one
    finished item on it, :meth:`add_bar`/:meth:`update_bar` manage further bars.
    """

    def __init__(self, title: str, total: float, *, completed: float = 0.0, enabled: bool = True,
                 stream: TextIO | None = None):
        self.title = title
        self.total = total
        self.completed = completed
        self.state = ""
        self.stream = sys.stderr if stream is None else stream
        self.renderer: type[_TerminalBars] | type[_NotebookBars] | None = None
        if enabled:
            self.renderer = _TerminalBars if self.stream.isatty() else _NotebookBars if in_notebook() else None
        self.enabled = self.renderer is not None
        self._bars: _TerminalBars | _NotebookBars | None = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.renderer is not None:
            self._bars = self.renderer(self.stream)
            self._task = self._bars.add(self.title, self.total, self.completed)
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()
            self._bars = None

    def update(self, *, completed: float | None = None, title: str | None = None, state: str | None = None) -> None:
        """Move the first bar to ``completed`` and/or change its title or state line."""
        if completed is not None:
            self.completed = completed
        if title is not None:
            self.title = title
        if state is not None:
            self.state = state
        if self._bars is not None:
            self._bars.update(self._task, self.completed, self.title, self.state)

    def add_bar(self, title: str, total: float) -> Any:
        """A further bar (None when nothing is drawn)."""
        return None if self._bars is None else self._bars.add(title, total, 0.0)

    def update_bar(self, bar: Any, completed: float, title: str, state: str = "") -> None:
        if self._bars is not None and bar is not None:
            self._bars.update(bar, completed, title, state)

    def advance(self, state: str) -> None:
        """Count one finished item (a sweep point, a compared case) and show ``state``."""
        self.update(completed=self.completed + 1, state=f"{int(self.completed + 1)}/{int(self.total)} {state}")

    def note(self, line: str) -> None:
        """Write ``line`` to standard error (above the bars while they are drawn)."""
        if self._bars is not None:
            self._bars.print(line)
        else:
            print(line, file=self.stream, flush=True)


class ProtocolProgress:
    """How far a run is through its case's protocol, by simulated time or charge (see the module doc).

    Feed it the accepted states in order with :meth:`fraction`; a step that begins is noticed by its
    index changing, and its start (time, state of charge) is the state seen before it (the state
    where it began, when every state is seen).
    """

    def __init__(self, protocol: Sequence[Any]):
        self.protocol = list(protocol)
        self.step = 0
        self.start = (0.0, 0.0)
        self.previous: tuple[float, float] | None = None
        self.done = 0.0

    def fraction(self, step: int, time_s: float, state_of_charge: float) -> float:
        """Fraction 0..1 of the protocol done at this state (``step`` 1-based, 0 before the first)."""
        if step != self.step:
            self.step, self.start = step, self.previous or (time_s, state_of_charge)
        self.previous = (time_s, state_of_charge)
        if 1 <= step <= len(self.protocol):
            within = _step_fraction(self.protocol[step - 1], time_s - self.start[0], self.start[1], state_of_charge)
            self.done = max(self.done, (step - 1 + within) / len(self.protocol))
        return self.done


def _step_fraction(step: Any, elapsed_s: float, soc0: float, soc: float) -> float:
    """Fraction 0..1 of one protocol step: the furthest of its time and charge measures."""
    until = step.until
    times = [t for t in (until.time_limit, None if step.step == "gitt" else step.duration) if t]
    if step.step == "gitt" and step.repeat:
        times.append(step.repeat * (step.duration + step.rest_duration))
    if step.step == "voltage_sweep":  # about its length: the start voltage lies near the window
        times.append(2.0 * (step.cycles or 1) * abs(step.limits[1] - step.limits[0]) / step.rate)
    targets = [t for t in (until.state_of_charge, None if until.depth_of_discharge is None
                           else 1.0 - until.depth_of_discharge) if t is not None]
    kind = step.direction if step.step == "gitt" else step.step
    if until.voltage is not None and kind in ("discharge", "charge"):
        targets.append(0.0 if kind == "discharge" else 1.0)  # the cut-off comes near the end of the window
    measures = [elapsed_s / t for t in times]
    measures += [(soc - soc0) / (target - soc0) for target in targets if abs(target - soc0) > 1e-9]
    return min(max(max(measures, default=0.0), 0.0), 1.0)


class RunProgress:
    """Time-loop observer that shows a run's progress: its protocol step, t, V, SOC and dt.

    Args:
        runner: the protocol runner (for the number of steps).
        display: the display to drive (a run's: ``total`` 1.0).
        protocol: the case's protocol steps (``case.protocol``).
    """

    def __init__(self, runner: ProtocolRunner, display: ProgressDisplay, protocol: Sequence[Any] = ()):
        self.runner = runner
        self.display = display
        self.measure = ProtocolProgress(protocol)

    def segment_started(self, segment: Segment, position: int, count: int) -> None:
        self.display.update(title=f"step {segment.step_index}/{len(self.measure.protocol)} {segment.kind}")

    def step_accepted(self, record: StepRecord) -> None:
        q = record.quantities
        state = (f"t={record.time_s:9.4g} s  V={q['voltage_V']:.4f}  SOC={record.state_of_charge:.3f}  "
                 f"dt={record.dt_s:.3g} s")
        fraction = self.measure.fraction(record.step, record.time_s, record.state_of_charge)
        self.display.update(completed=fraction, state=state)

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        """Snapshots are not shown."""

    def finished(self) -> None:
        """Move the bar to the end when the protocol completed."""
        if self.runner.progress_fraction >= 1.0:
            self.display.update(completed=1.0)


class CasesProgress(ProgressDisplay):
    """A comparison's display: the overall bar over cases and one bar per case, which a background
    thread moves from the last row of the case's ``<case dir>.partial/timeseries.csv`` (every
    ``period`` seconds); :meth:`advance` with a case's name completes its bar."""

    def __init__(self, cases: Sequence[Any], case_dirs: Sequence[Path], *, enabled: bool = True,
                 period: float = 0.5, stream: TextIO | None = None):
        super().__init__("compare", len(cases), enabled=enabled, stream=stream)
        self.cases = {c.name: (c, Path(d)) for c, d in zip(cases, case_dirs, strict=True)}
        self.period = period
        self._case_bars: dict[str, Any] = {}
        self._measures = {name: ProtocolProgress(c.protocol) for name, (c, _) in self.cases.items()}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, name="ecmx-case-progress", daemon=True)

    def __enter__(self) -> CasesProgress:
        super().__enter__()
        if self._bars is not None:
            self._case_bars = {name: self.add_bar(f"  {name}", 1.0) for name in self.cases}
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)
        super().__exit__(*exc)

    def advance(self, state: str) -> None:
        if state in self._case_bars:
            self.update_bar(self._case_bars.pop(state), 1.0, f"  {state}", "done")
        super().advance(state)

    def _poll(self) -> None:
        while not self._stop.wait(self.period):
            for name, bar in list(self._case_bars.items()):
                directory = self.cases[name][1]
                rows = end_rows(directory.with_name(directory.name + ".partial") / "timeseries.csv")
                for row in rows if self._measures[name].previous is None else rows[-1:]:
                    self._show_case(name, bar, row)

    def _show_case(self, name: str, bar: Any, row: dict[str, str]) -> None:
        with contextlib.suppress(KeyError, ValueError):
            t, soc = float(row["time_s"]), float(row["state_of_charge"])
            fraction = self._measures[name].fraction(int(row["step"]), t, soc)
            self.update_bar(bar, fraction, f"  {name}", f"t={t:9.4g} s  V={float(row['voltage_V']):.4f}  SOC={soc:.3f}")


def end_rows(path: Path, tail_bytes: int = 8192) -> list[dict[str, str]]:
    """The first and the last complete rows of a CSV file that is being appended to (none when it is
    missing or has no complete row; a last line still being written is skipped)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(tail_bytes).decode("utf-8", "replace")
            fh.seek(max(0, fh.seek(0, 2) - tail_bytes))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return []
    head_lines, tail_lines = head.split("\n")[:-1], tail.split("\n")[:-1]  # the piece after the last newline is cut
    if len(head_lines) < 2:
        return []
    names = next(csv.reader([head_lines[0]]))
    rows = [next(csv.reader([line])) for line in (head_lines[1], tail_lines[-1])]
    return [dict(zip(names, values, strict=True)) for values in rows if len(values) == len(names)]

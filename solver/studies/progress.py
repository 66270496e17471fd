"""One progress display for runs, sweeps and comparisons.

A rich progress bar on standard error: a title, the bar, the percentage, the elapsed time and a
state line (``t=… V=… SOC=…`` for a run, the last finished point or case for a study). It is drawn
only where it was asked for (``enabled``; callers pass False on MPI ranks other than 0) and where
standard error is a terminal; otherwise every call does nothing but :meth:`ProgressDisplay.note`,
which writes its line to standard error either way (above the bar on a terminal).

:class:`RunProgress` is the time-loop observer that drives a display over a run's protocol.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO

from ecmx.solver.timeloop.protocol import Segment
from ecmx.solver.timeloop.runner import ProtocolRunner, StepRecord


class ProgressDisplay:
    """A progress bar over ``total`` units of work (a fraction 1.0 for a run, points for a sweep).

    Use it as a context manager; :meth:`update` moves it, :meth:`advance` counts one finished item.
    """

    def __init__(self, title: str, total: float, *, completed: float = 0.0, enabled: bool = True,
                 stream: TextIO | None = None):
        self.title = title
        self.total = total
        self.completed = completed
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled and self.stream.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.percentage:>3.0f}%"), TimeElapsedColumn(),
                                      TextColumn("{task.fields[state]}"), console=Console(file=self.stream))
            self._progress.start()
            self._task = self._progress.add_task(self.title, total=self.total, completed=self.completed, state="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def update(self, *, completed: float | None = None, title: str | None = None, state: str | None = None) -> None:
        """Move the bar to ``completed`` and/or change its title or state line."""
        if completed is not None:
            self.completed = completed
        if title is not None:
            self.title = title
        if self._progress is not None:
            fields = {} if state is None else {"state": state}
            self._progress.update(self._task, completed=self.completed, description=self.title, **fields)

    def advance(self, state: str) -> None:
        """Count one finished item (a sweep point, a compared case) and show ``state``."""
        self.update(completed=self.completed + 1, state=f"{int(self.completed + 1)}/{int(self.total)} {state}")

    def note(self, line: str) -> None:
        """Write ``line`` to standard error (above the bar while it is drawn)."""
        if self._progress is not None:
            self._progress.console.print(line, highlight=False, markup=False)
        else:
            print(line, file=self.stream, flush=True)


class RunProgress:
    """Time-loop observer that shows a run's progress: the protocol step, and t, V, SOC and dt.

    Args:
        runner: the protocol runner (its ``progress_fraction`` is the bar's position).
        display: the display to drive (a run's: ``total`` 1.0).
    """

    def __init__(self, runner: ProtocolRunner, display: ProgressDisplay):
        self.runner = runner
        self.display = display

    def segment_started(self, segment: Segment, position: int, count: int) -> None:
        self.display.update(title=f"step {position + 1}/{count} {segment.kind}")

    def step_accepted(self, record: StepRecord) -> None:
        q = record.quantities
        state = (f"t={record.time_s:9.4g} s  V={q['voltage_V']:.4f}  SOC={record.state_of_charge:.3f}  "
                 f"dt={record.dt_s:.3g} s")
        self.display.update(completed=self.runner.progress_fraction, state=state)

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        """Snapshots are not shown."""

    def finished(self) -> None:
        """Move the bar to where the runner stopped."""
        self.display.update(completed=self.runner.progress_fraction)

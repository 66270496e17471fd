"""Rows at requested times (``output.times``), interpolated between the integrator's accepted steps.

``timeseries_times.csv`` has the columns of ``timeseries.csv``; each row is the interpolant (the
quadratic through the segment's last three accepted steps, the scheme's dense output, linear right
after a restart) of every numeric column at a requested time. ``step`` is the protocol step,
``dt_s`` and ``newton_iterations`` those of the accepted step that covers the time, and
``na_balance_error`` is empty (a balance belongs to a step). ``current_A`` and ``voltage_V`` in the
first step after a control change are the step's end values (the level before the change belongs
to the other control). A requested time at a control change gets the row of the step that ends
there. Times in seconds from the start of the run.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

from ecmx.solver.errors import SolveError
from ecmx.solver.timeloop.integrators import dense_output

STEP_COLUMNS = ("step", "newton_iterations", "dt_s")  # of the covering step, not interpolated
EMPTY_COLUMNS = ("na_balance_error",)
JUMPING_COLUMNS = ("current_A", "voltage_V")  # jump at a control change


def requested_times(times: Any) -> Iterator[float]:
    """The requested times in increasing order: a list of times, or ``every`` s from 0."""
    if times is None:
        return iter(())
    if hasattr(times, "every"):
        return (k * float(times.every) for k in itertools.count())
    return iter(sorted(float(t) for t in times))


class TimesOutput:
    """Interpolated rows at requested times from the accepted-step rows of ``timeseries.csv``.

    Args:
        times: ``output.times`` (a list, an interval or None).
        max_rows: the most rows to write; more stops the run (SolveError).
    """

    def __init__(self, times: Any, max_rows: int):
        self._times = requested_times(times)
        self._next = next(self._times, None)
        self._levels: list[dict[str, Any]] = []  # the segment's accepted rows, newest last
        self._max_rows = max_rows
        self._restarted = False
        self.rows_written = 0

    def restart(self) -> None:
        """A segment starts: keep only the last level (its end state)."""
        self._levels = self._levels[-1:]
        self._restarted = True

    def rows(self, row: dict[str, Any]) -> list[dict[str, Any]]:
        """Add an accepted step's (or the initial state's) row; returns the rows due up to its time."""
        first_after_restart = self._restarted and len(self._levels) == 1
        self._levels = [*self._levels[-2:], dict(row)]
        self._restarted = False
        due = []
        while self._next is not None and self._next <= row["time_s"] * (1.0 + 1e-12):
            due.append(self._row_at(self._next, row, first_after_restart))
            self._next = next(self._times, None)
        self.rows_written += len(due)
        if self.rows_written > self._max_rows:
            raise SolveError(f"output.times asks for more than {self._max_rows:,} rows; ask for fewer times")
        return due

    @staticmethod
    def _held(key: str, value: Any, levels: int, first_after_restart: bool) -> bool:
        """Whether a column takes the covering step's value instead of the interpolant."""
        if key in STEP_COLUMNS or value is None or levels == 1:
            return True
        return key in JUMPING_COLUMNS and first_after_restart

    def _row_at(self, t: float, row: dict[str, Any], first_after_restart: bool) -> dict[str, Any]:
        levels = list(reversed(self._levels))  # newest first
        times = [level["time_s"] for level in levels]
        out: dict[str, Any] = {"time_s": t}
        for key, value in row.items():
            if key == "time_s":
                continue
            if key in EMPTY_COLUMNS:
                out[key] = None
            elif self._held(key, value, len(levels), first_after_restart):
                out[key] = value
            else:
                values = list(itertools.takewhile(lambda v: v is not None, (level.get(key) for level in levels)))
                out[key] = dense_output(times[: len(values)], values, t) if len(values) > 1 else value
        return out

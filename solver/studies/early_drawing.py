"""The comparison's figures drawn while its last runs still run.

The figures, tables and report of a comparison (:func:`ecmx.postprocess.report.draw_comparison`)
read the comparison's own runs; only ``sensitivity.csv``, its figure and the report need the
sensitivity runs too, which the worker pool runs last (they are the cheapest). :class:`EarlyDrawing`
is told each run's outcome; once every one of the comparison's own runs has finished it reads them
and submits the figure jobs to the pool (:class:`~ecmx.solver.studies.job_queue.PriorityPool`:
ahead of the sensitivity runs still waiting), into a staging directory of the comparison directory
(:func:`~ecmx.solver.studies.study_dir.staged_outputs`) that the post-processing then completes and
publishes. The files are the same as when everything is drawn after the last run.

Why the figures wait for all of the comparison's own runs rather than each for its own case: every
figure is one file over all of them (shared colour scales, one axis per quantity, one row per
case), so none can be written before the last. Only parts are per case (a case's 3D renders, its
slices); drawing those early would move work, not remove it, and with the runs started longest
first (:mod:`ecmx.solver.studies.schedule`) the workers are never idle while runs wait, so it would
not end the comparison sooner.

Leaving the ``with`` block removes the staging directory (what was published has left it); leave
the worker pool's block first, so that no figure job still writes there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any

from ecmx.solver.studies.study_dir import staged_outputs


class EarlyDrawing:
    """Starts the figures of the comparison in ``directory`` once the runs ``names`` have finished.

    ``manifest`` makes the ``comparison.json`` record of the outcomes so far (the drawing reads the
    cases and the depths of discharge from it). Set :attr:`pool` to the comparison's worker pool;
    without one nothing starts early.
    """

    def __init__(self, directory: Path, names: Sequence[str], manifest: Callable[[Sequence[Any]], dict[str, Any]]):
        self.directory = Path(directory)
        self.pool: Any = None
        self.staging: Path | None = None
        self.begun: Any = None
        """What :func:`ecmx.postprocess.report.begin_comparison` returned (None: nothing started)."""
        self.error: Exception | None = None
        """Why the early start failed (the post-processing reports it)."""
        self._waiting = set(names)
        self._outcomes: list[Any] = []
        self._manifest = manifest
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> EarlyDrawing:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self._stack.close()

    def note(self, outcome: Any) -> None:
        """A run finished (``outcome.name``); the last of the comparison's own runs starts the figures."""
        self._outcomes.append(outcome)
        self._waiting.discard(outcome.name)
        if self._waiting or self.pool is None or self.staging is not None or self.error is not None:
            return
        from ecmx.postprocess import report

        try:
            self.staging = self._stack.enter_context(staged_outputs(self.directory))
            self.begun = report.begin_comparison(self.directory, self.staging, self._manifest(self._outcomes), self.pool)
        except Exception as exc:  # reported by the post-processing, after the other runs
            self.error = exc

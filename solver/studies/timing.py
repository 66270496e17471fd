"""Where a run's wall time goes: wall and CPU seconds per phase, for ``summary.json`` ``timing``.

A :class:`PhaseClock` is made when a run starts; the run driver (:mod:`ecmx.solver.studies.run`)
times its own phases with :meth:`PhaseClock.phase` and hooks it onto the methods that do the work
with :meth:`PhaseClock.wrap` (an instance attribute in front of the bound method, so the objects
themselves know nothing of it). Phases may nest (``recording`` holds ``fields`` and ``probes``; the
``time_loop`` holds everything after set-up); each phase's seconds include its nested phases.

``summary.json`` gets ``timing = {"started_unix_s", "pid", "phases": {name: {"wall_s", "cpu_s",
"calls"}}}``: the start as a Unix time [s] and the worker's process id lay out a comparison's runs
on a time line per worker (bench/bench_compare.py); CPU seconds are this process's, so they hold
on a busy machine where wall seconds do not.
"""

from __future__ import annotations

import contextlib
import functools
import os
import time
from collections.abc import Callable, Iterator
from typing import Any


class PhaseClock:
    """Wall and CPU seconds [s] and call counts per named phase of one run (one process)."""

    def __init__(self) -> None:
        self.started_unix_s = time.time()
        self._phases: dict[str, list[float]] = {}  # name -> [wall s, cpu s, calls]

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Count the block's wall and CPU seconds to ``name`` (also when it raises)."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            entry = self._phases.setdefault(name, [0.0, 0.0, 0])
            entry[0] += time.perf_counter() - wall
            entry[1] += time.process_time() - cpu
            entry[2] += 1

    def wrap(self, obj: Any, method: str, name: str) -> None:
        """Time every later call of ``obj.<method>`` as phase ``name`` (None or a missing method: nothing)."""
        original = getattr(obj, method, None) if obj is not None else None
        if original is None:
            return

        @functools.wraps(original)
        def timed(*args: Any, **kwargs: Any) -> Any:
            with self.phase(name):
                return original(*args, **kwargs)

        setattr(obj, method, timed)

    @contextlib.contextmanager
    def patched(self, module: Any, function: str, name: str) -> Iterator[None]:
        """Time ``module.<function>`` as phase ``name`` inside the block (restored afterwards)."""
        original: Callable[..., Any] = getattr(module, function)
        self.wrap(module, function, name)
        try:
            yield
        finally:
            setattr(module, function, original)

    def summary(self) -> dict[str, Any]:
        """``summary.json`` ``timing``: start [Unix s], process id and the phases (seconds rounded to µs)."""
        phases = {name: {"wall_s": round(w, 6), "cpu_s": round(c, 6), "calls": int(n)}
                  for name, (w, c, n) in self._phases.items()}
        return {"started_unix_s": self.started_unix_s, "pid": os.getpid(), "phases": phases}

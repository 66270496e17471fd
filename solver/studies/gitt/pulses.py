"""A GITT record (time, current, voltage) and its pulses: segmentation at the current edges.

Sign convention: the file's own (ecmx: current > 0 charges the cathode, i.e. extracts Na). A sample
is *on* when |I| exceeds half the pulse amplitude (the 95th percentile of |I|), so noise well below
the pulse current does not split or merge pulses; a pulse is a run of consecutive on samples of one
sign. Times:

- the pulse starts at the last off sample before its first on sample (ecmx writes a row at the
  edge; for a logger this is at most one sample interval early) and ends at its last on sample;
- the relaxed level before a pulse is the voltage of that last off sample, the relaxed level after
  it the voltage of the last off sample before the next pulse (or of the record's end).

Numpy only: no DOLFINx.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ecmx.solver.errors import CaseError

ON_FRACTION = 0.5
"""A sample is on when |I| > ON_FRACTION × the pulse amplitude."""

MIN_PULSE_SAMPLES = 3
"""Fewest on samples of a pulse (shorter runs are logger glitches and are ignored)."""


@dataclass(frozen=True)
class Record:
    """A GITT record in SI: time [s], current [A], voltage [V], from ``source``."""

    source: Path
    time: np.ndarray
    current: np.ndarray
    voltage: np.ndarray


@dataclass(frozen=True)
class Pulse:
    """One current pulse and the rest after it, as sample indices into the :class:`Record`.

    ``before`` is the last off sample before the pulse (its start and relaxed level), ``first`` and
    ``last`` the first and last on samples, ``rest_end`` the last off sample of the rest after it.
    """

    index: int
    before: int
    first: int
    last: int
    rest_end: int

    def duration(self, record: Record) -> float:
        """The pulse length τ [s]."""
        return float(record.time[self.last] - record.time[self.before])

    def current(self, record: Record) -> float:
        """The pulse current [A], the time average over the pulse."""
        return self.charge(record) / self.duration(record)

    def charge(self, record: Record) -> float:
        """The charge passed in the pulse [C] (trapezoids from the start; the edge counts as on)."""
        t = record.time[self.before:self.last + 1]
        i = record.current[self.before:self.last + 1].copy()
        i[0] = i[1]
        return float(np.sum(0.5 * (i[1:] + i[:-1]) * np.diff(t)))

    def pulse_samples(self) -> slice:
        return slice(self.first, self.last + 1)

    def rest_samples(self) -> slice:
        return slice(self.last + 1, self.rest_end + 1)


def find_pulses(record: Record) -> list[Pulse]:
    """The pulses of ``record`` (see the module docstring); CaseError naming the file when none is found
    or a pulse has no rest sample before or after it."""
    magnitude = np.abs(record.current)
    amplitude = float(np.percentile(magnitude, 95)) if magnitude.size else 0.0
    if not amplitude > 0.0:
        raise CaseError("no current pulse found: the current column is zero throughout", file=record.source,
                        key="current")
    on = np.where(magnitude > ON_FRACTION * amplitude, np.sign(record.current), 0.0)
    edges = np.flatnonzero(np.diff(on) != 0) + 1
    runs = [(a, b - 1) for a, b in zip(np.r_[0, edges], np.r_[edges, on.size], strict=True)
            if on[a] != 0 and b - a >= MIN_PULSE_SAMPLES]
    if not runs:
        raise CaseError(f"no current pulse of at least {MIN_PULSE_SAMPLES} samples found", file=record.source,
                        key="current")
    pulses = []
    for k, (first, last) in enumerate(runs):
        next_first = runs[k + 1][0] if k + 1 < len(runs) else on.size
        rest_end = next_first - 1
        if first == 0 or rest_end - last < MIN_PULSE_SAMPLES:
            raise CaseError(
                f"pulse {k + 1} (t = {record.time[first]:g} s) needs a rest of at least {MIN_PULSE_SAMPLES} samples "
                "at zero current before and after it: expected a GITT record (pulse, rest, pulse, ...)",
                file=record.source, key="current")
        pulses.append(Pulse(k, first - 1, first, last, rest_end))
    return pulses

"""Observers of the time loop composed in order (e.g. the chemo-mechanical coupling, then the recorder)."""

from __future__ import annotations

from ecmx.solver.timeloop.protocol import Segment
from ecmx.solver.timeloop.runner import Observer, StepRecord


class ObserverChain:
    """One observer that tells each of ``observers`` in turn (``None`` entries are skipped)."""

    def __init__(self, *observers: Observer | None):
        self.observers: list[Observer] = [o for o in observers if o is not None]

    def segment_started(self, segment: Segment, index: int, count: int) -> None:
        for observer in self.observers:
            observer.segment_started(segment, index, count)

    def step_accepted(self, record: StepRecord) -> None:
        for observer in self.observers:
            observer.step_accepted(record)

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        for observer in self.observers:
            observer.snapshot(depth_of_discharge, record)

"""Operating protocols: case protocol steps as control segments, `until` events, and the time loop.

A protocol step of the case (``discharge``, ``charge``, ``hold``, ``rest``, ``gitt``) becomes one or
more :class:`Segment` s, each with one control (a current in A, or a cell voltage in V) and the events
that end it. A ``gitt`` step becomes ``repeat`` pulse/rest pairs; its ``until`` events end the whole
train. Sign convention (MODEL.md): current > 0 is charge (Na extraction), < 0 is discharge.

Events (the first one reached ends the step):
  ``voltage`` [V], ``state_of_charge``, ``depth_of_discharge``, ``time``/``duration`` [s, elapsed in
  the step] and ``c_rate`` (|I| falling to it, for holds). SOC = (θ_hi − θ_mean)/(θ_hi − θ_lo),
  DOD = 1 − SOC.

Landing on events: time events, and SOC/DOD events under current control, are linear in time, so the
step that reaches them is computed exactly. Voltage and C-rate events (and SOC/DOD under voltage
control) are found by rejecting a step that overshoots and retrying with a step from a safeguarded
secant (Illinois) on the event's distance, until the value lies within the event tolerance
(0.1 mV for voltage, 1e-3 relative for C-rate). Snapshot depths of discharge are non-terminal events
landed on in the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.timeloop.stepping import StepController
from ecmx.solver.units import F

log = logging.getLogger(__name__)

VOLTAGE_TOLERANCE = 1e-4  # V
C_RATE_RELATIVE_TOLERANCE = 1e-3
STATE_TOLERANCE = 1e-7  # SOC/DOD, absolute
TIME_RELATIVE_TOLERANCE = 1e-9
MAX_TRIES_PER_STEP = 80

Quantity = Literal["voltage", "state_of_charge", "depth_of_discharge", "time", "c_rate"]
# Quantities that jump when the control switches (their value before a segment says nothing about
# its first step) and that are not linear in time.
_JUMPING = ("voltage", "c_rate")


@dataclass(frozen=True)
class Control:
    """A control held for a segment: ``"current"`` [A, > 0 charge] or ``"voltage"`` [V]."""

    mode: Literal["current", "voltage"]
    value: float


@dataclass
class Event:
    """A condition that ends a segment (``terminal``) or marks a state to snapshot.

    ``direction`` is +1 when the event is reached as the quantity rises to ``target``, -1 as it
    falls, 0 when it is decided by which side the quantity is on when the segment starts.
    ``scope`` says what a terminal event ends: the ``"segment"`` only (a GITT pulse duration) or the
    whole protocol ``"step"``. ``clock`` is the time an event of quantity ``time`` measures.
    """

    quantity: Quantity
    target: float
    direction: int
    terminal: bool = True
    scope: Literal["segment", "step"] = "step"
    clock: Literal["segment", "step"] = "step"
    label: str = ""

    @property
    def tolerance(self) -> float:
        if self.quantity == "voltage":
            return VOLTAGE_TOLERANCE
        if self.quantity == "c_rate":
            return C_RATE_RELATIVE_TOLERANCE * abs(self.target)
        if self.quantity == "time":
            return TIME_RELATIVE_TOLERANCE * max(abs(self.target), 1.0)
        return STATE_TOLERANCE

    def distance(self, value: float) -> float:
        """Signed distance to the event: > 0 before it, <= 0 once reached or passed."""
        return self.direction * (self.target - value)

    def describe(self) -> str:
        return self.label or f"{self.quantity} {self.target:g}"


@dataclass
class Segment:
    """One control held until one of its terminal events.

    Attributes:
        step_index: 1-based index of the protocol step in the case.
        kind: ``discharge``, ``charge``, ``hold``, ``rest``, ``gitt-pulse`` or ``gitt-rest``.
        control: the control held.
        events: terminal events (snapshot events are added while running).
    """

    step_index: int
    kind: str
    control: Control
    events: list[Event] = field(default_factory=list)

    @property
    def label(self) -> str:
        if self.control.mode == "current":
            return f"step {self.step_index}: {self.kind} at {self.control.value:.4g} A"
        return f"step {self.step_index}: {self.kind} at {self.control.value:.4g} V"


@dataclass
class ProtocolStep:
    """A protocol step of the case as the segments it repeats.

    ``repeat`` is how many times ``segments`` run in turn (None: until one of the step's events; a
    GITT train without ``repeat``). A terminal event of scope ``"step"`` ends the whole step.
    """

    index: int
    kind: str
    segments: list[Segment]
    repeat: int | None = 1


def step_current(step: Any, capacity_C: float, particle_area_m2: float) -> float:
    """Magnitude of the current [A] a step asks for (``c_rate``, ``current_density`` or ``current``)."""
    if step.c_rate is not None:
        return abs(float(step.c_rate)) * capacity_C / 3600.0
    if step.current_density is not None:
        return abs(float(step.current_density)) * particle_area_m2
    return abs(float(step.current))


def _until_events(until: Any, kind: str) -> list[Event]:
    """Terminal events of a step's ``until`` block; ``kind`` (discharge/charge/other) sets directions."""
    falling = {"discharge": -1, "charge": +1}  # voltage and SOC fall on discharge, rise on charge
    events: list[Event] = []
    if until.voltage is not None:
        events.append(Event("voltage", until.voltage, falling.get(kind, 0), label=f"voltage {until.voltage:g} V"))
    if until.state_of_charge is not None:
        soc = until.state_of_charge
        events.append(Event("state_of_charge", soc, falling.get(kind, 0), label=f"SOC {soc:g}"))
    if until.depth_of_discharge is not None:
        dod = until.depth_of_discharge
        events.append(Event("depth_of_discharge", dod, -falling.get(kind, 0), label=f"DOD {dod:g}"))
    if until.time_limit is not None:
        events.append(Event("time", until.time_limit, +1, label=f"time {until.time_limit:g} s"))
    if until.c_rate is not None:
        events.append(Event("c_rate", until.c_rate, -1, label=f"C-rate {until.c_rate:g}"))
    return events


def build_protocol(protocol: Sequence[Any], capacity_C: float, particle_area_m2: float) -> list[ProtocolStep]:
    """Turn the case's (validated) protocol steps into control segments.

    Args:
        protocol: the case's ``protocol`` (:class:`ecmx.solver.config.Step` objects).
        capacity_C: charge [C] of the usable stoichiometry window of all particles (1C = capacity/3600 s).
        particle_area_m2: total particle surface area [m²] (for ``current_density``).
    """
    steps: list[ProtocolStep] = []
    for index, step in enumerate(protocol, start=1):
        kind = step.step
        duration = None
        if step.duration is not None and kind != "gitt":
            duration = Event("time", float(step.duration), +1, label=f"duration {step.duration:g} s")
        if kind in ("discharge", "charge"):
            events = _until_events(step.until, kind) + ([duration] if duration else [])
            current = step.sign * step_current(step, capacity_C, particle_area_m2)
            steps.append(ProtocolStep(index, kind, [Segment(index, kind, Control("current", current), events)]))
        elif kind == "hold":
            events = _until_events(step.until, kind) + ([duration] if duration else [])
            steps.append(ProtocolStep(index, kind, [Segment(index, kind, Control("voltage", float(step.voltage)), events)]))
        elif kind == "rest":
            events = _until_events(step.until, kind) + ([duration] if duration else [])
            steps.append(ProtocolStep(index, kind, [Segment(index, kind, Control("current", 0.0), events)]))
        elif kind == "gitt":
            steps.append(_gitt(step, index, capacity_C, particle_area_m2))
        else:
            raise CaseError(f"unknown protocol step {kind!r} (discharge, charge, hold, rest, gitt)",
                            key=f"protocol.{index - 1}.step")
    return steps


def _gitt(step: Any, index: int, capacity_C: float, particle_area_m2: float) -> ProtocolStep:
    """GITT: a current pulse of ``duration``, then a rest of ``rest_duration``, ``repeat`` times.

    The pulse direction is ``step.direction``. The step's ``until`` events end the whole train; they
    are checked in pulses and rests alike (a voltage limit keeps its pulse direction).
    """
    current = step.sign * step_current(step, capacity_C, particle_area_m2)
    until = _until_events(step.until, step.direction)
    pulse = Segment(index, "gitt-pulse", Control("current", current), [
        Event("time", float(step.duration), +1, scope="segment", clock="segment", label="pulse end"), *until])
    rest = Segment(index, "gitt-rest", Control("current", 0.0), [
        Event("time", float(step.rest_duration), +1, scope="segment", clock="segment", label="rest end"),
        *[replace(e) for e in until]])
    return ProtocolStep(index, "gitt", [pulse, rest], step.repeat)


class SteppableProblem(Protocol):
    """The part of :class:`~ecmx.solver.fem.cell_problem.CellProblem` the time loop drives."""

    def set_control(self, mode: str, value: float) -> None: ...
    def try_step(self, dt: float) -> Any: ...
    def accept(self) -> None: ...
    def reject(self) -> None: ...
    def quantities(self) -> dict[str, float]: ...


@dataclass
class StepRecord:
    """One accepted step (or the initial state): the values of a timeseries.csv row.

    ``step`` is the 1-based protocol step index (0 for the initial state); ``segment`` the segment.
    """

    time_s: float
    step: int
    segment: Segment | None
    quantities: dict[str, float]
    state_of_charge: float
    depth_of_discharge: float
    na_balance_error: float
    newton_iterations: int
    dt_s: float
    events: list[Event] = field(default_factory=list)


class Observer(Protocol):
    """Receives what the time loop does (writers, progress bar, mechanics)."""

    def segment_started(self, segment: Segment, index: int, count: int) -> None: ...
    def step_accepted(self, record: StepRecord) -> None: ...
    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None: ...


@dataclass
class _Sample:
    dt: float
    distances: dict[int, float]


class ProtocolRunner:
    """Runs protocol steps on a problem with adaptive steps, landing on events and snapshot states.

    Args:
        problem: the coupled problem, at its initial state.
        steps: from :func:`build_protocol`.
        controller: the step-size controller.
        capacity_C: usable capacity [C] (C-rate and SOC).
        stoichiometry_window: (θ_lo, θ_hi) of the material.
        snapshot_dods: depths of discharge at which ``observer.snapshot`` is called (each once, the
            first time the state passes it).
        observer: receives segment starts, accepted steps and snapshots.
        max_steps: the step-count guard: a run that needs more accepted steps stops with a
            SolveError (``solver.max_steps``); None for no limit.
        guard: called before every try of a step, on every rank; it stops the run by raising
            (e.g. a Ctrl-C that the MPI ranks agreed on).
    """

    def __init__(self, problem: SteppableProblem, steps: Sequence[ProtocolStep], controller: StepController, *,
                 capacity_C: float, stoichiometry_window: tuple[float, float],
                 snapshot_dods: Sequence[float] = (), observer: Observer | None = None,
                 max_steps: int | None = None, guard: Callable[[], None] | None = None):
        self.problem = problem
        self.steps = list(steps)
        self.controller = controller
        self.capacity_C = float(capacity_C)
        self.theta_lo, self.theta_hi = (float(v) for v in stoichiometry_window)
        self.pending_snapshots = sorted(float(d) for d in snapshot_dods)
        self.observer = observer
        self.max_steps = max_steps
        self.guard = guard
        self.time = 0.0
        self.steps_accepted = 0
        self.tries = 0
        self.current_segment: Segment | None = None
        self.progress_fraction = 0.0
        self.last: StepRecord | None = None
        self._step_position = 0
        self._start_values: dict[int, float] = {}
        self.segment_log: list[dict[str, Any]] = []

    # -- derived quantities ------------------------------------------------------------------
    def state_of_charge(self, q: dict[str, float]) -> float:
        return (self.theta_hi - q["theta_mean"]) / (self.theta_hi - self.theta_lo)

    def _value(self, event: Event, q: dict[str, float], t_segment: float, t_step: float) -> float:
        if event.quantity == "voltage":
            return q["voltage_V"]
        if event.quantity == "state_of_charge":
            return self.state_of_charge(q)
        if event.quantity == "depth_of_discharge":
            return 1.0 - self.state_of_charge(q)
        if event.quantity == "c_rate":
            return abs(q["current_A"]) / (self.capacity_C / 3600.0)
        return t_segment if event.clock == "segment" else t_step

    def _rate(self, event: Event, control: Control) -> float | None:
        """d(value)/dt of an event linear in time under ``control``; None when not linear."""
        if event.quantity == "time":
            return 1.0
        if control.mode == "current" and event.quantity in ("state_of_charge", "depth_of_discharge"):
            rate = control.value / self.capacity_C
            return rate if event.quantity == "state_of_charge" else -rate
        return None

    def record(self, q: dict[str, float], segment: Segment | None, q_old: dict[str, float] | None,
               dt: float, newton_iterations: int, events: list[Event]) -> StepRecord:
        """The record of the current state.

        The Na balance error compares the change of the Na content over the step with the Na that
        entered at the counter electrode, −I dt/F (backward Euler: I of the new state), normalised by
        |I dt/F|, or by the Na content when no current flows.
        """
        soc = self.state_of_charge(q)
        error = 0.0
        if q_old is not None and dt > 0.0:
            passed = -q["current_A"] * dt / F
            scale = abs(passed) if passed != 0.0 else abs(q_old["na_total_mol"])
            change = q["na_total_mol"] - q_old["na_total_mol"]
            error = (change - passed) / max(scale, 1e-300)
        return StepRecord(self.time, segment.step_index if segment else 0, segment, dict(q), soc, 1.0 - soc,
                          error, newton_iterations, dt, list(events))

    # -- running -------------------------------------------------------------------------------
    def run(self) -> None:
        """Run all protocol steps.

        Raises:
            SolveError: a step failed at the minimum time step, or an event could not be landed on.
        """
        q = self.problem.quantities()
        self.last = self.record(q, None, None, 0.0, 0, [])
        if self.observer:
            self.observer.step_accepted(self.last)
        for dod in list(self.pending_snapshots):
            if abs(self.last.depth_of_discharge - dod) <= STATE_TOLERANCE:
                self._snapshot(dod)
        for position, step in enumerate(self.steps):
            self._step_position = position
            self.progress_fraction = position / len(self.steps)
            step_start = self.time
            cycle = 0
            done = False
            while not done and (step.repeat is None or cycle < step.repeat):
                for segment in step.segments:
                    segment_start = self.time
                    ended_by = self._run_segment(segment, step_start)
                    self.segment_log.append({
                        "step": segment.step_index, "kind": segment.kind, "control": segment.control.mode,
                        "value": segment.control.value, "start_s": segment_start, "end_s": self.time,
                        "ended_by": ended_by.describe() if ended_by else None})
                    if ended_by is not None and ended_by.scope == "step":
                        done = True
                        break
                cycle += 1
        self.progress_fraction = 1.0

    def _snapshot(self, dod: float) -> None:
        self.pending_snapshots.remove(dod)
        if self.observer:
            self.observer.snapshot(dod, self.last)

    def _run_segment(self, segment: Segment, step_start: float) -> Event | None:
        """Hold the segment's control until a terminal event; returns that event."""
        self.current_segment = segment
        if self.observer:
            self.observer.segment_started(segment, self._step_position, len(self.steps))
        self.problem.set_control(segment.control.mode, segment.control.value)
        log.info("%s until %s", segment.label, " or ".join(e.describe() for e in segment.events))
        segment_start = self.time
        q0 = self.last.quantities
        events = [replace(e) for e in segment.events]
        dod0 = self.last.depth_of_discharge
        for dod in [d for d in self.pending_snapshots if abs(d - dod0) <= STATE_TOLERANCE]:
            self._snapshot(dod)
        for dod in self.pending_snapshots:
            events.append(Event("depth_of_discharge", dod, +1 if dod > dod0 else -1, terminal=False,
                                label=f"snapshot DOD {dod:g}"))
        self._start_values = {id(e): self._value(e, q0, 0.0, self.time - step_start) for e in events}
        for e in events:
            if e.direction == 0 and e.quantity not in _JUMPING:
                e.direction = 1 if e.target > self._start_values[id(e)] else -1
        for e in events:
            if e.terminal and e.quantity not in _JUMPING and e.distance(self._start_values[id(e)]) <= e.tolerance:
                log.info("%s: %s already reached at its start", segment.label, e.describe())
                return e
        first = True
        while True:
            reached = self._advance(segment, events, segment_start, step_start, first)
            first = False
            for e in reached:
                if not e.terminal:
                    events.remove(e)
                    if e.target in self.pending_snapshots:
                        self._snapshot(e.target)
            terminal = [e for e in reached if e.terminal]
            if terminal:
                log.info("%s: ended at t = %.6g s by %s", segment.label, self.time, terminal[0].describe())
                return terminal[0]
            self._update_progress(events, segment_start, step_start)

    def _update_progress(self, events: list[Event], segment_start: float, step_start: float) -> None:
        q = self.last.quantities
        fractions = [0.0]
        for e in events:
            v0 = self._start_values.get(id(e))
            if not e.terminal or e.scope != "step" or v0 is None or v0 == e.target:
                continue
            v = self._value(e, q, self.time - segment_start, self.time - step_start)
            fractions.append(min(max((v - v0) / (e.target - v0), 0.0), 1.0))
        self.progress_fraction = (self._step_position + max(fractions)) / len(self.steps)

    def _advance(self, segment: Segment, events: list[Event], segment_start: float, step_start: float,
                 first: bool) -> list[Event]:
        """Take one accepted step; returns the events it reached (within their tolerances)."""
        if self.max_steps is not None and self.steps_accepted >= self.max_steps:
            raise SolveError(
                f"{segment.label}: stopped at the step limit solver.max_steps = {self.max_steps} accepted "
                "time steps; raise it, shorten the protocol step or allow longer steps (solver.time_step.max)")
        q_old = self.last.quantities
        t_seg0 = self.time - segment_start
        t_step0 = self.time - step_start

        def distances(q: dict[str, float], dt: float, skip_jumping: bool = False) -> dict[int, float]:
            return {id(e): e.distance(self._value(e, q, t_seg0 + dt, t_step0 + dt)) for e in events
                    if e.direction != 0 and not (skip_jumping and e.quantity in _JUMPING)}

        horizon = None  # time to the nearest event that is linear in time
        for e in events:
            rate = self._rate(e, segment.control)
            if rate is None or rate == 0.0 or e.direction == 0:
                continue
            to_go = (e.target - self._value(e, q_old, t_seg0, t_step0)) / rate
            if to_go > 0.0 and (horizon is None or to_go < horizon):
                horizon = to_go
        dt = self.controller.propose(horizon)

        # The bracket: lo is a step that passes no event (0: the last accepted state), hi one that
        # passes one. Jumping quantities have no meaningful value before a segment's first step.
        lo = _Sample(0.0, distances(q_old, 0.0, skip_jumping=first))
        hi: _Sample | None = None
        moved_last = 0
        for _ in range(MAX_TRIES_PER_STEP):
            if self.guard is not None:
                self.guard()
            self.tries += 1
            outcome = self.problem.try_step(dt)
            if not outcome.converged:
                self.problem.reject()
                log.debug("step of %.4g s failed (%s); cutting", dt, outcome.reason)
                dt = lo.dt + self.controller.failed(dt - lo.dt, outcome.reason)
                continue
            q = self.problem.quantities()
            if first:
                self._resolve_directions(events, q, t_seg0 + dt, t_step0 + dt)
            d = distances(q, dt)
            passed = [e for e in events if e.direction != 0 and d[id(e)] < -e.tolerance]
            if not passed:
                reached = [e for e in events if e.direction != 0 and d[id(e)] <= e.tolerance]
                if reached or hi is None:
                    self._accept(segment, q, q_old, dt, outcome, reached)
                    return reached
                lo, moved = _Sample(dt, d), -1
            else:
                if dt - lo.dt <= self.controller.minimum * (1.0 + 1e-9):
                    log.warning("%s: %s passed within the minimum step %.3g s (the value jumps); taking it as "
                                "reached", segment.label, passed[0].describe(), self.controller.minimum)
                    self._accept(segment, q, q_old, dt, outcome, passed)
                    return passed
                hi, moved = _Sample(dt, d), +1
            self.problem.reject()
            if moved == moved_last:  # Illinois: halve the distance kept at the end that did not move
                kept = hi if moved == -1 else lo
                kept.distances = {k: 0.5 * v for k, v in kept.distances.items()}
            moved_last = moved
            dt = max(self._landing_step(events, lo, hi), lo.dt + self.controller.minimum)
        raise SolveError(f"{segment.label}: could not land on an event in {MAX_TRIES_PER_STEP} tries")

    @staticmethod
    def _landing_step(events: list[Event], lo: _Sample, hi: _Sample) -> float:
        """Next try inside (lo, hi): the earliest secant estimate of a passed event, safeguarded."""
        width = hi.dt - lo.dt
        candidates = []
        for e in events:
            g_hi = hi.distances.get(id(e))
            if g_hi is None or g_hi >= -e.tolerance:
                continue
            g_lo = lo.distances.get(id(e))
            if g_lo is None or g_lo <= 0.0:
                candidates.append(lo.dt + 0.5 * width)
            else:
                candidates.append(lo.dt + width * g_lo / (g_lo - g_hi))
        dt = min(candidates) if candidates else lo.dt + 0.5 * width
        return min(max(dt, lo.dt + 0.01 * width), hi.dt - 0.01 * width)

    def _resolve_directions(self, events: list[Event], q: dict[str, float], t_seg: float, t_step: float) -> None:
        """Give undecided (direction 0) voltage/C-rate events the side of the first step's value."""
        for e in events:
            if e.direction == 0:
                value = self._value(e, q, t_seg, t_step)
                e.direction = 1 if e.target >= value else -1
                self._start_values[id(e)] = value

    def _accept(self, segment: Segment, q: dict[str, float], q_old: dict[str, float], dt: float,
                outcome: Any, reached: list[Event]) -> None:
        self.problem.accept()
        self.controller.accepted(dt, outcome.newton_iterations)
        self.time += dt
        self.steps_accepted += 1
        self.last = self.record(q, segment, q_old, dt, outcome.newton_iterations, reached)
        if self.observer:
            self.observer.step_accepted(self.last)

"""Operating protocols: case protocol steps as control segments, and the `until` events that end them.

A protocol step of the case (``discharge``, ``charge``, ``hold``, ``rest``, ``gitt``,
``voltage_sweep``) becomes one or more :class:`Segment` s, each with one control (a current in A, or a
cell voltage in V, held or swept at a rate) and the events that end it. A ``gitt`` step becomes
``repeat`` pulse/rest pairs; its ``until`` events end the whole train. A ``voltage_sweep``
(:class:`SweepStep`) becomes its legs between the vertices once the voltage it starts at is known.
Sign convention (docs/model.md): current > 0 is charge (Na extraction), < 0 is discharge.

Events (the first one reached ends the step):
  ``voltage`` [V], ``state_of_charge``, ``depth_of_discharge``, ``time``/``duration`` [s, elapsed in
  the step] and ``c_rate`` (|I| falling to it, for holds). SOC = (θ_hi − θ_mean)/(θ_hi − θ_lo),
  DOD = 1 − SOC.

Landing on events (:mod:`ecmx.solver.timeloop.runner`): time events, and SOC/DOD events under
current control, are linear in time, so the step that reaches them is computed exactly. Voltage and
C-rate events (and SOC/DOD under voltage control) are located on the integrator's dense output after
a step that overshoots: the step is re-solved to land on the crossing of the interpolant, and
narrowed by a safeguarded secant (Illinois) only if that misses the event tolerance (0.1 mV for
voltage, 1e-3 relative for C-rate). Snapshot depths of discharge are non-terminal events landed on
in the same way.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

VOLTAGE_TOLERANCE = 1e-4  # V
C_RATE_RELATIVE_TOLERANCE = 1e-3
STATE_TOLERANCE = 1e-7  # SOC/DOD, absolute
TIME_RELATIVE_TOLERANCE = 1e-9

Quantity = Literal["voltage", "state_of_charge", "depth_of_discharge", "time", "c_rate"]
# Quantities that jump when the control switches (their value before a segment says nothing about
# its first step) and that are not linear in time.
JUMPING = ("voltage", "c_rate")


@dataclass(frozen=True)
class Control:
    """A control held for a segment: ``"current"`` [A, > 0 charge] or ``"voltage"`` [V].

    ``rate`` [V/s] makes a voltage control a linear sweep: the set value is ``value + rate t``,
    t the time [s] since the segment started (0: held constant).
    """

    mode: Literal["current", "voltage"]
    value: float
    rate: float = 0.0

    def at(self, elapsed_s: float) -> float:
        """The set value [A or V] ``elapsed_s`` seconds into the segment."""
        return self.value + self.rate * elapsed_s


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
        if self.control.rate != 0.0:
            end = self.control.at(self.events[0].target) if self.events else self.control.value
            return (f"step {self.step_index}: {self.kind} from {self.control.value:.4g} V to {end:.4g} V"
                    f" at {self.control.rate * 1e3:.4g} mV/s")
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

    def segments_at(self, voltage: float) -> list[Segment]:
        """The segments to run when the step starts at cell voltage ``voltage`` [V]: ``segments``."""
        return self.segments


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
        if step.step == "gitt":
            steps.append(_gitt(step, index, capacity_C, particle_area_m2))
        elif step.step == "voltage_sweep":
            steps.append(_sweep(step, index))
        else:
            steps.append(_held(step, index, capacity_C, particle_area_m2))
    return steps


def _held(step: Any, index: int, capacity_C: float, particle_area_m2: float) -> ProtocolStep:
    """A ``discharge``, ``charge``, ``hold`` or ``rest`` step: one control held until one of its
    ``until`` events or its ``duration``."""
    kind = step.step
    events = _until_events(step.until, kind)
    if step.duration is not None:
        events.append(Event("time", float(step.duration), +1, label=f"duration {step.duration:g} s"))
    if kind == "hold":
        control = Control("voltage", float(step.voltage))
    elif kind == "rest":
        control = Control("current", 0.0)
    else:
        control = Control("current", step.sign * step_current(step, capacity_C, particle_area_m2))
    return ProtocolStep(index, kind, [Segment(index, kind, control, events)])


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


@dataclass
class SweepStep(ProtocolStep):
    """Cyclic voltammetry: the cell voltage swept linearly at ``rate`` [V/s] from the voltage V₀ at the
    step's start to the first vertex, to the second vertex and back to V₀, ``repeat`` times.

    The legs are only known once V₀ is (:meth:`segments_at`); each is a voltage control with a rate,
    ended by a time event of scope ``"segment"`` at the vertex (linear in time, so landed on exactly).
    ``first`` is the vertex swept to first; None: the limit farther from V₀. ``until`` holds the
    step's own terminal events (scope ``"step"``), checked in every leg.
    """

    limits: tuple[float, float] = (0.0, 0.0)
    rate: float = 0.0
    first: Literal["down", "up"] | None = None
    until: list[Event] = field(default_factory=list)

    def vertices(self, voltage: float) -> tuple[float, float]:
        """(first vertex, second vertex) [V] of a sweep that starts at ``voltage`` [V]."""
        lo, hi = min(self.limits), max(self.limits)
        first = self.first or ("down" if voltage - lo >= hi - voltage else "up")
        return (lo, hi) if first == "down" else (hi, lo)

    def segments_at(self, voltage: float) -> list[Segment]:
        """The legs V₀ → first vertex → second vertex → V₀ (a leg shorter than 1 µV is left out)."""
        legs, start = [], voltage
        for end in (*self.vertices(voltage), voltage):
            if abs(end - start) > 1e-6:
                duration = abs(end - start) / self.rate
                rate = self.rate if end > start else -self.rate
                vertex = Event("time", duration, +1, scope="segment", clock="segment", label=f"vertex {end:.6g} V")
                legs.append(Segment(self.index, "sweep-up" if rate > 0 else "sweep-down",
                                    Control("voltage", start, rate), [vertex, *[replace(e) for e in self.until]]))
            start = end
        return legs


def _sweep(step: Any, index: int) -> SweepStep:
    """A ``voltage_sweep`` step: ``cycles`` triangles between ``limits`` at ``rate``; its ``until``
    events (and ``duration``) behave as for a hold and end the whole sweep."""
    until = _until_events(step.until, "hold")
    if step.duration is not None:
        until.append(Event("time", float(step.duration), +1, label=f"duration {step.duration:g} s"))
    return SweepStep(index, "voltage_sweep", [], step.cycles or 1, limits=tuple(float(v) for v in step.limits),
                     rate=float(step.rate), first=step.start, until=until)

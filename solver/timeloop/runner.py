"""The time loop: protocol steps run with error-controlled time steps, landing on events and snapshot states.

:class:`ProtocolRunner` holds each segment's control (:mod:`ecmx.solver.timeloop.protocol`) until
one of its terminal events, integrating with variable-step, variable-order BDF
(:class:`~ecmx.solver.timeloop.integrators.BdfIntegrator`): a try whose local-error estimate exceeds
the tolerance is rejected and retried with the step of the
:class:`~ecmx.solver.timeloop.stepping.StepController`. Every segment start (a protocol step, a
control change, a GITT pulse edge, a sweep vertex) restarts the integrator: backward Euler with the step
``time_step.initial``, then growth by the error estimate.

Events linear in time (time; SOC/DOD under current control) give the step that reaches them exactly
(the *horizon*). Other events (voltage, C-rate, SOC/DOD under voltage control) are located by dense
output: a try that passes one is rejected, the crossing is found on the interpolant of the event's
quantity through the accepted levels of the segment and the try (quadratic, or linear after a
restart), and the step is re-solved from the last accepted state to land on it. Should that land
outside the event's tolerance, a safeguarded secant (Illinois) on the tries narrows it further.
Snapshot depths of discharge are non-terminal events.

An observer (the mechanics coupling, the recorder and the progress display, chained by
:class:`~ecmx.solver.timeloop.observers.ObserverChain`) is told of every segment start, accepted
step and snapshot.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any, Protocol

from ecmx.solver.errors import SolveError
from ecmx.solver.timeloop.integrators import BdfIntegrator, crossing
from ecmx.solver.timeloop.protocol import JUMPING, STATE_TOLERANCE, Control, Event, ProtocolStep, Segment
from ecmx.solver.timeloop.stepping import MIN_FACTOR, StepController
from ecmx.solver.units import F

log = logging.getLogger(__name__)

MAX_TRIES_PER_STEP = 80

TRY_NEWTON_BUDGET = 8
"""Newton iterations a try of a step that can still be cut may take (the solve from the predictor and its
continuation) before it is abandoned and the step cut, without the repeat from the last accepted state with
the user's full ``solver.max_newton_iterations``; a step's try after such a failure, and a try at the minimum
step, get the full budget. Measured on cases/hev.yaml (3D, rtol 3e-5, bench/bench_step_tries.py, 5 runs): no
try of 9 or more Newton iterations was ever accepted; see docs/model.md §7 for the totals."""

BUDGET_MEMORY = 20
"""Accepted steps whose Newton iterations set the per-try budget (:meth:`ProtocolRunner.try_budget`)."""

BUDGET_MARGIN = 1.5
"""The per-try budget is at least this many times the most Newton iterations of the last BUDGET_MEMORY accepted
steps: a problem whose accepted steps need many iterations (a phase-separating particle, a stiff case) keeps
room for them; on cases/hev.yaml (at most 5 in any accepted try) the budget stays TRY_NEWTON_BUDGET."""

CAPPED_CUT = MIN_FACTOR
"""The cut of a step whose try ran out of TRY_NEWTON_BUDGET, instead of ``solver.time_step.cut``: measured on
cases/hev.yaml (two-way too), such steps were 4-20 times the error tolerance (norms 12-20, as large a cut as a
rejection allows); halved, their retries with the full budget took 10-16 Newton iterations and were rejected."""


class SteppableProblem(Protocol):
    """The part of :class:`~ecmx.solver.fem.cell_problem.CellProblem` the time loop drives."""

    differential: tuple[bool, ...]

    def set_control(self, mode: str, value: float) -> None: ...
    def try_step(self, dt: float, weights: tuple[float, ...] | None = None,
                 guess: Sequence[Any] | None = None, budget: int | None = None) -> Any: ...
    def state(self) -> list[Any]: ...
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
    order: int = 0
    error_norm: float = 0.0


class Observer(Protocol):
    """Receives what the time loop does (coupling, writers, progress display)."""

    def segment_started(self, segment: Segment, index: int, count: int) -> None: ...
    def step_accepted(self, record: StepRecord) -> None: ...
    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None: ...


@dataclass
class _Sample:
    """A converged try: its step [s], each event's signed distance (by ``id`` of the event) and its
    quantities (None for the last accepted state)."""

    dt: float
    distances: dict[int, float]
    quantities: dict[str, float] | None = None


@dataclass
class _Try:
    """A converged try of ``dt`` [s] within the error tolerance: its outcome, the scheme's weights
    and its local-error norm."""

    dt: float
    outcome: Any
    weights: tuple[float, ...]
    error: float


def default_integrator(problem: SteppableProblem) -> BdfIntegrator:
    """BDF (orders 1-3) at the default tolerances of ``solver.rtol``/``atol`` over the problem's blocks, with its
    kinks, error magnitudes and jumping blocks where it has them (:meth:`BdfIntegrator.for_problem`,
    as ``ecmx run`` builds it)."""
    from mpi4py import MPI

    from ecmx.solver.config.case import SolverSettings

    settings = SolverSettings()
    return BdfIntegrator.for_problem(problem, settings.rtol, settings.atol, getattr(problem, "comm", MPI.COMM_WORLD))


@dataclass
class _Bracket:
    """The step being landed: ``lo`` passes no event (first: the last accepted state), ``hi`` passes
    one (None until a try did)."""

    lo: _Sample
    hi: _Sample | None = None
    moved_last: int = 0

    def narrow(self, sample: _Sample, moved: int) -> None:
        """Replace ``lo`` (``moved`` -1) or ``hi`` (+1) by ``sample``; Illinois: when the same end
        moves twice in a row, halve the distances kept at the end that did not move."""
        if moved == -1:
            self.lo = sample
        else:
            self.hi = sample
        if moved == self.moved_last:
            kept = self.hi if moved == -1 else self.lo
            kept.distances = {k: 0.5 * v for k, v in kept.distances.items()}
        self.moved_last = moved


class ProtocolRunner:
    """Runs protocol steps on a problem with adaptive steps, landing on events and snapshot states.

    Args:
        problem: the coupled problem, at its initial state.
        steps: from :func:`~ecmx.solver.timeloop.protocol.build_protocol`.
        controller: the step-size controller.
        capacity_C: usable capacity [C] (C-rate and SOC).
        stoichiometry_window: (θ_lo, θ_hi) of the material.
        snapshot_dods: depths of discharge at which ``observer.snapshot`` is called (each once, the
            first time the state passes it).
        observer: receives segment starts, accepted steps and snapshots (several observers:
            :class:`~ecmx.solver.timeloop.observers.ObserverChain`).
        max_steps: the step-count guard: a run that needs more accepted steps stops with a
            SolveError (``solver.max_steps``); None for no limit.
        guard: called before every try of a step, on every rank; it stops the run by raising
            (e.g. a Ctrl-C that the MPI ranks agreed on).
        integrator: the time integrator (default: BDF orders 1-3 at the default tolerances).
    """

    def __init__(self, problem: SteppableProblem, steps: Sequence[ProtocolStep], controller: StepController, *,
                 capacity_C: float, stoichiometry_window: tuple[float, float],
                 snapshot_dods: Sequence[float] = (), observer: Observer | None = None,
                 max_steps: int | None = None, guard: Callable[[], None] | None = None,
                 integrator: BdfIntegrator | None = None):
        self.problem = problem
        self.steps = list(steps)
        self.controller = controller
        self.integrator = integrator or default_integrator(problem)
        self._levels: list[tuple[float, dict[str, float]]] = []  # accepted (time, quantities) of the segment
        self._na_past = [0.0, 0.0]  # Na content [mol] of the two levels before the last accepted one, newest first
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
        self._events: list[Event] = []  # the events of the running segment
        self._resume: dict[str, Any] | None = None  # restore_checkpoint_state, until run() uses it
        self._accepted_iterations: deque[int] = deque(maxlen=BUDGET_MEMORY)  # of the last accepted steps

    # -- derived quantities ------------------------------------------------------------------
    def state_of_charge(self, q: dict[str, float]) -> float:
        """SOC = (θ_hi − θ_mean)/(θ_hi − θ_lo)."""
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

    def _distances(self, events: list[Event], q: dict[str, float], t_segment: float, t_step: float,
                   skip_jumping: bool = False) -> dict[int, float]:
        """Signed distance of each event with a direction (``skip_jumping``: not voltage or C-rate)."""
        return {id(e): e.distance(self._value(e, q, t_segment, t_step)) for e in events
                if e.direction != 0 and not (skip_jumping and e.quantity in JUMPING)}

    def record(self, q: dict[str, float], segment: Segment | None, q_old: dict[str, float] | None,
               dt: float, newton_iterations: int, events: list[Event],
               weights: tuple[float, ...] | None = None) -> StepRecord:
        """The record of the current state.

        The Na balance error compares the discrete change of the Na content over the step,
        dt (a₀ Nₙ₊₁ + a₁ Nₙ + a₂ Nₙ₋₁ + a₃ Nₙ₋₂) with the scheme's weights (Nₙ₊₁ − Nₙ for backward Euler; the
        problem's ``na_rate_mol_per_s`` × dt where it reports it, computed without the cancellation of
        the large Nₙ), with the Na that entered at the counter electrode, −I dt/F (I of the new
        state), normalised by |I dt/F|, or by the Na content when no current flows.
        """
        soc = self.state_of_charge(q)
        error = 0.0
        if q_old is not None and dt > 0.0:
            a0, a1, *older = weights if weights is not None else (1.0 / dt, -1.0 / dt)
            passed = -q["current_A"] * dt / F
            scale = abs(passed) if passed != 0.0 else abs(q_old["na_total_mol"])
            if "na_rate_mol_per_s" in q:
                change = dt * q["na_rate_mol_per_s"]
            else:
                change = dt * (a0 * q["na_total_mol"] + a1 * q_old["na_total_mol"]
                               + sum(a * n for a, n in zip(older, self._na_past, strict=False)))
            error = (change - passed) / max(scale, 1e-300)
        return StepRecord(self.time, segment.step_index if segment else 0, segment, dict(q), soc, 1.0 - soc,
                          error, newton_iterations, dt, list(events))

    # -- running -------------------------------------------------------------------------------
    def run(self) -> None:
        """Run all protocol steps.

        Raises:
            SolveError: a step failed at the minimum time step, or an event could not be landed on.
        """
        resume = self._resume
        q = self.problem.quantities() if resume is None else dict(self._levels[-1][1])
        self.last = self.record(q, None, None, 0.0, 0, [])
        self._na_past = ([q["na_total_mol"]] * 2 if resume is None
                         else [float(resume["na_before"]), float(resume.get("na_older", resume["na_before"]))])
        if self.observer:
            self.observer.step_accepted(self.last)
        for dod in list(self.pending_snapshots):
            if abs(self.last.depth_of_discharge - dod) <= STATE_TOLERANCE:
                self._snapshot(dod)
        for position, step in enumerate(self.steps):
            self._step_position = position
            self.progress_fraction = position / len(self.steps)
            self._run_step(step)
        self.progress_fraction = 1.0

    def _run_step(self, step: ProtocolStep) -> None:
        """Run a step's segments in turn, ``repeat`` times or until an event of scope ``"step"``."""
        step_start = self.time
        segments = step.segments_at(self.last.quantities["voltage_V"])
        cycle = 0
        while segments and (step.repeat is None or cycle < step.repeat):
            for segment in segments:
                segment_start = self.time
                ended_by = self._run_segment(segment, step_start)
                self.segment_log.append({
                    "step": segment.step_index, "kind": segment.kind, "control": segment.control.mode,
                    "value": segment.control.value, "start_s": segment_start, "end_s": self.time,
                    "ended_by": ended_by.describe() if ended_by else None})
                if ended_by is not None and ended_by.scope == "step":
                    return
            cycle += 1

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
        resume, self._resume = self._resume, None
        within = resume is not None and resume["within_segment"]
        if not within:
            self._restart(held=segment.control.rate == 0.0)
        log.info("%s until %s", segment.label, " or ".join(e.describe() for e in segment.events))
        segment_start = self.time
        events = self._events = self._segment_events(segment, step_start)
        if within:
            self._restore_directions(events, resume["directions"])
        for e in events:
            if e.terminal and e.quantity not in JUMPING and e.distance(self._start_values[id(e)]) <= e.tolerance:
                log.info("%s: %s already reached at its start", segment.label, e.describe())
                return e
        first = not within
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

    def _restart(self, held: bool = True) -> None:
        """A discontinuity: the integrator starts again with backward Euler and the initial step, on the
        √t clock where the new control is ``held`` at a value (not a voltage sweep)."""
        self.controller.restart()
        self.integrator.restart(self.time, self.problem.state(), warped=held)
        self._levels = [(self.time, self.last.quantities)]

    def checkpoint_state(self) -> tuple[dict[str, Any], list[Any]]:
        """What the loop carries from one accepted step to the next, to continue exactly after a
        restore: JSON (whether the segment goes on, the segment's accepted (time [s], quantities)
        levels, the Na content [mol] before the last level, the decided directions and start values
        of the voltage/C-rate events, the controller's and the integrator's state) and this rank's
        arrays (the integrator's levels)."""
        integrator, arrays = self.integrator.checkpoint_state()
        return {"within_segment": not any(e.terminal for e in self.last.events),
                "levels": [[t, q] for t, q in self._levels], "na_before": self._na_past[0],
                "na_older": self._na_past[1],
                "directions": [[e.direction, self._start_values.get(id(e))] for e in self._events
                               if e.quantity in JUMPING],
                "controller": self.controller.checkpoint_state(), "integrator": integrator,
                "accepted_iterations": list(self._accepted_iterations)}, arrays

    def restore_checkpoint_state(self, state: dict[str, Any], arrays: Sequence[Any]) -> None:
        """Put :meth:`checkpoint_state` back (``time`` set, the problem restored): :meth:`run` then
        continues the interrupted segment without a restart (the first segment it runs is that
        one), or restarts as the uninterrupted run would when the segment had ended."""
        self.controller.restore_checkpoint_state(state["controller"])
        self.integrator.restore_checkpoint_state(state["integrator"], arrays)
        self._levels = [(float(t), dict(q)) for t, q in state["levels"]]
        self._accepted_iterations.extend(int(n) for n in state.get("accepted_iterations", []))
        self._resume = state

    def _restore_directions(self, events: list[Event], directions: list[list[Any]]) -> None:
        """The voltage/C-rate events of a continued segment as decided before the interruption."""
        for e, (direction, start) in zip([e for e in events if e.quantity in JUMPING], directions, strict=True):
            e.direction = int(direction)
            if start is not None:
                self._start_values[id(e)] = float(start)

    def _segment_events(self, segment: Segment, step_start: float) -> list[Event]:
        """The segment's events (copies) and one non-terminal event per pending snapshot, with their
        values at the segment's start and the directions decided by them (snapshots already at the
        start are taken now)."""
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
            if e.direction == 0 and e.quantity not in JUMPING:
                e.direction = 1 if e.target > self._start_values[id(e)] else -1
        return events

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
        """Take one accepted step; returns the events it reached (within their tolerances).

        A failed solve cuts the step (by CAPPED_CUT where the try ran out of its Newton budget,
        :meth:`try_budget`, which every try of a step that can still be cut gets until one runs out of it),
        a local error above the tolerance shrinks it; a try that passes an event is rejected and the step
        re-solved to land on the event's crossing (jumping quantities have no meaningful value before a
        segment's first step).
        """
        self._check_step_limit(segment)
        q_old = self.last.quantities
        clock = (self.time - segment_start, self.time - step_start)
        horizons = [self._horizon(events, segment.control, q_old, *clock), self.integrator.time_to_knot(self.controller.dt)]
        dt = self.controller.propose(min((h for h in horizons if h is not None), default=None))
        start = _Sample(0.0, self._distances(events, q_old, *clock, skip_jumping=first))
        bracket = _Bracket(start)
        capped = False  # a try of this step already ran out of its Newton budget
        for _ in range(MAX_TRIES_PER_STEP):
            if self.guard is not None:
                self.guard()
            self.tries += 1
            weights = self.integrator.weights(dt)
            if segment.control.rate != 0.0:  # a voltage sweep: the set value at the end of the try
                self.problem.set_control(segment.control.mode, segment.control.at(clock[0] + dt))
            budget = None if capped or not self.controller.can_cut(dt - bracket.lo.dt) else self.try_budget()
            outcome = self.problem.try_step(dt, weights, self.integrator.predict(dt), budget)
            ran_out = bool(getattr(outcome, "capped", False))
            capped = capped or ran_out
            if not outcome.converged:
                self.problem.reject()
                log.debug("step of %.4g s failed (%s); cutting", dt, outcome.reason)
                dt = bracket.lo.dt + self.controller.failed(dt - bracket.lo.dt, outcome.reason,
                                                            CAPPED_CUT if ran_out else None)
                continue
            error = self.integrator.error(dt, self.problem.state())
            if error > 1.0:
                self.problem.reject()
                log.debug("step of %.4g s: local error %.3g of the tolerance; shrinking", dt, error)
                dt = self.controller.rejected(dt, error, self.integrator.order, self.integrator.kinked,
                                              partial(self.integrator.rescaled, self.time, dt, new_start=self.time))
                bracket = _Bracket(start)
                continue
            step = _Try(dt, outcome, weights, error)
            reached = self._judge(segment, events, clock, step, q_old, bracket, first)
            if reached is not None:
                return reached
            self.problem.reject()
            dt = max(self._landing_step(events, bracket), bracket.lo.dt + self.controller.minimum)
        raise SolveError(f"{segment.label}: could not land on an event in {MAX_TRIES_PER_STEP} tries")

    def _check_step_limit(self, segment: Segment) -> None:
        if self.max_steps is not None and self.steps_accepted >= self.max_steps:
            raise SolveError(
                f"{segment.label}: stopped at the step limit solver.max_steps = {self.max_steps} accepted "
                "time steps; raise it, shorten the protocol step or allow longer steps (solver.time_step.max)")

    def _horizon(self, events: list[Event], control: Control, q: dict[str, float], t_segment: float,
                 t_step: float) -> float | None:
        """Time [s] to the nearest event that is linear in time under ``control`` (None: none ahead)."""
        horizon = None
        for e in events:
            rate = self._rate(e, control)
            if rate is None or rate == 0.0 or e.direction == 0:
                continue
            to_go = (e.target - self._value(e, q, t_segment, t_step)) / rate
            if to_go > 0.0 and (horizon is None or to_go < horizon):
                horizon = to_go
        return horizon

    def _judge(self, segment: Segment, events: list[Event], clock: tuple[float, float], step: _Try,
               q_old: dict[str, float], bracket: _Bracket, first: bool) -> list[Event] | None:
        """Accept a converged try of ``dt`` and return the events it reached, or narrow the bracket
        and return None (the try is to be rejected).

        A try is accepted when it passes no event and reaches one (or nothing has been passed yet),
        or when it passes an event within the minimum step of ``lo`` (the value jumps).
        """
        q, dt = self.problem.quantities(), step.dt
        t_segment, t_step = clock[0] + dt, clock[1] + dt
        if first:
            self._resolve_directions(events, q, t_segment, t_step)
        d = self._distances(events, q, t_segment, t_step)
        passed = [e for e in events if e.direction != 0 and d[id(e)] < -e.tolerance]
        if not passed:
            reached = [e for e in events if e.direction != 0 and d[id(e)] <= e.tolerance]
            if reached or bracket.hi is None:
                self._accept(segment, q, q_old, step, reached)
                return reached
            bracket.narrow(_Sample(dt, d, q), moved=-1)
            return None
        if dt - bracket.lo.dt <= self.controller.minimum * (1.0 + 1e-9):
            log.warning("%s: %s passed within the minimum step %.3g s (the value jumps); taking it as "
                        "reached", segment.label, passed[0].describe(), self.controller.minimum)
            self._accept(segment, q, q_old, step, passed)
            return passed
        bracket.narrow(_Sample(dt, d, q), moved=+1)
        return None

    def _landing_step(self, events: list[Event], bracket: _Bracket) -> float:
        """Next try inside (lo, hi): the earliest crossing of a passed event, on the dense output when
        this is the first try that passed it, else by a safeguarded secant."""
        lo, hi = bracket.lo, bracket.hi
        width = hi.dt - lo.dt
        candidates = []
        for e in events:
            g_hi = hi.distances.get(id(e))
            if g_hi is None or g_hi >= -e.tolerance:
                continue
            located = self._dense_crossing(e, hi) if bracket.moved_last == +1 and lo.dt == 0.0 else None
            g_lo = lo.distances.get(id(e))
            if located is not None:
                candidates.append(located)
            elif g_lo is None or g_lo <= 0.0:
                candidates.append(lo.dt + 0.5 * width)
            else:
                candidates.append(lo.dt + width * g_lo / (g_lo - g_hi))
        dt = min(candidates) if candidates else lo.dt + 0.5 * width
        return min(max(dt, lo.dt + 0.01 * width), hi.dt - 0.01 * width)

    def _dense_crossing(self, event: Event, hi: _Sample) -> float | None:
        """The step [s] to where the interpolant of the event's quantity through the segment's last
        accepted levels and the try ``hi`` reaches the target (None when it cannot be located)."""
        levels = (self._levels[1:] if event.quantity in JUMPING else self._levels)[-2:]
        if not levels or hi.quantities is None or event.quantity == "time":
            return None
        times = [self.time + hi.dt, *(t for t, _ in reversed(levels))]
        values = [self._value(event, q, 0.0, 0.0) for q in (hi.quantities, *(q for _, q in reversed(levels)))]
        t = crossing(times, values, event.target)
        return None if t is None else t - self.time

    def _resolve_directions(self, events: list[Event], q: dict[str, float], t_seg: float, t_step: float) -> None:
        """Give undecided (direction 0) voltage/C-rate events the side of the first step's value."""
        for e in events:
            if e.direction == 0:
                value = self._value(e, q, t_seg, t_step)
                e.direction = 1 if e.target >= value else -1
                self._start_values[id(e)] = value

    def try_budget(self) -> int:
        """Newton iterations a try of a step that can still be cut may take: TRY_NEWTON_BUDGET, or
        BUDGET_MARGIN times the most the last BUDGET_MEMORY accepted steps took, whichever is larger."""
        return max(TRY_NEWTON_BUDGET, math.ceil(BUDGET_MARGIN * max(self._accepted_iterations, default=0)))

    def _accept(self, segment: Segment, q: dict[str, float], q_old: dict[str, float], step: _Try,
                reached: list[Event]) -> None:
        order = self.integrator.order
        self.problem.accept()
        state = self.problem.state()
        next_order, next_error = self.integrator.select_order(step.dt, state, step.error)
        self.controller.accepted(step.dt, next_error, next_order, self.integrator.estimated,
                                 partial(self.integrator.rescaled, self.time, step.dt, new_start=self.time + step.dt))
        self.time += step.dt
        self.integrator.accepted(self.time, state)
        self.steps_accepted += 1
        self._accepted_iterations.append(int(step.outcome.newton_iterations))
        self.last = self.record(q, segment, q_old, step.dt, step.outcome.newton_iterations, reached, step.weights)
        self.last.order, self.last.error_norm = order, step.error
        self._na_past = [q_old["na_total_mol"], self._na_past[0]]
        self._levels = [*self._levels[-2:], (self.time, dict(q))]
        if self.observer:
            self.observer.step_accepted(self.last)

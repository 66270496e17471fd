"""Variable-step, variable-order BDF (orders 1-3) with a local-error estimate (the scheme-independent part, numpy).

The models see the scheme only through the weights (a₀, a₁, a₂, a₃) [1/s] of
∂u/∂t ≈ a₀ uₙ₊₁ + a₁ uₙ + a₂ uₙ₋₁ + a₃ uₙ₋₂ (:class:`ecmx.solver.fem.time_history.TimeHistory`). The
:class:`BdfIntegrator` keeps the last accepted states since the last restart and gives, for a step dt:

- the order: 1 (backward Euler) for the first two steps after a (re)start, 2 (BDF2) afterwards, and 3
  (BDF3) or back to 2 where the local-error estimates of the neighbouring orders say that it allows longer
  steps (:meth:`BdfIntegrator.select_order`, after the rule of DASSL/IDA);
- the clock: every restart to a held control (the start, a current or voltage step, a rest) switches the
  current or the voltage abruptly, and diffusion answers with a √(t − t_r) layer (the surface concentration of a particle
  under a constant flux is c₀ − a√t + b t + …). Its derivatives are unbounded at t_r, so on t the
  steps grow only by a fixed fraction of t − t_r: some 20 steps per decade of time at rtol 1e-6, from
  the 10 ms first step to the particle's diffusion time. The same solution is a smooth series in
  s = √(t − t_r), so steps of order ≥ 2 run on s: the BDF weights are those of the polynomial through
  the levels' s values, times ds/dt = 1/(2s) at tₙ₊₁, and the predictor and the error estimate use the
  same nodes. A function smooth in t is as smooth in s (away from t_r, a step on s is one on t), and
  t = s² is a polynomial of degree 2, so BDF2 and BDF3 on s are still exact for a Na content linear in
  t (a constant current moves exactly I Δt/F of Na in every step, as on t). Backward Euler is not, so
  order 1 runs on t. The step controller sets the next step's length on s too (:meth:`BdfIntegrator.rescaled`).
  A voltage sweep starts no √t layer (its control is continuous in value) and runs on t: on s the
  thin-layer voltammogram of tests/verification/test_cyclic_voltammetry.py took 431 instead of 197 steps.
  Measured at the default tolerances, accepted / tried steps, t → s (orders 1-3 both): the sphere-1d
  reduction of bench/sphere3d.yaml 142/165 → 106/130, cases/nvp.yaml one-way 77/80 → 58/61 and two-way
  70/72 → 55/60, cases/hev.yaml one-way 98/113 → 81/100 and two-way 101/113 → 85/99; the constant-flux
  sphere (bench/bench_time_integration.py) 55 → 42 steps at rtol 1e-6, the error against the series
  1.23e-3 → 1.50e-3 of jR/D (the mesh's floor: 1.22e-3), and 24 → 16 steps at rtol 1e-4, 1.01e-2 →
  1.08e-2 (BDF2 on t, before: 63 steps and 1.77e-3, 24 and 1.01e-2);
- the weights: the derivative at tₙ₊₁ of the Lagrange polynomial through tₙ₊₁, tₙ[, tₙ₋₁[, tₙ₋₂]] (on the
  step's clock);
- the local-error estimate (Milne's device): the difference between the corrector uₙ₊₁ and the
  predictor, the polynomial of degree k through the last k + 1 accepted levels extrapolated to tₙ₊₁,
  scaled by the variable-step error constants, E ≈ c (uₙ₊₁ − u_pred) with
  c = (−τ/a₀)/(−τ/a₀ + π), τ = Σ αⱼ (tⱼ − tₙ₊₁)^{k+1}/(k+1)! the truncation constant of the scheme and
  π = Π (tₙ₊₁ − tₙ₋ᵢ)/(k+1)! the one of the predictor (1/3 for backward Euler, 2/11 for BDF2 at equal
  steps). The first step after a restart has no estimate: it is ``time_step.initial`` long;
  for an order j other than the step's, the estimate is Cⱼ/πⱼ (uₙ₊₁ − Pⱼ), Pⱼ the polynomial through
  the last j + 1 levels (uₙ₊₁ is accurate beyond order j, so uₙ₊₁ − Pⱼ ≈ πⱼ y⁽ʲ⁺¹⁾);
- the error norm: the largest |E|/(atol + rtol max(|uₙ₊₁|, |uₙ|, m)) over the nodes of the
  differential blocks (θ, ĉ), m a floor of the magnitude per block (``magnitudes``; 0 by default):
  1 for θ (``error_magnitudes`` of the particle models), a fraction whose range [0, 1] is its
  natural scale. With the relative weight a phase-field particle's Na-poor phase (θ ≈ 0.04) was
  held twenty times tighter than its Na-rich one, and the two-phase particle's steps were set by
  its quiet core, not by the moving front (measured on cases/examples/phase-field-sphere1d.yaml
  at rtol 1e-6: 1581 steps with the relative weight, 726 with the floor, the same voltage to
  0.004 mV of an rtol-1e-8 run); a Fickian NVP particle's start (θ = 0.25) was held four times
  tighter than with the floor (cases/nvp.yaml: 324 steps, with the floor 236, every snapshot
  value within 2.4e-5 relative). The max norm, not an RMS: the error of a diffusion front sits
  at a few nodes, which an RMS over all nodes dilutes (measured on the constant-flux sphere at
  rtol 1e-4: 0.92 % of jR/D with the RMS norm, 0.73 % with the max norm).
  The algebraic blocks jump at every control change, where the predictor through the level before
  the jump says nothing: φ̂_e is left out (a function of θ and ĉ in an index-1 DAE, its error
  follows theirs), and the cell voltage V̂ (``jumping``, relative weight atol + rtol |V̂|) enters
  only on steps whose stencil holds no level from before the last restart (every control change
  restarts the integrator), so that a voltage that the θ and ĉ nodes let through (a steep U(θ) at
  the window's edge, a long step) is caught;
  the surface nodes of θ leave the norm while their values over the step's stencil straddle a knot
  of the piecewise-linear U(θ) (:func:`crosses_knot`: there BDF2 is locally first order, once per
  knot; V̂'s tolerance is then :data:`KNOT_SLACK` times wider);
- the next knot: the time until the leading surface node reaches the next knot ahead of the surface
  (:meth:`BdfIntegrator.time_to_knot`), which the time loop lands a step on;
- dense output: the quadratic (or linear) interpolant of any scalar through the accepted levels;
- Newton's first guess: the same predictor, extrapolated to tₙ₊₁ for every block (measured: a
  third fewer Newton iterations than starting from uₙ on the sphere-1d and axisymmetric golden runs,
  the same results to 1e-9).

Times in seconds; states are the owned values of each unknown block (nondimensional).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from mpi4py import MPI

MAX_ORDER = 3
"""The highest order (the time history keeps three past levels, :data:`ecmx.solver.fem.time_history.DEPTH`).
Measured on the √t clock at the default tolerances (accepted / tried steps, orders up to 2 → up to 3): the
sphere-1d reduction of bench/sphere3d.yaml 125/155 → 106/130, cases/nvp.yaml 64/67 → 58/61 (one-way) and
55/59 → 55/60 (two-way), cases/hev.yaml 80/99 → 81/100 and 86/101 → 85/99: 481 → 450 tries."""
START_ORDER = 2
"""The order a run, and every restart, ramps up to (1, 1, then 2) before :meth:`BdfIntegrator.select_order`
may raise it."""
KNOT_SLACK = 100.0
"""Factor on the tolerance of a ``jumping`` block (the cell voltage) on a step that crosses a kink of
the model (a knot of U(θ)): there its estimate is O(Δt²) like the surface θ's (measured 25–110 × the
tolerance at the step the controller proposes), an error made once per knot. Measured on
cases/hev.yaml at rtol 3e-5: without the slack 200 steps instead of 96 (121 of them while the surface
crossed the knots of the late discharge); with the voltage left out at knots 63, but then the two-way
run's step onto DOD 0.9 landed 0.65 V off (thousands of times the tolerance), which the slack catches."""


LANDING_FLOOR = 0.2
"""A knot closer than this fraction of the last step is crossed, not landed on (no sliver steps)."""
KINK_STRENGTH = 1.0
"""Smallest change of the slope of U(θ) at a knot [V per unit θ] that steps land on: a tenth of a
volt over a tenth of the window. NVP's mid-window knots (0.3, 0.5, 0.7: 0.54, 0, 0.54) are crossed;
landing on them added 17 cheap steps to cases/nvp.yaml (6 in the rest, which recrosses 0.7)."""
LANDING_SHARE = 0.5
"""A knot is landed on only when it lies in this first share of the proposed step; one further ahead
is crossed (the part of the step beyond the kink, which sets the cell voltage's error, is short).
Measured on the four 3D runs of cases/nvp-vs-hev.yaml: landing on every knot ahead 956 Newton
iterations and 467 tries, on those in the first half 965 and 443, on none 1020 and 422."""


def lagrange_derivative_weights(times: Sequence[float]) -> np.ndarray:
    """Weights wⱼ with p'(times[0]) = Σ wⱼ p(times[j]) for the polynomial p through all ``times`` [1/s]."""
    t = [float(v) for v in times]  # scalar arithmetic: these run at every try (numpy's costs 20× more)
    weights = np.zeros(len(t))
    for j in range(len(t)):
        others = [m for m in range(len(t)) if m != j]
        denominator = math.prod(t[j] - t[m] for m in others)
        if j == 0:  # d/dt Π_{m≠0}(t − t_m) at t_0
            numerator = sum(math.prod(t[0] - t[m] for m in others if m != i) for i in others)
        else:  # Π_{m≠j}(t − t_m) has the factor (t − t_0), zero at t_0
            numerator = math.prod(t[0] - t[m] for m in others if m != 0)
        weights[j] = numerator / denominator
    return weights


def bdf_weights(times: Sequence[float]) -> tuple[float, ...]:
    """(a₀, a₁, a₂, a₃) [1/s] of the BDF of order len(times) − 1 at times (tₙ₊₁, tₙ[, tₙ₋₁[, tₙ₋₂]]),
    zero-padded to order 3."""
    w = lagrange_derivative_weights(times)
    padded = np.zeros(4)
    padded[: w.size] = w
    return tuple(float(v) for v in padded)


def truncation_constants(new_time: float, past_times: Sequence[float], order: int) -> tuple[float, float]:
    """(C, π): the local error of the BDF of ``order`` at ``new_time`` is C y⁽ᵏ⁺¹⁾, that of the predictor
    through ``past_times`` (order + 1 levels, newest first) π y⁽ᵏ⁺¹⁾ (C = −τ/a₀ in the module docstring)."""
    t = [new_time, *past_times[:order]]
    alpha = lagrange_derivative_weights(t)
    tau = sum(a * (tj - new_time) ** (order + 1) for a, tj in zip(alpha, t, strict=True)) / math.factorial(order + 1)
    pi = math.prod(new_time - tj for tj in past_times[: order + 1]) / math.factorial(order + 1)
    return -tau / alpha[0], pi


def error_constant(new_time: float, past_times: Sequence[float], order: int) -> float:
    """c of E ≈ c (u_corrector − u_predictor) for the BDF of ``order`` at ``new_time`` whose predictor
    is the polynomial through ``past_times`` (order + 1 levels, newest first)."""
    corrector, pi = truncation_constants(new_time, past_times, order)
    return float(corrector / (corrector + pi))


def lagrange_basis(times: Sequence[float], t: float) -> list[float]:
    """The Lagrange basis polynomials of the nodes ``times`` evaluated at t (one per node)."""
    return [math.prod((t - tm) / (tj - tm) for m, tm in enumerate(times) if m != j) for j, tj in enumerate(times)]


def extrapolate(times: Sequence[float], values: Sequence[np.ndarray], t: float,
                basis: Sequence[float] | None = None) -> np.ndarray:
    """The polynomial through (times[i], values[i]) evaluated at t (Lagrange form); ``basis``: the
    :func:`lagrange_basis` of ``times`` at t when already computed (the same for every block)."""
    result = np.zeros_like(values[0], dtype=float)
    for b, vj in zip(lagrange_basis(times, t) if basis is None else basis, values, strict=True):
        result += b * vj
    return result


class BdfIntegrator:
    """Variable-step, variable-order BDF1-BDF3 with an error estimate (see the module docstring).

    Args:
        rtol, atol: the integration tolerances of the differential blocks (nondimensional).
        differential: per unknown block, True when it has a storage term (it enters the error norm).
        comm: the communicator the blocks are distributed over (the norm is global).
        fixed_order: the highest order (1: backward Euler throughout, for tests and comparisons); None: MAX_ORDER.
        kinks: per unknown block, None or (knots, where): the values (units of the block) where
            the model has a kink (the knots of the piecewise-linear U(θ) table) and the mask of
            the owned nodes where it acts (the particle surface); see :func:`crosses_knot`.
        magnitudes: per unknown block, the floor m of the magnitude in the error weight
            atol + rtol max(|u|, m) (units of the block); None: 0 for every block (relative weights).
        jumping: per unknown block, True for an algebraic block that enters the norm too, but only
            on steps whose stencil holds no level from before the last restart, where it jumps (the
            cell voltage V̂ at a control change); None: no such block.
        landing: per unknown block, the knots of its ``kinks`` that steps land on
            (:meth:`time_to_knot`); None: every knot.
        warp: steps of order ≥ 2 run on the clock s = √(t − t_r) after each restart at t_r (see the module
            docstring); False: on t throughout (tests of the plain formulas, comparisons).
    """

    def __init__(self, rtol: float, atol: float, differential: Sequence[bool], comm: MPI.Comm,
                 fixed_order: int | None = None,
                 kinks: Sequence[tuple[np.ndarray, np.ndarray] | None] | None = None,
                 magnitudes: Sequence[float] | None = None, jumping: Sequence[bool] | None = None,
                 landing: Sequence[np.ndarray | None] | None = None, warp: bool = True) -> None:
        self.rtol, self.atol = float(rtol), float(atol)
        self.differential = tuple(differential)
        self.magnitudes = tuple(float(m) for m in magnitudes) if magnitudes is not None else (0.0,) * len(self.differential)
        self.kinks = tuple(kinks) if kinks is not None else (None,) * len(self.differential)
        self.jumping = tuple(jumping) if jumping is not None else (False,) * len(self.differential)
        self.landing = tuple(landing) if landing is not None else tuple(None if k is None else k[0] for k in self.kinks)
        self.comm = comm
        self.max_order = fixed_order or MAX_ORDER
        self.warp = warp
        self.times: list[float] = []  # newest first, at most MAX_ORDER + 1 levels since the restart
        self.states: list[list[np.ndarray]] = []
        self._predicted: tuple[tuple[Any, ...], list[np.ndarray]] | None = None  # (step, levels) → the predictor
        self.since_restart = 0  # accepted levels after the restart level
        self.kinked = False  # whether the stencil of the last :meth:`error` crossed a kink
        self.chosen_order = min(START_ORDER, self.max_order)  # the order selection's (:meth:`select_order`)
        self.steps_at_order = 0  # accepted steps at the chosen order since it last changed
        self.origin: float | None = None  # the last restart's time [s]: the origin of the clock s = √(t − origin)

    @classmethod
    def for_problem(cls, problem: Any, rtol: float, atol: float, comm: MPI.Comm) -> BdfIntegrator:
        """The integrator of a time-dependent problem as `ecmx run` builds it: its ``differential``
        blocks and, where the problem has them, its ``kinks``, ``error_magnitudes`` and
        ``jumping_blocks``, and the knots of its U(θ) table strong enough to land on (:func:`strong_knots`)."""
        return cls(rtol, atol, problem.differential, comm, kinks=getattr(problem, "kinks", None),
                   magnitudes=getattr(problem, "error_magnitudes", None),
                   jumping=getattr(problem, "jumping_blocks", None), landing=strong_knots(problem))

    def restart(self, time: float, state: list[np.ndarray], warped: bool = True) -> None:
        """Forget the history: the next step is backward Euler from ``state`` at ``time`` [s]; the steps of
        order ≥ 2 run on the clock √(t − time) if ``warped`` (and ``warp``), else on t."""
        self.times, self.states, self.since_restart = [float(time)], [state], 0
        self.chosen_order, self.steps_at_order = min(START_ORDER, self.max_order), 0
        self.origin = float(time) if self.warp and warped else None

    def clock(self, time: float) -> float:
        """The integration variable at ``time`` [s]: s = √(t − t_r) [√s] after a restart at t_r, else t."""
        return time if self.origin is None else math.sqrt(max(time - self.origin, 0.0))

    def rescaled(self, start: float, dt: float, factor: float, new_start: float) -> float:
        """The step [s] from ``new_start`` whose length on the √t clock (after a restart that set it; else
        on t) is ``factor`` times that of the step of ``dt`` from ``start`` (both times in s). Also for the
        backward-Euler steps of the ramp, which run on t: scaling those on t instead changed the tries of
        the five runs of MAX_ORDER by −11 to +9 (450 → 448 in all)."""
        if self.origin is None:
            return factor * dt
        length = self.clock(start + dt) - self.clock(start)
        return (self.clock(new_start) + factor * length) ** 2 + self.origin - new_start

    def _warped(self, order: int) -> bool:
        """Whether a step of ``order`` runs on s = √(t − t_r): from order 2, which is exact for a linear
        t = s² (a constant current's Na content); backward Euler on s is not, and runs on t."""
        return self.origin is not None and order >= 2

    def _clocked(self, times: Sequence[float], order: int) -> list[float]:
        """``times`` [s] on the integration variable of a step of ``order``."""
        return [self.clock(t) for t in times] if self._warped(order) else [float(t) for t in times]

    def accepted(self, time: float, state: list[np.ndarray]) -> None:
        """Add an accepted level."""
        if self.order == self.chosen_order:  # (the ramp after a restart does not count)
            self.steps_at_order += 1
        self.times = [float(time), *self.times][: self.max_order + 1]
        self.states = [state, *self.states][: self.max_order + 1]
        self.since_restart += 1

    def checkpoint_state(self) -> tuple[dict[str, Any], list[np.ndarray]]:
        """The accepted levels since the last restart: their times [s] (JSON; the order and whether
        the next step has an estimate follow from their number) and this rank's state arrays, level
        by level (newest first), block by block."""
        blocks = len(self.states[0]) if self.states else 0
        return ({"times": list(self.times), "blocks": blocks, "since_restart": self.since_restart,
                 "chosen_order": self.chosen_order, "steps_at_order": self.steps_at_order, "origin": self.origin},
                [a.copy() for level in self.states for a in level])

    def restore_checkpoint_state(self, state: dict[str, Any], arrays: Sequence[np.ndarray]) -> None:
        """Put the levels of :meth:`checkpoint_state` back (same MPI ranks)."""
        times, blocks = [float(t) for t in state["times"]], int(state["blocks"])
        if len(arrays) != len(times) * blocks:
            raise ValueError(f"{len(times)} levels of {blocks} blocks cannot take {len(arrays)} arrays")
        self.times = times
        self.states = [[np.asarray(a) for a in arrays[i * blocks:(i + 1) * blocks]] for i in range(len(times))]
        self.since_restart = int(state.get("since_restart", len(times) - 1))  # older checkpoints: as after a restart
        self.chosen_order = min(int(state.get("chosen_order", 2)), self.max_order)  # older checkpoints: BDF2
        self.steps_at_order = int(state.get("steps_at_order", 0))
        origin = state.get("origin")
        self.origin = None if origin is None else float(origin)  # older checkpoints: the plain clock

    @property
    def order(self) -> int:
        """Order of the next step: 1 until two steps since the restart, then up to the chosen order
        (:meth:`select_order`)."""
        return max(1, min(self.chosen_order, len(self.times) - 1))

    @property
    def estimated(self) -> bool:
        """Whether the next step has an error estimate (not the first step after a restart)."""
        return len(self.times) >= 2

    def weights(self, dt: float) -> tuple[float, ...]:
        """(a₀, a₁, a₂, a₃) [1/s] of the next step of ``dt`` s (zero beyond its order; on its clock, times
        ds/dt at tₙ₊₁ on √(t − t_r))."""
        t_new = self.times[0] + dt
        nodes = self._clocked([t_new, *self.times[: self.order]], self.order)
        rate = 0.5 / nodes[0] if self._warped(self.order) else 1.0  # ds/dt at t_new
        return tuple(rate * w for w in bdf_weights(nodes))

    def predict(self, dt: float) -> list[np.ndarray] | None:
        """The predictor of a step of ``dt`` s, block by block (every block, the algebraic ones too):
        the polynomial through the last order + 1 accepted levels at tₙ + dt; Newton's first guess.
        None right after a restart (one level: the last state is the guess). The arrays are computed once
        per step size and levels (:meth:`error` reads them again): callers must not modify them."""
        if not self.estimated:
            return None
        key = (float(dt), tuple(self.times), id(self.states[0]))
        if self._predicted is None or self._predicted[0] != key:
            basis = self.predictor_weights(dt)
            levels, past = self.states[: len(basis)], self.times[: len(basis)]
            predicted = [extrapolate(past, [s[b] for s in levels], past[0] + dt, basis) for b in range(len(levels[0]))]
            self._predicted = (key, predicted)
        return self._predicted[1]

    def predictor_weights(self, dt: float) -> list[float] | None:
        """The weights wᵢ of the predictor of a step of ``dt`` s on the last order + 1 accepted levels, newest
        first: :meth:`predict` is Σ wᵢ uᵢ (the Lagrange basis on the step's clock), and so is the predictor
        of any quantity linear in the state, e.g. the harmonic stress φ of two-way coupling
        (:mod:`ecmx.solver.timeloop.staggered`). None right after a restart (no predictor)."""
        if not self.estimated:
            return None
        nodes = self._stencil(self.times[0] + dt, self.order)
        return lagrange_basis(nodes[1:], nodes[0])

    def _stencil(self, t_new: float, order: int) -> list[float]:
        """tₙ₊₁ and the last order + 1 accepted levels' times (the predictor's), on the clock of a step of
        ``order``."""
        return self._clocked([t_new, *self.times[: order + 1]], order)

    def time_to_knot(self, step: float) -> float | None:
        """Time [s] until the leading surface value reaches the next knot ahead of the surface's range
        (linear in the last two levels; knots already inside the range are being crossed and do not
        count), when it lies in the first LANDING_SHARE of the proposed ``step`` [s] and beyond
        LANDING_FLOOR of the last step; else None. A milestone of the time loop: the step lands on the
        knot instead of crossing it far inside. Collective."""
        if len(self.times) < 2:
            return None
        last = self.times[0] - self.times[1]
        found = [_knot_time(self.states[0][b][kink[1]], self.states[1][b][kink[1]], self.landing[b], last, self.comm)
                 for b, kink in enumerate(self.kinks) if kink is not None and self.landing[b] is not None]
        found = [t for t in found if t is not None and LANDING_FLOOR * last < t < LANDING_SHARE * step]
        return min(found, default=None)

    def measured(self) -> list[bool]:
        """Per block, whether the next step's error norm measures it: the differential blocks, and
        the ``jumping`` ones once the predictor's levels all lie after the restart (from the fourth
        step after it with BDF2)."""
        clean = self.since_restart >= self.order + 1
        return [d or (j and clean) for d, j in zip(self.differential, self.jumping, strict=True)]

    def _crossed(self, state: list[np.ndarray], order: int) -> list[bool]:
        """Per block, whether the step's stencil (``state`` and the predictor's levels) runs through
        one of its kinks (:func:`crosses_knot`). Collective."""
        return [kink is not None and crosses_knot([state[b], *(s[b] for s in self.states[: order + 1])], *kink, self.comm)
                for b, kink in enumerate(self.kinks)]

    def error(self, dt: float, state: list[np.ndarray]) -> float:
        """The weighted max norm of the local-error estimate of a step of ``dt`` to ``state`` (0 when
        the step has no estimate); <= 1 passes. Collective."""
        self.kinked = False
        if not self.estimated:
            return 0.0
        order = self.order
        nodes = self._stencil(self.times[0] + dt, order)
        constant = error_constant(nodes[0], nodes[1:], order)
        norm, self.kinked = self._norm(state, order, constant, self.predict(dt))
        return norm

    def select_order(self, dt: float, state: list[np.ndarray], error: float) -> tuple[int, float]:
        """The order of the steps after an accepted step of ``dt`` to ``state`` whose error norm was
        ``error``, and the error norm at that order (what the step controller grows the step from).

        The candidates are the step's order k and k − 1 (down to START_ORDER), and k + 1 up to
        ``max_order`` once k + 1 steps were taken at k (the rule of DASSL and IDA: a new order first has to
        show its behaviour). Backward Euler is not a candidate: where its estimate let longer steps (a
        loose tolerance, many table knots) its O(Δt) lag accumulated, and the thin-layer voltammogram's
        peaks (rtol 1e-4) moved 1.4 mV instead of 0.07 mV from U₀.

        The local error that the step would have made at order j is estimated from the difference of
        ``state`` and the polynomial through the last j + 1 levels: it is πⱼ y⁽ʲ⁺¹⁾ with πⱼ the predictor's
        constant (:func:`error_constant`), and the error of the BDF of order j is Cⱼ y⁽ʲ⁺¹⁾. The order
        whose norm lets the largest next step, norm^{−1/(j+1)}, is chosen (the present one on a tie). At a
        kink of the model (a knot of U(θ)) the step's order is kept: there no derivative estimate means
        anything. Collective."""
        order = self.order
        if not self.estimated or self.kinked:
            return order, error
        t_new = self.times[0] + dt
        candidates = {order: error}
        levels = len(self.times)
        if order > START_ORDER:
            candidates[order - 1] = self._estimate(t_new, state, order - 1)
        if order < self.max_order and order == self.chosen_order and self.steps_at_order >= order \
                and levels >= order + 2:  # (steps_at_order counts the steps before this one)
            candidates[order + 1] = self._estimate(t_new, state, order + 1)

        def reach(item: tuple[int, float]) -> float:
            j, norm = item
            return math.inf if norm <= 0.0 else norm ** (-1.0 / (j + 1))

        best = max(sorted(candidates.items()), key=reach)
        if best[0] == order or reach(best) <= reach((order, error)):
            return order, error  # (an order below the chosen one while the levels ramp up keeps the choice)
        self.chosen_order, self.steps_at_order = best[0], 0
        return best

    def _estimate(self, t_new: float, state: list[np.ndarray], order: int) -> float:
        """The norm of Cⱼ/πⱼ (state − Pⱼ(t_new)) for the order j = ``order``: the local error of a BDF step of
        order j, Pⱼ the polynomial through the last j + 1 levels. Collective."""
        nodes = self._stencil(t_new, order)
        s_new, past = nodes[0], nodes[1:]
        corrector, pi = truncation_constants(s_new, past, order)
        constant = corrector / pi
        basis = lagrange_basis(past, s_new)
        predicted = [extrapolate(past, [s[b] for s in self.states[: order + 1]], t_new, basis) for b in range(len(state))]
        return self._norm(state, order, constant, predicted)[0]

    def _norm(self, state: list[np.ndarray], order: int, constant: float,
              predicted: list[np.ndarray]) -> tuple[float, bool]:
        """The weighted max norm of ``constant`` (state − predicted) over the measured blocks, and whether
        the stencil of ``order`` crossed a kink (see the module docstring). Collective."""
        crossed = self._crossed(state, order)
        sums = []
        for b, flag in enumerate(self.measured()):
            if not flag:
                continue
            magnitude = np.maximum(np.abs(state[b]), np.abs(self.states[0][b]))
            slack = KNOT_SLACK if self.jumping[b] and not self.differential[b] and any(crossed) else 1.0
            scale = slack * (self.atol + self.rtol * np.maximum(magnitude, self.magnitudes[b]))
            ratio = np.abs(constant * (state[b] - predicted[b]) / scale)
            if crossed[b]:
                ratio[self.kinks[b][1]] = 0.0
            sums.append(float(ratio.max()) if ratio.size else 0.0)
        return float(_reduced(np.array([max(sums, default=0.0)]), self.comm, MPI.MAX)[0]), any(crossed)


def _reduced(local: np.ndarray, comm: MPI.Comm, op: MPI.Op) -> np.ndarray:
    """``local`` reduced by ``op`` over ``comm`` (collective); on one rank ``local`` itself (these run at every
    try: no reduction of one rank's values)."""
    if comm.size == 1:
        return local
    reduced = np.empty_like(local)
    comm.Allreduce(local, reduced, op=op)
    return reduced


def crosses_knot(levels: Sequence[np.ndarray], knots: np.ndarray, where: np.ndarray, comm: MPI.Comm) -> bool:
    """Whether the step's stencil ``levels`` (the new value and the past levels of the predictor) runs
    through a kink of the model: a knot that lies strictly between the smallest and the largest value,
    over all levels, of the nodes ``where`` the kink acts (all ranks). Then the nodes ``where`` leave
    the error norm (:meth:`BdfIntegrator.error`).

    Measured on the coarse 3D golden case: the kink of U(θ) at a table knot makes the time
    derivative of the surface flux jump when the surface θ passes it, and not only at the node that
    passes: through the cell voltage every surface node feels it, and at quadrature points between
    the nodes. The second time derivative of θ jumps there, the BDF2 step drops to first order and
    the estimate (a quadratic predictor through the kink) is O(Δt²) instead of O(Δt³): 25–110 × the
    tolerance at the step the controller proposed, which cut the step ten-fold at every knot. That
    error occurs once per knot and does not accumulate, so the surface nodes leave the norm while
    the surface values straddle the knot; the nodes below the surface, and ĉ, still control the
    step. A surface that only touches a knot (θ starting at the window's edge) crosses nothing.
    Collective.
    """
    stacked = np.vstack(levels)[:, where]
    local = np.array([stacked.min(), -stacked.max()]) if stacked.size else np.full(2, np.inf)
    bounds = _reduced(local, comm, MPI.MIN)  # the smallest value and the largest (negated), in one reduction
    low, high = float(bounds[0]), -float(bounds[1])
    knots = np.asarray(knots, dtype=float)
    return bool(np.any((low < knots) & (knots < high)))


def strong_knots(problem: Any) -> list[np.ndarray | None] | None:
    """Per block of ``problem.kinks``, the knots of its U(θ) table (``problem.case``'s material) where
    the slope of U changes by at least KINK_STRENGTH; None when the problem has no such table."""
    kinks = getattr(problem, "kinks", None)
    table = getattr(getattr(getattr(problem, "case", None), "material", None), "open_circuit_voltage", None)
    if kinks is None or table is None:
        return None
    theta, voltage = np.asarray(table.stoichiometry, dtype=float), np.asarray(table.voltage, dtype=float)
    strong = theta[1:-1][np.abs(np.diff(np.diff(voltage) / np.diff(theta))) >= KINK_STRENGTH]
    return [None if kink is None else strong for kink in kinks]


def _knot_time(now: np.ndarray, before: np.ndarray, knots: np.ndarray, dt: float, comm: MPI.Comm) -> float | None:
    """Time [s] for the extreme of ``now`` that moves outward (the largest rising, the smallest
    falling, at its rate over the last step ``dt``) to reach the nearest knot outside its range."""
    local = np.array([-now.min(), now.max(), -before.min(), before.max()]) if now.size else np.full(4, -np.inf)
    bounds = _reduced(local, comm, MPI.MAX)  # the extremes (the smallest ones negated), in one reduction
    low, high, low_before, high_before = (bounds * np.array([-1.0, 1.0, -1.0, 1.0])).tolist()
    times = []
    if high > high_before and np.any(knots > high):
        times.append((knots[knots > high].min() - high) * dt / (high - high_before))
    if low < low_before and np.any(knots < low):
        times.append((low - knots[knots < low].max()) * dt / (low_before - low))
    return min(times, default=None)


def dense_output(times: Sequence[float], values: Sequence[float], t: float) -> float:
    """The interpolant through the last accepted levels (``times`` newest first, up to three) at t."""
    return float(extrapolate(list(times)[:3], [np.asarray(v, dtype=float) for v in list(values)[:3]], t))


def crossing(times: Sequence[float], values: Sequence[float], target: float) -> float | None:
    """The time in [times[1], times[0]] where the dense output (through ``times``, newest first, two
    or three levels) reaches ``target``; None when it does not cross inside."""
    lo, hi = float(times[1]), float(times[0])
    g_lo, g_hi = float(values[1]) - target, float(values[0]) - target
    if g_lo * g_hi > 0.0:
        return None
    if len(times) < 3:
        return lo + (hi - lo) * g_lo / (g_lo - g_hi) if g_lo != g_hi else hi
    for _ in range(60):  # safeguarded bisection/secant (regula falsi, Illinois) on the interpolant
        mid = lo + (hi - lo) * g_lo / (g_lo - g_hi) if g_lo != g_hi else 0.5 * (lo + hi)
        g = dense_output(times, values, mid) - target
        if abs(g) <= 1e-14 * max(abs(target), 1.0) or hi - lo <= 1e-12 * max(abs(hi), 1.0):
            return mid
        if g * g_lo > 0.0:
            lo, g_lo, g_hi = mid, g, 0.5 * g_hi
        else:
            hi, g_hi, g_lo = mid, g, 0.5 * g_lo
    return 0.5 * (lo + hi)

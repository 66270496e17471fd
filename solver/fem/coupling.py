"""Chemo-mechanical coupling: the stagger between the cell problem and the particle mechanics.

After each accepted time step the mechanics is solved at the new particle concentration
(quasi-static, :class:`~ecmx.solver.fem.mechanics.MechanicsProblem`). The two couplings are
siblings behind one interface, the time-loop observer method :meth:`ChemoMechanicalCoupling.step_accepted`,
run before the results are recorded:

- :class:`OneWayCoupling`: the stress follows the concentration; nothing flows back.
- :class:`TwoWayCoupling`: stress-assisted diffusion. The cell problem carries the flux
  J_σ = D c_s Ω/(RT)(∇φ − k_σ∇c_s) (:func:`ecmx.solver.physics.stress_diffusion.stress_assisted_flux_split`)
  with its local part implicit; the harmonic part φ [Pa] of σ_h is copied from the mechanics into
  the cell problem's ``harmonic_hydrostatic`` after each solve, i.e. lagged one step (stable; exact
  for a sphere, where ∇φ = 0).
"""

from __future__ import annotations

from typing import Any

from ecmx.solver.errors import CaseError, SolveError


def two_way_partial_molar_volume(material: Any) -> float:
    """Ω [m³/mol] of a validated material for two-way coupling, which needs an isotropic expansion
    linear in c_s (``partial_molar_volume``, or ``volume_change`` over a window); CaseError otherwise."""
    omega = material.partial_molar_volume
    if omega is None:
        raise CaseError(
            "two-way coupling needs an isotropic expansion linear in c_s (partial_molar_volume or volume_change"
            " with over); tables and lattice data work with one-way coupling",
            key="mechanics.coupling",
        )
    return omega


class ChemoMechanicalCoupling:
    """The mechanics solve after each accepted step (a time-loop observer; collective).

    Args:
        problem: the cell problem (its ``fields`` refresh the SI particle concentration on access).
        mechanics: the particle mechanics, reading that concentration.
    """

    def __init__(self, problem: Any, mechanics: Any):
        self.problem = problem
        self.mechanics = mechanics

    def update(self, time_s: float) -> None:
        """Solve the mechanics at the problem's current state and pass back what the coupling needs.

        Raises:
            SolveError: the mechanics linear solve failed (the run cannot go on).
        """
        self.problem.fields  # noqa: B018  (CellProblem refreshes its SI fields on access)
        try:
            self.mechanics.solve()
        except RuntimeError as exc:
            raise SolveError(f"mechanics solve failed at t = {time_s:.6g} s: {exc}") from exc
        self._feed_back()

    def _feed_back(self) -> None:
        """Pass the new mechanics state to the cell problem (nothing for one-way coupling)."""

    # -- observer interface ---------------------------------------------------------------------
    def segment_started(self, segment: Any, index: int, count: int) -> None:
        """Nothing to do at a segment start."""

    def step_accepted(self, record: Any) -> None:
        self.update(record.time_s)

    def snapshot(self, depth_of_discharge: float, record: Any) -> None:
        """Nothing to do at a snapshot (the mechanics is already at the step's state)."""


class OneWayCoupling(ChemoMechanicalCoupling):
    """Stress follows concentration; no feedback into the cell problem."""


class TwoWayCoupling(ChemoMechanicalCoupling):
    """Stress-assisted diffusion: φ = ``mechanics.fields["harmonic_hydrostatic"]`` [Pa] goes into
    ``problem.harmonic_hydrostatic`` after each mechanics solve."""

    def _feed_back(self) -> None:
        self.problem.harmonic_hydrostatic.interpolate(self.mechanics.fields["harmonic_hydrostatic"])


def coupling_for(problem: Any, mechanics: Any) -> ChemoMechanicalCoupling:
    """The coupling a problem was built for: two-way when it carries ``harmonic_hydrostatic``."""
    if getattr(problem, "harmonic_hydrostatic", None) is not None:
        return TwoWayCoupling(problem, mechanics)
    return OneWayCoupling(problem, mechanics)

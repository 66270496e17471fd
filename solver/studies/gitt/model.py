"""The sphere-1d model of one GITT pulse and its relaxation, built once and re-run with other D.

:class:`PulseModel` builds the full ecmx cell problem on a ``sphere-1d`` mesh (Fickian particle,
Butler–Volmer kinetics, uniform electrolyte, Na metal) once; every evaluation only changes Constants:
the factor on D_s(θ) (``FickianParticle.diffusivity_factor``), the uniform starting stoichiometry and
the current. The time loop is the one of ``ecmx run`` (adaptive BDF at ``solver.rtol``), so the
model is the simulator itself. Speed on this machine (2 cores shared): about 0.5–1 s per pulse and
relaxation at rtol 1e-6 with 40 elements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ecmx.solver.timeloop.integrators import BdfIntegrator
from ecmx.solver.timeloop.protocol import Control, Event, ProtocolStep, Segment
from ecmx.solver.timeloop.runner import ProtocolRunner, StepRecord
from ecmx.solver.timeloop.stepping import StepController


@dataclass
class _Trace:
    """Observer: (time [s], voltage [V]) of every accepted step, by segment kind."""

    points: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    kind: str = ""

    def segment_started(self, segment: Segment, index: int, count: int) -> None:
        self.kind = segment.kind
        self.points.setdefault(self.kind, [])

    def step_accepted(self, record: StepRecord) -> None:
        if record.segment is not None:
            self.points[self.kind].append((record.time_s, record.quantities["voltage_V"]))

    def snapshot(self, depth_of_discharge: float, record: StepRecord) -> None:
        """Not used."""

    def voltage(self, kind: str, times: np.ndarray) -> np.ndarray:
        """The voltage of segment ``kind`` at ``times`` [s] (linear between accepted steps, held at the ends)."""
        t, v = np.array(self.points[kind]).T
        return np.interp(times, t, v)


class PulseModel:
    """One compiled sphere-1d problem for many pulse simulations (collective over ``comm``).

    Args:
        case: a validated sphere-1d case (material with the D_s(θ) shape, OCV, kinetics, radius).
        comm: the MPI communicator (a sphere-1d problem is small: one rank is enough).
    """

    def __init__(self, case: Any, comm: Any = None) -> None:
        from mpi4py import MPI

        from ecmx.meshes import load_mesh
        from ecmx.solver.fem.cell_problem import CellProblem

        self.case = case
        self.problem = CellProblem(load_mesh(case.geometry, comm=comm or MPI.COMM_SELF), case)
        self.simulations = 0

    @property
    def particle_volume_m3(self) -> float:
        return self.problem.particle_volume_m3

    def voltages(self, factor: float, theta0: float, current: float, pulse_s: float, rest_s: float,
                 pulse_times: np.ndarray, rest_times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Simulate a pulse of ``current`` [A] (> 0 extracts Na) for ``pulse_s`` then a rest of ``rest_s``
        [s] from a uniform particle at ``theta0``, with D_s(θ) times ``factor``.

        Returns the voltage [V] at ``pulse_times`` and ``rest_times`` (s from the pulse start; the rest
        times after ``pulse_s``), each read on its own segment so that the edges are not smeared.
        Raises SolveError when the solve fails.
        """
        problem, case = self.problem, self.case
        problem.particle.diffusivity_factor.value = factor
        cmax = case.material.max_concentration
        problem.set_control("current", 0.0)
        problem.set_state(particle_concentration=lambda x: np.full(x.shape[1], theta0 * cmax))
        segments = [Segment(1, "pulse", Control("current", current), [_end(pulse_s)]),
                    Segment(1, "rest", Control("current", 0.0), [_end(rest_s)])]
        trace = _Trace()
        integrator = BdfIntegrator.for_problem(problem, case.solver.rtol, case.solver.atol, problem.comm)
        runner = ProtocolRunner(problem, [ProtocolStep(1, "gitt", segments, 1)],
                                StepController.from_settings(case.solver.time_step), capacity_C=problem.capacity_C,
                                stoichiometry_window=case.material.stoichiometry_window, observer=trace,
                                max_steps=case.solver.max_steps, integrator=integrator)
        runner.run()
        self.simulations += 1
        return trace.voltage("pulse", pulse_times), trace.voltage("rest", rest_times)


def _end(duration: float) -> Event:
    return Event("time", float(duration), +1, scope="segment", clock="segment", label="segment end")

"""A fake coupled problem for testing the time loop, protocols and writers without the FE solver.

:class:`FakeCellProblem` implements the ``CellProblem`` interface of the team brief with a
two-compartment particle (a surface shell and a core exchanging Na at a finite rate) behind
Butler–Volmer kinetics, integrated with the scheme weights the time loop passes (backward Euler, BDF2 or
BDF3, ∂u/∂t ≈ a₀ u + a₁ uₙ + a₂ uₙ₋₁ + a₃ uₙ₋₂):

  f_s Q dθ_s/dt = −I − k Q (θ_s − θ_c),  (1 − f_s) Q dθ_c/dt = k Q (θ_s − θ_c),  Q = F c_max V [C],
  V = U(θ_s) + (2RT/F) asinh(I / (2 A i₀)),  U(θ) = 3.4 − 0.3 (θ − ½) + 0.02 ln((1 − θ)/θ).

It conserves Na exactly, relaxes during rests (so voltage events in rests are meaningful) and can
inject failures: steps longer than ``fail_above_dt``, steps that reach past ``fail_after`` [s], or
steps ending inside a time window unless shorter than a given step. Fields are real DOLFINx
functions on small interval/rectangle meshes so that the writers are exercised too.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import math
from dataclasses import dataclass

import dolfinx
import numpy as np
from mpi4py import MPI

F = 96485.33212
R_GAS = 8.314462618


@dataclass
class StepOutcome:
    converged: bool
    newton_iterations: int
    reason: str = ""


def ocv(theta: float) -> float:
    """Open-circuit voltage [V] of the fake material."""
    return 3.4 - 0.3 * (theta - 0.5) + 0.02 * math.log((1.0 - theta) / theta)


class FakeCellProblem:
    """0D two-compartment particle with the CellProblem interface (see module docstring)."""

    def __init__(self, case, comm: MPI.Comm = MPI.COMM_WORLD, *, exchange_rate: float = 0.02,
                 shell_fraction: float = 0.2, with_electrolyte: bool = True, fail_above_dt: float | None = None,
                 fail_after: float | None = None, fail_window: tuple[float, float, float] | None = None):
        m = case.material
        self.c_max = m.max_concentration
        self.theta_lo, self.theta_hi = m.stoichiometry_window
        self.radius = case.geometry.particle.radius
        self.volume = 4.0 / 3.0 * math.pi * self.radius**3
        self.particle_area_m2 = 4.0 * math.pi * self.radius**2
        self.capacity_C = F * self.c_max * (self.theta_hi - self.theta_lo) * self.volume
        self.q = F * self.c_max * self.volume
        self.i0 = m.exchange_current_density
        self.rt_f = R_GAS * case.temperature / F
        self.k = exchange_rate
        self.fs = shell_fraction
        self.c_bulk = case.electrolyte.concentration
        self.theta0 = case.initial_stoichiometry()
        self.fail_above_dt = fail_above_dt
        self.fail_after = fail_after
        self.fail_window = fail_window
        self.tries: list[float] = []
        self.mode, self.value = "current", 0.0
        self.harmonic_hydrostatic = None  # one-way mechanics only
        self.differential = (True,)  # one block: the two compartments
        self.num_dofs = 2 + 1  # the two compartments and the voltage

        self.particle_mesh = dolfinx.mesh.create_interval(comm, 8, [0.0, self.radius / 1e-6])
        vp = dolfinx.fem.functionspace(self.particle_mesh, ("Lagrange", 1))
        self._fields = {"particle_concentration": dolfinx.fem.Function(vp, name="particle_concentration")}
        if with_electrolyte:
            self.electrolyte_mesh = dolfinx.mesh.create_rectangle(comm, [[0.0, 0.0], [3.0, 2.0]], [4, 3])
            ve = dolfinx.fem.functionspace(self.electrolyte_mesh, ("Lagrange", 1))
            self._fields["electrolyte_concentration"] = dolfinx.fem.Function(ve, name="electrolyte_concentration")
            self._fields["electrolyte_potential"] = dolfinx.fem.Function(ve, name="electrolyte_potential")
        self.set_initial_state()

    # -- state ---------------------------------------------------------------------------------
    def set_initial_state(self) -> None:
        self.t = 0.0
        self.old = (self.theta0, self.theta0, 0.0)  # theta_shell, theta_core, current
        self.older = self.oldest = self.old
        self.new = self.old
        self._update_fields()

    def set_control(self, mode: str, value: float) -> None:
        assert mode in ("current", "voltage")
        self.mode, self.value = mode, float(value)

    def _solve_current(self, current: float, weights: tuple[float, ...]) -> tuple[float, float]:
        """One step of the two compartments under a given current with the scheme's weights [1/s]."""
        (ts0, tc0, _), (ts1, tc1, _), (ts2, tc2, _) = self.old, self.older, self.oldest
        a0, a1, a2, a3 = (*weights, 0.0, 0.0, 0.0)[:4]
        k = self.k
        # fs (a0 ts + a1 ts0 + a2 ts1 + a3 ts2) = -I/q - k (ts - tc);  (1-fs)(a0 tc + …) = k (ts - tc)
        m = np.array([[self.fs * a0 + k, -k], [-k, (1.0 - self.fs) * a0 + k]])
        rhs = np.array([-self.fs * (a1 * ts0 + a2 * ts1 + a3 * ts2) - current / self.q,
                        -(1.0 - self.fs) * (a1 * tc0 + a2 * tc1 + a3 * tc2)])
        ts, tc = np.linalg.solve(m, rhs)
        return float(ts), float(tc)

    def _overpotential(self, current: float) -> float:
        return 2.0 * self.rt_f * math.asinh(current / (2.0 * self.particle_area_m2 * self.i0))

    def _voltage(self, ts: float, current: float) -> float:
        return ocv(ts) + self._overpotential(current)

    def try_step(self, dt: float, weights: tuple[float, ...] | None = None, guess=None,
                 budget=None) -> StepOutcome:
        weights = weights or (1.0 / dt, -1.0 / dt)
        self.tries.append(dt)
        end = self.t + dt
        if self.fail_above_dt is not None and dt > self.fail_above_dt:
            return StepOutcome(False, 25, "injected: step too long")
        if self.fail_after is not None and end > self.fail_after:
            return StepOutcome(False, 25, "injected: past fail_after")
        if self.fail_window is not None:
            t0, t1, dt_ok = self.fail_window
            if t0 < end and self.t < t1 and dt > dt_ok:
                return StepOutcome(False, 25, "injected: hard window")
        if self.mode == "current":
            current, iterations = self.value, 2
        else:
            current, iterations = self.old[2], 0
            for iterations in range(1, 50):  # noqa: B007 (the count is reported after the loop)
                g = self._hold_residual(current, weights)
                h = 1e-9 * max(abs(current), self.capacity_C / 3600.0)
                dg = (self._hold_residual(current + h, weights) - g) / h
                step = g / dg
                current -= step
                if abs(step) < 1e-12 * self.capacity_C / 3600.0:
                    break
            else:
                return StepOutcome(False, iterations, "hold Newton did not converge")
        ts, tc = self._solve_current(current, weights)
        if not (0.0 < ts < 1.0 and 0.0 < tc < 1.0):
            return StepOutcome(False, iterations, "stoichiometry left (0, 1)")
        self.new = (ts, tc, current)
        self._pending_dt = dt
        return StepOutcome(True, iterations)

    def _hold_residual(self, current: float, weights: tuple[float, ...]) -> float:
        ts, _ = self._solve_current(current, weights)
        ts = min(max(ts, 1e-12), 1 - 1e-12)
        return self._voltage(ts, current) - self.value

    def state(self) -> list[np.ndarray]:
        """The owned values of the one block (θ_shell, θ_core)."""
        return [np.array(self.new[:2])]

    def accept(self) -> None:
        self.oldest = self.older
        self.older = self.old
        self.old = self.new
        self.t += self._pending_dt
        self._update_fields()

    def reject(self) -> None:
        self.new = self.old

    def state_arrays(self) -> list[np.ndarray]:
        return [np.array([*self.old, self.t])]

    def restore_state(self, arrays) -> None:
        *state, self.t = (float(v) for v in arrays[0])
        self.old = self.new = tuple(state)
        self._update_fields()

    def checkpoint_state(self) -> list[np.ndarray]:
        """The time history beyond the accepted state: the two levels before it (θ_shell, θ_core, I)."""
        return [np.array(self.older), np.array(self.oldest)]

    def restore_checkpoint_state(self, arrays) -> None:
        self.older, self.oldest = (tuple(float(v) for v in a) for a in arrays)

    def _update_fields(self) -> None:
        ts, tc, current = self.new
        c = self._fields["particle_concentration"]
        c.interpolate(lambda x: self.c_max * (tc + (ts - tc) * (x[0] / (self.radius / 1e-6)) ** 2))
        if "electrolyte_concentration" in self._fields:
            self._fields["electrolyte_concentration"].x.array[:] = self.c_bulk
            self._fields["electrolyte_potential"].interpolate(lambda x: -1e-3 * current * 1e9 * x[1])

    # -- outputs -------------------------------------------------------------------------------
    def quantities(self) -> dict[str, float]:
        ts, tc, current = self.new
        theta_mean = self.fs * ts + (1.0 - self.fs) * tc
        return {
            "current_A": current,
            "voltage_V": self._voltage(ts, current) if self.mode == "current" else self.value,
            "theta_mean": theta_mean,
            "c_mean": self.c_max * theta_mean,
            "c_min": self.c_max * min(ts, tc),
            "c_max": self.c_max * max(ts, tc),
            "c_surface_mean": self.c_max * ts,
            "electrolyte_c_min": self.c_bulk,
            "electrolyte_c_max": self.c_bulk,
            "na_total_mol": self.c_max * self.volume * theta_mean,
            "interface_current_A": current,
        }

    @property
    def fields(self) -> dict[str, dolfinx.fem.Function]:
        return dict(self._fields)

    def probe(self, points: np.ndarray) -> dict[str, np.ndarray]:
        points = np.atleast_2d(np.asarray(points, dtype=float))
        r = np.linalg.norm(points, axis=1)
        inside = r <= self.radius / 1e-6 + 1e-12
        ts, tc, _ = self.new
        c = self.c_max * (tc + (ts - tc) * (r / (self.radius / 1e-6)) ** 2)
        out = {"particle_concentration": np.where(inside, c, np.nan)}
        if "electrolyte_concentration" in self._fields:
            out["electrolyte_concentration"] = np.where(inside, np.nan, self.c_bulk)
            out["electrolyte_potential"] = np.where(inside, np.nan, 0.0)
        return out


class FakeMechanics:
    """Stands in for MechanicsProblem: 'stresses' proportional to the concentration swing.

    ``von_mises`` = k (c_max − c_min), a DG0 field (cell data in the output); ``fail_at_solve``
    makes that solve raise like a failed linear solve.
    """

    def __init__(self, problem: FakeCellProblem, k: float = 1e3, fail_at_solve: int | None = None):
        self.problem = problem
        self.k = k
        self.fail_at_solve = fail_at_solve
        self.solves = 0
        mesh = problem.particle_mesh
        self.fields = {"von_mises": dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("DG", 0)), name="von_mises"),
                       "displacement": dolfinx.fem.Function(dolfinx.fem.functionspace(mesh, ("Lagrange", 2, (1,))),
                                                            name="displacement")}

    def _swing(self) -> float:
        q = self.problem.quantities()
        return q["c_max"] - q["c_min"]

    def solve(self) -> None:
        self.solves += 1
        if self.fail_at_solve is not None and self.solves >= self.fail_at_solve:
            raise RuntimeError("mechanics linear solve failed (KSP reason -3)")
        self.fields["von_mises"].x.array[:] = self.k * self._swing()
        self.fields["displacement"].interpolate(lambda x: np.vstack([1e-9 * x[0]]))

    def quantities(self) -> dict[str, float]:
        s = self.k * self._swing()
        return {"von_mises_max": s, "hydrostatic_min": -s / 3, "hydrostatic_max": 2 * s / 3, "max_principal_max": s}

    def probe(self, points: np.ndarray) -> dict[str, np.ndarray]:
        n = len(points)
        s = self.k * self._swing()
        return {"von_mises": np.full(n, s), "hydrostatic": np.full(n, s / 3), "radial_stress": np.full(n, 0.0),
                "tangential_stress": np.full(n, -s)}

"""Small-signal impedance of the coupled cell problem at a rest state (docs/model.md §3c).

The time loop solves R(u, u̇; Î) = 0, where u̇ enters only through the storage terms
``history.rate(u)`` = a₀u + a₁uₙ + a₂uₙ₋₁ (:mod:`ecmx.solver.fem.time_history`), linearly. At a rest
state u₀ (R = 0, u̇ = 0, I = 0) a current δÎ e^(iω̂t̂) gives the response δu e^(iω̂t̂) with

    (J + iω̂ M) δu = b δÎ,   J = ∂R/∂u at u̇ = 0,   M = ∂R/∂u̇,   b = −∂R/∂Î,

all from the compiled forms of the time loop: J is their Jacobian with the weights (a₀, a₁, a₂) =
(0, 0, 0), M the Jacobian with (1, 0, 0) minus J (the storage terms are linear in u̇), b = R(Î = 0) −
R(Î = 1) (the voltage row is linear in Î). PETSc is real, so δu = x_r + i x_i solves

    [[J, −ω̂M], [ω̂M, J]] [x_r; x_i] = [b; 0]

(a MatNest of the blocks converted to one AIJ matrix and factorised by MUMPS, per frequency).
Nondimensional: ω̂ = ω t₀, potentials in RT/F, currents in i* R². The impedance is
Z = δV/δI = δV̂ (RT/F)/(i* R²) [Ω], δI anodic positive (charge), so Re Z > 0.

The state is linearised as it is: the caller puts it at rest (uniform θ, c = c₀, rest potentials,
:meth:`~ecmx.solver.fem.cell_problem.CellProblem.set_initial_state`). Two-way chemo-mechanics is not
linearised (the stress term is held at its rest value). Collective.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
from petsc4py import PETSc

from ecmx.solver.errors import SolveError
from ecmx.solver.fem.newton import MUMPS_CONTROLS


def _matrix(forms: Sequence[Sequence[Any]]) -> PETSc.Mat:
    """The assembled monolithic block matrix of ``forms``."""
    matrix = dolfinx.fem.petsc.assemble_matrix(forms)
    matrix.assemble()
    return matrix


def _vector(forms: Sequence[Any]) -> PETSc.Vec:
    """The assembled monolithic block vector of ``forms`` (ghost contributions summed)."""
    vector = dolfinx.fem.petsc.assemble_vector(forms, kind=PETSc.Vec.Type.MPI)
    vector.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
    return vector


class Linearisation:
    """J, M and b of a cell problem at its present (rest) state, and the voltage response per frequency.

    Args:
        problem: a :class:`~ecmx.solver.fem.cell_problem.CellProblem` at rest; its control and scheme
            weights are restored afterwards.

    Attributes:
        rest_residual: the max norm of R(u₀, u̇ = 0; Î = 0), ~0 at an exact rest state.
    """

    def __init__(self, problem: Any) -> None:
        self.comm = problem.comm
        residuals, jacobian = problem.compiled_forms
        history = problem.history
        weights = [float(c.value) for c in history.weights]
        control = problem.control
        problem.particle.update_tabulated()
        problem.set_control("current", 0.0)
        history.set_weights((0.0, 0.0, 0.0))
        self.jacobian = _matrix(jacobian)
        rest = _vector(residuals)
        self.rest_residual = rest.norm(PETSc.NormType.INFINITY)
        problem.set_control("current", problem.scales.current)  # Î = 1
        self.source = rest.copy()
        self.source.axpy(-1.0, _vector(residuals))
        history.set_weights((1.0, 0.0, 0.0))
        self.mass = _matrix(jacobian)
        self.mass.axpy(-1.0, self.jacobian)
        history.set_weights(weights)
        problem.set_control(*control)
        owned, _ = rest.getAttr("_blocks")
        self._voltage = slice(owned[-2], owned[-1])  # the cell voltage is the last block
        self._size = owned[-1]

    def voltage_response(self, omega: float) -> complex:
        """δV̂ per δÎ at the nondimensional angular frequency ω̂ = ω t₀ (collective)."""
        coupling = self.mass.copy()
        coupling.scale(omega)
        minus = self.mass.copy()
        minus.scale(-omega)
        nest = PETSc.Mat().createNest([[self.jacobian, minus], [coupling, self.jacobian]], comm=self.comm)
        system = nest.convert("aij")
        rhs, x = system.createVecs()
        n = self._size
        rhs.zeroEntries()
        rhs.array[:n] = self.source.array_r[:n]
        ksp = _mumps(system)
        ksp.solve(rhs, x)
        if ksp.getConvergedReason() <= 0:
            raise SolveError(f"the impedance system at ω t₀ = {omega:.6g} could not be solved "
                             f"(KSP reason {ksp.getConvergedReason()})")
        local = x.array_r
        real = float(np.sum(local[self._voltage]))
        imag = float(np.sum(local[n + self._voltage.start:n + self._voltage.stop]))
        for obj in (ksp, system, nest, coupling, minus, rhs, x):
            obj.destroy()
        return complex(self.comm.allreduce(real), self.comm.allreduce(imag))


def _mumps(matrix: PETSc.Mat) -> PETSc.KSP:
    """A direct MUMPS solver of ``matrix``."""
    ksp = PETSc.KSP().create(matrix.getComm())
    ksp.setOperators(matrix)
    ksp.setType("preonly")
    pc = ksp.getPC()
    pc.setType("lu")
    pc.setFactorSolverType("mumps")
    pc.setFactorSetUpSolverType()
    factor = pc.getFactorMatrix()
    for icntl, value in MUMPS_CONTROLS.items():
        factor.setMumpsIcntl(icntl, value)
    return ksp


def impedance(problem: Any, frequencies_hz: Sequence[float]) -> np.ndarray:
    """Z(f) = δV/δI [Ω] (complex; δI anodic positive) of ``problem`` at its present rest state, per
    frequency [Hz]. Collective; every rank gets the same array."""
    linear = Linearisation(problem)
    sc = problem.scales
    volts_per_amp = sc.thermal_voltage / sc.current
    return np.array([linear.voltage_response(2.0 * math.pi * f * sc.time) * volts_per_amp for f in frequencies_hz])

"""Verification of the electrolyte and Na-metal laws in a planar Na | NaX | Na cell (docs/model.md §5).

A dedicated 1D cell built from the same physics modules as the coupled problem
(``ecmx.solver.physics.electrolyte`` rows, ``kinetics.na_metal_current`` at both faces, a real
unknown for the cell voltage with the galvanostatic constraint): Na is oxidised at x = 0 (metal at
potential 0) and Na⁺ reduced at x = L (metal at potential V).

Checks: the steady profile c₀[1 + (i/i_lim)(1 − 2x/L)], the limiting current 4FD₊c₀/L, the steady
electrolyte potential drop (RT/F) ln[(1 + i/i_lim)/(1 − i/i_lim)], the transient series, and the
small-current ratio R_ohm/R_electrolyte = t₊.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import math

import basix.ufl
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from ecmx.solver.fem.newton import newton_options
from ecmx.solver.physics import electrolyte as electrolyte_law
from ecmx.solver.physics import kinetics
from ecmx.solver.units import F

D_PLUS, D_MINUS = 2.26e-11, 2.77e-11
D_SALT = 2 * D_PLUS * D_MINUS / (D_PLUS + D_MINUS)
T_PLUS = D_PLUS / (D_PLUS + D_MINUS)
C0 = 1000.0  # mol/m³
LENGTH = 10e-6  # m
I_LIM = 4 * F * D_PLUS * C0 / LENGTH  # A/m²


class PlanarCell:
    """Nondimensional: x by L, t by L²/D_salt, c by c₀, potentials by RT/F, currents by F D_salt c₀/L."""

    def __init__(self, elements: int = 64, exchange_current: float = 1e6) -> None:
        msh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, elements, [0.0, 1.0])
        self.msh = msh
        V = fem.functionspace(msh, ("Lagrange", 1))
        R = fem.functionspace(msh, basix.ufl.real_element(msh.basix_cell(), dtype=dolfinx.default_real_type))
        self.c, self.c_old, self.phi = fem.Function(V), fem.Function(V), fem.Function(V)
        self.volt = fem.Function(R)
        self.dt = fem.Constant(msh, PETSc.ScalarType(1.0))
        self.current = fem.Constant(msh, PETSc.ScalarType(0.0))  # i/i*, positive: Na⁺ from x=0 to x=L
        w_c, w_phi, q = ufl.TestFunctions(ufl.MixedFunctionSpace(V, V, R))
        i_scale = F * D_SALT * C0 / LENGTH
        facets_left = dolfinx.mesh.locate_entities_boundary(msh, 0, lambda x: np.isclose(x[0], 0.0))
        facets_right = dolfinx.mesh.locate_entities_boundary(msh, 0, lambda x: np.isclose(x[0], 1.0))
        tags = dolfinx.mesh.meshtags(
            msh, 0, np.concatenate([facets_left, facets_right]).astype(np.int32),
            np.concatenate([np.full(facets_left.size, 1), np.full(facets_right.size, 2)]).astype(np.int32),
        )
        order = np.argsort(tags.indices)
        tags = dolfinx.mesh.meshtags(msh, 0, tags.indices[order], tags.values[order])
        ds = ufl.Measure("ds", domain=msh, subdomain_data=tags)
        c_rel = self.c * C0 / kinetics.REFERENCE_CONCENTRATION
        metal = kinetics.NaMetalButlerVolmer(exchange_current=exchange_current, alpha_a=0.5, alpha_c=0.5)
        i_left = metal.current_density(0.0 - self.phi, c_rel)  # anodic at x=0
        i_right = metal.current_density(self.volt - self.phi, c_rel)
        grad = ufl.grad
        residual = [
            electrolyte_law.anion_residual(self.c, self.c_old, self.phi, w_c, self.dt, D_MINUS / D_SALT, grad) * ufl.dx,
            electrolyte_law.charge_residual(self.c, self.phi, w_phi, D_PLUS / D_SALT, D_MINUS / D_SALT, grad) * ufl.dx
            - (i_left / i_scale) * w_phi * ds(1)
            - (i_right / i_scale) * w_phi * ds(2),
            (i_right / i_scale + self.current) * q * ds(2),
        ]
        self.problem = dolfinx.fem.petsc.NonlinearProblem(
            residual, [self.c, self.phi, self.volt], petsc_options_prefix="planar_",
            petsc_options=newton_options(1e-9, 1e-10, 30),
        )
        self.x = V.tabulate_dof_coordinates()[:, 0]
        self.c.x.array[:] = 1.0
        self.c_old.x.array[:] = 1.0
        self.phi.x.array[:] = metal.rest_potential(C0 / kinetics.REFERENCE_CONCENTRATION)
        self.volt.x.array[:] = 0.0
        self.i_scale = i_scale
        self.t = 0.0

    def step(self, current_density: float, dt_hat: float) -> None:
        self.current.value = current_density / self.i_scale
        self.dt.value = dt_hat
        self.problem.solve()
        reason = self.problem.solver.getConvergedReason()
        if reason <= 0 or self.c.x.array.min() <= 0.0:
            raise RuntimeError(f"planar cell step failed (reason {reason}, min c {self.c.x.array.min():.3g})")
        self.c_old.x.array[:] = self.c.x.array
        self.t += dt_hat

    def run(self, current_density: float, t_end: float, steps: int) -> None:
        for _ in range(steps):
            self.step(current_density, t_end / steps)

    def at(self, u: fem.Function, x: float) -> float:
        return float(u.x.array[np.argmin(np.abs(self.x - x))])

    @property
    def potential_drop(self) -> float:
        """φ_e(0) − φ_e(L) in units of RT/F."""
        return self.at(self.phi, 0.0) - self.at(self.phi, 1.0)


def test_steady_profile_and_potential_drop():
    delta = 0.6
    cell = PlanarCell()
    cell.run(delta * I_LIM, t_end=3.0, steps=60)  # e^{-π² 3} ~ 1e-13: steady
    exact = 1.0 + delta * (1.0 - 2.0 * cell.x)
    assert np.max(np.abs(cell.c.x.array - exact)) <= 0.01 * delta
    print(f"steady profile error {np.max(np.abs(cell.c.x.array - exact)) / delta:.2e} of the swing; "
          f"potential drop {cell.potential_drop:.6f} vs {math.log((1 + delta) / (1 - delta)):.6f} RT/F")
    assert cell.potential_drop == pytest.approx(math.log((1 + delta) / (1 - delta)), rel=1e-2)
    # the anion does not move at steady state: c e^{-φ} uniform
    anion_potential = np.log(cell.c.x.array) - cell.phi.x.array
    assert np.ptp(anion_potential) < 1e-3


def test_limiting_current():
    """c(L) falls linearly with i and vanishes at i_lim = 4FD₊c₀/L; beyond it no positive steady state."""
    surface = []
    for delta in (0.3, 0.7):
        cell = PlanarCell()
        cell.run(delta * I_LIM, t_end=3.0, steps=40)
        surface.append(cell.at(cell.c, 1.0))
    slope = (surface[1] - surface[0]) / 0.4
    i_lim = 0.3 - surface[0] / slope
    print(f"limiting current {i_lim:.6f} i_lim")
    assert i_lim == pytest.approx(1.0, rel=1e-2)
    cell = PlanarCell()
    with pytest.raises(RuntimeError, match="failed"):
        cell.run(1.05 * I_LIM, t_end=3.0, steps=40)


def series(x: np.ndarray, t: float, flux: float) -> np.ndarray:
    """c/c₀ − 1 with flux = J L/(D_salt c₀), J = (1 − t₊) i/F (docs/model.md §5)."""
    n = np.arange(1, 400, 2)
    terms = 4 / (n**2 * np.pi**2) * np.cos(np.outer(x, n) * np.pi) * np.exp(-(n**2) * np.pi**2 * t)
    return flux * ((0.5 - x) - terms.sum(axis=1))


def test_transient_series():
    delta = 0.4
    cell = PlanarCell(elements=128)
    flux = (1 - T_PLUS) * delta * I_LIM / F * LENGTH / (D_SALT * C0)
    swing = flux  # steady c(0) − c(L) over c₀
    for t_end in (0.02, 0.1, 0.4):
        steps = round((t_end - cell.t) / 2.5e-4)
        cell.run(delta * I_LIM, t_end - cell.t, steps)
        err = np.max(np.abs(cell.c.x.array - 1.0 - series(cell.x, cell.t, flux)))
        print(f"transient t̂ = {t_end}: error {err / swing:.2e} of the steady swing")
        assert err <= 0.01 * swing, f"t̂ = {t_end}: error {err / swing:.2%} of the steady swing"


def test_ohmic_fraction_is_transference_number():
    """Small current: the instantaneous (ohmic) voltage over the steady voltage equals t₊."""
    i, i0 = 1e-3 * I_LIM, 1e5
    cell = PlanarCell(elements=64, exchange_current=i0)
    v_kinetic = 2 * i / i0  # both Na faces, linear Butler–Volmer (α_a + α_c = 1), RT/F units
    cell.step(i, 1e-9)
    v_ohm = -float(cell.volt.x.array[0]) - v_kinetic  # the metal at x = L sits below the one at x = 0
    cell.run(i, t_end=3.0, steps=40)
    v_steady = -float(cell.volt.x.array[0]) - v_kinetic
    print(f"R_ohm/R_electrolyte = {v_ohm / v_steady:.5f}, t+ = {T_PLUS:.5f}")
    assert v_ohm / v_steady == pytest.approx(T_PLUS, rel=1e-2)

"""Two-way chemo-mechanical coupling (stress-assisted diffusion) in the small-swing limit.

A sphere-1d particle under constant insertion flux is solved monolithically for the
concentration c, the displacement u and a continuous (L2-projected) hydrostatic stress σ_h, with the
stress-driven flux J_σ = D c Ω/(RT) ∇σ_h (ecmx.solver.physics.mechanics.stress_assisted_flux).
For a free sphere σ_h = 2ΩE/(9(1−ν)) (C̄_R − Δc), so in the small-swing limit the coupled problem
is plain diffusion with D_eff = D(1 + 2Ω²E c₀/(9RT(1−ν))) (issue 4). The reference is the one-way
solution (no J_σ) with D_eff, on the same mesh and time steps.
"""

from __future__ import annotations

import dolfinx_solver  # noqa: F401

import basix.ufl
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import pytest
import ufl
from dolfinx import fem
from mpi4py import MPI

from ecmx.solver.physics import mechanics as phys

E, NU, OMEGA, C_MAX = 80e9, 0.26, 5.97e-6, 13831.0
C0 = 0.5 * C_MAX
K = 1e-3 * C0  # N0 R/D: the concentration swing scale (small swing)
R_GAS, T = 8.314462618, 298.15
D = 1e-3  # µm²/s (1e-15 m²/s); R = 1 µm


def solve_sphere(two_way: bool, diffusivity: float, steps: int = 40, tau_end: float = 0.1, n: int = 40):
    """(c − c₀)/K and σ_h/(EΩK) at the vertices after τ_end (backward Euler, monolithic Newton)."""
    msh = dolfinx.mesh.create_interval(MPI.COMM_WORLD, n, [0.0, 1.0])
    cell = msh.basix_cell()
    P1 = basix.ufl.element("Lagrange", cell, 1)
    P2 = basix.ufl.element("Lagrange", cell, 2, shape=(1,))
    W = fem.functionspace(msh, basix.ufl.mixed_element([P1, P2, P1]))
    state, old = fem.Function(W), fem.Function(W)
    c_hat, u, s = ufl.split(state)
    c_old = ufl.split(old)[0]
    q, v, p = ufl.TestFunctions(W)
    x = ufl.SpatialCoordinate(msh)
    w = phys.radial_weight(x, "spherical")
    dt = tau_end / D / steps

    c = C0 + K * c_hat
    lam, mu = phys.lame_parameters(1.0, NU)
    eps_ch = (OMEGA * K * c_hat / 3.0) * ufl.Identity(3)
    sigma = phys.stress(phys.strain(u, x, "spherical"), eps_ch, lam, mu)  # σ/E
    sigma_h = E * OMEGA * K * s  # Pa
    flux = -diffusivity * ufl.grad(c_hat)  # Fickian, per K
    if two_way:
        flux = flux + phys.stress_assisted_flux(diffusivity, c, OMEGA, sigma_h, R_GAS, T) / K
    insertion = D / 1.0  # N0/K = D/R
    F = ((c_hat - c_old) / dt * q - ufl.dot(flux, ufl.grad(q))) * w * ufl.dx - insertion * q * w * ufl.ds
    F += ufl.inner(sigma, phys.strain(v, x, "spherical")) * w * ufl.dx
    F += (s - phys.hydrostatic(sigma) / (OMEGA * K)) * p * w * ufl.dx

    Wu, _ = W.sub(1).collapse()
    centre = dolfinx.mesh.locate_entities_boundary(msh, 0, lambda xx: np.isclose(xx[0], 0.0))
    dofs = fem.locate_dofs_topological((W.sub(1), Wu), 0, centre)
    bc = fem.dirichletbc(fem.Function(Wu), dofs, W.sub(1))
    problem = dolfinx.fem.petsc.NonlinearProblem(
        F, state, bcs=[bc], petsc_options_prefix=f"test_two_way_{int(two_way)}_",
        petsc_options={"snes_type": "newtonls", "snes_rtol": 1e-12, "snes_atol": 1e-14, "ksp_type": "preonly",
                       "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    for _ in range(steps):
        problem.solve()
        assert problem.solver.getConvergedReason() > 0
        old.x.array[:] = state.x.array
    c_out = state.sub(0).collapse()
    s_out = state.sub(2).collapse()
    return c_out.x.array.copy(), s_out.x.array.copy()


def test_two_way_small_swing_matches_one_way_with_effective_diffusivity():
    factor = phys.effective_diffusivity_factor(OMEGA, E, NU, C0, T, R_GAS)
    assert factor > 2.0  # NVP: the coupling more than doubles the apparent diffusivity
    c2, s2 = solve_sphere(two_way=True, diffusivity=D)
    c1, s1 = solve_sphere(two_way=False, diffusivity=D * factor)
    c_plain, _ = solve_sphere(two_way=False, diffusivity=D)
    swing = np.ptp(c1)
    assert np.abs(c2 - c1).max() < 0.01 * swing
    assert np.abs(s2 - s1).max() < 0.01 * np.abs(s1).max()
    # and the coupling matters: the uncoupled profile is far off
    assert np.abs(c_plain - c1).max() > 0.2 * swing

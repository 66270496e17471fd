"""Rigid-body modes of a free particle: CG + GAMG with a null space vs six Lagrange multipliers + MUMPS.

The 3D ball (R = 1 µm, P2 displacement) with the concentration of the constant-flux sphere at
τ = 0.108 (tests/test_mechanics.py) is solved both ways on three meshes. Printed: dofs, the solve
time of each (setup excluded; the multiplier system is factorised at each solve, as a changing
concentration needs only a new load but MUMPS is timed with its factorisation to compare like for
like with a first solve), and the largest difference of the von Mises fields relative to the peak.
ecmx uses CG + GAMG (ecmx.solver.fem.mechanics): same stresses, less memory, and it runs over ranks.

Run: ``.venv/bin/python bench/bench_mechanics_solvers.py``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import basix.ufl
import dolfinx
import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from verification.test_mechanics import C0, ball, concentration, nvp_material, prescribe  # noqa: E402

from ecmx.solver.fem.mechanics import MechanicsProblem  # noqa: E402
from ecmx.solver.physics import elasticity as phys  # noqa: E402
from ecmx.solver.physics.coordinates import CARTESIAN  # noqa: E402


def multiplier_solve(problem: MechanicsProblem, c: fem.Function) -> tuple[np.ndarray, float]:
    """Von Mises at the DG1 nodes of the multiplier solution, and the solve time."""
    msh = problem.mesh
    V = problem.V
    real = fem.functionspace(msh, basix.ufl.real_element(msh.basix_cell(), value_shape=(6,),
                                                         dtype=dolfinx.default_real_type))
    u, v = ufl.TrialFunction(V), ufl.TestFunction(V)
    lam, mu = ufl.TrialFunction(real), ufl.TestFunction(real)
    x = ufl.SpatialCoordinate(msh)
    e = [ufl.as_vector([1.0 if i == k else 0.0 for i in range(3)]) for k in range(3)]
    modes = e + [ufl.cross(ek, x) for ek in e]
    lame = phys.lame_parameters(1.0, problem.poissons_ratio)
    strain = lambda f: phys.strain(f, x, CARTESIAN)  # noqa: E731
    eps_ch = problem.chemical_strain.tensor(c / problem.chemical_strain.max_concentration,
                                            C0 / problem.chemical_strain.max_concentration)
    a = [[ufl.inner(phys.stress(strain(u), ufl.zero(3, 3), *lame), strain(v)) * ufl.dx,
          sum(lam[i] * ufl.inner(modes[i], v) for i in range(6)) * ufl.dx],
         [sum(mu[i] * ufl.inner(modes[i], u) for i in range(6)) * ufl.dx, None]]
    L = [ufl.inner(phys.stress(eps_ch, ufl.zero(3, 3), *lame), strain(v)) * ufl.dx, ufl.ZeroBaseForm((mu,))]
    lp = dolfinx.fem.petsc.LinearProblem(
        a, L, kind="mpi", petsc_options_prefix="bench_multipliers_",
        petsc_options={"ksp_type": "preonly", "pc_type": "lu", "pc_factor_mat_solver_type": "mumps"})
    t0 = time.perf_counter()
    uh, _ = lp.solve()
    elapsed = time.perf_counter() - t0
    W = fem.functionspace(msh, ("DG", 1))
    vm = fem.Function(W)
    sigma = phys.stress(strain(uh), eps_ch, *lame)
    vm.interpolate(fem.Expression(phys.von_mises(sigma) * problem.youngs_modulus, W.element.interpolation_points))
    return vm.x.array.copy(), elapsed


def main() -> None:
    print(f"{'h':>5s} {'dofs':>7s} {'gamg_s':>7s} {'its':>4s} {'mumps_s':>8s} {'max|dvm|/peak':>13s}")
    for h in (0.25, 0.15, 0.1):
        msh = ball(h)
        c = concentration(msh)
        prescribe(c, 0.108)
        problem = MechanicsProblem(msh, "cartesian", nvp_material(), c, C0)
        problem.solve()  # warm-up (JIT, GAMG setup)
        t0 = time.perf_counter()
        problem.solve()
        gamg = time.perf_counter() - t0
        W = fem.functionspace(msh, ("DG", 1))
        vm = fem.Function(W)
        vm.interpolate(fem.Expression(phys.von_mises(problem._sigma), W.element.interpolation_points))
        vm_lm, mumps = multiplier_solve(problem, c)
        diff = np.abs(vm.x.array - vm_lm).max() / np.abs(vm_lm).max()
        dofs = problem.V.dofmap.index_map.size_global * 3
        print(f"{h:5.2f} {dofs:7d} {gamg:7.3f} {problem.iterations:4d} {mumps:8.3f} {diff:13.2e}", flush=True)


if __name__ == "__main__":
    main()

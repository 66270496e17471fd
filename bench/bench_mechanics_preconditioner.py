"""The one-way mechanics solve of the big 3D sphere: CG + GAMG variants, and what two cores can give it.

    .venv/bin/python bench/bench_mechanics_preconditioner.py                    # every variant, 1 rank (~3 min)
    .venv/bin/python bench/bench_mechanics_preconditioner.py shipped cheb1      # some variants
    mpiexec -n 2 .venv/bin/python bench/bench_mechanics_preconditioner.py shipped cheb1
    .venv/bin/python bench/bench_mechanics_preconditioner.py --concurrent 2     # 2 copies at once, 1 rank each
    .venv/bin/python bench/bench_mechanics_preconditioner.py --set geometry.mesh.size=0.2um   # a smaller mesh

The mechanics of bench/sphere3d.yaml (NVP sphere R = 1 µm, 0.12/0.06 µm mesh: 192 978 P2 displacement DOFs,
15.3M stored entries), built as ``ecmx run`` builds it (:func:`ecmx.solver.fem.mechanics_case.mechanics_for_case`),
is solved for two loads (a concentration with a radial and an off-axis part, and the same 10 % further on)
from a zero start to ‖r‖ < 1e-8 ‖b‖ (the one-way tolerance at solver.rtol 1e-6) by CG with each
preconditioner variant: the shipped options (:data:`ecmx.solver.fem.mechanics.LINEAR_SOLVERS` ``iterative``)
with one change each. Printed per variant: the set-up CPU time (GAMG's hierarchy), the CG iterations of the
two solves and the CPU time per iteration (the slowest rank). ``--concurrent N`` runs N copies of the
shipped variant at once, each on one rank in its own process, after one alone: on a machine whose memory
bandwidth bounds sparse products, N copies each run slower, and the parallel speed-up of N ranks cannot
exceed N times the ratio.

Measured on this 2-core machine (AMD EPYC, 32 MB L3, idle, Nov 2026; CPU s):

    variant (1 rank)                        set-up   CG its   ms / it   s / solve
    shipped (Chebyshev 2 + Jacobi)            3.64       25      73.9        1.85
    point-block Jacobi smoother               3.86       24      75.2        1.80
    SOR smoother                              4.23       16     256.4        4.10
    Chebyshev 1 step                          3.65       40      46.7        1.87
    Chebyshev 3 steps                         3.67       21     101.9        2.14
    unsmoothed aggregation                    1.09       42      63.5        2.67
    threshold 0.01 / 0.05                4.64 / 14.7  25 / 17  79.7 / 113  1.99 / 1.92
    aggressive coarsening 1 / 0 levels   3.65 / 24.1  25 / 20  76.1 / 220  1.90 / 4.40
    point-block Jacobi + Chebyshev 1          3.86       36      48.4        1.74
    SOR + Chebyshev 1                         4.35       21     137.4        2.89
    Richardson + SOR                          3.71       23     136.1        3.13
    Chebyshev bounds 0.05, 1.05               3.69       24      76.3        1.83

No variant takes less than 0.94x the shipped solve time (point-block Jacobi + one Chebyshev step, 0.94-0.98x in
two sittings: within the machine's spread), so the shipped options stay. In a run the solve starts from the
projection onto the last eight solutions (:mod:`ecmx.solver.fem.solution_projection`) and takes 8-13 iterations (0.7-1.0 s CPU per
accepted step over the first 300 s of the sphere's hour: 45 % of its time loop, the cell solves the rest).
The shipped options' ``mg_levels_esteig_ksp_type`` was dropped: GAMG hands Chebyshev the eigenvalue estimates of
its smoothed aggregation ("eigenvalues provided" in ``-ksp_view``), so no estimator KSP is made and PETSc
listed the option as unused.

Two ranks (``mpiexec -n 2``): shipped 46.2 ms per iteration (26 iterations), 1.54x in CPU time per iteration;
under ``-log_view`` the whole KSPSolve 3.79 -> 2.17 s (1.75x) and its MatMult 3.32 -> 1.93 s (1.72x), with
0.17 s waiting in VecScatterEnd. Two copies at once (``--concurrent 2``, one rank each) take 72.3 and 71.5 ms
per iteration against 72.2 ms alone: the two cores do not share a memory-bandwidth limit, so the gap to 2x is
PETSc's parallel overhead, not the machine. The partition is balanced (7.58M / 7.69M stored entries per rank),
but the cut through the particle leaves 8 % of each rank's entries in its off-diagonal block and 25k / 48k ghost
DOFs against 96k owned, whose exchange every product and smoothing step waits for.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

CASE = Path(__file__).with_name("sphere3d.yaml")

VARIANTS: dict[str, dict[str, object]] = {
    "shipped": {},
    "pbjacobi": {"mg_levels_pc_type": "pbjacobi"},
    "sor": {"mg_levels_pc_type": "sor"},
    "cheb1": {"mg_levels_ksp_max_it": 1},
    "cheb3": {"mg_levels_ksp_max_it": 3},
    "unsmoothed": {"pc_gamg_agg_nsmooths": 0},
    "threshold0.01": {"pc_gamg_threshold": 0.01},
    "threshold0.05": {"pc_gamg_threshold": 0.05},
    "aggressive1": {"pc_gamg_aggressive_coarsening": 1},
    "aggressive0": {"pc_gamg_aggressive_coarsening": 0},
    "pbjacobi-cheb1": {"mg_levels_pc_type": "pbjacobi", "mg_levels_ksp_max_it": 1},
    "sor-cheb1": {"mg_levels_pc_type": "sor", "mg_levels_ksp_max_it": 1},
    "richardson-sor": {"mg_levels_ksp_type": "richardson", "mg_levels_pc_type": "sor", "mg_levels_ksp_max_it": 1},
    "bounds": {"mg_levels_ksp_chebyshev_esteig": "0,0.05,0,1.05"},
}
"""Variant name → the options changed from the shipped ``iterative`` set."""

RTOL = 1e-8
"""CG's tolerance, ‖r‖ < RTOL ‖b‖: the one-way mechanics' at solver.rtol 1e-6."""


def measure(names: list[str], overrides: list[str]) -> list[dict]:
    """Set up the sphere's mechanics and time CG with each variant in ``names`` (collective)."""
    import ecmx.solver._compat  # noqa: F401, I001
    from mpi4py import MPI
    from petsc4py import PETSc

    from ecmx.meshes import load_mesh
    from ecmx.solver.config.case import load_case
    from ecmx.solver.fem.cell_problem import CellProblem
    from ecmx.solver.fem.mechanics import LINEAR_SOLVERS
    from ecmx.solver.fem.mechanics_case import mechanics_for_case

    comm = MPI.COMM_WORLD
    case = load_case(CASE, ["mechanics.linear_solver=iterative", *overrides])
    pmesh = load_mesh(case.geometry, comm=comm)
    problem = CellProblem(pmesh, case)
    problem.set_initial_state()
    mechanics = mechanics_for_case(problem, pmesh, case)
    concentration = problem.fields["particle_concentration"]
    x = concentration.function_space.tabulate_dof_coordinates()  # µm
    start = concentration.x.array.copy()

    def load(scale: float):
        r2 = (x**2).sum(axis=1)
        concentration.x.array[:] = start + scale * (3000.0 * r2**2 + 800.0 * x[:, 0] * x[:, 2])
        mechanics._assemble_load()
        b = mechanics._b.copy()
        if mechanics._nullspace is not None:
            mechanics._nullspace.remove(b)
        return b

    loads = [load(1.0), load(1.1)]
    A = mechanics._A
    rows = []
    for name in names:
        prefix = f"bench_mech_{len(rows)}_"
        options = PETSc.Options()
        for key, value in {**LINEAR_SOLVERS["iterative"], "ksp_rtol": RTOL, **VARIANTS[name]}.items():
            options[prefix + key] = value
        ksp = PETSc.KSP().create(comm)
        ksp.setOptionsPrefix(prefix)
        ksp.setOperators(A)
        ksp.setFromOptions()
        started = time.process_time()
        ksp.setUp()
        setup = time.process_time() - started
        u = A.createVecRight()
        iterations = []
        started = time.process_time()
        for b in loads:
            u.set(0.0)
            ksp.solve(b, u)
            if ksp.getConvergedReason() <= 0:
                raise RuntimeError(f"{name}: CG did not converge ({ksp.getConvergedReason()})")
            iterations.append(ksp.getIterationNumber())
        solve = time.process_time() - started
        setup, solve = (comm.allreduce(v, op=MPI.MAX) for v in (setup, solve))
        rows.append({"variant": name, "setup_s": setup, "iterations": iterations,
                     "ms_per_iteration": 1e3 * solve / sum(iterations), "s_per_solve": solve / len(loads),
                     "dofs": A.getSize()[0], "ranks": comm.size})
        for key in {**LINEAR_SOLVERS["iterative"], "ksp_rtol": RTOL, **VARIANTS[name]}:
            del options[prefix + key]
        ksp.destroy()
    return rows


def _print(rows: list[dict]) -> None:
    print(f"{rows[0]['dofs']} displacement DOFs, {rows[0]['ranks']} rank(s), CG to {RTOL:g} ||b||")
    print(f"{'variant':<16s} {'set-up s':>9s} {'CG its':>10s} {'ms/it':>8s} {'s/solve':>8s}")
    for r in rows:
        print(f"{r['variant']:<16s} {r['setup_s']:9.2f} {str(r['iterations']):>10s} {r['ms_per_iteration']:8.1f} "
              f"{r['s_per_solve']:8.2f}", flush=True)


def concurrent(copies: int, overrides: list[str]) -> None:
    """The shipped variant alone, then ``copies`` copies at once (one rank each, separate processes)."""
    command = [sys.executable, __file__, "--json", "shipped", *(f"--set={o}" for o in overrides)]

    def run(count: int) -> list[dict]:
        processes = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for _ in range(count)]
        return [json.loads(p.communicate()[0].strip().splitlines()[-1])[0] for p in processes]

    alone = run(1)[0]
    together = run(copies)
    print(f"alone: {alone['ms_per_iteration']:.1f} ms per CG iteration; {copies} at once: "
          + ", ".join(f"{r['ms_per_iteration']:.1f}" for r in together)
          + f" ms (each at {alone['ms_per_iteration'] / max(r['ms_per_iteration'] for r in together):.2f}x)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("variants", nargs="*", help=f"variants (default: all): {', '.join(VARIANTS)}")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="case override")
    parser.add_argument("--concurrent", type=int, default=0, help="run N copies of the shipped variant at once")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON (rank 0)")
    args = parser.parse_args()
    unknown = [v for v in args.variants if v not in VARIANTS]
    if unknown:
        parser.error(f"unknown variants {unknown}; expected some of {list(VARIANTS)}")
    if args.concurrent:
        concurrent(args.concurrent, args.set)
        return
    rows = measure(args.variants or list(VARIANTS), args.set)
    from mpi4py import MPI

    if MPI.COMM_WORLD.rank == 0:
        print(json.dumps(rows)) if args.json else _print(rows)


if __name__ == "__main__":
    main()

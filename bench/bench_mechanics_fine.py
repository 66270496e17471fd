"""The mechanics of the fine comparison's HE-V run alone (issue 14): set-up (incl. the factorisation) and
96 accepted steps' solve + quantities + probes, along a synthetic smooth c_s(x, t).

``cases/hev.yaml`` with the mesh of ``cases/nvp-vs-hev-fine.yaml`` (96 777 P2 DOFs, 4 696 P1 nodes on the
particle), one process. Prints CPU and wall seconds and the peak resident memory, and writes the quantities
of every step to ``--out`` (npz) so that two versions of the code can be compared value for value:

    .venv/bin/python bench/bench_mechanics_fine.py --out after.npz [--compare before.npz]

Measured (busy 2-core machine, CPU s; before = the code before issue 14's fine-mesh levers):
see docs/model.md §7.
"""

from __future__ import annotations

import argparse
import resource
import time

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np

from ecmx.meshes.loading import load_mesh
from ecmx.solver.config.case import load_case
from ecmx.solver.fem import mechanics_case
from ecmx.solver.fem.cell_problem import CellProblem

FINE = ["geometry.mesh.size=0.25 um", "geometry.mesh.interface_size=0.08 um"]
PROBES = np.array([[0.0, 0.0, 0.0], [0.5, 0.0, 0.0], [0.0, 0.0, 0.9]])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=96)
    parser.add_argument("--out", default=None)
    parser.add_argument("--compare", default=None)
    args = parser.parse_args()
    case = load_case("cases/hev.yaml", overrides=FINE)
    pmesh = load_mesh(case.geometry)
    problem = CellProblem(pmesh, case)
    problem.set_initial_state()
    c = problem.fields["particle_concentration"]
    c0, x = c.x.array.copy(), c.function_space.tabulate_dof_coordinates()
    cpu, wall = time.process_time(), time.perf_counter()
    mechanics = mechanics_case.mechanics_for_case(problem, pmesh, case)
    setup = (time.process_time() - cpu, time.perf_counter() - wall)
    rows = []
    cpu, wall = time.process_time(), time.perf_counter()
    for k in range(args.steps):
        s = k / max(args.steps - 1, 1)  # a discharge-like c_s: rising, steeper near the surface, off-centre
        c.x.array[:] = c0 * (1.0 + 0.6 * s) + 2000.0 * s * (x**2).sum(axis=1) + 300.0 * s * x[:, 0]
        mechanics.solve()
        q = mechanics.quantities()
        probed = mechanics.probe(PROBES)
        rows.append([*q.values(), *probed["von_mises"]])
    steps = (time.process_time() - cpu, time.perf_counter() - wall)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"dofs {mechanics.V.dofmap.index_map.size_global * 3}  set-up CPU {setup[0]:.1f} s (wall {setup[1]:.1f})  "
          f"{args.steps} steps CPU {steps[0]:.1f} s (wall {steps[1]:.1f}; {1e3 * steps[0] / args.steps:.0f} ms/step)  "
          f"total CPU {setup[0] + steps[0]:.1f} s  peak RSS {rss:.0f} MB")
    values = np.array(rows)
    if args.out:
        np.savez(args.out, values=values, keys=np.array(list(q)))
    if args.compare:
        before = np.load(args.compare)["values"]
        scale = np.maximum(np.abs(before).max(axis=0), 1e-300)
        print(f"largest difference from {args.compare}, relative to each quantity's peak: "
              f"{(np.abs(values - before) / scale).max():.2e}")


if __name__ == "__main__":
    main()

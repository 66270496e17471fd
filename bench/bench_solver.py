"""Benchmark of the coupled electrochemistry solve (not a test).

    .venv/bin/python bench/bench_solver.py                # the full table: 3 meshes x 1/2 ranks x solvers
    .venv/bin/python bench/bench_solver.py --solvers mumps --ranks 1
    mpiexec -n 2 .venv/bin/python bench/bench_solver.py --worker --size 0.5 --interface-size 0.1

For the default 3D case (NVP sphere, R = 1 µm, in the default electrolyte box, 1C discharge from
the charged state) at three mesh sizes it reports DOFs, Newton iterations per step, seconds per
step and per DOF, for each linear solver on 1 and 2 ranks, and the exponent p of cost ∝ DOFs^p;
then the wall time of a full 1C sphere-1d discharge and of a full 1C 3D discharge (default mesh).
Steps are fixed at 30 s (the default maximum step) after a 0.1 s → 30 s ramp.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MESHES = [(0.5e-6, 0.2e-6), (0.5e-6, 0.1e-6), (0.35e-6, 0.07e-6)]  # (size, interface_size) m; middle = default


def _case(kind: str, mesh: dict, linear_solver: str):
    from ecmx.solver.config.case import case_from_dict

    return case_from_dict({
        "name": "bench",
        "material": "nvp",
        "geometry": {"kind": kind, "mesh": mesh},
        "initial": {"state_of_charge": 1.0},
        "protocol": [{"step": "discharge", "c_rate": 1.0, "until": {"depth_of_discharge": 0.9, "voltage": 2.5}}],
        "solver": {"linear_solver": linear_solver},
    })


def worker(args: argparse.Namespace) -> dict:
    """One timing run (collective); returns the figures on every rank."""
    from mpi4py import MPI

    from ecmx.meshes import load_mesh
    from ecmx.solver.fem.cell_problem import CellProblem

    comm = MPI.COMM_WORLD
    kind = "sphere-1d" if args.sphere else "particle-in-electrolyte"
    mesh = {"elements": 40} if args.sphere else {"size": args.size, "interface_size": args.interface_size}
    case = _case(kind, mesh, args.linear_solver)
    t0 = time.perf_counter()
    pmesh = load_mesh(case.geometry, comm, cache_dir=args.cache)
    t_mesh = time.perf_counter() - t0
    t0 = time.perf_counter()
    problem = CellProblem(pmesh, case)
    t_build = time.perf_counter() - t0
    dofs = sum(u.function_space.dofmap.index_map.size_global for u in problem._unknowns)
    cells = pmesh.mesh.topology.index_map(pmesh.mesh.topology.dim).size_global
    lo, hi = case.material.stoichiometry_window
    problem.set_control("current", -problem.capacity_C / 3600.0)

    dt, t, its, times, cpu, failures = 0.1, 0.0, [], [], [], 0
    t_start = time.perf_counter()
    steps_limit = 10**6 if args.full else args.steps
    while len(its) < steps_limit:
        comm.barrier()
        ts, cs = time.perf_counter(), time.process_time()
        outcome = problem.try_step(dt)
        if not outcome.converged:
            problem.reject()
            failures += 1
            dt *= 0.5
            continue
        problem.accept()
        q = problem.quantities()
        times.append(time.perf_counter() - ts)
        cpu.append(comm.allreduce(time.process_time() - cs, op=MPI.MAX))
        its.append(outcome.newton_iterations)
        t += dt
        dod = (q["theta_mean"] - lo) / (hi - lo)
        if args.full and (dod >= 0.9 or q["voltage_V"] < 2.5):
            break
        dt = min(1.5 * dt, 30.0)
    total = time.perf_counter() - t_start
    # steady-state cost: the 30 s steps after the ramp
    tail = [i for i in range(len(its)) if i >= len(its) // 2] or list(range(len(its)))
    per_step = sum(times[i] for i in tail) / len(tail)
    per_it = sum(times[i] for i in tail) / max(1, sum(its[i] for i in tail))
    cpu_step = sum(cpu[i] for i in tail) / len(tail)
    cpu_it = sum(cpu[i] for i in tail) / max(1, sum(its[i] for i in tail))
    return {
        "kind": kind, "ranks": comm.size, "linear_solver": args.linear_solver,
        "size_um": None if args.sphere else args.size * 1e6,
        "interface_size_um": None if args.sphere else args.interface_size * 1e6,
        "cells": cells, "dofs": dofs, "mesh_s": t_mesh, "build_s": t_build,
        "steps": len(its), "failures": failures, "newton_per_step": sum(its) / len(its),
        "newton_per_step_tail": sum(its[i] for i in tail) / len(tail),
        "s_per_step": per_step, "s_per_newton": per_it, "s_per_dof_step": per_step / dofs,
        "cpu_s_per_step": cpu_step, "cpu_s_per_newton": cpu_it, "cpu_s_total": comm.allreduce(time.process_time(), op=MPI.MAX),
        "wall_s": total, "simulated_s": t,
    }


def _spawn(ranks: int, extra: list[str], cache: str) -> dict:
    mpiexec = Path(sys.executable).parent / "mpiexec"
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        cmd = [str(mpiexec), "-n", str(ranks), sys.executable, __file__, "--worker", "--cache", cache, "--out", out.name, *extra]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        return json.loads(Path(out.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", action="store_true", help="run one timing (under mpiexec)")
    parser.add_argument("--sphere", action="store_true", help="worker: sphere-1d instead of 3D")
    parser.add_argument("--full", action="store_true", help="worker: discharge to 90 %% DOD instead of --steps")
    parser.add_argument("--size", type=float, default=MESHES[1][0])
    parser.add_argument("--interface-size", type=float, default=MESHES[1][1])
    parser.add_argument("--linear-solver", default="mumps")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--solvers", default="mumps,ilu,fieldsplit")
    parser.add_argument("--ranks", default="1,2")
    parser.add_argument("--no-full", action="store_true", help="skip the full-discharge timings")
    parser.add_argument("--cache", default=str(Path(tempfile.gettempdir()) / "ecmx-bench-meshes"))
    parser.add_argument("--out", default=None, help="JSON output path")
    args = parser.parse_args()

    if args.worker:
        result = worker(args)
        from mpi4py import MPI

        if MPI.COMM_WORLD.rank == 0 and args.out:
            Path(args.out).write_text(json.dumps(result))
        return

    rows = []
    header = (f"{'solver':10s} {'ranks':>5s} {'h_if/um':>7s} {'cells':>7s} {'DOFs':>7s} {'Newton/step':>11s} {'s/step':>8s}"
              f" {'s/Newton':>8s} {'us/DOF/step':>11s} {'cpu s/step':>10s} {'cpu s/Newton':>12s}")
    print(header)
    for solver in args.solvers.split(","):
        for ranks in (int(r) for r in args.ranks.split(",")):
            series = []
            for size, isize in MESHES:
                extra = ["--linear-solver", solver, "--size", str(size), "--interface-size", str(isize),
                         "--steps", str(args.steps)]
                try:
                    r = _spawn(ranks, extra, args.cache)
                except RuntimeError as err:
                    print(f"{solver:10s} {ranks:5d} {isize * 1e6:7.3f}  failed: {str(err).splitlines()[-1][:80]}")
                    continue
                rows.append(r)
                series.append(r)
                print(f"{solver:10s} {ranks:5d} {isize * 1e6:7.3f} {r['cells']:7d} {r['dofs']:7d} {r['newton_per_step']:11.2f}"
                      f" {r['s_per_step']:8.3f} {r['s_per_newton']:8.3f} {1e6 * r['s_per_dof_step']:11.2f}"
                      f" {r['cpu_s_per_step']:10.3f} {r['cpu_s_per_newton']:12.3f}", flush=True)
            if len(series) >= 2:
                a, b = series[0], series[-1]
                p = math.log(b["s_per_newton"] / a["s_per_newton"]) / math.log(b["dofs"] / a["dofs"])
                pc = math.log(b["cpu_s_per_newton"] / a["cpu_s_per_newton"]) / math.log(b["dofs"] / a["dofs"])
                print(f"{'':10s} {ranks:5d}  cost per Newton iteration ~ DOFs^{p:.2f} (wall), DOFs^{pc:.2f} (cpu)")
    if not args.no_full:
        first = args.solvers.split(",")[0]
        for ranks in (int(r) for r in args.ranks.split(",")):
            r = _spawn(ranks, ["--sphere", "--full"], args.cache)
            rows.append(r)
            print(f"sphere-1d full 1C discharge to 90 % DOD, {ranks} rank(s): {r['wall_s']:.2f} s wall, {r['steps']} steps,"
                  f" {r['newton_per_step']:.2f} Newton/step (build {r['build_s']:.2f} s)")
            r = _spawn(ranks, ["--full", "--linear-solver", first], args.cache)
            rows.append(r)
            print(f"3D default mesh full 1C discharge to 90 % DOD ({first}), {ranks} rank(s): {r['wall_s']:.1f} s wall,"
                  f" {r['steps']} steps, {r['newton_per_step']:.2f} Newton/step, {r['dofs']} DOFs (build {r['build_s']:.1f} s)")
    if args.out:
        Path(args.out).write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

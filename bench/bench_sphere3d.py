"""Benchmark of the big 3D sphere (issue 14): wall time, peak resident memory, DOFs, steps (not a test).

    .venv/bin/python bench/bench_sphere3d.py                       # the whole hour, 1 rank, via `ecmx run`
    .venv/bin/python bench/bench_sphere3d.py --window 60           # the first 60 s simulated only
    .venv/bin/python bench/bench_sphere3d.py --window 60 --ranks 2 # the same under mpiexec -n 2
    .venv/bin/python bench/bench_sphere3d.py --breakdown --window 60 [--set mechanics.linear_solver=direct]
    mpiexec -n 2 .venv/bin/python bench/bench_sphere3d.py --breakdown --window 60

The case is bench/sphere3d.yaml (NVP sphere R = 1 µm in its electrolyte box, 0.12 µm bulk /
0.06 µm interface mesh, one hour at 1C, one-way mechanics after every step). ``--set`` passes case
overrides (e.g. ``geometry.mesh.size=0.1um`` for a finer mesh).

The default mode runs ``ecmx run`` as a child process and reports its wall time, the largest resident
set of any of its processes (one rank), the DOFs and steps of ``summary.json``. ``--breakdown`` runs
the same phases in this process (under mpiexec: on every rank) and prints the resident set (VmRSS) and its high-water
mark (VmHWM) after each: imports, mesh (from the cache when it is there), cell problem (forms,
JIT, matrices), mechanics (P_k space, stiffness matrix, its factorisation or preconditioner on the
first solve), the first step, and the rest of the window with the writers.

Measured (2-core machine at load ~12, so CPU seconds; 71 423 cell-problem DOFs + 192 978 P2
displacement DOFs, 194k tetrahedra):

    phase (1 rank)            CPU s   resident MB (peak)
    imports                     3.0    169
    mesh (from the cache)       4.6    306   (generation with gmsh: 67 s CPU, peak 342 MB)
    cell problem                3.3    452
    mechanics setup             5.7    634 (807)
    mechanics first solve      18.9    694 (807)   CG + GAMG (auto); MUMPS Cholesky (direct, the old
                                                   default): > 116 s CPU and > 2.3 GB, not finished
    time loop (30 s window)       -    836 (850)

The first 1 s (35 accepted steps, 37 tried): time loop 450 s CPU and peak 831 MB on 1 rank; on 2
ranks 347 s CPU per rank (1.30x), largest rank 939 MB, 1510 MB over both; the phases before the time
loop 35.5 s against 25.6 s CPU (1.39x). MPICH busy-waits (sched_yield) on an oversubscribed machine,
so the 2-rank CPU time includes waiting: measure the speed-up on idle cores.

2 ranks, ``--breakdown --window 0.2`` (22 tries), before/after the particle and electrolyte cells were
partitioned separately (meshes/partition.py; particle cells per rank 30 965 / 10 745 -> 21 225 / 20 485),
CPU s of the slowest rank and RSS per rank (load ~9, so CPU only):

    phase                     before CPU  RSS per rank MB    after CPU  RSS per rank MB
    mechanics setup                  5.9  322 / 408                4.5  394 / 392
    mechanics first solve           14.8  425 / 742                9.5  616 / 602
    time loop + writers            207.4  521 / 865              164.4  791 / 755   (all ranks 1409 -> 1545 MB)

Per-step cost outside the cell problem's Newton (1 rank, ``--breakdown --window 0.05``: 10 accepted
steps, 12 tried; ``time loop`` CPU s per accepted step by phase, summary.json ``timing``), before and
after the mechanics' projected CG start (depth 8, solver/fem/solution_projection.py) with rtol
1e-12 -> 1e-10, one after the other on a quiet machine (load ~3):

    phase, CPU s per step     before    after
    time loop                 10.61      6.85
      cell solve (Newton)      3.13      2.86   (unchanged code: the spread of the machine)
      mechanics solve          7.36      3.87   (CG iterations of the last solve: 36 -> 17)
      stress quantities        0.04      0.04
      recording (all)          0.04      0.04   (fields written twice: 0.002 each)
    time-loop peak RSS MB       821       846   (+25 MB: the 16 vectors of the projection)

The projection alone (rtol 1e-12, a busy sitting): mechanics 8.49 -> 6.04 s per step, 36 -> 23
iterations. A mechanics CG iteration costs ~0.22 s: the P2 matrix has 15.3M nonzeros (~183 MB as
AIJ); GAMG has three levels (operator complexity 1.13), so the fine-level products are the cost.
The first mechanics solve (from zero, with the GAMG set-up) took 15.1 s CPU either way. The time
step count is the other lever (another change). Tried and left: GAMG threshold
0.02 (22 against 24 iterations at rtol 1e-8, no faster), unsmoothed aggregation (more iterations),
one smoothing step (no change); BAIJ storage (GAMG has no graph for BAIJ in PETSc 3.25). Stress
recovery (0.1 s), the stress integrals (0.04 s) and recording are small.

Fewer steps (solver/timeloop/integrators.py: BDF orders 1-3 with order selection, steps of order >= 2
on the clock sqrt(t - t_restart)), the whole hour before/after in one sitting:

    ranks   wall s           peak RSS MB per rank   accepted / tried steps
    1       264.5 -> 216.5   934 -> 919             183 / 203 -> 115 / 144
    2       160.0 -> 130.6   818 -> 808             the same

The first 600 s (``--breakdown --window 600``, BDF3 on t before the clock was added, against BDF2): 144 / 152
-> 105 / 119 steps, time loop 184.4 -> 161.8 s; per try the cell solve took 0.67 instead of 0.57 s and per
step the mechanics 0.72 instead of 0.63 s (longer steps: more Newton and CG iterations from the predictor).

Memory (1 rank), where it goes: the process before the mesh is 122 MB (Python, DOLFINx, PETSc, MPI).
The mesh phase adds 137 MB, but 118 MB of that is heap that glibc keeps after gmsh's model and
``model_to_mesh``'s arrays are freed (``malloc_trim`` returns it: 259 -> 162 MB; the cell problem
then takes it up again and reaches the same 421 MB, so the peak does not move and ecmx does not
trim). Cell problem: ~260 MB gross at set-up (~116 MB of it freed heap again), and its Jacobian and
preconditioner +114 MB on the first try. Mechanics: the P2 matrix ~183 MB plus a +174 MB transient
(the sparsity pattern) at set-up, GAMG and work vectors +94 MB on the first solve, the projection
store +25 MB. Peak ~846 MB for 264 401 DOFs = 3.3 kB per DOF (2.7 kB above the 122 MB baseline):
1 kB per DOF is not reachable at this size. It would take a matrix-free P2 elasticity operator with
an AIJ matrix on P1 for GAMG (the P2 matrix alone is ~950 B per displacement DOF), a cell-problem
Jacobian and preconditioner of about 1 kB per cell DOF (now ~3.9 kB), and a mesh of millions of DOFs
over which the 122 MB baseline spreads.

The whole hour (default mode, 1 rank, quiet machine, after the Jacobian went through PETSc's COO interface,
solver/fem/coo_assembly.py): 912.7 s wall, 183 accepted / 203 tried steps, peak resident 1087 MB (4.1 kB per
DOF). ``--breakdown --window 0.05`` before/after that change, side by side: resident after the cell problem's
set-up 409 -> 512 MB, the window's peak 871 -> 945 MB (the parts' CSR matrices and their target indices,
the concatenated COO indices kept for later matrices, the values buffer and PETSc's COO permutation, for 3.38M
values); per accepted step cell solve 2.50 / 2.61 s and mechanics 5.75 / 6.10 s CPU (two processes at once).

On a faster 2-core machine (AMD EPYC, 32 MB L3; the same code as above 491.8 s and 1057 MB with the mesh cached),
after one-way mechanics' CG tolerance followed solver.rtol (1e-8 instead of 1e-10), the COO indices and the reached
pattern were trimmed, FGMRES restarted at 60 and one BLAS thread ran per rank: the whole hour 330.7-336.6 s and
979-981 MB on 1 rank (3.7 kB per DOF), 184.5 s on 2 ranks with 1124 MB on the largest rank. That was a leak of the
mechanics' projection store (two parallel vectors a step left in PETSc's garbage); after its fix 187.8 s and 865 MB
per rank (1.76-1.82x). The first second: 1 rank 81.3-87.0 s, 2 ranks 46.1 s. ``--breakdown --window 1``, 1 rank /
2 ranks, wall s: imports 0.7 / 0.7, mesh 1.4 / 1.3, cell problem 5.1 / 3.2, mechanics set-up 5.2 / 4.0 (1.2 s of it
the BLAS threads, since fixed), first mechanics solve 3.4 / 1.8, time loop 68.6 / 37.0 (cell solve 0.72 / 0.41 s and
mechanics 1.37 / 0.72 s per step).

The stiffness matrix without PETSc's inode rows (solver/fem/mechanics.py; their product was the slower one, 13.2
against 6.9 ms on a 117k-DOF P2 ball), the same sitting, base c8240c5 against after: ``--breakdown --window 1``,
mechanics 1.35 -> 0.81 s per step (the same 5 CG iterations at the last step), first solve 3.3 -> 2.0 s, time loop
67.7 -> 51.0 s; the whole hour on 1 rank 332.9 -> 263.1 s and 936 MB peak both; on 2 ranks 177.8 -> 151.4 s and
819 / 822 MB on the largest rank; 183 accepted / 203 tried steps in all four. The 2-rank speed-up falls from 1.87x
to 1.74x: what is left is the cell solve (0.93 / 0.53 s per step over ``--window 0.2``, 1.75x; under
``-log_view`` the GAMG V-cycles of the field splits scale 1.11x for θ, whose block is small, and 1.6x for c and
φ_e; SOR or block-Jacobi ILU for θ instead gave 0.551 and 0.542 against 0.530 s per step on 2 ranks).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CASE = Path(__file__).with_name("sphere3d.yaml")


def _status_mb() -> tuple[float, float]:
    """(VmRSS, VmHWM) of this process in MB."""
    fields = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line)
    return tuple(float(fields[k].split()[0]) / 1024.0 for k in ("VmRSS", "VmHWM"))


def _overrides(args: argparse.Namespace) -> list[str]:
    window = [f"protocol.0.until.time={args.window}"] if args.window else []
    return window + list(args.set)


def breakdown(args: argparse.Namespace) -> None:
    """Resident memory, wall and CPU time per phase of one run, in this process (collective: under
    mpiexec rank 0 prints the largest time and resident set of any rank and their sum over ranks).
    On a busy machine the CPU time is the figure to compare."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    peaks: list[float] = []
    t0, c0 = time.perf_counter(), time.process_time()

    def mark(name: str) -> None:
        nonlocal t0, c0
        rss, hwm = _status_mb()
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        wall, cpu, rss_max, hwm_max = (comm.allreduce(v, op=MPI.MAX) for v in (wall, cpu, rss, hwm))
        hwm_sum = comm.allreduce(hwm, op=MPI.SUM)
        per_rank = comm.gather(rss)
        peaks.append(hwm_sum)
        if comm.rank == 0:
            ranks = f"  RSS per rank {' / '.join(f'{v:.0f}' for v in per_rank)} MB" if comm.size > 1 else ""
            print(f"{name:<24s} {wall:7.1f} s wall {cpu:7.1f} s CPU  RSS {rss_max:6.0f} MB  peak {hwm_max:6.0f} MB"
                  f" (all ranks {hwm_sum:6.0f} MB){ranks}", flush=True)
        t0, c0 = time.perf_counter(), time.process_time()

    mark("interpreter + MPI")
    from ecmx.meshes import load_mesh
    from ecmx.solver.config.case import load_case
    from ecmx.solver.fem.cell_problem import CellProblem
    from ecmx.solver.fem.mechanics_case import mechanics_for_case
    from ecmx.solver.studies.run import run_problem

    mark("imports")
    case = load_case(CASE, _overrides(args))
    pmesh = load_mesh(case.geometry, comm=comm)
    mark("mesh")
    problem = CellProblem(pmesh, case)
    problem.set_initial_state()
    mark("cell problem")
    dofs = {"cell problem": problem.num_dofs}
    mechanics = mechanics_for_case(problem, pmesh, case) if case.mechanics.enabled else None
    mark("mechanics setup")
    if mechanics is not None:
        mechanics.solve()
        dofs["displacement"] = mechanics.V.dofmap.index_map.size_global * mechanics.V.dofmap.index_map_bs
        mark("mechanics first solve")
    out = comm.bcast(tempfile.mkdtemp(prefix="ecmx-bench-") if comm.rank == 0 else None)
    result = run_problem(problem, case, Path(out) / "run", comm=comm, mechanics=mechanics, pmesh=pmesh)
    mark("time loop + writers")
    if comm.rank == 0:
        shutil.rmtree(out)
        _print_step_split(result.summary, getattr(mechanics, "iterations", None))
        total = sum(dofs.values())
        print("DOFs:", dofs, "total", total, "| steps:", result.summary.get("steps"))
        print(f"peak (all ranks) {max(peaks):.0f} MB = {max(peaks) * 1048576 / total:.0f} B/DOF", flush=True)


def _print_step_split(summary: dict, mechanics_iterations: int | None) -> None:
    """CPU seconds of the time loop per accepted step, by phase (``summary.json`` ``timing``, rank 0)."""
    phases = summary.get("timing", {}).get("phases", {})
    steps = max(summary.get("steps", {}).get("accepted", 0), 1)
    names = ("time_loop", "cell_solve", "mechanics_solve", "stress_quantities", "recording", "fields", "probes")
    print(f"time loop, CPU s per accepted step ({steps} steps; recording holds fields, probes, stress_quantities):")
    for name in names:
        if name in phases:
            p = phases[name]
            print(f"    {name:<18s} {p['cpu_s'] / steps:7.3f}  ({p['calls']} calls)")
    if mechanics_iterations is not None:
        print(f"    last mechanics solve: {mechanics_iterations} Krylov iterations", flush=True)


def run(args: argparse.Namespace) -> dict:
    """``ecmx run`` of the case (under mpiexec for ``--ranks`` > 1): wall, peak RSS, DOFs, steps."""
    ecmx = Path(sys.executable).parent / "ecmx"
    cmd = [str(ecmx), "run", str(CASE), "--no-progress", "--overwrite"]
    for text in _overrides(args):
        cmd += ["--set", text]
    if args.ranks > 1:
        cmd = [str(Path(sys.executable).parent / "mpiexec"), "-n", str(args.ranks), *cmd]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "run"
        t0 = time.perf_counter()
        proc = subprocess.run([*cmd, "--out", str(out)], capture_output=True, text=True, timeout=args.timeout)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        summary = json.loads((out / "summary.json").read_text())
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024.0
    return {"ranks": args.ranks, "window_s": args.window, "wall_s": wall, "peak_rss_mb_per_rank": peak_mb,
            "summary": {k: summary.get(k) for k in ("status", "steps", "dofs", "mesh", "wall_time_s") if k in summary}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--window", type=float, default=None, help="simulate only the first WINDOW s")
    parser.add_argument("--ranks", type=int, default=1, help="MPI ranks (mpiexec -n)")
    parser.add_argument("--breakdown", action="store_true", help="memory and time per phase, in this process")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="case override")
    parser.add_argument("--cache", default=None, help="mesh cache root (sets ECMX_CACHE_DIR; default: ecmx's)")
    parser.add_argument("--timeout", type=float, default=7200.0, help="timeout of the child run, s")
    args = parser.parse_args()
    if args.cache:
        os.environ["ECMX_CACHE_DIR"] = args.cache
    if args.breakdown:
        breakdown(args)
    else:
        print(json.dumps(run(args), indent=2))


if __name__ == "__main__":
    main()

"""The cost of one Newton iteration of the coupled cell problem against its size (a benchmark, not a test).

    .venv/bin/python bench/bench_step_cost.py                 # before/after preconditioner reuse, 3k-36k DOFs (~6 min)
    .venv/bin/python bench/bench_step_cost.py --reuse on --family graded     # the interface refined faster
    .venv/bin/python bench/bench_step_cost.py --reuse on --meshes 0.5:0.25,0.5:0.12,0.45:0.07,0.4:0.05
    .venv/bin/python bench/bench_step_cost.py --linear-solver mumps --reuse on
    .venv/bin/python bench/bench_step_cost.py --meshes 0.5:0.25,0.5:0.1 --degrees
    .venv/bin/python bench/bench_step_cost.py --run cases/nvp.yaml   # whole run, before/after: counts and CPU time
    .venv/bin/python bench/bench_step_cost.py --material hev --linear-solver gmres-lu --reuse on
    .venv/bin/python bench/bench_step_cost.py --run cases/hev.yaml --linear-solver gmres-lu --reuse on

For the default 3D problem (the NVP sphere of cases/nvp.yaml, R = 1 µm in its electrolyte box, 1C
discharge from the charged state) at several mesh sizes (``--family``: 3k to 36k DOFs), each in a fresh process
on one rank: three warm-up steps of 5 s, then the minimum over ``--repeats`` repetitions of the CPU
time (the machine is shared: process time, and its minimum, is the cost without interference) of

- the residual assembly (what SNES calls per function evaluation, the nodal table refresh included),
- the Jacobian assembly (every block),
- the linear solve of one Newton iteration with the preconditioner set up for it (the factorisation
  for MUMPS), with its Krylov iterations, and the set-up part of it (the solve time minus that of a
  second solve with the same operator),
- one whole Newton iteration: ``--repeats`` 5 s steps from the same state, their time over their
  iterations. The preconditioner is set up at the first of them, then kept or set up again by the
  reuse rule (:mod:`ecmx.solver.fem.preconditioner_reuse`); ``--reuse off`` sets it up at every
  Newton iteration (the behaviour before the rule). Set-ups and Krylov iterations per step are
  printed with it.

``--reuse both`` (the default) runs every mesh without and with reuse and prints both tables. Each
table ends with the exponent p of cost ∝ DOFs^p of each part (least squares over the meshes) and the
column it/(F+J), the ratio of a Newton iteration to one residual + one Jacobian assembly; the last three
columns are PETSc's flop count of one Krylov iteration per DOF and the rates of the solve and of a bare
product with the Jacobian (:func:`_rates`).
``--degrees`` also prints the quadrature degree of every integral of the residual and the Jacobian
(the degrees FFCx uses). ``--run CASE`` instead runs a whole case file (``ecmx run``, no output
written but the run directory in a temporary folder) without and with reuse and prints the steps,
Newton iterations, linear solves, preconditioner set-ups, Krylov iterations and CPU time of each.

Measured (2 shared cores at load ~6, CPU ms, ``--reuse on``, before and after in one sitting; before: the
Jacobian's sparsity as DOLFINx 0.11 builds it, with a dense row and column at dof 0 of each submesh block,
the eleven Γ blocks of the Jacobian each its own kernel, DOLFINx's residual with its lifting pass):

    DOFs     residual      Jacobian      solve (PC set-up)              Newton it.     it/(F+J)
             before after  before after  before          after          before  after  before after
    3 053       8.9   5.1    35.4  16.0    17.4 (5.0)      14.7 (5.0)      57.9   33.5   1.31  1.58
    9 701      20.1  19.7    85.5  59.8    78.8 (31.1)     56.8 (16.0)    204.1  129.0   1.93  1.62
    26 060     83.9  50.4   359.9 155.9   311.5 (158.5)   146.7 (50.8)    634.7  361.7   1.43  1.75
    49 189    120.5  95.1   546.4 302.4  1037.2 (718.2)   291.5 (82.8)   1410.3  677.2   2.11  1.70
    75 498          175-186       389-499                  471-547 (139-159)      1117-1149         1.63-2.04
    (75k, --meshes 0.35:0.04: after only, two runs.) exponent p (3k-49k): Newton iteration 1.14 -> 1.08 (1.09
    over 3k-75k), linear solve 1.45 -> 1.06, PC set-up 1.75 -> 1.03,
    residual 0.99 -> 1.05, Jacobian 1.04 -> 1.05 (17 Krylov iterations per fresh solve at every size, before
    and after; stored entries 1 564 471 -> 1 447 964 at 49k). --run cases/nvp.yaml --reuse on: 37.7 -> 26.8 s CPU,
    the same 324 steps, 508 linear solves, 51 set-ups, 7404 -> 7407 Krylov iterations.

Uniform against graded meshes (this 2-core AMD EPYC machine, idle, ``--reuse on``, Nov 2026). The graded family
(the old default) refines the particle's surface six times and the bulk 1.4 times from 3k to 75k DOFs, so the
DOFs move towards the particle and its surface, whose cells cost more per DOF; the uniform family (the default
since) keeps the grading and measures the cost of the same problem at more DOFs. Exponents p of the Newton
iteration over 3k-75k graded: 1.12 (residual 1.14, Jacobian 1.10, linear solve 1.20); over 3k-36k uniform, two
runs: 1.09 and 1.12 (residual 1.03-1.07, Jacobian 1.04-1.06, linear solve 1.23-1.24, PC set-up 1.03-1.13). The
linear solve's excess is the machine's memory, not more work: 16-17 Krylov iterations at every size, and

    DOFs     flop/DOF/it   solve GF/s   MatMult GF/s
    3 053        285          3.97          4.24
    12 795       298          3.01          3.33
    35 967       310          2.09          3.17

the work per DOF and iteration grows 9 % (GAMG's third level from ~20k DOFs) while the rate of the solve halves
as the Jacobian, the split blocks PETSc extracts from it and the three GAMG hierarchies outgrow the caches
(2 x 512 kB L2, 32 MB L3). ``-log_view`` at 36k: PCApply 1.43 s of KSPSolve's 1.89 s, of which the GAMG
V-cycles of c and φ_e 0.46 s each, that of c_s 0.14 s, the multiplicative split's residual updates ~0.36 s; the
GAMG variants tried there (threshold 0.05, no aggressive coarsening, unsmoothed aggregation) all cost more.

Earlier (before the rule of :mod:`ecmx.solver.fem.preconditioner_reuse`, load ~9): Newton iteration 56 / 284 /
1013 ms at 3k / 10k / 26k without reuse; MUMPS (``--linear-solver mumps``) 94 / 510 / 1900 ms;
``--run cases/nvp.yaml``: 508 linear solves, set-ups 508 -> 51, Krylov iterations 6632 -> 7431.

For figures without interference run alone, on an idle machine: ``bench/bench_step_cost.py`` (both
tables, ~4 min), ``bench/bench_step_cost.py --run cases/nvp.yaml`` (~2 min) and
``bench/bench_step_cost.py --linear-solver mumps --reuse on`` (~3 min).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

MESH_FAMILIES = {
    # size:interface_size (µm), first: cases/nvp.yaml. Uniform: both sizes scaled together (the same grading at
    # every size: 3k, 6.4k, 12.8k, 21k, 36k DOFs). Graded: the interface refined faster than the bulk (3k, 10k,
    # 26k DOFs; 0.4:0.05 ~50k), so that the DOFs shift towards the particle and its surface, whose cells cost more.
    "uniform": "0.5:0.25,0.35:0.175,0.25:0.125,0.2:0.1,0.16:0.08",
    "graded": "0.5:0.25,0.5:0.12,0.45:0.07",
}


def least_cpu_time(action, repeats: int) -> float:
    """The least CPU time of ``repeats`` calls (process time: on a shared machine the wall time also
    counts the other processes)."""
    best = math.inf
    for _ in range(repeats):
        started = time.process_time()
        action()
        best = min(best, time.process_time() - started)
    return best


def _degrees(problem) -> dict[str, list[int]]:
    """The quadrature degrees of every integral of each residual row and Jacobian block."""
    import ufl
    from dolfinx.fem.petsc import derivative_block

    newton = problem._newton
    out = {}
    forms = {f"F{i}": form for i, form in enumerate(newton._residuals)}
    jac = derivative_block(newton._residuals, newton._unknowns)
    forms |= {f"J{i}{j}": form for i, row in enumerate(jac) for j, form in enumerate(row) if form is not None}
    for name, form in forms.items():
        data = ufl.algorithms.compute_form_data(form, do_apply_function_pullbacks=True, do_apply_integral_scaling=True,
                                                do_apply_geometry_lowering=True, do_apply_restrictions=True,
                                                preserve_geometry_types=(ufl.classes.Jacobian,))
        out[name] = sorted({f"{i.integral_type()}:{_degree(i.metadata())}" for d in data.integral_data for i in d.integrals})
    return out


def _degree(metadata: dict) -> int:
    """The degree FFCx uses: the one set on the measure, else UFL's estimate (its largest)."""
    if metadata.get("quadrature_degree", -1) >= 0:
        return int(metadata["quadrature_degree"])
    estimate = metadata["estimated_polynomial_degree"]
    return int(max(estimate) if isinstance(estimate, tuple | list) else estimate)


def _without_reuse() -> None:
    """Make every cell problem built from now on set its preconditioner up at every linear solve."""
    import functools

    from ecmx.solver.fem import newton
    from ecmx.solver.fem.preconditioner_reuse import ReuseRule

    newton.ReuseRule = functools.partial(ReuseRule, enabled=False)


def worker(size_um: float, interface_um: float, linear_solver: str, repeats: int, degrees: bool, reuse: bool = True,
           material: str = "nvp") -> dict:
    """Figures of one mesh (one rank)."""
    import ecmx.solver._compat  # noqa: F401, I001  (prepares the DOLFINx import)
    import dolfinx.fem.petsc
    from mpi4py import MPI
    from petsc4py import PETSc

    from ecmx.meshes import load_mesh
    from ecmx.solver.config.case import case_from_dict
    from ecmx.solver.fem.cell_problem import CellProblem

    if not reuse:
        _without_reuse()
    case = case_from_dict({
        "name": "bench", "material": material, "electrolyte": "naclo4-ec-pc",
        "geometry": {"kind": "particle-in-electrolyte", "particle": {"shape": "sphere", "radius": 1e-6},
                     "electrolyte": {"thickness": 3e-6}, "mesh": {"size": size_um * 1e-6, "interface_size": interface_um * 1e-6}},
        "initial": {"state_of_charge": 1.0},
        "protocol": [{"step": "discharge", "c_rate": 1.0, "duration": 3600.0}],
        "solver": {"linear_solver": linear_solver},
    })
    started = time.perf_counter()
    problem = CellProblem(load_mesh(case.geometry, MPI.COMM_WORLD), case)
    build = time.perf_counter() - started
    problem.set_control("current", -problem.capacity_C / 3600.0)
    for _ in range(3):
        assert problem.try_step(5.0).converged
        problem.accept()
    nl = problem._newton._problem
    snes, ksp = nl.solver, nl.solver.getKSP()
    x, b, dx = nl.x, nl.b, nl.x.duplicate()
    assert problem.try_step(5.0).converged  # sets the step's weights
    problem.reject()  # the first Newton iterate of that step: its residual is a real Newton right-hand side
    dolfinx.fem.petsc.assign(nl.u, x)
    t_res = least_cpu_time(lambda: snes.computeFunction(x, b), repeats)
    t_jac = least_cpu_time(lambda: snes.computeJacobian(x, nl.A, nl.A), repeats)

    def linear_solve() -> None:
        nl.A.stateIncrease()  # a changed operator, and the reuse rule told to set the preconditioner up again
        problem._newton.reuse.invalidate()
        ksp.setOperators(nl.A, nl.A)
        ksp.solve(b, dx)

    t_lin = least_cpu_time(linear_solve, repeats)
    krylov = ksp.getIterationNumber()

    t_apply = least_cpu_time(lambda: ksp.solve(b, dx), repeats)  # the same operator: no new set-up
    t_pc = max(t_lin - t_apply, 0.0)
    flops = PETSc.Log.getFlops()
    ksp.solve(b, dx)
    apply_flops = PETSc.Log.getFlops() - flops  # PETSc's count of one solve with the preconditioner set up
    y = b.duplicate()
    t_mult = least_cpu_time(lambda: [nl.A.mult(b, y) for _ in range(20)], repeats) / 20
    result = {"size_um": size_um, "interface_size_um": interface_um, "dofs": problem.num_dofs,
              "nonzeros": int(nl.A.getInfo()["nz_used"]), "linear_solver": problem._newton.linear_solver,
              "reuse": reuse, "build_s": build, "residual_s": t_res, "jacobian_s": t_jac, "linear_solve_s": t_lin,
              "preconditioner_setup_s": t_pc, "krylov_iterations": krylov, "apply_flops": apply_flops,
              "apply_s": t_apply, "matmult_s": t_mult} | _newton_iteration(problem, repeats)
    if degrees:
        result["quadrature_degrees"] = _degrees(problem)
    return result


def _newton_iteration(problem, repeats: int) -> dict:
    """The CPU time per Newton iteration over ``repeats`` 5 s steps from the accepted state, the
    preconditioner set up at the first (then kept or set up again by the reuse rule), with the Newton
    iterations, set-ups and Krylov iterations per step."""
    rule = problem._newton.reuse
    rule.invalidate()
    setups, krylov, iterations = rule.setups, rule.krylov_iterations, 0
    started = time.process_time()
    for _ in range(repeats):
        iterations += problem.try_step(5.0).newton_iterations  # from the accepted state (try_step resets to it)
    cost = (time.process_time() - started) / iterations
    return {"newton_iteration_s": cost, "newton_iterations": iterations / repeats,
            "setups_per_step": (rule.setups - setups) / repeats, "krylov_per_step": (rule.krylov_iterations - krylov) / repeats}


def run_counts(path: str, reuse: bool, linear_solver: str = "auto") -> dict:
    """A whole run of the case file ``path`` (one rank, run directory in a temporary folder): its steps,
    Newton iterations, linear solves, preconditioner set-ups, Krylov iterations and CPU time."""
    import ecmx.solver._compat  # noqa: F401, I001
    from ecmx.solver.config.case import load_case
    from ecmx.solver.fem import newton
    from ecmx.solver.studies.run import run_case

    if not reuse:
        _without_reuse()
    rules = []
    factory = newton.ReuseRule

    def recorded(*args, **kwargs):
        rules.append(factory(*args, **kwargs))
        return rules[-1]

    newton.ReuseRule = recorded
    with tempfile.TemporaryDirectory() as out:
        started = time.process_time()
        overrides = [] if linear_solver == "auto" else [f"solver.linear_solver={linear_solver}"]
        run_case(load_case(Path(path), overrides), out_dir=Path(out) / "run", progress=False)
        cpu = time.process_time() - started
        summary = json.loads((Path(out) / "run" / "summary.json").read_text())
        with (Path(out) / "run" / "timeseries.csv").open() as f:
            rows = list(csv.DictReader(line for line in f if not line.startswith("#")))
    return {"reuse": reuse, "cpu_s": cpu, "summary_steps": summary.get("steps"),
            "newton": sum(int(r["newton_iterations"]) for r in rows), "final_voltage_v": float(rows[-1]["voltage_V"]),
            "solves": sum(r.solves for r in rules), "setups": sum(r.setups for r in rules),
            "krylov_iterations": sum(r.krylov_iterations for r in rules)}


def _spawn(call: str) -> dict:
    """``call`` (an expression of this module) evaluated in a fresh process."""
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_step_cost as b; "
            f"print('RESULT', json.dumps({call}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=1800, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{call} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def exponent(rows: list[dict], key: str) -> float:
    """Least-squares slope of log(cost) against log(DOFs)."""
    xs = [math.log(r["dofs"]) for r in rows]
    ys = [math.log(r[key]) for r in rows]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sum((x - mx) ** 2 for x in xs)


def _rates(r: dict) -> str:
    """The flops of one Krylov iteration per DOF (PETSc's count, the preconditioner's application included), the
    rate of the solve with its preconditioner set up and that of a bare product with the Jacobian (2 flops per
    stored entry), GFlop/s: the part of a solve's growth that is the work and the part that is the machine's
    memory (the rate falls as the matrices outgrow the caches)."""
    if "apply_flops" not in r or not r["krylov_iterations"]:
        return ""
    per_dof = r["apply_flops"] / r["krylov_iterations"] / r["dofs"]
    return (f" {per_dof:11.0f} {1e-9 * r['apply_flops'] / r['apply_s']:10.2f}"
            f" {1e-9 * 2 * r['nonzeros'] / r['matmult_s']:12.2f}")


def _table(rows: list[dict], title: str) -> None:
    """Print the per-iteration table of one configuration and its exponents."""
    print(f"\n{title}")
    print(f"{'DOFs':>7s} {'nnz':>8s} {'solver':>10s} {'residual ms':>11s} {'Jacobian ms':>11s} {'solve ms':>9s}"
          f" {'PC setup ms':>11s} {'Krylov its':>10s} {'Newton it ms':>12s} {'it/(F+J)':>8s} {'its/step':>8s}"
          f" {'setups/step':>11s} {'Krylov/step':>11s} {'flop/DOF/it':>11s} {'solve GF/s':>10s} {'MatMult GF/s':>12s}")
    for r in rows:
        ratio = r["newton_iteration_s"] / (r["residual_s"] + r["jacobian_s"])
        print(f"{r['dofs']:7d} {r['nonzeros']:8d} {r['linear_solver']:>10s} {1e3 * r['residual_s']:11.2f}"
              f" {1e3 * r['jacobian_s']:11.2f} {1e3 * r['linear_solve_s']:9.2f} {1e3 * r['preconditioner_setup_s']:11.2f}"
              f" {r['krylov_iterations']:10d} {1e3 * r['newton_iteration_s']:12.2f} {ratio:8.2f} {r['newton_iterations']:8.1f}"
              f" {r['setups_per_step']:11.2f} {r['krylov_per_step']:11.1f}{_rates(r)}")
        for name, degrees in r.get("quadrature_degrees", {}).items():
            print(f"        {name}: {', '.join(degrees)}")
    if len(rows) >= 2:
        parts = [k for k in ("residual_s", "jacobian_s", "linear_solve_s", "preconditioner_setup_s", "newton_iteration_s")
                 if all(r[k] > 0 for r in rows)]
        print("cost ~ DOFs^p, one rank: " + ", ".join(f"{k[:-2]} p = {exponent(rows, k):.2f}" for k in parts))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--meshes", default=None, help="size:interface_size in µm, comma separated (default: --family)")
    parser.add_argument("--family", choices=tuple(MESH_FAMILIES), default="uniform",
                        help="the meshes when --meshes is not given: uniform (bulk and interface sizes scaled together) "
                             "or graded (the interface refined faster)")
    parser.add_argument("--linear-solver", default="auto")
    parser.add_argument("--reuse", choices=("off", "on", "both"), default="both",
                        help="preconditioner reuse across Newton iterations: off (before), on (after) or both")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--material", default="nvp", help="the particle's material (library name), e.g. hev")
    parser.add_argument("--degrees", action="store_true", help="print the quadrature degree of every integral")
    parser.add_argument("--run", default=None, help="a case file: whole-run counts without and with reuse instead")
    parser.add_argument("--json", type=Path, default=Path(tempfile.gettempdir()) / "bench_step_cost.json")
    args = parser.parse_args()
    modes = {"off": [False], "on": [True], "both": [False, True]}[args.reuse]
    if args.run:
        rows = [_spawn(f"b.run_counts({args.run!r}, {reuse}, {args.linear_solver!r})") for reuse in modes]
        for r in rows:
            print(f"reuse {'on ' if r['reuse'] else 'off'}: {r['solves']} linear solves, {r['setups']} preconditioner set-ups,"
                  f" {r['krylov_iterations']} Krylov iterations, {r['cpu_s']:.1f} s CPU (steps: {r['summary_steps']},"
                  f" Newton iterations of accepted steps: {r['newton']}, final voltage {r['final_voltage_v']:.9f} V)")
    else:
        rows = []
        for reuse in modes:
            series = []
            for pair in (args.meshes or MESH_FAMILIES[args.family]).split(","):
                size, interface = (float(v) for v in pair.split(":"))
                series.append(_spawn(f"b.worker({size}, {interface}, {args.linear_solver!r}, {args.repeats},"
                                     f" {args.degrees}, {reuse}, {args.material!r})"))
            _table(series, f"preconditioner reuse {'on (after)' if reuse else 'off (before)'}:")
            rows += series
    args.json.write_text(json.dumps(rows, indent=1))
    print(f"written: {args.json}")


if __name__ == "__main__":
    main()

"""Benchmark: the per-run and per-try overheads of a run, outside the Newton iterations (a benchmark, not a test).

    .venv/bin/python bench/bench_overhead.py                      # cases/nvp.yaml (3D, one-way mechanics)
    .venv/bin/python bench/bench_overhead.py --sensitivity 5      # the first 5 sensitivity runs of
                                                                  # cases/nvp-vs-hev.yaml, in one process
    .venv/bin/python bench/bench_overhead.py CASE.yaml --set KEY=VALUE ...

Runs in this process (as a sweep or comparison worker does: the second and later runs show what a
worker pays per run) and times, in CPU seconds of this process (they hold on a busy machine), every
part of a try of a time step and of an accepted step:

- inside the Newton iterations: the residual assemblies (``BlockResidual``), the Jacobian assemblies
  (``FusedJacobian``) and the rest of the SNES solve (linear solves, preconditioner set-ups, norms);
  the residual of the first iterate of each solve is counted apart, as a per-try cost;
- around them, per try: the predictor, the scheme's weights, the step-scale check of a converged
  try (an extra residual when it converged relatively), the local-error norm, the global quantities
  of the try (``CellProblem.quantities``), and the remainder of ``try_step`` and of the time loop;
- per accepted step: the one-way mechanics solve, its stress quantities and the recorder;
- per run: JIT loads and set-up (summary.json ``timing``).

Prints one row per run and, for the last run, the table per try [ms] with the share of a try that lies
outside the Newton iterations, then every timer (CPU s, calls, ms per call; nested timers are part of
their callers'): besides the above, the Jacobian's parts (fused groups and other blocks, ``CsrPart.assemble``:
kernels into their CSR matrices) and their insertion into A (``CooAssembly.set_values``), the residual kernels,
coefficient and constant packing, the mechanics fields and stress recovery, the probes and the set-up of the cell
problem and of the mechanics.

Measured (2 shared cores at load 4-6, CPU s of one run, figures ±15 % between runs):

    part                                          cases/hev.yaml            cases/nvp.yaml
                                                  (115 tries, 386 its)      (84 tries, 153 its)
    whole run                                     19.3                      7.9
    Jacobian assembly (one per Newton iteration)   5.3 (13.5 ms each)        2.1 (13.8 ms)
      fused groups: kernels / insertion            3.3 / 1.1                 1.3 / 0.5
    residual assembly (iterations + first)         2.6 (4.8 ms each)         1.2 (4.9 ms)
      kernels / coefficient packing                1.6 / 0.7                 0.7 / 0.3
    linear solves and the rest of SNES             7.5                       1.3
    around the tries (step-scale check, error      0.7                       0.3
      norm, predictor, quantities)
    observers per accepted step: mechanics solve   1.3 (14.4 ms: 8 ms the    1.1 (13.3 ms)
      MUMPS back-substitution of 2.1M factor
      entries, 3 ms fields and stress recovery)
    recorder (quantities, probes, files)           0.5 (5.8 ms)              0.44 (5.4 ms)
    set-up (cell problem + mechanics; JIT cached)  1.0                       1.0

With the Jacobian put into A through PETSc's COO interface (ecmx.solver.fem.coo_assembly), the same runs
(old and new timed one after the other, same tries and Newton iterations: hev 108 / 255, nvp 86 / 151):
a Jacobian 15.1 -> 11.9 ms (hev) and 15.1 -> 12.5 ms (nvp), of which the parts' kernels into their CSR
matrices 10.8 and 11.4 ms and the one MatSetValuesCOO 0.84-0.87 ms (the row-by-row insertion of the fused
groups alone had cost 3.5 ms); a Newton iteration 32.8 -> 28.5 and 29.2 -> 26.8 ms; whole run 13.1 -> 11.7 s
and 8.2 -> 7.6 s CPU.

The kernels run at DOLFINx's rate on this machine: a bare P1 mass matrix on the 5 547 electrolyte cells
costs 2.2-2.8 ms at quadrature degree 1 or 2, with or without entity maps (on a structured unit cube
of 5 400 cells 1.1-1.3 ms; a random cell order there 1.4-2.0 ms, and no order of the electrolyte cells
tried, Morton or by dof, beat the mesh's own): the per-cell insertion sets the cost. The Jacobian count is
the Newton iteration count (389 = 386 + 3 in failed linear solves),
and on hev about half of it goes to the 25 tries the error test rejects (the 90 accepted steps took 201
iterations; rejected tries took up to 35).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]

COST: dict[str, list[float]] = defaultdict(lambda: [0.0, 0])
"""Part name → [CPU s, calls] over the present run."""
_STACK: list[str] = []


@contextlib.contextmanager
def _timed(name: str) -> Iterator[None]:
    start = time.process_time()
    _STACK.append(name)
    try:
        yield
    finally:
        _STACK.pop()
        entry = COST[name]
        entry[0] += time.process_time() - start
        entry[1] += 1


def _wrap(cls: type, method: str, name: str | Any) -> None:
    """Time every call of ``cls.<method>`` as ``name`` (or ``name(args)`` when callable)."""
    original = getattr(cls, method)

    @functools.wraps(original)
    def timed(*args: Any, **kwargs: Any) -> Any:
        with _timed(name(args) if callable(name) else name):
            return original(*args, **kwargs)

    setattr(cls, method, timed)


_FRESH = [False]
"""Whether the next residual is the first of a Newton solve (a per-try cost; the later ones are iterations')."""


def instrument() -> None:
    """Put the timers on the classes (before any problem is built: SNES keeps bound callbacks)."""
    from ecmx.solver.fem import block_jacobian, block_residual, cell_problem, fused_jacobian, newton
    from ecmx.solver.fem.mechanics import MechanicsProblem
    from ecmx.solver.studies.recorder import Recorder
    from ecmx.solver.timeloop.integrators import BdfIntegrator
    from ecmx.solver.timeloop.runner import ProtocolRunner

    # isort: split

    import dolfinx.fem.petsc  # after ecmx.solver.fem, which prepares the DOLFINx import

    original = newton.CoupledNewton._solve_with

    def solve_with(self: Any, problem: Any, reset: Any, check: Any, budget: int | None = None) -> Any:
        _FRESH[0] = True
        with _timed("newton solve"):
            outcome = original(self, problem, reset, check, budget)
        COST["newton iterations"][1] += problem.solver.getIterationNumber()
        return outcome

    newton.CoupledNewton._solve_with = solve_with
    residual = block_residual.BlockResidual._assemble

    def assemble_residual(self: Any, snes: Any, x: Any, b: Any) -> None:
        first, _FRESH[0] = _FRESH[0], False
        with _timed("residual (first iterate)" if first else "residual (iterations)"):
            residual(self, snes, x, b)

    block_residual.BlockResidual._assemble = assemble_residual
    _wrap(fused_jacobian.FusedJacobian, "_assemble", "jacobian")
    _wrap(block_jacobian.BlockJacobian, "_assemble", "jacobian")
    _wrap(dolfinx.fem.petsc, "assemble_jacobian", "jacobian")  # the blocks' own, where nothing is fused
    _wrap(cell_problem.CellProblem, "try_step", "try_step")
    _wrap(cell_problem.CellProblem, "quantities", "quantities")
    _wrap(cell_problem.CellProblem, "_converged_on_the_step_scale", "step-scale check")
    _wrap(BdfIntegrator, "predict", "predictor")
    _wrap(BdfIntegrator, "weights", "weights")
    _wrap(BdfIntegrator, "error", "error norm")
    _wrap(ProtocolRunner, "_advance", "advance")
    _wrap(ProtocolRunner, "_accept", "accept (observers)")
    _wrap(MechanicsProblem, "solve", "mechanics solve")
    _wrap(MechanicsProblem, "quantities", "stress quantities")
    _wrap(Recorder, "step_accepted", "recorder")
    _instrument_parts()


def _instrument_parts() -> None:
    """Timers on the parts of the assemblies, the observers and the set-up (nested in the timers above)."""
    from ecmx.solver.fem import block_residual, cell_problem, coo_assembly, mechanics, probes
    from ecmx.solver.fem.stress_recovery import StressRecovery

    # isort: split

    import dolfinx.fem

    _wrap(dolfinx.fem, "pack_coefficients", "coefficient packing")
    _wrap(dolfinx.fem, "pack_constants", "constant packing")
    _wrap(coo_assembly.CsrPart, "assemble", "Jacobian parts: kernels into CSR")
    _wrap(coo_assembly.CooAssembly, "set_values", "Jacobian parts into A (COO)")
    _wrap(block_residual, "assemble_vector", "residual kernels")
    _wrap(mechanics.MechanicsProblem, "_update_fields", "mechanics fields")
    _wrap(StressRecovery, "update", "stress recovery")
    _wrap(probes.PointEvaluator, "evaluate", "probes")
    _wrap(cell_problem.CellProblem, "__init__", "set-up: cell problem")
    _wrap(mechanics.MechanicsProblem, "__init__", "set-up: mechanics")


def run_one(case: Any, out: Path) -> dict[str, Any]:
    """Run ``case`` into ``out`` and return its summary."""
    from mpi4py import MPI

    from ecmx.solver.studies.run import run_case

    COST.clear()
    start = time.process_time()
    result = run_case(case, out_dir=out, comm=MPI.COMM_SELF, progress=False, overwrite=True)
    return {"summary": result.summary, "cpu_s": time.process_time() - start, "cost": dict(COST)}


def per_try_table(run: dict[str, Any]) -> None:
    """The parts of a try [ms per try] and the share outside the Newton iterations."""
    cost, summary = run["cost"], run["summary"]
    tries, iterations = summary["steps"]["tried"], cost.get("newton iterations", [0.0, 0])[1]
    c = {k: v[0] for k, v in cost.items()}
    solve = c.get("newton solve", 0.0)
    inside = c.get("jacobian", 0.0) + c.get("residual (iterations)", 0.0)
    snes_rest = solve - inside - c.get("residual (first iterate)", 0.0)  # linear solves, norms, set-ups
    inside += snes_rest
    around_try = c.get("try_step", 0.0) - solve
    loop = c.get("advance", 0.0) - c.get("try_step", 0.0) - c.get("accept (observers)", 0.0)
    parts = [
        ("Newton iterations: Jacobian assembly", c.get("jacobian", 0.0)),
        ("Newton iterations: residual assembly", c.get("residual (iterations)", 0.0)),
        ("Newton iterations: linear solve and the rest of SNES", snes_rest),
        ("residual of the first iterate", c.get("residual (first iterate)", 0.0)),
        ("try_step outside SNES (weights, guess, step-scale check)", around_try),
        ("  of which the step-scale check", c.get("step-scale check", 0.0)),
        ("time loop per try (predictor, error norm, quantities, events)", loop),
        ("  of which the predictor", c.get("predictor", 0.0)),
        ("  of which the error norm", c.get("error norm", 0.0)),
        ("  of which the quantities", c.get("quantities", 0.0)),
    ]
    outside = c.get("residual (first iterate)", 0.0) + around_try + loop
    print(f"\n{tries} tries, {iterations} Newton iterations ({iterations / max(tries, 1):.2f} per try); CPU ms per try:")
    print("| part | ms per try | share of a try |\n|---|---|---|")
    total = inside + outside
    for name, seconds in parts:
        print(f"| {name} | {1e3 * seconds / max(tries, 1):.2f} | {100 * seconds / max(total, 1e-12):.1f} % |")
    print(f"| **a try** | {1e3 * total / max(tries, 1):.2f} | outside the Newton iterations: "
          f"{100 * outside / max(total, 1e-12):.1f} % |")
    if iterations:
        print(f"a Newton iteration: {1e3 * inside / iterations:.2f} ms")
    accepted = summary["steps"]["accepted"]
    for name in ("mechanics solve", "stress quantities", "recorder"):
        if name in c:
            print(f"per accepted step: {name} {1e3 * c[name] / max(accepted, 1):.2f} ms")


def parts_table(run: dict[str, Any]) -> None:
    """Every timer of the run: CPU s, calls, ms per call (nested timers are included in their callers')."""
    print("\n| timer | CPU s | calls | ms per call |\n|---|---|---|---|")
    for name, (seconds, calls) in sorted(run["cost"].items(), key=lambda kv: -kv[1][0]):
        if name != "newton iterations":
            print(f"| {name} | {seconds:.3f} | {calls} | {1e3 * seconds / max(calls, 1):.3f} |")


def print_run(name: str, run: dict[str, Any]) -> None:
    phases = run["summary"].get("timing", {}).get("phases", {})
    cpu = {k: phases.get(k, {}).get("cpu_s", 0.0) for k in ("mesh", "jit", "setup", "time_loop", "cell_solve",
                                                            "mechanics_solve", "recording", "stress_quantities")}
    steps = run["summary"]["steps"]
    print(f"| {name} | {run['cpu_s']:.3f} | {steps['accepted']} | {steps['tried']} | "
          + " | ".join(f"{v:.3f}" for v in cpu.values()) + " |")


def cases(args: argparse.Namespace) -> list[tuple[str, Any]]:
    """(name, case) of the runs to time."""
    if args.sensitivity:
        from ecmx.solver.config.studies import load_comparison
        from ecmx.solver.studies.sensitivity import sensitivity_plan

        runs, _ = sensitivity_plan(load_comparison(args.comparison))
        return [(run.name, run.case) for run in runs[: args.sensitivity]]
    from ecmx.solver.config.case import load_case

    case = load_case(args.case, args.set)
    return [(case.name, case)] * args.repeat


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", nargs="?", default=str(ROOT / "cases" / "nvp.yaml"))
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE overrides of the case")
    parser.add_argument("--repeat", type=int, default=1, help="run the case this many times in one process")
    parser.add_argument("--sensitivity", type=int, default=0, help="time the first N sensitivity runs instead")
    parser.add_argument("--comparison", default=str(ROOT / "cases" / "nvp-vs-hev.yaml"))
    args = parser.parse_args()
    instrument()
    print("| run | CPU s | accepted | tries | mesh | jit | set-up | time loop | cell solve | mechanics | recording "
          "| stress quantities |\n|---" + "|---" * 11 + "|")
    last = None
    with tempfile.TemporaryDirectory() as tmp:
        for k, (name, case) in enumerate(cases(args)):
            last = run_one(case, Path(tmp) / f"run{k}")
            print_run(name, last)
    if last is not None:
        per_try_table(last)
        parts_table(last)


if __name__ == "__main__":
    sys.exit(main())

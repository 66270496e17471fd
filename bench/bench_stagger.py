"""Benchmark: the two-way stagger per try (:mod:`ecmx.solver.timeloop.staggered`).

    .venv/bin/python bench/bench_stagger.py CASE_FILE [--set KEY=VALUE ...] [--out DIR] [--tighter N]
        [--against DIR]

Runs the case in this process (two-way coupling: ``--set mechanics.coupling=two-way``) with the
stagger instrumented and prints, per try of a step: dt, dt over the diffusion time R²/D_s, the
passes (cell solves) it took and the change norm after each pass (<= 1: within the integration
tolerance; the one after pass 1 says how good the predicted φ was). Then the totals: tries,
passes per try, cell solves, mechanics solves, Newton iterations, the distribution of passes and
of the first change, and the run's own timing (``summary.json``). ``--tighter N`` runs the stagger
with N times the tolerance (rtol/N, the integrator keeps rtol); ``--against DIR`` (a run directory,
e.g. one written with ``--tighter 1000``) prints the relative differences of the snapshot values
(voltage, von Mises max, concentration spread c_max − c_min) against that run's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

import ecmx.solver.studies.run as run_module
from ecmx.solver.config.case import load_case
from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.timeloop import staggered

HEADLINE = ("voltage_V", "von_mises_max", "spread")


class TryLog:
    """Wraps StaggeredSteps.try_step and the change test: one row per try."""

    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.mechanics = 0

    def install(self) -> None:
        log, try_step, change = self, staggered.StaggeredSteps.try_step, staggered.StaggeredSteps._change

        def logged_try(steps, dt, weights=None, guess=None, budget=None):
            log.rows.append({"dt": dt, "changes": []})
            outcome = try_step(steps, dt, weights, guess, budget)
            log.rows[-1].update(converged=outcome.converged, newton=outcome.newton_iterations)
            return outcome

        def logged_change(steps, *args):
            value = change(steps, *args)
            log.rows[-1]["changes"].append(value)
            return value

        def logged_pass(problem, *args):
            outcome = solve(problem, *args)
            if log.rows:
                log.rows[-1].setdefault("pass_newton", []).append(outcome.newton_iterations)
            return outcome

        solve = CellProblem.try_step
        CellProblem.try_step = logged_pass
        staggered.StaggeredSteps.try_step = logged_try
        staggered.StaggeredSteps._change = logged_change


def tighten(factor: float) -> None:
    """Make the run's stagger ``factor`` times tighter than the integration tolerance."""
    stagger = staggered.StaggeredSteps

    def tightened(problem, coupling, rtol, scale, atol=0.0, magnitude=0.0):
        return stagger(problem, coupling, rtol / factor, scale, atol=atol / factor, magnitude=magnitude)

    run_module.StaggeredSteps = tightened


def snapshot_values(directory: Path) -> dict[str, dict[str, float]]:
    """The headline values of each snapshot of a run directory."""
    summary = json.loads((directory / "summary.json").read_text())
    return {s["name"]: {"voltage_V": s["voltage_V"], "von_mises_max": s["von_mises_max"],
                        "spread": s["c_max"] - s["c_min"]} for s in summary["snapshots"]}


def compare(directory: Path, reference: Path) -> None:
    """Print the relative differences of the snapshot values of ``directory`` against ``reference``."""
    got, want = snapshot_values(directory), snapshot_values(reference)
    worst = 0.0
    for name in want:
        diffs = {k: abs(got[name][k] - want[name][k]) / abs(want[name][k]) for k in HEADLINE}
        worst = max(worst, *diffs.values())
        print(name, " ".join(f"{k} {want[name][k]:.6g} -> {got[name][k]:.6g} ({d:.1e})" for k, d in diffs.items()))
    print(f"worst relative difference against {reference}: {worst:.2e}")


def diffusion_time(case) -> float:
    """R²/D_s [s] (the largest D_s of a table)."""
    radius = float(case.geometry.particle.radius)
    diffusivity = case.material.diffusivity
    d = float(diffusivity) if isinstance(diffusivity, float | int) else float(np.max(diffusivity.value))
    return radius**2 / d


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case")
    parser.add_argument("--set", action="append", default=[])
    parser.add_argument("--out", default=None)
    parser.add_argument("--tighter", type=float, default=1.0)
    parser.add_argument("--against", default=None)
    args = parser.parse_args()
    if args.tighter != 1.0:
        tighten(args.tighter)
    case = load_case(args.case, args.set)
    log = TryLog()
    log.install()
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp()) / "run"
    start, cpu = time.perf_counter(), time.process_time()
    run_module.run_case(case, out_dir=out, progress=False)
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    tau = diffusion_time(case)
    rows = log.rows
    passes = np.array([len(r["changes"]) for r in rows])
    first = np.array([r["changes"][0] for r in rows if r["changes"]])
    print(f"{'try':>4} {'dt [s]':>9} {'dt/tau':>9} {'passes':>6}  changes | Newton per pass")
    for i, r in enumerate(rows):
        print(f"{i:4d} {r['dt']:9.3g} {r['dt'] / tau:9.2e} {len(r['changes']):6d}  "
              + " ".join(f"{c:.2g}" for c in r["changes"]) + " | " + " ".join(map(str, r.get("pass_newton", []))))
    summary = json.loads((out / "summary.json").read_text())
    print(f"\ncase {args.case} {args.set}: wall {wall:.1f} s, CPU {cpu:.1f} s, tau = R^2/D = {tau:.3g} s")
    print(f"steps {summary.get('steps')}")
    print(f"tries {len(rows)}, cell solves (passes) {passes.sum()}, passes/try {passes.sum() / len(rows):.2f}, "
          f"Newton {sum(r['newton'] for r in rows)}")
    for k in (1, 2, 3):
        its = [r["pass_newton"][k - 1] for r in rows if len(r.get("pass_newton", [])) >= k]
        print(f"pass {k}: {len(its)} solves, {np.mean(its) if its else 0:.2f} Newton iterations each")
    print("passes histogram:", {int(k): int(v) for k, v in zip(*np.unique(passes, return_counts=True), strict=True)})
    print("change after pass 1: quantiles 10/50/90 %:", np.quantile(first, [0.1, 0.5, 0.9]).round(3))
    timing = summary.get("timing", {}).get("phases", {})
    print("timing (CPU s, calls):", {k: (round(v["cpu_s"], 1), v["calls"]) for k, v in timing.items()
                                     if isinstance(v, dict) and "cpu_s" in v})
    if args.against:
        compare(out, Path(args.against))


if __name__ == "__main__":
    main()

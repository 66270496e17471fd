"""Benchmark: every try of a run's time steps, and why the rejected ones were rejected (a benchmark, not a test).

    .venv/bin/python bench/bench_step_tries.py cases/hev.yaml
    .venv/bin/python bench/bench_step_tries.py cases/hev.yaml --set mechanics.coupling=two-way --rejected

Runs the case in this process (run directory in a temporary folder) and prints one row per try of a
time step: its start time [s], step [s], order, Newton iterations (and those of each solve it took:
the solve from the predictor, its continuation, a repeat from the last accepted state), its
local-error norm with the part of each unknown block (``0s``: the surface nodes of θ, ``3``: the
cell voltage V̂ with its knot slack), whether its stencil crossed a U(θ) knot (``x``), and its fate:
ACC (accepted), err (rejected by the error test), event (re-solved to land on an event, or the first
pass of a two-way stagger) or fail (the solve failed). Ends with the totals: steps, tries, Newton
iterations (of the accepted tries) and CPU seconds.

Measured with it (issue 14, main before the change, busy 2-core machine): `cases/hev.yaml` 90 steps,
115 tries, 386 Newton iterations (201 in accepted tries); every error rejection of the discharge by
V̂ on a try across a knot, no try of 9 or more iterations accepted, and 16 tries whose solve from the
predictor converged only relative to a poor guess and was repeated from uₙ (63 iterations); after:
95 steps, 116 tries, 338 iterations with the continued solves and the restart and rejection rules;
103 steps, 119 tries, 298 iterations with the steps landed on knots too. The per-try Newton budget
(runner.TRY_NEWTON_BUDGET, CAPPED_CUT): 96 → 94 steps, 109 → 108 tries, 295 → 263 iterations, 17.4 → 14.8 s CPU.
``--out DIR`` keeps the run directory (summary.json for accuracy checks).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _parts(integrator: Any, dt: float, state: list[np.ndarray]) -> dict[str, float]:
    """Each measured block's largest |E|/weight (the surface nodes of a kinked block apart)."""
    from ecmx.solver.timeloop.integrators import KNOT_SLACK, error_constant

    order, t_new = integrator.order, integrator.times[0] + dt
    c = error_constant(t_new, integrator.times[: order + 1], order)
    crossed = integrator._crossed(state, order)
    parts = {}
    for b, measured in enumerate(integrator.measured()):
        if not measured:
            continue
        slack = KNOT_SLACK if integrator.jumping[b] and not integrator.differential[b] and any(crossed) else 1.0
        magnitude = np.maximum(np.maximum(np.abs(state[b]), np.abs(integrator.states[0][b])), integrator.magnitudes[b])
        ratio = np.abs(c * (state[b] - integrator.predict(dt)[b]) / (slack * (integrator.atol + integrator.rtol * magnitude)))
        if integrator.kinks[b] is not None:
            where = integrator.kinks[b][1]
            parts[f"{b}s"] = float(ratio[where].max()) if where.any() else 0.0
            ratio = np.where(where, 0.0, ratio) if crossed[b] else ratio
        parts[str(b)] = float(ratio.max()) if ratio.size else 0.0
    return parts


def traced_run(case_path: str, overrides: list[str], out: str | None = None) -> tuple[list[dict[str, Any]], float]:
    """Run the case with every try recorded (its run directory ``out``, else a temporary one); returns the rows
    and the CPU seconds."""
    import ecmx.solver._compat  # noqa: F401, I001
    from ecmx.solver.config.case import load_case
    from ecmx.solver.fem import newton
    from ecmx.solver.fem.cell_problem import CellProblem
    from ecmx.solver.studies.run import run_case
    from ecmx.solver.timeloop import runner as runner_module
    from ecmx.solver.timeloop.integrators import BdfIntegrator

    rows: list[dict[str, Any]] = []
    solves: list[int] = []
    current: dict[str, Any] = {}
    patches = [(runner_module.ProtocolRunner, "__init__"), (CellProblem, "try_step"), (CellProblem, "accept"),
               (BdfIntegrator, "error"), (newton.CoupledNewton, "solve")]
    originals = [getattr(owner, name) for owner, name in patches]
    init, try_step, accept, error, solve = originals

    def traced_init(self, *args, **kwargs):
        init(self, *args, **kwargs)
        current["runner"] = self

    def traced_try(self, dt, weights=None, guess=None, budget=None):
        solves.clear()
        outcome = try_step(self, dt, weights, guess, budget)
        r = current["runner"]
        rows.append({"t": r.time, "dt": dt, "order": r.integrator.order, "iterations": outcome.newton_iterations,
                     "solves": list(solves), "converged": bool(outcome.converged), "reason": outcome.reason,
                     "error": None, "crossed": False, "accepted": False, "parts": {}})
        return outcome

    def traced_error(self, dt, state):
        value = error(self, dt, state)
        if rows and self.estimated:
            rows[-1].update(error=value, crossed=self.kinked, parts=_parts(self, dt, state))
        return value

    def traced_accept(self):
        rows[-1]["accepted"] = True
        return accept(self)

    def traced_solve(self, reset, check, budget=None):
        outcome = solve(self, reset, check, budget)
        solves.append(outcome.newton_iterations)
        return outcome

    for (owner, name), replacement in zip(patches, [traced_init, traced_try, traced_accept, traced_error, traced_solve],
                                          strict=True):
        setattr(owner, name, replacement)
    try:
        with tempfile.TemporaryDirectory() as scratch:
            started = time.process_time()
            run_case(load_case(Path(case_path), overrides), out_dir=Path(out or Path(scratch) / "run"), progress=False)
            return rows, time.process_time() - started
    finally:
        for (owner, name), original in zip(patches, originals, strict=True):
            setattr(owner, name, original)


def fate(row: dict[str, Any]) -> str:
    """ACC, err, event or fail (see the module docstring)."""
    if row["accepted"]:
        return "ACC"
    if not row["converged"]:
        return "fail: " + row["reason"][:40]
    return "err" if row["error"] is not None and row["error"] > 1.0 else "event"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("case")
    parser.add_argument("--set", dest="overrides", action="append", default=[], help="KEY=VALUE (as ecmx run --set)")
    parser.add_argument("--rejected", action="store_true", help="print only the tries that were not accepted")
    parser.add_argument("--out", help="keep the run directory there (it must not exist yet)")
    args = parser.parse_args()
    rows, cpu = traced_run(args.case, args.overrides, args.out)
    print(f"{'#':>4s} {'t [s]':>10s} {'dt [s]':>10s} {'k':>2s} {'its':>4s} {'solves':>8s} {'error':>8s} x  fate / parts")
    for i, r in enumerate(rows):
        if args.rejected and r["accepted"]:
            continue
        error = "-" if r["error"] is None else f"{r['error']:.3g}"
        parts = " ".join(f"{k}:{v:.2g}" for k, v in r["parts"].items())
        print(f"{i:4d} {r['t']:10.3f} {r['dt']:10.4g} {r['order']:2d} {r['iterations']:4d} {'+'.join(map(str, r['solves'])):>8s}"
              f" {error:>8s} {int(r['crossed'])}  {fate(r)} {parts}")
    accepted = [r for r in rows if r["accepted"]]
    print(f"{args.case} {' '.join(args.overrides)}: {len(accepted)} steps, {len(rows)} tries, "
          f"{sum(r['iterations'] for r in rows)} Newton iterations ({sum(r['iterations'] for r in accepted)} in accepted "
          f"tries), {cpu:.1f} s CPU")


if __name__ == "__main__":
    main()

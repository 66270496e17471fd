"""Work–precision of the time integration on the constant-flux sphere (a benchmark, not a test).

    .venv/bin/python bench/bench_time_integration.py [--old-path SHIM] [--pybamm PYTHON] [--json OUT]
    .venv/bin/python bench/bench_time_integration.py --whole-process [--repeats 5] [--pybamm PYTHON]

The problem (docs/model.md §5): a sphere-1d particle (R = 1 µm, constant D_s = 1e-14 m²/s, the
default 40-element sphere-1d mesh) discharged at 1C for 300 s (τ = 3, from the first seconds to the
steady state). The error is the largest nodal |c − c_series| over every accepted step after 1 s,
in units of jR/D, and the centre radial stress error σ_r(0) ∝ c̄ − c(0) in units of its peak
(0.3 jR/D); the spatial error of the mesh is the floor that the finest tolerance shows.

Compared, each with its steps and wall time (the solve only, after the forms are compiled):

- the old scheme (backward Euler, steps from Newton counts; ``--old-path``: a PYTHONPATH shim whose
  ``ecmx`` is a checkout of ade59ac, run in a subprocess) at its default settings and with
  ``time_step.max`` of 12 s and 1 s;
- ecmx's error-controlled BDF (orders 1-3 on the √t clock of a restart; BDF2 on t before) at rtol = 1e-4 … 1e-8
  (atol = rtol/100), the default rtol 1e-6 marked;
- PyBaMM's SPM positive particle with the IDAKLU solver (``--pybamm``: the python of a separate
  environment with pybamm; skipped when absent), 40 radial finite volumes, at rtol = atol =
  1e-4 … 1e-8, its profile compared with the series at its own nodes and output times (every 0.5 s).

``--whole-process`` times what a user waits for instead: ``ecmx run`` on the same problem as a case
file (start-up, imports, JIT cache load, mesh, solve, result files) against a python process that
imports pybamm and solves the same SPM once (at rtol = atol = 1e-6, comparable in accuracy to ecmx's
default; see the table above), each the median of ``--repeats`` runs after one warm-up run, and the
CPU time (user + system) of the same runs.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

DIFFUSIVITY, RADIUS, DURATION, THETA0 = 1e-14, 1e-6, 300.0, 0.5
RTOLS = (1e-4, 1e-5, 1e-6, 1e-7, 1e-8)
OLD_SETTINGS = ({}, {"max": 12.0}, {"max": 1.0})


def series(x, tau, amplitude):
    """c − c₀ of the constant-flux sphere (docs/model.md §5); x = r/R, amplitude = jR/D."""
    import numpy as np
    from scipy.optimize import brentq

    roots = np.array([brentq(lambda a: np.tan(a) - a, n * np.pi + 1e-9, (n + 0.5) * np.pi - 1e-9)
                      for n in range(1, 300)])
    x = np.maximum(np.asarray(x, dtype=float), 1e-12)
    terms = np.sin(np.outer(x, roots)) / (roots**2 * np.sin(roots)) * np.exp(-(roots**2) * tau)
    return amplitude * (3 * tau + x**2 / 2 - 3 / 10 - (2 / x) * terms.sum(axis=1))


def errors(times, xs, profiles, amplitude, time_scale):
    """(max |c − c_series|/(jR/D), max centre error/(0.3 jR/D)) over the times after 1 s."""
    import numpy as np

    worst_c = worst_centre = 0.0
    centre = int(np.argmin(xs))
    for t, c in zip(times, profiles, strict=True):
        if t < 1.0:
            continue
        exact = series(xs, t / time_scale, amplitude)
        worst_c = max(worst_c, float(np.max(np.abs(c - exact))) / amplitude)
        worst_centre = max(worst_centre, abs(float(c[centre] - exact[centre]))) / (0.3 * amplitude)
    return worst_c, worst_centre


def ecmx_run(solver: dict) -> dict:
    """One ecmx run of the problem with ``solver`` settings (old or new ecmx, whichever imports)."""
    import inspect

    from mpi4py import MPI

    from ecmx.meshes import load_mesh
    from ecmx.solver.config.case import case_from_dict
    from ecmx.solver.fem.cell_problem import CellProblem
    from ecmx.solver.timeloop.protocol import build_protocol
    from ecmx.solver.timeloop.runner import ProtocolRunner
    from ecmx.solver.timeloop.stepping import StepController
    from ecmx.solver.units import F

    case = case_from_dict({"name": "bench", "material": {"base": "nvp", "diffusivity": DIFFUSIVITY},
                           "geometry": {"kind": "sphere-1d", "particle": {"radius": RADIUS}},
                           "initial": {"stoichiometry": THETA0},
                           "protocol": [{"step": "discharge", "c_rate": 1.0, "duration": DURATION}], "solver": solver})
    problem = CellProblem(load_mesh(case.geometry, comm=MPI.COMM_WORLD), case)
    field = problem.fields["particle_concentration"]
    xs = field.function_space.tabulate_dof_coordinates()[:, 0] * 1e-6 / RADIUS
    amplitude = problem.capacity_C / 3600.0 / (F * problem.particle_area_m2) * RADIUS / DIFFUSIVITY
    c0 = THETA0 * case.material.max_concentration
    times, profiles = [], []

    class Observer:
        def segment_started(self, *args):
            pass

        def snapshot(self, *args):
            pass

        def step_accepted(self, record):
            times.append(record.time_s)
            profiles.append(problem.fields["particle_concentration"].x.array.copy() - c0)

    extra = {}
    if "integrator" in inspect.signature(ProtocolRunner).parameters:
        from ecmx.solver.timeloop.integrators import BdfIntegrator

        extra["integrator"] = BdfIntegrator(case.solver.rtol, case.solver.atol, problem.differential, MPI.COMM_WORLD)
    steps = build_protocol(case.protocol, problem.capacity_C, problem.particle_area_m2)
    runner = ProtocolRunner(problem, steps, StepController.from_settings(case.solver.time_step),
                            capacity_C=problem.capacity_C, stoichiometry_window=case.material.stoichiometry_window,
                            observer=Observer(), **extra)
    started = time.perf_counter()
    runner.run()
    wall = time.perf_counter() - started
    err_c, err_centre = errors(times, xs, profiles, amplitude, problem.scales.time)
    return {"steps": runner.steps_accepted, "tries": runner.tries, "wall_s": wall, "c_error": err_c,
            "centre_stress_error": err_centre}


def pybamm_run(rtol: float) -> dict:
    """PyBaMM's SPM positive particle with IDAKLU at rtol = atol = ``rtol`` (run in pybamm's python)."""
    import numpy as np
    import pybamm

    model = pybamm.lithium_ion.SPM()
    params = pybamm.ParameterValues("Chen2020")
    c_max = 50000.0
    params.update({"Positive particle radius [m]": RADIUS, "Positive particle diffusivity [m2.s-1]": DIFFUSIVITY,
                   "Maximum concentration in positive electrode [mol.m-3]": c_max,
                   "Initial concentration in positive electrode [mol.m-3]": THETA0 * c_max,
                   "Lower voltage cut-off [V]": 0.0, "Upper voltage cut-off [V]": 10.0})
    area, thickness = params["Electrode width [m]"] * params["Electrode height [m]"], params["Positive electrode thickness [m]"]
    eps = params["Positive electrode active material volume fraction"]
    current = 0.1  # A; the flux j = I/(F a L A), a = 3ε/R
    params["Current function [A]"] = current
    flux = current / (96485.33212 * 3 * eps / RADIUS * thickness * area)
    amplitude = flux * RADIUS / DIFFUSIVITY
    sim = pybamm.Simulation(model, parameter_values=params, var_pts={"x_n": 5, "x_s": 5, "x_p": 5, "r_p": 40, "r_n": 10},
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=rtol))
    t_eval = np.linspace(0.0, DURATION, 601)
    sim.solve(t_eval=[0.0, DURATION], t_interp=t_eval)  # compiles; the timed solve follows
    started = time.perf_counter()
    solution = sim.solve(t_eval=[0.0, DURATION], t_interp=t_eval)
    wall = time.perf_counter() - started
    c = solution["X-averaged positive particle concentration [mol.m-3]"].entries  # (r, t)
    xs = np.linspace(0.5, 39.5, 40) / 40.0  # finite-volume centres
    profiles = [c[:, i] - THETA0 * c_max for i in range(c.shape[1])]  # discharge fills the positive particle
    err_c, err_centre = errors(solution.t, xs, profiles, amplitude, RADIUS**2 / DIFFUSIVITY)
    steps = int(getattr(getattr(solution, "solver_statistics", None), "number_of_steps", -1))
    return {"steps": steps, "wall_s": wall, "c_error": err_c, "centre_stress_error": err_centre}


CASE_YAML = f"""name: constant-flux-sphere
material: {{base: nvp, diffusivity: {DIFFUSIVITY}}}
geometry: {{kind: sphere-1d, particle: {{radius: {RADIUS}}}}}
initial: {{stoichiometry: {THETA0}}}
protocol:
  - {{step: discharge, c_rate: 1, duration: {DURATION}}}
"""


def pybamm_process(rtol: float) -> None:
    """The whole of a PyBaMM user's script for the problem: import, build, solve once."""
    import numpy as np
    import pybamm

    params = pybamm.ParameterValues("Chen2020")
    params.update({"Positive particle radius [m]": RADIUS, "Positive particle diffusivity [m2.s-1]": DIFFUSIVITY,
                   "Maximum concentration in positive electrode [mol.m-3]": 50000.0,
                   "Initial concentration in positive electrode [mol.m-3]": THETA0 * 50000.0,
                   "Lower voltage cut-off [V]": 0.0, "Upper voltage cut-off [V]": 10.0, "Current function [A]": 0.1})
    sim = pybamm.Simulation(pybamm.lithium_ion.SPM(), parameter_values=params,
                            var_pts={"x_n": 5, "x_s": 5, "x_p": 5, "r_p": 40, "r_n": 10},
                            solver=pybamm.IDAKLUSolver(rtol=rtol, atol=rtol))
    solution = sim.solve(t_eval=[0.0, DURATION], t_interp=np.linspace(0.0, DURATION, 601))
    solution["X-averaged positive particle concentration [mol.m-3]"].entries  # noqa: B018  (evaluated, as a user would)


def _timed(cmd: list[str], env: dict, repeats: int) -> dict:
    """Median wall and CPU (user + system of the child) seconds of ``repeats`` runs after a warm-up."""
    import resource
    import statistics

    walls, cpus = [], []
    for i in range(repeats + 1):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600, check=True)
        wall = time.perf_counter() - started
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if i:  # the first run fills the caches (JIT, meshes, bytecode)
            walls.append(wall)
            cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return {"wall_s": statistics.median(walls), "cpu_s": statistics.median(cpus), "walls": walls}


def whole_process(pybamm: str, repeats: int) -> list[dict]:
    """``ecmx run`` of the problem against a PyBaMM script, each as a whole process."""
    import tempfile

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        case = Path(tmp) / "sphere.yaml"
        case.write_text(CASE_YAML)
        ecmx = str(Path(sys.executable).parent / "ecmx")
        cmd = [ecmx, "run", str(case), "--out", str(Path(tmp) / "out"), "--overwrite", "--no-progress"]
        rows.append({"program": "ecmx run (default rtol 1e-6)"} | _timed(cmd, dict(os.environ), repeats))
        if Path(pybamm).exists():
            code = f"import sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); import bench_time_integration as b; " \
                   "b.pybamm_process(1e-6)"
            timing = _timed([pybamm, "-c", code], {**os.environ, "PYTHONPATH": ""}, repeats)
            rows.append({"program": "PyBaMM SPM, IDAKLU rtol 1e-6"} | timing)
    for r in rows:
        print(f"{r['program']:34s} wall {r['wall_s']:6.2f} s (median of {repeats})  cpu {r['cpu_s']:6.2f} s"
              f"  runs: {', '.join(f'{w:.2f}' for w in r['walls'])}")
    if len(rows) == 2:
        print(f"ecmx / PyBaMM: wall {rows[0]['wall_s'] / rows[1]['wall_s']:.2f}, cpu {rows[0]['cpu_s'] / rows[1]['cpu_s']:.2f}")
    return rows


def _subprocess(python: str, pythonpath: str | None, call: str) -> dict:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = pythonpath
    code = f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); " \
           f"import bench_time_integration as b; print('RESULT', json.dumps({call}))"
    out = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True, timeout=3600, check=False)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if not lines:
        raise RuntimeError(f"{call} failed:\n{out.stderr[-3000:]}")
    return json.loads(lines[-1][7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--old-path", help="PYTHONPATH shim of the old ecmx (ade59ac); omitted: not run")
    parser.add_argument("--pybamm", default="/tmp/pybamm-venv/bin/python", help="python with pybamm")
    parser.add_argument("--json", type=Path, help="write the rows here")
    parser.add_argument("--whole-process", action="store_true", help="time ecmx run and a PyBaMM script as processes")
    parser.add_argument("--repeats", type=int, default=5, help="--whole-process: runs of each (median)")
    args = parser.parse_args()
    if args.whole_process:
        rows = whole_process(args.pybamm, args.repeats)
        if args.json:
            args.json.write_text(json.dumps(rows, indent=1))
        return
    rows = []
    if args.old_path:
        for settings in OLD_SETTINGS:
            row = _subprocess(sys.executable, args.old_path, f"b.ecmx_run({{'time_step': {settings!r}}})")
            rows.append({"scheme": f"old BE {settings or 'defaults'}"} | row)
    for rtol in RTOLS:
        row = _subprocess(sys.executable, os.environ.get("PYTHONPATH"), f"b.ecmx_run({{'rtol': {rtol}, 'atol': {rtol / 100}}})")
        rows.append({"scheme": f"BDF rtol {rtol:g}" + (" (default)" if rtol == 1e-6 else "")} | row)
    if Path(args.pybamm).exists():
        for rtol in RTOLS:
            rows.append({"scheme": f"PyBaMM SPM IDAKLU rtol {rtol:g}"} | _subprocess(args.pybamm, "", f"b.pybamm_run({rtol})"))
    else:
        print(f"PyBaMM skipped: {args.pybamm} not found")
    print(f"{'scheme':34s} {'steps':>6s} {'wall s':>8s} {'c err/(jR/D)':>13s} {'σr(0) err/peak':>15s}")
    for r in rows:
        print(f"{r['scheme']:34s} {r['steps']:6d} {r['wall_s']:8.3f} {r['c_error']:13.2e} {r['centre_stress_error']:15.2e}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()

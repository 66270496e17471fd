"""Benchmark: the CPU time of each figure of a finished comparison, as its workers draw them.

    .venv/bin/python bench/bench_figures.py COMPARISON_DIR [--reps N] [--only KEY ...] [--gc-off]

Copies nothing and writes nothing into ``COMPARISON_DIR``: the figures go to a temporary directory.
Each repetition is a fresh process (as a worker of ``ecmx compare`` is) that reads the runs
(:func:`ecmx.postprocess.rundata.load_run`), imports the figure modules, then draws every figure of
:data:`ecmx.postprocess.figure_jobs.FIGURE_FILES` in the order a pool starts them (the costliest
first) and the sensitivity figure's PNG and PDF (two jobs in a pool), timing each with
``time.process_time`` (CPU seconds of the process; a loaded machine still inflates them by 10 %
or more: alternate the versions compared and take minima).
Prints per figure the minimum over the repetitions and the total of those minima.

Each figure is drawn as a worker's job draws it (:func:`ecmx.postprocess.figure_jobs.draw_into`:
the cyclic garbage collector off while drawing, one collection after that frees the figure). Before
that, the process's own collections were counted wherever they happened: a full one (~0.2 s, every
object of the imported modules scanned with the figures' garbage) landed in whichever figure crossed
its threshold, and moved to another when a change made fewer or more objects. ``--gc-off`` disables
the collector in the drawing process (the drawing work alone, no collection at all): on
nvp-vs-hev the collections were ~0.7 s of the figures' 5.7 s before, ~0.3 s after (the one per job).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import gc, json, sys, time
from pathlib import Path
if sys.argv[4] == "off":
    gc.disable()
start = time.process_time()
from ecmx.postprocess import figure_jobs as fj
from ecmx.postprocess import report, sensitivity as sens
from ecmx.postprocess.rundata import load_run
directory, out, only = Path(sys.argv[1]), Path(sys.argv[2]), set(json.loads(sys.argv[3]))
manifest = report.read_manifest(directory)
dods = manifest.get("depth_of_discharge") or manifest["depths_of_discharge"]
runs = [load_run(report._run_dir(directory, c)) for c in report._drawn_cases(directory, manifest)]
times = {"read runs": time.process_time() - start}
start = time.process_time()
functions = fj.figure_functions(runs, dods)
import ecmx.postprocess.figures, ecmx.postprocess.view3d  # noqa: E401 (matplotlib, pyvista)
times["import figures"] = time.process_time() - start
draw_into = getattr(fj, "draw_into", lambda draw, path: draw(path) is not None)  # as a job draws (older ecmx: plain)
order = [*fj.COSTLIEST_FIRST, *(k for k in fj.FIGURE_FILES if k not in fj.COSTLIEST_FIRST)]
for key in order:
    if only and key not in only:
        continue
    start = time.process_time()
    drawn = draw_into(functions[key], out / fj.FIGURE_FILES[key])
    if drawn:
        times[key] = time.process_time() - start
study = manifest.get("sensitivity") or {}
if study.get("points") and (not only or "sensitivity" in only):
    start = time.process_time()
    points = sens.read_points(directory, study)
    times["sensitivity read"] = time.process_time() - start
    for suffix in (".png", sens.VECTOR_FORMAT):
        start = time.process_time()
        sens.figure_job(points, list(study["cases"]), study["depth_of_discharge"], str(out / "sensitivity.png"), suffix)
        times[f"sensitivity {suffix[1:]}"] = time.process_time() - start
print(json.dumps(times))
"""


def one_rep(directory: Path, only: list[str], gc_off: bool = False) -> dict[str, float]:
    """CPU seconds per step of one fresh process drawing every figure of ``directory`` (``gc_off``:
    with the cyclic garbage collector disabled)."""
    with tempfile.TemporaryDirectory(prefix="bench-figures-") as out:
        done = subprocess.run([sys.executable, "-c", CHILD, str(directory), out, json.dumps(only), "off" if gc_off else "on"],
                              check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", type=Path, help="a finished comparison (comparison.json and its runs)")
    parser.add_argument("--reps", type=int, default=3, help="fresh processes; the minimum of each figure is shown")
    parser.add_argument("--only", nargs="*", default=[], help="figure keys to draw (default: all)")
    parser.add_argument("--gc-off", action="store_true", help="disable the cyclic garbage collector while drawing")
    args = parser.parse_args()
    reps = [one_rep(args.directory.resolve(), args.only, args.gc_off) for _ in range(args.reps)]
    best = {key: min(rep[key] for rep in reps) for key in reps[0]}
    figures = sum(v for k, v in best.items() if k not in ("read runs", "import figures", "sensitivity read"))
    print(f"{'step':<18} {'CPU s (min of ' + str(args.reps) + ')':>18}")
    for key, value in best.items():
        print(f"{key:<18} {value:>18.3f}")
    print(f"{'figures total':<18} {figures:>18.3f}")
    print(f"{'all':<18} {sum(best.values()):>18.3f}")


if __name__ == "__main__":
    main()

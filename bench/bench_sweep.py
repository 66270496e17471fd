"""Benchmark: wall time of a sweep with 1 and with 2 local workers, and the speed-up.

    .venv/bin/python bench/bench_sweep.py [SWEEP_FILE] [--workers 1 2] [--repeat 1] [--set key=value ...]

Default sweep: cases/sweep-diffusivity.yaml (7 sphere-1d NVP points, 1C discharge with one-way
mechanics). Each measurement is a fresh Python process that loads the sweep and runs every point
(force) into a fresh temporary directory, without figures, so each configuration pays its own
imports as ``ecmx sweep`` does: one worker runs the points in that process, more workers are
spawned processes. One untimed point first fills the form-compilation cache. The
machine's load average is printed because other jobs on it distort the result; the pool
efficiency, sum of point times / (workers × wall time), separates the sweep engine's own losses
(start-up, scheduling tail) from points that run slower because the cores are shared.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from ecmx.postprocess.sweep_summary import read_summary
from ecmx.solver.config.studies import Sweep, load_sweep
from ecmx.solver.studies.sweep import point_tasks, run_point

ROOT = Path(__file__).resolve().parents[1]


def load(path: Path, overrides: list[str], directory: Path) -> Sweep:
    """The sweep with extra ``--set`` overrides for every point, writing into ``directory``."""
    spec = yaml.safe_load(path.read_text())
    spec["sweep"]["base"] = str((path.parent / spec["sweep"]["base"]).resolve())
    spec["sweep"]["set"] = [*spec["sweep"].get("set", []), *overrides]
    spec["output"] = {"directory": str(directory)}
    directory.mkdir(parents=True)
    copy = directory.parent / f"{directory.name}.yaml"
    copy.write_text(yaml.safe_dump(spec))
    return load_sweep(copy)


DRIVER = """
import sys
from ecmx.solver.config.studies import load_sweep
from ecmx.solver.studies.sweep import run_sweep
result = run_sweep(load_sweep(sys.argv[1]), workers=int(sys.argv[2]), force=True, progress=False, plots=False)
sys.exit(1 if result.failed else 0)
"""


def timed_sweep(path: Path, overrides: list[str], workers: int, directory: Path) -> tuple[float, float]:
    """Wall time of the whole sweep (a fresh process) and the sum of its points' wall times, s."""
    study = load(path, overrides, directory)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", DRIVER, str(study.path), str(workers)], capture_output=True, text=True)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"sweep failed:\n{proc.stdout}{proc.stderr}")
    rows = read_summary(study.directory / "summary.csv")
    return wall, sum(r["wall_time_s"] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("sweep", nargs="?", type=Path, default=ROOT / "cases" / "sweep-diffusivity.yaml")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        help="extra case override for every point, e.g. geometry.mesh.elements=160")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="ecmx-bench-sweep-") as tmp:
        study = load_sweep(args.sweep)
        study.spec.output.directory = Path(tmp) / "warm-up"

        run_point(point_tasks(study, Path(tmp) / "warm-up")[-1])
        print(f"sweep {args.sweep.name} {' '.join(args.overrides)}: {len(study.points)} points, "
              f"{os.cpu_count()} cores, load average before {os.getloadavg()[0]:.2f}")
        times: dict[int, list[float]] = {}
        for r in range(args.repeat):
            for workers in args.workers:
                wall, serial = timed_sweep(args.sweep, args.overrides, workers, Path(tmp) / f"w{workers}-{r}")
                times.setdefault(workers, []).append(wall)
                print(f"  {workers} worker(s): {wall:7.1f} s wall, sum of point times {serial:7.1f} s, pool efficiency "
                      f"{serial / (workers * wall):.2f}, load average {os.getloadavg()[0]:.2f}")
    best = {w: min(t) for w, t in times.items()}
    base = best[min(best)]
    for workers, wall in sorted(best.items()):
        print(f"speed-up {workers} over {min(best)} worker(s): {base / wall:.2f}x  (best of {args.repeat})")
    print(json.dumps({"best_wall_s": best, "speedup": {w: base / t for w, t in best.items()}}))


if __name__ == "__main__":
    main()

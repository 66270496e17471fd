"""Benchmark: the two-phase comparison, ``ecmx compare cases/nvp-two-phase-vs-hev.yaml``, in one command.

    .venv/bin/python bench/bench_two_phase_compare.py [--workers N] [--keep DIR]

Runs ``ecmx compare`` in a fresh process (imports, workers and post-processing included) and prints
the whole comparison's wall time with the load average (the machine may be shared: the step counts
do not depend on load), then per run (nvp-two-phase-1d: sphere-1d, the resolved reference;
nvp-two-phase-3d: the 3D phase-field sphere; hev: HE-V in 3D) its wall time, accepted steps, tries
and Newton iterations, the DOFs, and the peak stresses of the discharge: the largest von Mises and
hydrostatic tension over the run and at the comparison's depths of discharge, in MPa.
Target (issue 15): the comparison within 10 min on 2 cores.

Measured once (2-core machine shared with other jobs, load average 10 at the start and 7 at the end,
2 workers): 1027 s wall. Runs: nvp-two-phase-3d 958 s (50 accepted steps, 56 tried; 13 771 DOFs of
the cell problem, 29.6k cells; mesh generation, form compilation and the first P2 elasticity solve
included), hev 352 s, nvp-two-phase-1d 242 s (the 3D run is the critical path). Peak von Mises at
DOD 10/50/90 %: 24/1429/962 MPa (3D, lambda 0.1 um), 33/1884/1559 MPa (sphere-1d, 50 nm), 0.3 MPa
(HE-V). A finer particle mesh (particle_size 0.07 um: 56k tetrahedra, 29.9k DOFs) cost, profiled at
load ~7, 57 s per step: 35 s the P2 elasticity solve (CG + GAMG, 240k DOFs), 22 s Newton (MUMPS, two
Jacobians of 3 s each); hence 0.1 um.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_compare import print_counts, run_counts

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "cases" / "nvp-two-phase-vs-hev.yaml"
DODS = (0.1, 0.5, 0.9)


def peaks(run: Path) -> dict[str, float]:
    """Peak von Mises and hydrostatic tension [MPa] over the run and at DODS (the nearest recorded step)."""
    with open(run / "timeseries.csv", newline="", encoding="utf-8") as stream:
        rows = [r for r in csv.DictReader(stream) if r["von_mises_max"]]
    dod = [float(r["depth_of_discharge"]) for r in rows]
    out = {"vm_max": max(float(r["von_mises_max"]) for r in rows) / 1e6,
           "sh_max": max(float(r["hydrostatic_max"]) for r in rows) / 1e6}
    for target in DODS:
        row = rows[min(range(len(rows)), key=lambda i: abs(dod[i] - target))]
        out[f"vm@{target:g}"] = float(row["von_mises_max"]) / 1e6
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="ecmx compare --workers (default: its own)")
    parser.add_argument("--keep", type=Path, default=None, help="write the comparison here instead of a temp dir")
    args = parser.parse_args()
    ecmx = Path(sys.executable).with_name("ecmx")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "compare"
        command = [str(ecmx), "compare", str(FILE), "--out", str(out), "--overwrite", "--no-progress"]
        command += ["--workers", str(args.workers)] if args.workers else []
        load, start = os.getloadavg(), time.perf_counter()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=7200)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"ecmx compare failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        counts = run_counts(out)
        print(f"ecmx compare {FILE.name}: {wall:.1f} s wall (load average before {load[0]:.1f}, after "
              f"{os.getloadavg()[0]:.1f}; {os.cpu_count()} cores; target <= 600 s on 2 cores)")
        print_counts(counts, {}, args.workers or min(len(counts), os.cpu_count() or 1))
        at = " | ".join(f"vM @ DOD {d:g}" for d in DODS)
        print(f"\n| run | DOFs | peak von Mises MPa | peak hydrostatic MPa | {at} |")
        print("|---" * (4 + len(DODS)) + "|")
        for summary_path in sorted(out.glob("**/summary.json")):
            summary, p = json.loads(summary_path.read_text()), peaks(summary_path.parent)
            dofs = summary.get("dofs", {}).get("total", "?")
            print(f"| {summary_path.parent.relative_to(out)} | {dofs} | {p['vm_max']:.0f} | {p['sh_max']:.0f} | "
                  + " | ".join(f"{p[f'vm@{d:g}']:.0f}" for d in DODS) + " |")


if __name__ == "__main__":
    main()

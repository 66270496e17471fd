"""Benchmark: the main job, ``ecmx compare cases/nvp-vs-hev.yaml``, as a user runs it.

    .venv/bin/python bench/bench_compare.py [COMPARISON_FILE] [--workers N] [--against DIR] [--keep DIR]

Runs ``ecmx compare`` (a fresh process, so the wall time includes imports, worker start-up and the
post-processing) into a temporary directory, then prints, from the run directories it wrote:

- the whole comparison's wall time and the machine's load average (shared machines distort it;
  the counts below do not depend on load);
- per run: its wall time, accepted steps, tries (rejected included) and Newton iterations of the
  accepted steps (``timeseries.csv``), largest first;
- the critical path: the longest single run, the lower bound of the wall time with any number of
  workers, and the sum of the runs over the workers;
- the time line (from each run's ``summary.json`` ``timing``, :mod:`ecmx.solver.studies.timing`):
  when each run started and ended on which worker process, each worker's busy and idle time, and
  the post-processing after the last run (figures, tables, report) up to the end of the command;
- where each run's time goes: imports, form compilation/loading (jit), mesh, set-up, the time
  loop and within it the cell solves, the mechanics solves, the recorder (field files, probes,
  stress integrals) and the snapshots; wall and CPU seconds (CPU holds on a busy machine), and
  the totals over all runs;
- the headline numbers (``ratios.csv``: the stress and spread ratios at each depth of discharge of
  each coupling) and, with ``--against DIR`` (an earlier comparison directory, e.g. one written by
  an older version), their relative change and the before/after counts side by side.

The form-compilation cache is whatever ecmx's default is: run it twice for a warm figure.
"""

from __future__ import annotations

import argparse
import csv
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEADLINE = ("von_mises_max_MPa", "concentration_spread_window")


def run_counts(directory: Path) -> dict[str, dict[str, float]]:
    """Per run directory below ``directory`` (cases and sensitivity runs): wall time [s], accepted
    steps, tries and the Newton iterations of the accepted steps."""
    counts = {}
    for summary_path in sorted(directory.glob("**/summary.json")):
        summary = json.loads(summary_path.read_text())
        with open(summary_path.parent / "timeseries.csv", newline="", encoding="utf-8") as stream:
            newton = sum(int(float(row["newton_iterations"])) for row in csv.DictReader(stream))
        steps = summary.get("steps", {})
        name = str(summary_path.parent.relative_to(directory))
        counts[name] = {"wall_s": float(summary.get("wall_time_s", float("nan"))),
                        "accepted": steps.get("accepted", 0), "tried": steps.get("tried", 0), "newton": newton}
    return counts


def headline(directory: Path) -> dict[tuple[str, str, str], float]:
    """(group, DOD, quantity) → ratio from the comparison's ``ratios.csv``."""
    with open(directory / "ratios.csv", newline="", encoding="utf-8") as stream:
        return {(row["group"], row["depth_of_discharge"], q): float(row[q])
                for row in csv.DictReader(stream) for q in HEADLINE}


def print_counts(now: dict[str, dict[str, float]], before: dict[str, dict[str, float]], workers: int) -> None:
    keys = ("wall_s", "accepted", "tried", "newton")
    print(f"\n| run | {' | '.join(keys)} |" + (" before: " + " / ".join(keys) + " |" if before else ""))
    print("|---" * (len(keys) + 1 + bool(before)) + "|")
    for name, c in sorted(now.items(), key=lambda item: -item[1]["wall_s"]):
        was = before.get(name)
        old = " |" if before else ""
        if was:
            old = f" {was['wall_s']:.1f} / {was['accepted']} / {was['tried']} / {was['newton']} |"
        print(f"| {name} | {c['wall_s']:.1f} | {c['accepted']} | {c['tried']} | {c['newton']} |{old}")
    for label, counts in (("now", now), ("before", before)):
        if counts:
            walls = [c["wall_s"] for c in counts.values()]
            total = {k: sum(c[k] for c in counts.values()) for k in keys}
            print(f"{label}: sum of runs {total['wall_s']:.1f} s ({total['accepted']} steps, {total['tried']} tries, "
                  f"{total['newton']} Newton its); longest run {max(walls):.1f} s; sum / {workers} workers "
                  f"{sum(walls) / workers:.1f} s")


PHASES = ("imports", "jit", "mesh", "setup", "time_loop", "cell_solve", "mechanics_solve", "recording", "fields",
          "probes", "stress_quantities", "snapshots", "finish")
"""The phases of summary.json ``timing`` in the order printed (jit lies within mesh and set-up; cell_solve,
mechanics_solve, recording and snapshots within time_loop; fields, probes and stress_quantities
within recording)."""


def run_timings(directory: Path) -> dict[str, dict]:
    """Run name → its summary.json ``timing`` with ``wall_s`` (the run's wall time) added."""
    found = {}
    for summary_path in sorted(directory.glob("**/summary.json")):
        summary = json.loads(summary_path.read_text())
        if "timing" in summary:
            found[str(summary_path.parent.relative_to(directory))] = {**summary["timing"],
                                                                       "wall_s": float(summary["wall_time_s"])}
    return found


def print_timeline(timings: dict[str, dict], started: float, ended: float) -> None:
    """Per worker process: its runs in order with start and end [s after the command started], busy
    and idle time; then the post-processing after the last run."""
    if not timings:
        print("\n(no summary.json timing: an ecmx without it)")
        return
    lanes: dict[int, list[tuple[float, float, str]]] = {}
    for name, t in timings.items():
        start = t["started_unix_s"] - started
        lanes.setdefault(t["pid"], []).append((start, start + t["wall_s"], name))
    last_end = max(end for lane in lanes.values() for _, end, _ in lane)
    print("\n| worker | runs (start-end s) | busy s | idle s (before, between, after its last run) |\n|---|---|---|---|")
    for k, lane in enumerate(sorted(lanes.values())):
        lane.sort()
        busy = sum(end - start for start, end, _ in lane)
        gaps = sum(max(b[0] - a[1], 0.0) for a, b in itertools.pairwise(lane))
        runs = ", ".join(f"{name} {start:.0f}-{end:.0f}" for start, end, name in lane)
        print(f"| {k} | {runs} | {busy:.1f} | {lane[0][0]:.1f}, {gaps:.1f}, {last_end - lane[-1][1]:.1f} |")
    print(f"runs end {last_end:.1f} s after the start; post-processing (figures, tables, report) and exit: "
          f"{ended - started - last_end:.1f} s; the command: {ended - started:.1f} s")


def print_phases(timings: dict[str, dict]) -> None:
    """Per run and in total: wall (CPU) seconds per phase."""
    if not timings:
        return
    print("\n| run | wall s | " + " | ".join(PHASES) + " |  (each: wall s (CPU s))")
    print("|---" * (len(PHASES) + 2) + "|")
    total = {p: [0.0, 0.0] for p in PHASES}
    for name, t in sorted(timings.items(), key=lambda item: -item[1]["wall_s"]):
        cells = []
        for p in PHASES:
            phase = t["phases"].get(p)
            if phase is None:
                cells.append("-")
                continue
            total[p][0] += phase["wall_s"]
            total[p][1] += phase["cpu_s"]
            cells.append(f"{phase['wall_s']:.2f} ({phase['cpu_s']:.2f})")
        print(f"| {name} | {t['wall_s']:.1f} | " + " | ".join(cells) + " |")
    print(f"| all runs | {sum(t['wall_s'] for t in timings.values()):.1f} | "
          + " | ".join(f"{w:.1f} ({c:.1f})" for w, c in total.values()) + " |")


def print_headline(now: dict[tuple[str, str, str], float], before: dict[tuple[str, str, str], float]) -> None:
    print("\n| coupling | DOD | quantity | ratio |" + (" before | change |" if before else ""))
    print("|---|---|---|---|" + ("---|---|" if before else ""))
    for key, value in now.items():
        extra = ""
        if key in before:
            extra = f" {before[key]:.5g} | {(value - before[key]) / before[key]:+.2e} |"
        print(f"| {key[0]} | {key[1]} | {key[2]} | {value:.5g} |{extra}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("file", nargs="?", default=str(ROOT / "cases" / "nvp-vs-hev.yaml"))
    parser.add_argument("--workers", type=int, default=None, help="ecmx compare --workers (default: its own)")
    parser.add_argument("--against", type=Path, default=None, help="an earlier comparison directory to compare with")
    parser.add_argument("--keep", type=Path, default=None, help="write the comparison here instead of a temp dir")
    args = parser.parse_args()
    ecmx = Path(sys.executable).with_name("ecmx")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "compare"
        command = [str(ecmx), "compare", args.file, "--out", str(out), "--overwrite", "--no-progress"]
        if args.workers:
            command += ["--workers", str(args.workers)]
        load = os.getloadavg()
        start, started_unix = time.perf_counter(), time.time()
        proc = subprocess.run(command, capture_output=True, text=True, timeout=7200)
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            sys.exit(f"ecmx compare failed ({proc.returncode}):\n{proc.stderr[-4000:]}")
        workers = args.workers or min(len(run_counts(out)), os.cpu_count() or 1)
        print(f"ecmx compare {args.file}: {wall:.1f} s wall (load average before {load[0]:.1f}, "
              f"after {os.getloadavg()[0]:.1f}; {os.cpu_count()} cores)")
        before = run_counts(args.against) if args.against else {}
        print_counts(run_counts(out), before, workers)
        timings = run_timings(out)
        print_timeline(timings, started_unix, started_unix + wall)
        print_phases(timings)
        print_headline(headline(out), headline(args.against) if args.against else {})


if __name__ == "__main__":
    main()

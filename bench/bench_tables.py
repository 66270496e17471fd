"""Benchmark of long property tables (not a test): wall time of a sphere-1d 2C discharge (80 steps,
problem construction included) against the number of knots of its OCV and D(θ) tables.

    .venv/bin/python bench/bench_tables.py                 # this checkout, 21/101/201/1001 knots
    .venv/bin/python bench/bench_tables.py --knots 21 101  # fewer points

Each knot count runs in a fresh process with an empty FFCx/JIT cache, so the time includes the form
compilation a user pays for a new table. Prints one line per knot count: seconds, Newton iterations,
or the exception (a RecursionError for UFL tables of a few hundred knots).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def worker(knots: int) -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    sys.path.insert(0, str(ROOT / "tests" / "verification"))
    from test_long_tables import discharge

    start = time.perf_counter()
    try:
        _, iterations, _ = discharge(knots)
        print(f"{knots:6d} knots: {time.perf_counter() - start:7.2f} s, {sum(iterations)} Newton iterations")
    except Exception as exc:  # noqa: BLE001  (report any failure of the long table)
        print(f"{knots:6d} knots: failed after {time.perf_counter() - start:.1f} s: {type(exc).__name__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--knots", type=int, nargs="*", default=[21, 101, 201, 1001])
    parser.add_argument("--worker", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker is not None:
        worker(args.worker)
        return
    for knots in args.knots:
        with tempfile.TemporaryDirectory() as cache:
            env = dict(os.environ, XDG_CACHE_HOME=cache)
            subprocess.run([sys.executable, __file__, "--worker", str(knots)], env=env, check=False, timeout=1800)


if __name__ == "__main__":
    main()

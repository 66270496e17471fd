"""The order in which a comparison hands its runs to the worker pool: longest expected first (LPT).

With two workers and runs of very different lengths, the order decides when the last run ends: a
long run started last finishes alone while the other worker idles, and the comparison's figures,
which need every one of its own runs (:mod:`ecmx.solver.studies.early_drawing`), start only then.
Started longest first, the short runs (the sphere-1d sensitivity runs) fill the gaps and both
workers finish together.

Each run's cost [s] is estimated, in this order:

1. **Its own earlier run** in the same comparison directory: ``<run directory>/summary.json`` of a
   completed run of the same name, material, geometry kind and mechanics on or off (an ``ecmx compare --overwrite``
   again, as ``make compare`` does) gives its ``wall_time_s``. The file is only a hint (it may be
   anything): one that is missing, too large, not JSON or without a finite positive wall time is
   ignored; it can change the order, never a result.
2. Else **from the plan** (:func:`planned_cost`): a fixed start-up cost plus a cost growing as the
   mesh's estimated cells (:meth:`ecmx.solver.config.geometry.Geometry.estimated_cells`) to the
   power 1.2 (the measured growth of a Newton iteration's cost with the DOFs), times 1.5 for two-way
   coupling, times the material's cycled window over NVP's (0.5): a protocol in C-rates and depths
   of discharge sweeps the stoichiometry in proportion to the window, and the time steps follow
   the change of the state (HE-V, window 0.67, took 94 steps and 191 Newton iterations against
   NVP's 84 and 147 on the same mesh and protocol: 10.6 against 8.5 s, 12.8 against 10.9 s two-way;
   without this a fresh directory could not tell them apart and put both HE-V runs on one worker,
   the 3D runs ending at 23.4 instead of 21.5 s); calibrated on the 3D NVP case (8.5 s for ~7k
   cells) and the sphere-1d runs (0.6 s).
   Where some runs have an earlier time and others do not, the planned costs are rescaled by the
   median ratio of earlier time to planned cost over the runs that have both, so that the two
   kinds of estimate are on one scale (the machine's speed).

Equal estimates keep the plan's order.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Sequence
from pathlib import Path

from ecmx.solver.config.case import Case

STARTUP_S = 0.5
"""Cost of a run that does not grow with its mesh (forms, mesh, set-up, output), s."""
SECONDS_PER_CELL_POWER = 2.0e-4
"""Seconds per estimated cell to the power :data:`CELL_EXPONENT` (one-way coupling)."""
CELL_EXPONENT = 1.2
TWO_WAY_FACTOR = 1.5
"""Two-way coupling: the mechanics inside each Newton iteration (measured 1.4-1.5x on nvp-vs-hev)."""
REFERENCE_WINDOW = 0.5
"""The cycled stoichiometry window of the calibration case (NVP, θ 0.25-0.75)."""
MESH_FILE_CELLS = 1.0e4
"""Cells assumed for a mesh file (its size is known only once it is read): a 3D run's order."""
MAX_SUMMARY_BYTES = 1 << 20
"""Larger summary.json files are not read for an estimate."""


def planned_cost(case: Case) -> float:
    """The estimated wall time of ``case`` from its plan alone, s (see the module doc)."""
    cells = case.geometry.estimated_cells() or MESH_FILE_CELLS
    two_way = case.mechanics.enabled and case.mechanics.coupling == "two-way"
    lo, hi = case.material.stoichiometry_window
    factor = (TWO_WAY_FACTOR if two_way else 1.0) * (hi - lo) / REFERENCE_WINDOW
    return STARTUP_S + SECONDS_PER_CELL_POWER * cells**CELL_EXPONENT * factor


def earlier_cost(case: Case, directory: Path) -> float | None:
    """The wall time [s] of an earlier completed run of ``case`` in ``directory`` (its summary.json:
    same name, material, geometry kind and mechanics on or off), or None (see the module doc)."""
    path = Path(directory) / "summary.json"
    try:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > MAX_SUMMARY_BYTES:
            return None
        summary = json.loads(path.read_text(encoding="utf-8"))
        same = (summary["status"] == "completed" and summary["case"] == case.name
                and summary["material"] == case.material.name and summary["geometry"] == case.geometry.kind
                and summary["mechanics"] == case.mechanics.enabled)
        wall = float(summary["wall_time_s"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return wall if same and math.isfinite(wall) and wall > 0 else None


def estimated_costs(cases: Sequence[Case], directories: Sequence[Path] | None = None) -> list[float]:
    """The estimated wall time of each case [s]: its earlier run in its directory where there is one,
    else :func:`planned_cost` on the earlier runs' scale (see the module doc)."""
    planned = [planned_cost(case) for case in cases]
    earlier = ([earlier_cost(c, d) for c, d in zip(cases, directories, strict=True)] if directories is not None
               else [None] * len(cases))
    known = [e / p for e, p in zip(earlier, planned, strict=True) if e is not None]
    scale = statistics.median(known) if known else 1.0
    return [e if e is not None else p * scale for e, p in zip(earlier, planned, strict=True)]


def longest_first(cases: Sequence[Case], directories: Sequence[Path] | None = None) -> list[int]:
    """The indices of ``cases`` in the order to start them in a worker pool: the longest expected
    first (:func:`estimated_costs`), equal estimates in the given order."""
    costs = estimated_costs(cases, directories)
    return sorted(range(len(cases)), key=lambda i: -costs[i])

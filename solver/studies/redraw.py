"""``ecmx report RESULTS_DIR``: redraw the figures, tables and report of a run, sweep or comparison.

Nothing is solved and no solver module is imported (no DOLFINx, no PETSc): a redraw reads the
directory's files and takes seconds. What the directory holds is told by its files:

- a comparison: ``comparison.json`` (written by ``ecmx compare``: the comparison file, its depths
  of discharge and its cases in order), or, for a comparison written before that file existed, a
  ``table.csv`` (the cases in order and the depths of discharge) beside the case run directories;
- a sweep: ``summary.csv`` (the figures are drawn from it; ``ecmx sweep FILE --collect`` rebuilds it
  from the point directories);
- a run: ``summary.json``, ``case.yaml`` and ``timeseries.csv``.

It redraws what the study draws: for a comparison ``figures/``, ``table.csv``, ``table.md``,
``ratios.csv``, ``report.md`` and ``report.html`` (the comparison's own post-processing, called in
:func:`draw_comparison` only); for a sweep ``figures/``; for a run the same set as a comparison of
that one run at its snapshot depths of discharge, written into the run directory.

A directory that ecmx did not write (no ``.ecmx-owner`` marker) or whose files fit none of these is
refused (CaseError). The redraw holds the directory's lock, so it is refused while a run, sweep or
comparison writes there; outputs are drawn aside and moved into place one by one
(:mod:`ecmx.solver.studies.study_dir`), and the results themselves (time series, fields,
``summary.json``, point and case directories, ``summary.csv``) are never touched.
"""

from __future__ import annotations

import csv
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.solver.config.case import Case
from ecmx.solver.config.studies import CompareFile
from ecmx.solver.errors import CaseError
from ecmx.solver.files import read_json_object
from ecmx.solver.studies import compare, sweep
from ecmx.solver.studies.outdir import MARKER, DirectoryLock, expand, is_owned
from ecmx.solver.studies.study_dir import check_outputs, child_directory

RUN_FILES = ("summary.json", "case.yaml", "timeseries.csv")
LEGACY_TABLE = "table.csv"


@dataclass
class Redrawn:
    """What :func:`redraw` did: the kind of directory (``run``, ``sweep``, ``comparison``) and the
    outputs it rewrote (names inside ``directory``)."""

    kind: str
    directory: Path
    outputs: list[str] = field(default_factory=list)


@dataclass
class RecordedComparison:
    """The parts of a :class:`~ecmx.solver.config.studies.Comparison` that the comparison's drawing
    reads, rebuilt from a results directory (the case files themselves are not read again)."""

    path: Path
    spec: CompareFile
    cases: list[NamedCase]
    case_paths: list[Path]


@dataclass
class NamedCase:
    """A compared case as the drawing names it (its resolved case is read from its run directory)."""

    name: str


def detect(directory: Path) -> str:
    """``"comparison"``, ``"sweep"`` or ``"run"`` from the files in ``directory``.

    Raises:
        CaseError: ``directory`` is not a directory ecmx wrote, or holds none of the three.
    """
    if not is_owned(directory):
        raise CaseError(f"{directory} is not an ecmx results directory (no {MARKER} marker): ecmx report redraws "
                        "only what ecmx wrote", file=directory)
    if (directory / compare.RECORD_FILE).is_file():
        return "comparison"
    if (directory / sweep.SUMMARY_FILE).is_file():
        return "sweep"
    if all((directory / name).is_file() for name in RUN_FILES):
        return "run"
    if (directory / LEGACY_TABLE).is_file():
        return "comparison"
    raise CaseError(f"{directory} holds no run (summary.json, case.yaml, timeseries.csv), sweep (summary.csv) or "
                    f"comparison ({compare.RECORD_FILE}) results to redraw", file=directory)


def redraw(directory: str | Path) -> Redrawn:
    """Redraw the outputs of the results directory ``directory`` (see the module doc); holds its lock.

    Raises:
        CaseError: not an ecmx results directory, in use by another ecmx process, or an output
            path that is not what ecmx writes there.
        SolveError: drawing failed; the previous outputs are left as they were.
    """
    directory = expand(directory)
    if not directory.is_dir():
        raise CaseError(f"{directory} is not a directory: expected the results directory of a run, sweep or "
                        "comparison", file=directory)
    kind = detect(directory)
    with DirectoryLock.acquire(directory, kind, key=None, file=directory):
        if kind == "sweep":
            outputs = _redraw_sweep(directory)
        else:
            study, outcomes = _recorded_comparison(directory) if kind == "comparison" else _recorded_run(directory)
            outputs = draw_comparison(study, outcomes, directory)
    return Redrawn(kind, directory, outputs)


def _redraw_sweep(directory: Path) -> list[str]:
    check_outputs(directory, (), (sweep.FIGURES,), file=directory)
    sweep.draw_figures(sweep.SweepResult(directory, directory / sweep.SUMMARY_FILE))
    return [sweep.FIGURES]


def draw_comparison(study: RecordedComparison, outcomes: list[compare.CaseOutcome], directory: Path) -> list[str]:
    """The comparison's figures, tables and report into ``directory`` from the case runs of
    ``outcomes`` (the one place that calls the comparison's drawing); returns what it wrote."""
    check_outputs(directory, [f for f in compare.OUTPUT_FILES if f != compare.RECORD_FILE],
                  compare.OUTPUT_DIRECTORIES, file=directory)
    result = compare.ComparisonResult(directory, outcomes, 0.0)
    # The report's total wall time: the longest case run (they ran in parallel) and this drawing.
    runs_s = max((o.wall_time_s for o in outcomes if math.isfinite(o.wall_time_s)), default=0.0)
    compare._post_process(study, result, time.perf_counter() - runs_s)  # noqa: SLF001  (the comparison's drawing)
    return sorted({path.relative_to(directory).parts[0] for path in result.files.values()})


def _outcome(name: str, run_dir: Path) -> compare.CaseOutcome:
    """A case's outcome from its run directory: completed, or an error saying why not."""
    summary = read_json_object(run_dir / "summary.json")
    error = None
    if summary is None:
        error = f"no readable summary.json in {run_dir}"
    elif summary.get("status") != "completed":
        error = f"run status {summary.get('status')!r}: {summary.get('reason')}"
    wall = summary.get("wall_time_s") if summary else None
    return compare.CaseOutcome(name, run_dir, float(wall) if isinstance(wall, int | float) else float("nan"), error)


def _recorded_comparison(directory: Path) -> tuple[RecordedComparison, list[compare.CaseOutcome]]:
    """The comparison from ``comparison.json`` (or, for an older comparison, its ``table.csv``)."""
    record = read_json_object(directory / compare.RECORD_FILE)
    if record is None:
        record = _record_from_table(directory)
    try:
        names = [str(c["name"]) for c in record["cases"]]
        files = [Path(str(c.get("file") or directory / name / "case.yaml")) for c, name in zip(record["cases"], names,
                                                                                               strict=True)]
        dods = [float(d) for d in record["depth_of_discharge"]]
    except (KeyError, TypeError, ValueError, AttributeError):
        raise CaseError(f"{directory / compare.RECORD_FILE}: not a comparison record written by ecmx (expected 'cases' "
                        "with names and 'depth_of_discharge')", file=directory / compare.RECORD_FILE) from None
    run_dirs = [child_directory(directory, name, file=directory / compare.RECORD_FILE, key="cases",
                                        reserved=compare.OUTPUTS) for name in names]
    outcomes = [_outcome(name, run_dir) for name, run_dir in zip(names, run_dirs, strict=True)]
    cases = [NamedCase(name) for name in names]
    spec = CompareFile.model_validate({"compare": {"cases": files, "at": {"depth_of_discharge": dods}}})
    return RecordedComparison(Path(str(record.get("file", directory))), spec, cases, files), outcomes


def _record_from_table(directory: Path) -> dict[str, Any]:
    """A comparison record from ``table.csv`` (cases in order, depths of discharge), for comparisons
    written before ``comparison.json``."""
    with open(directory / LEGACY_TABLE, newline="") as fh:
        rows = list(csv.DictReader(fh))
    names = list(dict.fromkeys(row.get("case") for row in rows if row.get("case")))
    dods = sorted({float(row["depth_of_discharge"]) for row in rows if row.get("depth_of_discharge")})
    if not names:
        raise CaseError(f"{directory / LEGACY_TABLE}: no cases in it, so the comparison cannot be redrawn",
                        file=directory / LEGACY_TABLE)
    return {"file": str(directory), "cases": [{"name": name} for name in names], "depth_of_discharge": dods}


def _recorded_run(directory: Path) -> tuple[RecordedComparison, list[compare.CaseOutcome]]:
    """A run as a comparison of one case at its snapshot depths of discharge."""
    case = _case_of(directory)
    dods = list(case.output.snapshots.depth_of_discharge)
    case_file = directory / "case.yaml"
    spec = CompareFile.model_validate({"compare": {"cases": [case_file], "at": {"depth_of_discharge": dods}}})
    return RecordedComparison(directory, spec, [NamedCase(case.name)], [case_file]), [_outcome(case.name, directory)]


def _case_of(run_dir: Path) -> Case:
    """The resolved case a run directory records in its ``case.yaml``."""
    from ecmx.solver.config.case import load_case

    return load_case(run_dir / "case.yaml")


"""The ``ecmx gitt`` verb: options to settings, the analysis, and the locked output directory."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.errors import CaseError
from ecmx.solver.studies.gitt.analysis import GittSettings, analyse, read_record, write_outputs
from ecmx.solver.units import to_si


def quantity_option(text: str | None, unit: str, option: str) -> float | None:
    if text is None:
        return None
    try:
        value = to_si(text, unit)
    except ValueError as exc:
        raise CaseError(str(exc), key=option) from None
    if not value > 0:
        raise CaseError(f"expected a positive quantity in {unit}, got {text!r}", key=option)
    return value


def case_mapping(run_case: dict[str, Any] | None, case_file: Path | None, material: str | None,
                 radius: str | None) -> dict[str, Any]:
    """The case mapping of the analysis: ``case_file``'s, else the run's, with ``--material`` and
    ``--radius`` applied; CaseError when no material is named."""
    data = read_yaml(case_file, what="case file") if case_file is not None else copy.deepcopy(run_case or {})
    if material is not None:
        data["material"] = material
    if "material" not in data:
        raise CaseError("no material: give --material (a library name or YAML file) or --case, or analyse a run "
                        "directory", key="--material")
    r = quantity_option(radius, "m", "--radius")
    if r is not None:
        data["geometry"] = {"kind": "sphere-1d", "particle": {"radius": r}}
    elif run_case is None and case_file is None:
        raise CaseError("no particle radius: give --radius (e.g. 1um) or --case", key="--radius")
    return data


def run_gitt(source: Path, settings: GittSettings, out: Path | None = None, overwrite: bool = False,
             run_case: dict[str, Any] | None = None) -> Path:
    """Analyse ``source`` and write the results directory (default ``results/<source name>-gitt``); returns it.

    The directory is checked before the analysis and written through a locked ``<out>.partial``
    (:class:`~ecmx.solver.studies.run.ResultsDirectory`).
    """
    from mpi4py import MPI

    from ecmx.solver.studies.run import ResultsDirectory

    record, _ = read_record(source)
    target = out if out is not None else Path("results") / f"{Path(source).stem}-gitt"
    directory = ResultsDirectory(target, MPI.COMM_SELF, overwrite, key="--out" if out is not None else None)
    result = analyse(record, settings, run_case)
    partial = directory.create()
    try:
        write_outputs(result, partial, title=f"GITT analysis of {Path(source).name}")
    except BaseException:
        directory.keep_partial()
        raise
    return directory.finish()

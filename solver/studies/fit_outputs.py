"""The files a fit writes (``docs/outputs.md``, "What a fit writes").

Everything is written into a staging directory inside the fit directory and then moved into place
(:func:`ecmx.solver.studies.study_dir.publish`), so a failure while writing or drawing leaves the
previous fit's outputs as they were.

- ``fit.json``: status, message, run count, residual RMS (V, overall and per curve), degrees of
  freedom, residual variance, confidence level, each parameter (key, scale, bounds, initial,
  fitted, standard error, confidence interval, whether it ended at a bound), the correlation matrix;
- ``fit.csv``: one row per parameter (the same numbers);
- ``curves.csv``: one row per measured point: curve, x kind, x (s or mAh/g), measured, fitted and
  residual voltage (V), weight;
- ``evaluations.csv``: one row per evaluated point (one model run per experiment): kind (residual or
  jacobian), the values, the cost ½Σr²;
- ``fitted_case.yaml``: the base case at the fitted values (resolved, SI), ready for ``ecmx run``;
- ``figures/fit.png`` (+ PDF): measured and fitted curves with their residuals.
"""

from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ecmx.solver.config.fit import FitProblem
from ecmx.solver.files import atomic_write_text
from ecmx.solver.studies.fit_statistics import FitStatistics, interval, standard_error
from ecmx.solver.studies.study_dir import check_outputs, publish, staged_outputs

OUTPUT_FILES = ("fit.json", "fit.csv", "curves.csv", "evaluations.csv", "fitted_case.yaml")
OUTPUT_DIRECTORIES = ("figures",)
MAH_PER_G = 3600.0
"""C/kg in one mAh/g (1 mAh/g = 3.6 C/g)."""


@dataclass
class FitResult:
    """What a fit found (values SI, in the order of ``problem.parameters``) and where it wrote."""

    directory: Path
    values: list[float]
    statistics: FitStatistics
    residual_rms: float
    status: str
    message: str
    outputs: dict[str, Path] = field(default_factory=dict)


def check_fit_outputs(directory: Path, problem: FitProblem) -> None:
    """Refuse (CaseError) when an output the fit will replace is not what ecmx writes there."""
    check_outputs(directory, OUTPUT_FILES, OUTPUT_DIRECTORIES, file=problem.path)


def parameter_rows(problem: FitProblem, result: FitResult) -> list[dict[str, Any]]:
    """One row per parameter: key, scale, bounds, initial, fitted, standard error, interval, at bound."""
    rows = []
    stats = result.statistics
    for j, (p, value) in enumerate(zip(problem.parameters, result.values, strict=True)):
        x, sigma = p.to_scaled(value), float(stats.sigma[j])
        low, high = interval(x, sigma, stats.t, p.scale)
        at_bound = math.isclose(value, p.lower, rel_tol=1e-9) or math.isclose(value, p.upper, rel_tol=1e-9)
        rows.append({"key": p.key, "scale": p.scale, "lower_bound": p.lower, "upper_bound": p.upper,
                     "initial": p.initial, "fitted": value, "standard_error": standard_error(value, sigma, p.scale),
                     "ci_low": low, "ci_high": high, "at_bound": at_bound})
    return rows


def _rms_per_curve(rows: list[dict[str, Any]]) -> dict[str, float]:
    by_curve: dict[str, list[float]] = {}
    for row in rows:
        by_curve.setdefault(row["curve"], []).append(row["residual_V"])
    return {name: math.sqrt(float(np.mean(np.square(r)))) for name, r in by_curve.items()}


def _json_number(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, list):
        return [_json_number(v) for v in value]
    return value


def _csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _summary(problem: FitProblem, result: FitResult, params: list[dict[str, Any]], curves: list[dict[str, Any]],
             runs: int) -> dict[str, Any]:
    stats = result.statistics
    return {
        "status": result.status, "message": result.message, "runs": runs * len(problem.experiments),
        "experiments": [list(e) for e in problem.experiments],
        "fit_file": str(problem.path), "base": str(problem.base_path),
        "residual_rms_V": result.residual_rms, "residual_rms_per_curve_V": _rms_per_curve(curves),
        "degrees_of_freedom": stats.dof, "residual_variance_V2": _json_number(stats.variance),
        "confidence": problem.spec.fit.confidence,
        "parameters": [{k: _json_number(v) for k, v in row.items()} for row in params],
        "correlation": [_json_number([float(c) for c in row]) for row in stats.correlation],
        "curves": [{"name": c.name, "file": str(c.file), "x": c.x_kind, "weight": c.weight, "points": len(c.x)}
                   for c in problem.curves],
    }


def write_outputs(problem: FitProblem, result: FitResult, curves: list[dict[str, Any]],
                  runs: list[dict[str, Any]]) -> dict[str, Path]:
    """Write the fit's files (module docstring) through a staging directory; returns them by name.

    ``curves`` are the rows of curves.csv, ``runs`` those of evaluations.csv.
    """
    from ecmx.postprocess.fit_plots import draw_fit_figures

    directory = result.directory
    params = parameter_rows(problem, result)
    fitted_case = problem.case_at(result.values, name=f"{problem.base_case.name}-fitted")
    with staged_outputs(directory) as staging:
        atomic_write_text(staging / "fit.json", json.dumps(_summary(problem, result, params, curves, len(runs)),
                                                           indent=2) + "\n")
        atomic_write_text(staging / "fit.csv", _csv_text(params))
        atomic_write_text(staging / "curves.csv", _csv_text(curves))
        atomic_write_text(staging / "evaluations.csv", _csv_text(runs))
        atomic_write_text(staging / "fitted_case.yaml", fitted_case.to_yaml())
        draw_fit_figures(staging, staging / "figures")
        return publish(staging, directory)


__all__ = ["FitResult", "MAH_PER_G", "OUTPUT_DIRECTORIES", "OUTPUT_FILES", "check_fit_outputs", "parameter_rows", "write_outputs"]

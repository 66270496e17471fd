"""``ecmx fit``: fit case keys to measured curves by least squares over full ecmx runs.

Each residual evaluation runs the base case with the fitted keys set (a sphere-1d case takes a
few seconds) and compares its voltage with each measured curve at the measured points: against
time since the start of the protocol (the file's time since its first row), or against the charge
passed per mass of active material, |Δ depth of discharge| × the material's usable capacity. Where
a run ends before a measured point (it reached its cut-off) its last voltage stands in, so a
too-short discharge is penalised rather than dropped. The weighted residual of a point is
√w (V_model − V_measured), V. Curves with their own ``set`` are separate experiments: each
evaluation runs the model once per experiment. A model run that fails (parameters where Newton
cannot start, say) gives non-finite residuals, on which the optimiser shrinks its step and tries
again; a Jacobian column whose run fails is taken the other way; a failure at the start, or both
ways, stops the fit (SolveError).

The optimiser is :func:`scipy.optimize.least_squares` (trust-region reflective, within the bounds)
on the variables scaled to [0, 1] across their bounds (after log10 for a log scale). The Jacobian
is a forward difference whose columns, one run each, are evaluated in parallel by the worker pool
of :mod:`ecmx.solver.studies.workers`; the step is ``fit.step`` of the bounds width (reversed at
the upper bound). Statistics at the optimum: :mod:`ecmx.solver.studies.fit_statistics`.

Outputs (the fit directory is ecmx's, locked while the fit runs; each file is written to a
staging directory and moved into place at the end; ``docs/outputs.md``): ``fit.json``,
``fit.csv``, ``curves.csv``, ``evaluations.csv``, ``fitted_case.yaml`` and ``figures/fit.png``.
Model runs go to ``<fit dir>/.evaluations/`` and are removed once read.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy.optimize import least_squares

from ecmx.solver.config.fit import FitProblem, LoadedCurve
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.studies.fit_outputs import MAH_PER_G, FitResult, check_fit_outputs, write_outputs
from ecmx.solver.studies.fit_statistics import fit_statistics
from ecmx.solver.studies.study_dir import open_study_directory

log = logging.getLogger(__name__)

EVALUATIONS = ".evaluations"
"""Hidden sub-directory of the fit directory that holds the model runs while they run."""


@dataclass(frozen=True)
class ModelCurve:
    """A model run's voltage curve: time (s), voltage (V), charge passed per mass (C/kg); ``failure``
    says why a run failed (its arrays are then empty)."""

    time: np.ndarray
    voltage: np.ndarray
    specific_capacity: np.ndarray
    failure: str | None = None


@dataclass(frozen=True)
class EvaluationTask:
    """One model run: the fitted values (SI), the experiment (a curve ``set``, index into
    ``FitProblem.experiments``) and the directory it writes (removed after reading)."""

    index: int
    values: tuple[float, ...]
    directory: Path
    experiment: int = 0


Model = Callable[[list[EvaluationTask]], list[ModelCurve]]
"""Runs model evaluations (in parallel where it can) and returns their curves in order."""


def increasing(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The points of (x, y) where x strictly increases over every earlier point (for interpolation)."""
    keep = np.concatenate(([True], x[1:] > np.maximum.accumulate(x)[:-1]))
    return x[keep], y[keep]


def model_voltage(curve: LoadedCurve, model: ModelCurve) -> np.ndarray:
    """The model's voltage at the curve's measured points, V (held at its ends beyond the run)."""
    xs = model.time if curve.x_kind == "time" else model.specific_capacity
    x, v = increasing(xs, model.voltage)
    return np.interp(curve.x, x, v)


def weighted_residuals(curves: list[LoadedCurve], models: list[ModelCurve]) -> np.ndarray:
    """√w (V_model − V_measured) of every measured point, curve after curve (each against the run of
    its experiment, ``models[curve.group]``), V."""
    return np.concatenate([math.sqrt(c.weight) * (model_voltage(c, models[c.group]) - c.voltage) for c in curves])


@dataclass
class Fitter:
    """The least-squares problem on variables u in [0, 1]^n, with cached runs and a run budget."""

    problem: FitProblem
    model: Model
    evaluations_dir: Path
    runs: list[dict[str, Any]] = field(default_factory=list)
    unlimited: bool = False
    _cache: dict[tuple[float, ...], tuple[np.ndarray, list[ModelCurve]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        params = self.problem.parameters
        self.lower = np.array([p.to_scaled(p.lower) for p in params])
        self.width = np.array([p.to_scaled(p.upper) for p in params]) - self.lower
        self.step = self.problem.spec.fit.step

    def values(self, u: np.ndarray) -> tuple[float, ...]:
        """The fitted keys' values (SI) at ``u``."""
        x = self.lower + np.clip(u, 0.0, 1.0) * self.width
        return tuple(p.from_scaled(float(xi)) for p, xi in zip(self.problem.parameters, x, strict=True))

    def u_of(self, values: list[float]) -> np.ndarray:
        x = np.array([p.to_scaled(v) for p, v in zip(self.problem.parameters, values, strict=True)])
        return np.clip((x - self.lower) / self.width, 0.0, 1.0)

    @property
    def model_runs(self) -> int:
        """Model runs so far (one per experiment per evaluated point)."""
        return len(self.runs) * len(self.problem.experiments)

    def _evaluate(self, points: list[np.ndarray], kind: str) -> list[np.ndarray]:
        todo = list({tuple(u): u for u in points if tuple(u) not in self._cache}.values())
        groups = len(self.problem.experiments)
        limit = self.problem.spec.fit.max_evaluations
        if self.model_runs + len(todo) * groups > limit and not self.unlimited:
            raise _BudgetSpent(f"fit.max_evaluations ({limit}) model runs reached")
        first = len(self.runs)
        tasks = [EvaluationTask(first + i, self.values(u), self.evaluations_dir / f"run-{first + i:05d}-{g}", g)
                 for i, u in enumerate(todo) for g in range(groups)]
        curves = self.model(tasks) if tasks else []
        for i, u in enumerate(todo):
            models = curves[i * groups:(i + 1) * groups]
            failures = [m.failure for m in models if m.failure is not None]
            if failures:  # non-finite residuals: least_squares shrinks its step and tries again
                log.warning("%s", failures[0])
            r = (np.full(sum(len(c.x) for c in self.problem.curves), np.nan) if failures
                 else weighted_residuals(self.problem.curves, models))
            self._cache[tuple(u)] = (r, models)
            self.runs.append({"run": first + i, "kind": kind, "values": self.values(u), "u": tuple(u),
                              "cost": 0.5 * float(r @ r)})
        return [self._cache[tuple(u)][0] for u in points]

    def residuals(self, u: np.ndarray) -> np.ndarray:
        """The weighted residuals at ``u`` (NaN where a model run failed)."""
        return self._evaluate([np.asarray(u, float)], "residual")[0]

    def jacobian(self, u: np.ndarray) -> np.ndarray:
        """Forward differences in u, all columns' runs at once (the step reversed at the upper bound,
        and for a column whose run failed).

        Raises:
            SolveError: the run at ``u``, or a column's runs both ways, failed.
        """
        u = np.asarray(u, float)
        steps = np.where(u + self.step <= 1.0, self.step, -self.step)
        r0, *columns = self._evaluate([u, *(u + h * e for h, e in zip(steps, np.eye(len(u)), strict=True))], "jacobian")
        self._require_finite(r0, u)
        for j in [j for j, rj in enumerate(columns) if not np.isfinite(rj).all()]:
            steps[j] = -steps[j]
            columns[j] = self._evaluate([u + steps[j] * np.eye(len(u))[j]], "jacobian")[0]
            self._require_finite(columns[j], u + steps[j] * np.eye(len(u))[j])
        return np.column_stack([(rj - r0) / hj for rj, hj in zip(columns, steps, strict=True)])

    def _require_finite(self, r: np.ndarray, u: np.ndarray) -> None:
        if not np.isfinite(r).all():
            failure = next(m.failure for m in self._cache[tuple(u)][1] if m.failure is not None)
            raise SolveError(f"{failure}; the fit cannot go on from there (narrow the bounds or change the start)")

    def curves_at(self, u: np.ndarray) -> list[ModelCurve]:
        """The model runs at ``u``, one per experiment."""
        self.residuals(u)
        return self._cache[tuple(np.asarray(u, float))][1]


class _BudgetSpent(Exception):
    """The fit reached ``fit.max_evaluations`` runs."""


def optimise(fitter: Fitter) -> tuple[np.ndarray, str, str]:
    """Run least squares from the starting values; (u at the optimum, status, message)."""
    spec = fitter.problem.spec.fit
    u0 = fitter.u_of([p.initial for p in fitter.problem.parameters])
    fitter._require_finite(fitter.residuals(u0), u0)
    try:
        result = least_squares(fitter.residuals, u0, jac=fitter.jacobian, bounds=(0.0, 1.0), method="trf",
                               xtol=spec.tolerance, ftol=spec.tolerance, gtol=spec.tolerance,
                               max_nfev=spec.max_evaluations)
    except _BudgetSpent as exc:
        best = min(fitter.runs, key=lambda run: run["cost"] if math.isfinite(run["cost"]) else math.inf)
        return np.array(best["u"]), "stopped", str(exc)
    status = "converged" if result.status > 0 else "stopped"
    return np.clip(result.x, 0.0, 1.0), status, str(result.message)


def run_fit(problem: FitProblem, *, workers: int | None = None, model: Model | None = None) -> FitResult:
    """Fit ``problem`` and write its outputs into its directory (see the module docstring).

    Args:
        problem: the validated fit (:func:`ecmx.solver.config.fit.load_fit`).
        workers: model runs in parallel (default ``fit.workers``, else the cores, at most the
            number of parameters); 1 runs them in this process.
        model: runs the evaluations (default: ecmx runs of the base case, :func:`ecmx_model`).

    Raises:
        CaseError: the directory is not ecmx's or is in use; a fitted value does not validate.
        SolveError: a model run failed (its parameter values are named).
    """
    directory = Path(os.path.abspath(problem.directory))
    lock = open_study_directory(directory, "fit", file=problem.path)
    evaluations = directory / EVALUATIONS
    try:
        check_fit_outputs(directory, problem)
        shutil.rmtree(evaluations, ignore_errors=True)
        evaluations.mkdir()
        with _model(problem, workers, model) as run_model:
            fitter = Fitter(problem, run_model, evaluations)
            u, status, message = optimise(fitter)
            fitter.unlimited = True  # the statistics need the Jacobian at the optimum, whatever the budget
            jac = fitter.jacobian(u)
        result = _result(fitter, u, jac, status, message, directory)
        result.outputs = write_outputs(problem, result, curve_rows(problem, fitter.curves_at(u)), _run_rows(fitter))
        return result
    finally:
        shutil.rmtree(evaluations, ignore_errors=True)
        lock.release()


def curve_rows(problem: FitProblem, models: list[ModelCurve]) -> list[dict[str, Any]]:
    """The rows of curves.csv: each measured point with the model's voltage there (x in s or mAh/g)."""
    rows = []
    for curve in problem.curves:
        fitted = model_voltage(curve, models[curve.group])
        x = curve.x if curve.x_kind == "time" else curve.x / MAH_PER_G
        for xi, measured, vi in zip(x, curve.voltage, fitted, strict=True):
            rows.append({"curve": curve.name, "x": curve.x_kind, "x_value": float(xi), "measured_V": float(measured),
                         "fitted_V": float(vi), "residual_V": float(vi - measured), "weight": curve.weight})
    return rows


def _run_rows(fitter: Fitter) -> list[dict[str, Any]]:
    keys = [p.key for p in fitter.problem.parameters]
    return [{"run": r["run"], "kind": r["kind"], **dict(zip(keys, r["values"], strict=True)), "cost": r["cost"]}
            for r in fitter.runs]


def _result(fitter: Fitter, u: np.ndarray, jac_u: np.ndarray, status: str, message: str, directory: Path) -> FitResult:
    residuals = fitter.residuals(u)
    jac_x = jac_u / fitter.width  # d r / d x, x the scaled variable (value or log10)
    stats = fit_statistics(jac_x, residuals, fitter.problem.spec.fit.confidence)
    rms = math.sqrt(float(residuals @ residuals) / len(residuals))
    return FitResult(directory, list(fitter.values(u)), stats, rms, status, message)


@contextmanager
def _model(problem: FitProblem, workers: int | None, model: Model | None) -> Iterator[Model]:
    if model is not None:
        yield model
        return
    runs_per_jacobian = len(problem.parameters) * len(problem.experiments)
    count = workers or problem.spec.fit.workers or min(os.cpu_count() or 1, runs_per_jacobian)
    if count <= 1:
        yield lambda tasks: [evaluate(problem, task) for task in tasks]
        return
    from ecmx.solver.studies.workers import process_pool

    with process_pool(count) as pool:
        yield lambda tasks: list(pool.map(_evaluate_in_worker, [(problem, task) for task in tasks]))


def _evaluate_in_worker(args: tuple[FitProblem, EvaluationTask]) -> ModelCurve:
    return evaluate(*args)


def evaluate(problem: FitProblem, task: EvaluationTask) -> ModelCurve:
    """Run the base case at ``task.values`` into ``task.directory`` and read its curve (one process).

    A run that fails (Newton at the minimum step, a guard) gives a curve whose ``failure`` names the
    fitted values and the reason.
    """
    from mpi4py import MPI

    from ecmx.postprocess.rundata import read_csv_columns
    from ecmx.solver.config.fit import specific_capacity_per_dod
    from ecmx.solver.studies.run import run_case

    case = problem.evaluation_case(list(task.values), task.directory.name, task.experiment)
    where = ", ".join(f"{p.key}={v:.6g}" for p, v in zip(problem.parameters, task.values, strict=True))
    try:
        run_case(case, out_dir=task.directory, comm=MPI.COMM_SELF, progress=False)
        series = _merged_rows(read_csv_columns(task.directory / "timeseries.csv"),
                              read_csv_columns(task.directory / "timeseries_times.csv")
                              if case.output.times is not None else {})
    except (SolveError, CaseError) as exc:
        reason = str(exc).split(" (t = ")[0]  # not the directory it names: it is removed
        return ModelCurve(np.empty(0), np.empty(0), np.empty(0), f"the model run at {where} failed: {reason}")
    finally:
        shutil.rmtree(task.directory, ignore_errors=True)
        shutil.rmtree(task.directory.with_name(task.directory.name + ".partial"), ignore_errors=True)
    dod = series["depth_of_discharge"]
    log.info("fit run %s at %s", task.index, where)
    return ModelCurve(series["time_s"], series["voltage_V"], np.abs(dod - dod[0]) * specific_capacity_per_dod(case))


def _merged_rows(steps: dict[str, np.ndarray], times: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Time, voltage and depth of discharge of the accepted steps and the rows at requested times, by time."""
    names = ("time_s", "voltage_V", "depth_of_discharge")
    merged = {n: np.concatenate([steps[n], times.get(n, np.empty(0))]) for n in names}
    order = np.argsort(merged["time_s"], kind="stable")
    return {n: merged[n][order] for n in names}


__all__ = ["EvaluationTask", "FitResult", "Fitter", "ModelCurve", "evaluate", "model_voltage", "run_fit",
           "weighted_residuals"]

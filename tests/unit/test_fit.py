"""``ecmx fit`` (issue 16): the statistics against closed forms, the least-squares driver and its
outputs over a fast analytic stand-in for the model, and hostile fit files (exit 2, file and key named).

The round trip over real ecmx runs is in tests/verification/test_fit_round_trip.py (slow).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import numpy as np
import pytest
import yaml
from support.cases import CASE, write_yaml
from typer.testing import CliRunner

from ecmx.postprocess.rundata import read_csv_columns
from ecmx.solver.cli import app
from ecmx.solver.config.fit import load_fit
from ecmx.solver.errors import CaseError, SolveError
from ecmx.solver.files import MAX_CSV_BYTES
from ecmx.solver.studies.fit import EvaluationTask, Fitter, ModelCurve, model_voltage, optimise, run_fit
from ecmx.solver.studies.fit_statistics import fit_statistics, interval

# ---------------------------------------------------------------------------------------------
# Statistics


def test_straight_line_standard_errors_match_the_textbook_formulas():
    """y = a + b x with noise: SE(b) = s/√Σ(x − x̄)², SE(a) = s √(1/n + x̄²/Σ(x − x̄)²), corr(a, b) = −x̄/√(mean x²)."""
    rng = np.random.default_rng(1)
    x = np.linspace(0.0, 10.0, 25)
    y = 1.5 + 0.3 * x + rng.normal(0.0, 0.2, x.size)
    design = np.column_stack([np.ones_like(x), x])
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    r = design @ coef - y
    stats = fit_statistics(design, r, 0.95)
    n, sxx, xbar = x.size, np.sum((x - x.mean()) ** 2), x.mean()
    s = math.sqrt(np.sum(r**2) / (n - 2))
    assert stats.dof == n - 2
    np.testing.assert_allclose(stats.sigma[1], s / math.sqrt(sxx), rtol=1e-10)
    np.testing.assert_allclose(stats.sigma[0], s * math.sqrt(1 / n + xbar**2 / sxx), rtol=1e-10)
    np.testing.assert_allclose(stats.correlation[0, 1], -xbar / math.sqrt(np.mean(x**2)), rtol=1e-10)
    assert stats.t == pytest.approx(2.0687, abs=1e-4)  # Student t, 23 degrees of freedom, 95 %


def test_log_scale_interval_is_asymmetric_in_the_value():
    low, high = interval(math.log10(2e-15), 0.1, 2.0, "log")
    assert low == pytest.approx(2e-15 * 10**-0.2) and high == pytest.approx(2e-15 * 10**0.2)
    assert interval(3.0, 0.5, 2.0, "linear") == (2.0, 4.0)


def test_unidentifiable_parameter_has_infinite_error():
    """Two columns that move the residuals identically: neither is identifiable, a third one is."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=30)
    jac = np.column_stack([a, 2 * a, rng.normal(size=30)])
    stats = fit_statistics(jac, rng.normal(0, 0.01, 30), 0.95)
    assert np.isinf(stats.sigma[:2]).all() and np.isfinite(stats.sigma[2])
    assert math.isnan(stats.correlation[0, 1])


# ---------------------------------------------------------------------------------------------
# The driver over an analytic stand-in: V(t) = 3.4 − 0.05 √(t/1000 s) √(1e-15/D) − (RT/F) asinh(0.25/(2 i₀))

TIMES = np.linspace(0.0, 1800.0, 40)
TRUE = (1e-15, 0.05)


def fake_voltage(t: np.ndarray, d: float, i0: float) -> np.ndarray:
    return 3.4 - 0.05 * np.sqrt(t / 1000.0) * np.sqrt(1e-15 / d) - 0.025693 * np.arcsinh(0.25 / (2 * i0))


def fake_model(tasks: list[EvaluationTask]) -> list[ModelCurve]:
    t = np.union1d(np.linspace(0.0, 2000.0, 401), TIMES)
    return [ModelCurve(t, fake_voltage(t, *task.values), t * 1.0) for task in tasks]


def write_fit(directory: Path, parameters: list[dict], curves: list[dict] | None = None, **fit) -> Path:
    spec = {"fit": {"base": "case.yaml", "parameters": parameters,
                    "curves": curves or [{"file": "data.csv"}], **fit},
            "output": {"directory": str(directory / "out")}}
    return write_yaml(directory / "fit.yaml", spec)


def write_data(directory: Path, voltage: np.ndarray, name: str = "data.csv") -> Path:
    rows = "\n".join(f"{t / 60:.12g},{v * 1e3:.12g}" for t, v in zip(TIMES, voltage, strict=True))
    path = directory / name
    path.write_text(f"time [min],voltage (mV)\n{rows}\n")
    return path


PARAMETERS = [
    {"key": "material.diffusivity", "bounds": ["1e-17 m^2/s", "1e-13 m^2/s"], "initial": "3e-15 m^2/s"},
    {"key": "material.exchange_current_density", "bounds": [0.001, 10.0], "initial": 0.15},
]


def test_fit_recovers_exact_parameters_and_writes_its_outputs(case_dir):
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    problem = load_fit(write_fit(case_dir, PARAMETERS))
    result = run_fit(problem, model=fake_model)
    np.testing.assert_allclose(result.values, TRUE, rtol=1e-6)
    assert result.status == "converged" and result.residual_rms < 1e-8
    out = case_dir / "out"
    assert {p.name for p in out.iterdir()} >= {"fit.json", "fit.csv", "curves.csv", "evaluations.csv",
                                               "fitted_case.yaml", "figures", ".ecmx-owner"}
    assert not (out / ".evaluations").exists()
    summary = json.loads((out / "fit.json").read_text())
    assert [p["key"] for p in summary["parameters"]] == ["material.diffusivity", "material.exchange_current_density"]
    assert (out / "figures" / "fit.png").stat().st_size > 0
    fitted = yaml.safe_load((out / "fitted_case.yaml").read_text())
    assert fitted["material"]["diffusivity"] == pytest.approx(TRUE[0], rel=1e-6)
    assert fitted["material"]["exchange_current_density"] == pytest.approx(TRUE[1], rel=1e-6)


def test_noisy_data_intervals_cover_the_truth_and_scale_with_the_noise(case_dir):
    """0.5 mV noise: the 95 % intervals hold the true values, and the reported standard errors match
    the spread of the fitted values over 20 noise draws within 35 % (the linearised covariance)."""
    rng = np.random.default_rng(7)
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    problem = load_fit(write_fit(case_dir, PARAMETERS))
    clean = problem.curves[0]
    fits = []
    for _ in range(20):
        noisy = dataclasses.replace(clean, voltage=clean.voltage + rng.normal(0.0, 5e-4, TIMES.size))
        problem.curves = [noisy]
        fitter = Fitter(problem, fake_model, case_dir)
        u, status, _ = optimise(fitter)
        stats = fit_statistics(fitter.jacobian(u) / fitter.width, fitter.residuals(u), 0.95)
        fits.append((np.array([p.to_scaled(v) for p, v in zip(problem.parameters, fitter.values(u), strict=True)]),
                     stats))
        assert status == "converged"
    x, stats = fits[0]
    truth = np.log10(TRUE)
    assert np.all(np.abs(x - truth) < stats.t * stats.sigma)
    spread = np.std([f[0] for f in fits], axis=0, ddof=1)
    reported = np.mean([f[1].sigma for f in fits], axis=0)
    np.testing.assert_allclose(reported, spread, rtol=0.35)
    assert np.sqrt(np.mean([f[1].variance for f in fits])) == pytest.approx(5e-4, rel=0.1)


RATES = (1.0, 0.5)


def fake_rate_model(tasks: list[EvaluationTask]) -> list[ModelCurve]:
    """The stand-in at the C-rate of each task's experiment (0: as the base case, 1: its curve's set)."""
    t = np.union1d(np.linspace(0.0, 2000.0, 401), TIMES)
    return [ModelCurve(t, rate_voltage(t, RATES[task.experiment], *task.values), t) for task in tasks]


def rate_voltage(t: np.ndarray, rate: float, d: float, i0: float) -> np.ndarray:
    return 3.4 - rate * 0.05 * np.sqrt(t / 1000.0) * np.sqrt(1e-15 / d) - 0.025693 * np.arcsinh(rate * 0.25 / (2 * i0))


def test_curves_with_their_own_set_are_separate_experiments(case_dir):
    """Two curves at two C-rates (a curve's set changes the base case's protocol): one run of each per
    evaluated point, each curve against its own run; the fit recovers the parameters."""
    write_data(case_dir, rate_voltage(TIMES, 1.0, *TRUE), "fast.csv")
    write_data(case_dir, rate_voltage(TIMES, 0.5, *TRUE), "slow.csv")
    curves = [{"file": "fast.csv"}, {"file": "slow.csv", "set": ["protocol.0.c_rate=0.5"]}]
    problem = load_fit(write_fit(case_dir, PARAMETERS, curves))
    assert problem.experiments == [(), ("protocol.0.c_rate=0.5",)]
    assert [c.group for c in problem.curves] == [0, 1]
    assert problem.evaluation_case(list(TRUE), "x", 1).protocol[0].c_rate == 0.5
    assert problem.evaluation_case(list(TRUE), "x", 0).protocol[0].c_rate == 1.0
    seen: list[EvaluationTask] = []
    result = run_fit(problem, model=lambda tasks: seen.extend(tasks) or fake_rate_model(tasks))
    np.testing.assert_allclose(result.values, TRUE, rtol=1e-6)
    assert sorted({t.experiment for t in seen}) == [0, 1] and len(seen) % 2 == 0
    summary = json.loads((case_dir / "out" / "fit.json").read_text())
    assert summary["runs"] == len(seen) and summary["residual_rms_per_curve_V"]["slow"] < 1e-8


def test_a_curve_set_that_does_not_validate_names_its_key(case_dir):
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    bad = [{"file": "data.csv"}, {"file": "data.csv", "name": "again", "set": ["protocol.0.c_rate=-1"]}]
    with pytest.raises(CaseError, match="greater than 0") as info:
        load_fit(write_fit(case_dir, PARAMETERS, bad))
    assert info.value.key == "fit.curves.1.set"


def failing_above(i0_limit: float):
    """The stand-in, failing (as a run whose Newton cannot start) where i₀ exceeds ``i0_limit``."""
    def model(tasks: list[EvaluationTask]) -> list[ModelCurve]:
        good = fake_model(tasks)
        return [m if task.values[1] <= i0_limit else ModelCurve(np.empty(0), np.empty(0), np.empty(0), "no go")
                for task, m in zip(tasks, good, strict=True)]
    return model


def test_a_failed_run_is_stepped_around(case_dir):
    """The Jacobian's forward step in i₀ from the start fails: the column is taken backwards, and the fit
    goes on to the true values; a failure at the start stops the fit with the run's reason."""
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    problem = load_fit(write_fit(case_dir, PARAMETERS))
    result = run_fit(problem, model=failing_above(0.1501))
    np.testing.assert_allclose(result.values, TRUE, rtol=1e-6)
    costs = read_csv_columns(case_dir / "out" / "evaluations.csv")["cost"]
    assert np.isnan(costs).any()
    with pytest.raises(SolveError, match="no go; the fit cannot go on"):
        run_fit(problem, model=failing_above(0.01))


def test_model_voltage_holds_the_last_value_past_the_end_of_a_run(case_dir):
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    curve = load_fit(write_fit(case_dir, PARAMETERS)).curves[0]
    short = ModelCurve(np.array([0.0, 600.0]), np.array([3.4, 3.0]), np.array([0.0, 1.0]))
    v = model_voltage(curve, short)
    assert v[-1] == 3.0 and v[0] == 3.4
    np.testing.assert_allclose(v[TIMES <= 600.0], 3.4 - 0.4 * TIMES[TIMES <= 600.0] / 600.0)


def test_table_item_key_with_units_and_the_time_step_cap(case_dir):
    write_yaml(case_dir / "case.yaml", dict(CASE, material={"base": "mat.yaml", "diffusivity": {
        "stoichiometry": [0.3, 0.6, 1.0], "value": ["1e-15 m^2/s", "2e-15 m^2/s", "1e-16 m^2/s"]}}))
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    problem = load_fit(write_fit(case_dir, [{"key": "material.diffusivity.value[1]", "bounds": ["1e-12 cm^2/s",
                                                                                              "1e-10 cm^2/s"]}]))
    (p,) = problem.parameters
    assert (p.key, p.lower, p.upper, p.initial, p.scale) == ("material.diffusivity.value.1", 1e-16, 1e-14, 2e-15, "log")
    case = problem.case_at([5e-15])
    assert case.material.diffusivity.value == [1e-15, 5e-15, 1e-16]
    assert case.solver.time_step.max == pytest.approx(TIMES[1] / 5)  # a fifth of the data spacing


# ---------------------------------------------------------------------------------------------
# Hostile and careless fit files: exit 2, the file and key named, nothing written


def cli(*args: str):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", "NO_COLOR": "1"})


GOOD_PARAMETER = {"key": "material.diffusivity", "bounds": [1e-17, 1e-13]}

BAD_FITS = {
    "unknown-key": ({"parameters": [GOOD_PARAMETER], "curvs": []}, "fit.curvs", "did you mean 'curves'"),
    "not-a-case-key": ({"parameters": [{"key": "material.difusivity", "bounds": [1, 2]}]}, "fit.parameters.0.key",
                       "not a key of the resolved base case"),
    "not-a-number-key": ({"parameters": [{"key": "geometry.kind", "bounds": [1, 2]}]}, "fit.parameters.0.key",
                         "expected a key holding a number"),
    "reversed-bounds": ({"parameters": [{"key": "material.diffusivity", "bounds": [1e-13, 1e-17]}]},
                        "fit.parameters.0.bounds", "lower < upper"),
    "wrong-unit": ({"parameters": [{"key": "material.diffusivity", "bounds": ["1 V", 1e-13]}]},
                   "fit.parameters.0.bounds", "expected a quantity in m^2/s"),
    "out-of-case-range": ({"parameters": [{"key": "material.diffusivity", "bounds": [-1e-15, 1e-13]}]},
                          "fit.parameters.0.bounds", "greater than 0"),
    "initial-outside": ({"parameters": [dict(GOOD_PARAMETER, initial=1e-12)]}, "fit.parameters.0.initial",
                        "outside the bounds"),
    "base-value-outside": ({"parameters": [{"key": "material.diffusivity", "bounds": [1e-14, 1e-13]}]},
                           "fit.parameters.0.initial", "base case's value"),
    "log-of-negative": ({"parameters": [{"key": "temperature", "bounds": [250, 350], "scale": "log", "initial": 300},
                                        {"key": "initial.stoichiometry", "bounds": [0, 1], "scale": "log"}]},
                        "fit.parameters.1", ""),
    "duplicate-parameter": ({"parameters": [GOOD_PARAMETER, dict(GOOD_PARAMETER, key="material.diffusivity")]},
                            "fit.parameters", "more than once"),
    "too-many-parameters": ({"parameters": [GOOD_PARAMETER] * 21}, "fit.parameters", "at most 20"),
    "data-escapes": ({"parameters": [GOOD_PARAMETER], "curves": [{"file": "../data.csv"}]}, "fit.curves.0.file",
                     "outside the fit file's directory"),
    "base-escapes": ({"base": "/etc/passwd", "parameters": [GOOD_PARAMETER]}, "fit.base",
                     "outside the fit file's directory"),
    "missing-data": ({"parameters": [GOOD_PARAMETER], "curves": [{"file": "absent.csv"}]}, "fit.curves.0.file",
                     "not found"),
    "capacity-without-column": ({"parameters": [GOOD_PARAMETER], "curves": [{"file": "data.csv", "x": "capacity"}]},
                                "fit.curves.0.x", "no capacity column"),
    "bad-weight": ({"parameters": [GOOD_PARAMETER], "curves": [{"file": "data.csv", "weight": -1}]},
                   "fit.curves.0.weight", "greater than 0"),
    "too-many-evaluations": ({"parameters": [GOOD_PARAMETER], "max_evaluations": 10**6}, "fit.max_evaluations",
                             "less than or equal to 2000"),
}


@pytest.mark.parametrize("name", sorted(BAD_FITS))
def test_bad_fit_file_is_one_clear_error(case_dir, name):
    fit, key, expected = BAD_FITS[name]
    work = case_dir / "work"
    work.mkdir()
    for file in ("case.yaml", "mat.yaml", "electrolyte.yaml"):
        (work / file).write_text((case_dir / file).read_text())
    write_data(case_dir, fake_voltage(TIMES, *TRUE))  # outside work/: only reachable by escaping
    write_data(work, fake_voltage(TIMES, *TRUE))
    spec = {"base": "case.yaml", "curves": [{"file": "data.csv"}], **fit}
    path = write_yaml(work / "fit.yaml", {"fit": spec, "output": {"directory": str(work / "out")}})
    result = cli("fit", str(path))
    assert result.exit_code == 2, result.output
    assert str(path) in result.output and f"key '{key}" in result.output and expected in result.output
    assert "Traceback" not in result.output and not (work / "out").exists()


@pytest.mark.parametrize(
    ("content", "words"),
    [
        ("time_s,voltage_V\n0,3.4\n60,oops\n", ["data.csv", "line 3", "finite number", "key 'fit.curves.0.file'"]),
        (None, ["data.csv", "expected at most 10 MiB", "key 'fit.curves.0.file'"]),
    ],
)
def test_bad_data_file_names_the_fit_file_key_and_the_data_line(case_dir, content, words):
    data = case_dir / "data.csv"
    if content is None:
        with open(data, "wb") as fh:
            fh.truncate(MAX_CSV_BYTES + 1)
    else:
        data.write_text(content)
    path = write_fit(case_dir, [GOOD_PARAMETER])
    result = cli("fit", str(path))
    assert result.exit_code == 2
    for word in [str(path), *words]:
        assert word in result.output
    assert not (case_dir / "out").exists()


def test_yaml_tag_and_not_a_fit_file(case_dir):
    tagged = case_dir / "tagged.yaml"
    tagged.write_text("fit: !!python/object:os.system {}\n")
    with pytest.raises(CaseError, match="tags are not allowed"):
        load_fit(tagged)
    with pytest.raises(CaseError, match="not a fit file") as info:
        load_fit(case_dir / "case.yaml")
    assert info.value.key == "fit"


def test_validate_and_schema_verbs_know_fit_files(case_dir):
    write_data(case_dir, fake_voltage(TIMES, *TRUE))
    result = cli("validate", str(write_fit(case_dir, PARAMETERS)))
    assert result.exit_code == 0, result.output
    assert "valid fit of material.diffusivity, material.exchange_current_density to 40 measured points" in result.output
    assert not (case_dir / "out").exists()
    result = cli("schema", "fit.curves.set", "--kind", "fit")
    assert result.exit_code == 0 and "fit.curves[].set" in result.output


def test_capacity_curve_in_mah_per_g(case_dir):
    """A curve against specific capacity: the file's mAh/g are 3600 C/kg each (the stand-in's charge per
    mass is t C/kg), the fit recovers the parameters, and curves.csv gives the capacity back in mAh/g."""
    rows = "\n".join(f"{t / 3600:.12g},{v:.12g}" for t, v in zip(TIMES, fake_voltage(TIMES, *TRUE), strict=True))
    (case_dir / "q.csv").write_text(f"capacity [mAh/g],voltage_V\n{rows}\n")
    problem = load_fit(write_fit(case_dir, PARAMETERS, [{"file": "q.csv", "x": "capacity"}]))
    np.testing.assert_allclose(problem.curves[0].x, TIMES, rtol=1e-9)
    result = run_fit(problem, model=fake_model)
    np.testing.assert_allclose(result.values, TRUE, rtol=1e-6)
    curves = read_csv_columns(case_dir / "out" / "curves.csv")
    np.testing.assert_allclose(curves["x_value"], TIMES / 3600, rtol=1e-9)

"""Fit round trip (issue 16): a synthetic discharge made by ecmx with known D_s and i₀ is fitted
from a start 3× off in both; the fit recovers them within 2 %.

The synthetic curve is a finer run than the fit's (time steps of at most 2 s, read at the measured
times), so the fit also carries the model's own discretisation difference, as with measured data.
It is compared twice: as voltage against time (a CSV in hours and millivolts) and as voltage against
specific capacity (mAh/g). sphere-1d, 10 elements; each model run takes seconds.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from support.cases import CASE, write_yaml

from ecmx.postprocess.rundata import read_csv_columns
from ecmx.solver.config.case import load_case
from ecmx.solver.config.fit import load_fit, specific_capacity_per_dod
from ecmx.solver.studies.fit import run_fit
from ecmx.solver.studies.run import run_case

TRUE_D, TRUE_I0 = 1e-15, 0.05
TIMES = np.linspace(0.0, 1700.0, 40)


def synthetic_case(directory):
    write_yaml(directory / "case.yaml", dict(
        CASE, name="synthetic", material={"base": "mat.yaml", "diffusivity": TRUE_D, "exchange_current_density": TRUE_I0},
        geometry={"kind": "sphere-1d", "particle": {"radius": "1 um"}, "mesh": {"elements": 10}},
        protocol=[{"step": "discharge", "c_rate": 2, "until": {"voltage": "2.5 V", "depth_of_discharge": 1.0}}],
        mechanics={"enabled": False}))
    times = "[" + ", ".join(f"{t:.6g}" for t in TIMES) + "]"
    case = load_case(directory / "case.yaml", ["solver.time_step.max=2", f"output.times={times}"])
    run = run_case(case, out_dir=directory / "synthetic", progress=False)
    rows = read_csv_columns(run.directory / "timeseries_times.csv")
    per_dod = specific_capacity_per_dod(case) / 3600.0  # C/kg -> mAh/g
    capacity = np.abs(rows["depth_of_discharge"] - rows["depth_of_discharge"][0]) * per_dod
    lines = [f"{t / 3600:.12g},{v * 1e3:.12g},{q:.12g}" for t, v, q in
             zip(rows["time_s"], rows["voltage_V"], capacity, strict=True)]
    (directory / "discharge.csv").write_text("time [h],voltage (mV),capacity [mAh/g]\n" + "\n".join(lines) + "\n")


@pytest.mark.slow
@pytest.mark.parametrize("x", ["time", "capacity"])
def test_fit_recovers_the_parameters_of_a_synthetic_discharge(case_dir, x):
    synthetic_case(case_dir)
    fit = write_yaml(case_dir / "fit.yaml", {
        "fit": {"base": "case.yaml",
                "parameters": [
                    {"key": "material.diffusivity", "bounds": ["1e-17 m^2/s", "1e-13 m^2/s"], "initial": 3e-15},
                    {"key": "material.exchange_current_density", "bounds": ["0.001 A/m^2", "10 A/m^2"],
                     "initial": 3 * TRUE_I0}],
                "curves": [{"file": "discharge.csv", "x": x}],
                "workers": 2},
        "output": {"directory": str(case_dir / "fit")}})
    result = run_fit(load_fit(fit))
    assert result.status == "converged"
    np.testing.assert_allclose(result.values, [TRUE_D, TRUE_I0], rtol=0.02)
    assert result.residual_rms < 1e-3
    summary = json.loads((case_dir / "fit" / "fit.json").read_text())
    assert summary["runs"] <= 200 and len(summary["correlation"]) == 2

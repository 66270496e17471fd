"""``ecmx gitt`` without the model fit (no DOLFINx solve): an analytic GITT record of a sphere, the
files it writes, and one clear error (exit 2, nothing written) for each kind of bad input."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from ecmx.solver.cli import app
from ecmx.solver.config.materials import DiffusivityTable
from ecmx.solver.config.safe_yaml import read_yaml
from ecmx.solver.studies.gitt.weppner import _series_roots, sphere_bias
from ecmx.solver.units import F

D = 1e-14
RADIUS = 1e-6
C_MAX = 27661.0  # nvp
SLOPE = -0.8  # V per unit θ
ROOTS = _series_roots(400)


def rise(tau: np.ndarray) -> np.ndarray:
    """Surface rise of a sphere under constant inward flux, in N₀R/D (0 for τ ≤ 0)."""
    tau = np.maximum(tau, 0.0)
    series = np.exp(-np.outer(tau, ROOTS**2)) / ROOTS**2
    return np.where(tau > 0, 3 * tau + 0.2 - 2 * series.sum(axis=1), 0.0)


def analytic_record(path: Path, tau_pulse: float = 0.005, pulses: int = 2) -> Path:
    """Pulses of constant inward flux into a sphere with a linear OCV and no kinetics, each followed by
    a full relaxation; θ₀ = 0.5. Voltage = 3.4 V + SLOPE (θ_surface − 0.5)."""
    t0 = RADIUS**2 / D
    flux = 2e-4  # mol/m²/s inward: the surface θ rises by ~ flux R/(D c_max) × rise
    amplitude = flux * RADIUS / D / C_MAX
    current = -F * flux * 4 * math.pi * RADIUS**2
    times, currents, volts = [0.0], [0.0], [3.4]
    start, theta = 0.0, 0.5
    for _ in range(pulses):
        on = start + t0 * tau_pulse * np.geomspace(1e-4, 1.0, 120)
        off = start + t0 * tau_pulse + t0 * np.geomspace(1e-4, 3.0, 120)
        for t, i in ((on, current), (off, 0.0)):
            s = (t - start) / t0
            surface = amplitude * (rise(s) - rise(s - tau_pulse))
            times += list(t)
            currents += [i] * t.size
            volts += list(3.4 + SLOPE * (theta - 0.5 + surface))
        theta += 3 * tau_pulse * amplitude
        start = times[-1]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["time [s]", "current [A]", "voltage [V]"])
        writer.writerows(zip(times, currents, volts, strict=True))
    return path


def gitt(*args: str):
    return CliRunner().invoke(app, ["gitt", *args])


def test_weppner_huggins_on_the_analytic_sphere_record(tmp_path):
    """D_WH/D equals the analytic sphere bias (0.880 at τ = 0.005) within 0.5 %: the √t extrapolation of
    E(0+) adds no error of its own; the files are written and the YAML table is a valid material table."""
    source = analytic_record(tmp_path / "cell.csv")
    out = tmp_path / "out"
    result = gitt(str(source), "--material", "nvp", "--radius", "1um", "--initial-stoichiometry", "0.5",
                  "--no-fit", "--out", str(out))
    assert result.exit_code == 0, result.output
    with open(out / "diffusivity.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["stoichiometry", "D_weppner_huggins_m2_s", "D_model_m2_s", "D_low", "D_high"]
    for row in rows:
        assert float(row["D_weppner_huggins_m2_s"]) / D == pytest.approx(sphere_bias(0.005), rel=5e-3)
        assert row["D_model_m2_s"] == ""
    table = read_yaml(out / "diffusivity.yaml", what="table")["diffusivity"]
    assert DiffusivityTable.model_validate(table).value == pytest.approx([float(r["D_weppner_huggins_m2_s"]) for r in rows])
    assert (out / "diffusivity.png").is_file() and (out / ".ecmx-owner").is_file()
    again = gitt(str(source), "--material", "nvp", "--radius", "1um", "--no-fit", "--out", str(out))
    assert again.exit_code == 2 and "already exists" in again.output


@pytest.mark.parametrize(("content", "args", "expected"), [
    ("time_s,current_A\n0,0\n1,1\n", (), "no voltage column"),
    ("time_s,current_A,voltage_V\n0,0,3\n1,0,3\n2,0,3\n", (), "no current pulse"),
    ("time_s,current_A,voltage_V\n0,0,3\n1,nan,3\n", (), "line 3, column 'current'"),
    ("time_s,current_A,voltage_V\n0,0,3\n1,-1,3\n2,-1,3\n3,-1,3\n4,0,3\n", (), "needs a rest"),
])
def test_bad_records_are_one_clear_error(tmp_path, content, args, expected):
    source = tmp_path / "cell.csv"
    source.write_text(content)
    result = gitt(str(source), "--material", "nvp", "--radius", "1um", "--no-fit", "--out", str(tmp_path / "out"), *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output and "cell.csv" in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("args", "expected"), [
    (("--radius", "1um"), "--material"),
    (("--material", "nvp"), "--radius"),
    (("--material", "nvp", "--radius", "1 V"), "--radius"),
    (("--material", "nvp", "--radius", "1um", "--initial-stoichiometry", "1.5"), "--initial-stoichiometry"),
    (("--material", "nvp", "--radius", "1um", "--active-mass", "-2 mg"), "--active-mass"),
])
def test_bad_options_are_one_clear_error(tmp_path, args, expected):
    source = analytic_record(tmp_path / "cell.csv", pulses=1)
    result = gitt(str(source), "--no-fit", "--out", str(tmp_path / "out"), *args)
    assert result.exit_code == 2, result.output
    assert expected in result.output
    assert not (tmp_path / "out").exists()

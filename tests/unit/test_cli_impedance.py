"""`ecmx impedance`: bad options are one clear error naming the option (exit 2, nothing written); a
sphere-1d spectrum writes impedance.csv (with its columns), the plots and summary.json."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from ecmx.solver.errors import CaseError
from ecmx.solver.studies.impedance import case_at_state_of_charge, parse_frequencies

ECMX = [sys.executable, "-m", "ecmx.solver.cli"]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    return subprocess.run([*ECMX, *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300)


@pytest.mark.parametrize(("text", "points", "key", "says"), [
    ("1e-3-1e5", 60, "--frequencies", "LOW:HIGH"),
    ("1e5:1e-3", 60, "--frequencies", "LOW <= HIGH"),
    ("0:1e5", 60, "--frequencies", "LOW <= HIGH"),
    ("1e-3:nan", 60, "--frequencies", "finite"),
    ("1 m:1e5", 60, "--frequencies", "expected a quantity in Hz"),
    ("1e-3:1e99", 60, "--frequencies", "1e+09 Hz"),
    ("1:1", 3, "--frequencies", "one frequency"),
    ("1e-3:1e5", 0, "--points", "from 1 to 1000"),
    ("1e-3:1e5", 10**6, "--points", "from 1 to 1000"),
])
def test_bad_frequencies_name_the_option(text, points, key, says):
    with pytest.raises(CaseError) as info:
        parse_frequencies(text, points)
    assert info.value.key == key
    assert says in str(info.value)


def test_frequencies_are_log_spaced_and_take_units():
    f = parse_frequencies("10 mHz:100 kHz", 8)
    assert f[0] == pytest.approx(1e-2) and f[-1] == pytest.approx(1e5)
    assert np.diff(np.log10(f)) == pytest.approx(np.full(7, 1.0))


@pytest.mark.parametrize("soc", [-0.1, 1.5, float("nan")])
def test_bad_state_of_charge_names_the_option(soc):
    with pytest.raises(CaseError) as info:
        case_at_state_of_charge(object(), soc)
    assert info.value.key == "--state-of-charge"


def test_cli_bad_frequencies_exit_2_and_write_nothing(case_dir):
    result = run_cli("impedance", "case.yaml", "--frequencies", "1e5:1e-3", "--out", "eis", cwd=case_dir)
    assert result.returncode == 2, result.stderr
    assert "--frequencies" in result.stderr and "LOW <= HIGH" in result.stderr and "Traceback" not in result.stderr
    assert not (case_dir / "eis").exists() and not (case_dir / "results").exists()


def test_cli_writes_the_spectrum(case_dir):
    result = run_cli("impedance", "case.yaml", "--state-of-charge", "0.5", "--frequencies", "1e-2:1e4", "--points", "7",
                     "--set", "material.double_layer_capacitance=20 uF/cm^2", cwd=case_dir)
    assert result.returncode == 0, result.stderr
    out = case_dir / "results" / "test-case-impedance"
    with open(out / "impedance.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["frequency_Hz", "Z_real_Ohm", "Z_imag_Ohm", "Z_real_Ohm_m2", "Z_imag_Ohm_m2"]
    assert len(rows) == 7
    assert all(float(r["Z_real_Ohm"]) > 0 and float(r["Z_imag_Ohm"]) < 0 for r in rows)
    summary = json.loads((out / "summary.json").read_text())
    area = summary["particle_area_m2"]
    assert area == pytest.approx(4 * np.pi * 1e-12, rel=1e-6)
    assert float(rows[3]["Z_real_Ohm_m2"]) == pytest.approx(float(rows[3]["Z_real_Ohm"]) * area, rel=1e-12)
    assert summary["state_of_charge"] == 0.5 and summary["stoichiometry"] == pytest.approx(2 / 3)
    for name in ("nyquist.png", "bode.png", "nyquist.pdf", "case.yaml"):
        assert (out / name).stat().st_size > 0
    again = run_cli("impedance", "case.yaml", "--points", "2", cwd=case_dir)
    assert again.returncode == 2 and "already exists" in again.stderr

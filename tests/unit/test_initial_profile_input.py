"""``initial.profile``: a radial θ(r) profile from a CSV file or inline, read as untrusted input (one CaseError
naming the case file and the key; ``ecmx run`` exits 2 and writes nothing), and the phase-field default rtol."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from support.cases import CASE, ELECTROLYTE, MATERIAL, write_yaml

from ecmx.solver.config.case import PHASE_FIELD_RTOL, case_from_dict, load_case
from ecmx.solver.config.profile import MAX_PROFILE_ROWS, RadialProfile
from ecmx.solver.errors import CaseError

GOOD = "r_um,theta\n0,0.2\n0.5,0.4\n1.0,0.8\n"


def with_profile(case_dir: Path, csv_text: str | None, file: str = "theta.csv", **initial) -> Path:
    """case.yaml of ``case_dir`` with ``initial: {profile: {file: ...}}``, the CSV (if given) written there."""
    if csv_text is not None:
        (case_dir / file).write_text(csv_text, encoding="utf-8")
    write_yaml(case_dir / "case.yaml", dict(CASE, initial={"profile": {"file": file}, **initial}))
    return case_dir / "case.yaml"


def test_profile_file_becomes_an_inline_table_in_si(case_dir):
    """r in µm → m, θ as given; the mean is 3/R³ ∫ θ r² dr of the piecewise-linear profile (exact: 0.621875)."""
    case = load_case(with_profile(case_dir, "# comment\nstoichiometry ; r (nm)\n0.2;0\n0.4;500\n0.8;1000\n"))
    assert case.initial.profile.radius == pytest.approx([0.0, 5e-7, 1e-6])
    assert case.initial.profile.stoichiometry == [0.2, 0.4, 0.8]
    # ∫₀^½ (0.2 + 0.4r) r² dr + ∫_½^1 (0.8r) r² dr = 0.2/24 + 0.4/64 + 0.8 (1 − 1/16)/4 = 0.207292 → ×3
    assert case.initial_stoichiometry() == pytest.approx(3 * (0.2 / 24 + 0.4 / 64 + 0.2 * 15 / 16), rel=1e-12)
    assert case_from_dict(case.to_dict()).initial.profile == case.initial.profile


BAD = {
    "missing-file": (None, "theta.csv", "initial.profile.file", "initial profile"),
    "outside": (GOOD, "../theta.csv", "initial.profile.file", "outside the case file's directory"),
    "non-finite": ("r_um,theta\n0,0.2\n0.5,nan\n1,0.8\n", "theta.csv", "initial.profile.file",
                   "line 3, column 'stoichiometry': expected a finite number"),
    "inf-radius": ("r_um,theta\n0,0.2\ninf,0.4\n", "theta.csv", "initial.profile.file", "line 3, column 'radius'"),
    "theta-above-one": ("r_um,theta\n0,0.2\n0.5,1.2\n1,0.8\n", "theta.csv", "initial.profile.file",
                        "θ = 1.2 lies outside [0, 1]"),
    "theta-negative": ("r_um,theta\n0,-0.1\n1,0.8\n", "theta.csv", "initial.profile.file", "lies outside [0, 1]"),
    "not-from-centre": ("r_um,theta\n0.1,0.2\n1,0.8\n", "theta.csv", "initial.profile.file", "expected 0 (the centre)"),
    "short-of-surface": ("r_um,theta\n0,0.2\n0.8,0.8\n", "theta.csv", "initial.profile.radius",
                         "expected radii covering [0, R]"),
    "not-increasing": ("r_um,theta\n0,0.2\n0.5,0.3\n0.5,0.4\n1,0.5\n", "theta.csv", "initial.profile.file",
                       "does not increase"),
    "too-many-rows": ("r_um,theta\n" + "".join(f"{i / MAX_PROFILE_ROWS},0.5\n" for i in range(MAX_PROFILE_ROWS + 1)),
                      "theta.csv", "initial.profile.file", f"expected 2 to {MAX_PROFILE_ROWS}"),
    "radius-without-unit": ("r,theta\n0,0.2\n1e-6,0.8\n", "theta.csv", "initial.profile.file", "a radius needs a unit"),
    "no-theta-column": ("r_um,c\n0,0.2\n1,0.8\n", "theta.csv", "initial.profile.file", "no stoichiometry column"),
    "directory": (None, ".", "initial.profile.file", "expected a regular file"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_profile_is_one_case_error_naming_the_case_file_and_key(case_dir, name):
    text, file, key, expected = BAD[name]
    path = with_profile(case_dir, text, file=file)
    with pytest.raises(CaseError) as info:
        load_case(path)
    assert info.value.file == path.resolve() and info.value.key == key
    assert expected in str(info.value)


def test_profile_with_a_state_of_charge_is_refused(case_dir):
    with pytest.raises(CaseError, match="give one of state_of_charge, stoichiometry, profile"):
        load_case(with_profile(case_dir, GOOD, state_of_charge=1.0))


def test_inline_profile_is_validated():
    with pytest.raises(CaseError, match="equal lengths"):
        case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=_inline_material(), initial={
            "profile": {"radius": [0, 1e-6], "stoichiometry": [0.1, 0.2, 0.3]}}))
    with pytest.raises(ValueError, match="less than or equal to 1"):
        RadialProfile(radius=[0.0, 1e-6], stoichiometry=[0.5, 1.5])


def _inline_material(**extra) -> dict:
    return dict(MATERIAL) | extra


def test_phase_field_profile_must_lie_inside_the_open_interval_and_excludes_the_perturbation(case_dir):
    pf = {"interaction_energy": 1e4, "gradient_energy": 1e-7, "reference_voltage": 3.4}
    material = _inline_material(open_circuit_voltage=None, phase_field=pf)
    profile = {"radius": [0, 1e-6], "stoichiometry": [0.0, 0.9]}
    with pytest.raises(CaseError, match=r"strictly inside \(0, 1\)") as info:
        case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=material, initial={"profile": profile}))
    assert info.value.key == "initial.profile.stoichiometry"
    material["phase_field"] = pf | {"initial_perturbation": {"amplitude": 0.01, "seed": 1}}
    with pytest.raises(CaseError, match="exclude each other"):
        case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=material, initial={"profile": profile | {"stoichiometry": [0.1, 0.9]}}))


def test_phase_field_cases_default_to_the_phase_field_rtol():
    """solver.rtol defaults to PHASE_FIELD_RTOL with a phase-field material, 1e-6 otherwise; a given rtol stays."""
    pf = {"interaction_energy": 1e4, "gradient_energy": 1e-7, "reference_voltage": 3.4}
    material = _inline_material(open_circuit_voltage=None, phase_field=pf)
    assert case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=material)).solver.rtol == PHASE_FIELD_RTOL == 1e-4
    assert case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=material), overrides=["solver.rtol=1e-6"]).solver.rtol == 1e-6
    assert case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=_inline_material())).solver.rtol == 1e-6
    resolved = case_from_dict(dict(CASE, electrolyte=ELECTROLYTE, material=material)).to_dict()
    assert case_from_dict(resolved).solver.rtol == 1e-4


def test_run_with_a_bad_profile_exits_2_and_writes_nothing(case_dir):
    with_profile(case_dir, "r_um,theta\n0,0.2\n0.5,2\n1,0.8\n")
    env = dict(os.environ, COLUMNS="200", NO_COLOR="1")
    result = subprocess.run([sys.executable, "-m", "ecmx.solver.cli", "run", "case.yaml", "--out", "out",
                             "--no-progress"], cwd=case_dir, capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 2 and result.stderr.count("error:") == 1 and "Traceback" not in result.stderr
    assert "initial.profile.file" in result.stderr and "theta.csv" in result.stderr
    assert not (case_dir / "out").exists() and not (case_dir / "results").exists()

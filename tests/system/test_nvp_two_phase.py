"""A slow (C/20) galvanostatic discharge of the two-phase NVP particle on sphere-1d (library
``nvp-two-phase``), the interface widened to λ = 25 nm (κ = 7.5e-8 J/m) on 400 elements (more than 4
cells across λ everywhere), with the library's wetting regime: w = 0.18 J/m² × √(κ/κ_lib) = 2.2 J/m²
(1.06 times the complete-wetting threshold w_c ∝ √κ, docs/model.md "Surface wetting").

Checked against what the regular solution and the shrinking-core picture predict:
- with surface wetting the Na-rich phase covers the surface from the start (heterogeneous nucleation,
  no barrier): the plateau is at U₀ within 3 mV over DOD 0.1–0.9, the issue's middle 80 % of the window
  (measured: −0.8…+0.8 mV; −1.8 mV at DOD 0.06, where the shell is still as thin as λ);
- the front radius (θ = 0.5 surface) follows the mass balance r_f = R (1 − DOD)^{1/3} (the window is
  the miscibility gap) within 1 % of R over DOD 0.05–0.9 (measured 0.75 %; below DOD 0.05 the shell,
  (DOD/0.92) R/3 thick, is thinner than λ/2 and the θ = 0.5 surface is the diffuse layer's), its area
  4πr_f², the core shrinking monotonically;
- with neutral wetting (surface_wetting 0, λ = 50 nm, to DOD 0.3) the particle fills as one phase up to
  the spinodal first, so the lowest voltage before the front is U₀ − μ_h(θ_s)/F (the homogeneous
  nucleation barrier, 18.3 mV below U₀);
- the stresses of the snapshot field files equal the sphere formula of docs/model.md applied to the
  computed radial concentration profile, within 1 % of the peak stress;
- the report of the run (``ecmx report``) draws the front figures.
Both runs use the absolute tolerance 1e-4 on θ of the sphere-1d example (docs/model.md: the same
voltage within 0.07 mV at a tenth of the steps).
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import pytest

from ecmx.postprocess.rundata import load_run
from ecmx.solver.config.case import case_from_dict
from ecmx.solver.physics.phase_field import homogeneous_chemical_potential, spinodal
from ecmx.solver.units import R_GAS, F

pytestmark = pytest.mark.slow

R = 1e-6
U0 = 3.40
CASE = {
    "name": "nvp-two-phase-c20",
    "material": {"base": "nvp-two-phase",
                 "phase_field": {"gradient_energy": "7.5e-8 J/m", "surface_wetting": "2.2 J/m^2"}},
    "electrolyte": "naclo4-ec-pc",
    "temperature": "25 degC",
    "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}, "mesh": {"elements": 400}},
    "initial": {"state_of_charge": 1.0},
    "protocol": [{"step": "discharge", "c_rate": 0.05, "until": {"depth_of_discharge": 0.9}}],
    "solver": {"rtol": 1e-4, "atol": 1e-4},
    "mechanics": {"enabled": True, "coupling": "one-way"},
    "output": {"snapshots": {"depth_of_discharge": [0.5, 0.9]}},
}


def _neutral_case() -> dict:
    """CASE with neutral wetting and λ = 50 nm on 200 elements, to DOD 0.3, no snapshots."""
    case = copy.deepcopy(CASE)
    case["material"]["phase_field"] = {"gradient_energy": "3e-7 J/m", "surface_wetting": 0}
    case["geometry"]["mesh"]["elements"] = 200
    case["protocol"][0]["until"]["depth_of_discharge"] = 0.3
    del case["output"]
    return case


def _run(case: dict, tmp_path_factory: pytest.TempPathFactory, name: str):
    from ecmx.solver.studies.run import run_case

    out = tmp_path_factory.mktemp(name) / "run"
    run_case(case_from_dict(case), out, progress=False, cache_dir=out.parent / "mesh-cache")
    return load_run(out)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    return _run(CASE, tmp_path_factory, "c20")


@pytest.fixture(scope="module")
def neutral(tmp_path_factory: pytest.TempPathFactory):
    return _run(_neutral_case(), tmp_path_factory, "c20-neutral")


def test_plateau_at_u0_over_the_middle_of_the_window(run) -> None:
    ts = run.timeseries
    dod, volts = ts["depth_of_discharge"], ts["voltage_V"]
    middle = (dod >= 0.1) & (dod <= 0.9)
    assert middle.sum() > 20
    assert np.abs(volts[middle] - U0).max() < 3e-3
    assert volts[dod >= 0.02].min() > U0 - 3e-3  # no nucleation dip at all


def test_neutral_wetting_dips_to_the_spinodal_barrier(neutral) -> None:
    ts, case = neutral.timeseries, neutral.case
    assert case.material.phase_field.surface_wetting == 0.0
    dod, volts = ts["depth_of_discharge"], ts["voltage_V"]
    nucleated = ts["phase_boundary_radius_m"] < R * (1 - 1e-6)
    first = int(np.argmax(nucleated))
    assert nucleated[first] and np.all(nucleated[first:]), "one phase boundary, from its nucleation on"
    rt = R_GAS * case.temperature
    omega = case.material.phase_field.interaction_energy
    barrier = U0 - homogeneous_chemical_potential(spinodal(omega, rt)[0], rt, omega) / F
    assert U0 - barrier > 0.015
    assert volts[:first].min() == pytest.approx(barrier, abs=1.5e-3)
    assert dod[first] > 0.1


def test_front_follows_the_shrinking_core_mass_balance(run) -> None:
    ts = run.timeseries
    dod, front, area = ts["depth_of_discharge"], ts["phase_boundary_radius_m"], ts["phase_boundary_area_m2"]
    core = (dod >= 0.05) & (dod <= 0.9)
    assert core.sum() > 20
    assert np.abs(front[core] - R * np.cbrt(1 - dod[core])).max() < 0.01 * R
    assert area[core] == pytest.approx(4 * math.pi * front[core] ** 2, rel=0.01)
    assert np.all(np.diff(front[dod >= 0.05]) <= 1e-12 * R), "the core shrinks monotonically"


def _sphere_stresses(r: np.ndarray, c: np.ndarray, factor: float) -> tuple[np.ndarray, np.ndarray]:
    """σ_r, σ_θ of a free sphere for the radial profile c(r) (piecewise linear, nodes r ascending):
    C̄(r) = (3/r³)∫₀^r c s² ds (Simpson per element, exact here), factor = ΩE/(9(1−ν))."""
    mid_c, mid_r = 0.5 * (c[1:] + c[:-1]), 0.5 * (r[1:] + r[:-1])
    pieces = np.diff(r) / 6 * (c[:-1] * r[:-1] ** 2 + 4 * mid_c * mid_r**2 + c[1:] * r[1:] ** 2)
    integral = np.concatenate([[0.0], np.cumsum(pieces)])
    mean = np.where(r > 0, 3 * integral / np.maximum(r, 1e-300) ** 3, c[0])
    return 2 * factor * (mean[-1] - mean), factor * (2 * mean[-1] + mean - 3 * c)


@pytest.mark.parametrize("dod", [0.5, 0.9])
def test_stresses_equal_the_sphere_formula_of_the_computed_profile(run, dod: float) -> None:
    snap, m = run.snapshot_at(dod), run.case.material
    order = np.argsort(snap.grid.points[:, 0])
    r = snap.grid.points[order, 0] * 1e-6
    radial, hoop = _sphere_stresses(r, snap.values("concentration")[order],
                                    m.partial_molar_volume * m.youngs_modulus / (9 * (1 - m.poissons_ratio)))
    peak = max(np.abs(radial).max(), np.abs(hoop).max())
    assert peak > 1e8  # the coherency stress of a sharp front: GPa, not the Fickian MPa
    assert np.abs(snap.values("radial_stress")[order] - radial).max() < 0.01 * peak
    assert np.abs(snap.values("tangential_stress")[order] - hoop).max() < 0.01 * peak


def test_the_report_draws_the_front_figures(run) -> None:
    from ecmx.solver.studies.redraw import redraw

    redraw(run.directory)
    figures = Path(run.directory) / "figures"
    for name in ("front_profiles", "front_radius", "free_energy"):
        assert (figures / f"{name}.png").stat().st_size > 10_000, name
    assert "Front radius" in (Path(run.directory) / "report.md").read_text()

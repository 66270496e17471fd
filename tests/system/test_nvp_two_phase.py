"""A slow (C/20) galvanostatic discharge of the two-phase NVP particle on sphere-1d (library
``nvp-two-phase``, the interface widened to λ = 50 nm as in cases/nvp-two-phase-1d.yaml, 200
elements: more than 4 cells across λ everywhere).

Checked against what the regular solution and the shrinking-core picture predict:
- before a phase boundary forms, the particle fills as one phase up to the spinodal, so the lowest
  voltage is U₀ − μ_h(θ_s)/F (the homogeneous nucleation barrier, 18.3 mV below U₀);
- after it, the plateau at U₀ within 3 mV (to DOD 0.9);
- the front radius (θ = 0.5 surface) follows the mass balance r_f = R (1 − DOD)^{1/3} (the window is
  the miscibility gap) within 2 % of R while the core is at least half the particle, its area 4πr_f²;
- the stresses of the snapshot field files equal the sphere formula of docs/model.md applied to the
  computed radial concentration profile, within 1 % of the peak stress;
- the report of the run (``ecmx report``) draws the front figures.
"""

from __future__ import annotations

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
    "material": {"base": "nvp-two-phase", "phase_field": {"gradient_energy": "3e-7 J/m"}},
    "electrolyte": "naclo4-ec-pc",
    "temperature": "25 degC",
    "geometry": {"kind": "sphere-1d", "particle": {"radius": "1 um"}, "mesh": {"elements": 200}},
    "initial": {"state_of_charge": 1.0},
    "protocol": [{"step": "discharge", "c_rate": 0.05, "until": {"depth_of_discharge": 0.9}}],
    "mechanics": {"enabled": True, "coupling": "one-way"},
    "output": {"snapshots": {"depth_of_discharge": [0.5, 0.9]}},
}


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory):
    from ecmx.solver.studies.run import run_case

    out = tmp_path_factory.mktemp("c20") / "run"
    run_case(case_from_dict(CASE), out, progress=False, cache_dir=out.parent / "mesh-cache")
    return load_run(out)


def test_plateau_at_u0_after_the_spinodal_barrier(run) -> None:
    ts, case = run.timeseries, run.case
    dod, volts = ts["depth_of_discharge"], ts["voltage_V"]
    nucleated = ts["phase_boundary_radius_m"] < R * (1 - 1e-6)
    first = int(np.argmax(nucleated))
    assert nucleated[first] and np.all(nucleated[first:]), "one phase boundary, from its nucleation on"
    rt = R_GAS * case.temperature
    omega = case.material.phase_field.interaction_energy
    barrier = U0 - homogeneous_chemical_potential(spinodal(omega, rt)[0], rt, omega) / F
    assert volts[:first].min() == pytest.approx(barrier, abs=1.5e-3)
    plateau = (dod >= 0.25) & (dod <= 0.9)
    assert np.abs(volts[plateau] - U0).max() < 3e-3


def test_front_follows_the_shrinking_core_mass_balance(run) -> None:
    ts = run.timeseries
    dod, front, area = ts["depth_of_discharge"], ts["phase_boundary_radius_m"], ts["phase_boundary_area_m2"]
    core = (dod >= 0.2) & (dod <= 0.85)
    assert core.sum() > 20
    assert np.abs(front[core] - R * np.cbrt(1 - dod[core])).max() < 0.02 * R
    assert area[core] == pytest.approx(4 * math.pi * front[core] ** 2, rel=0.01)
    assert np.all(np.diff(front[dod >= 0.2]) <= 1e-12 * R), "the core shrinks monotonically"


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

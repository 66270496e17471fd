"""The CellProblem interface the stepping layer and the mechanics build on: keys, units, state
handling (try_step / accept / reject), control switching, bounds, fields and probes."""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.problem_helpers import make_case, particle_in_box_mesh, sphere_1d_mesh

from ecmx.solver.fem.cell_problem import CellProblem, StepOutcome
from ecmx.solver.units import F

CONTRACT_KEYS = {
    "current_A", "voltage_V", "theta_mean", "c_mean", "c_min", "c_max", "c_surface_mean",
    "electrolyte_c_min", "electrolyte_c_max", "na_total_mol", "interface_current_A",
}


@pytest.fixture(scope="module")
def sphere():
    return CellProblem(sphere_1d_mesh(elements=20), make_case("sphere-1d", theta0=0.5))


@pytest.fixture(scope="module")
def box():
    return CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), make_case("particle-in-electrolyte", theta0=0.5))


def test_capacity_area_and_initial_state(sphere):
    case = sphere.case
    lo, hi = case.material.stoichiometry_window
    volume = 4 / 3 * math.pi * 1e-18
    assert sphere.particle_volume_m3 == pytest.approx(volume, rel=1e-12, abs=0)
    assert sphere.particle_area_m2 == pytest.approx(4 * math.pi * 1e-12, rel=1e-12, abs=0)
    assert sphere.capacity_C == pytest.approx(F * case.material.max_concentration * (hi - lo) * volume, rel=1e-12, abs=0)
    sphere.set_initial_state()
    q = sphere.quantities()
    assert set(q) >= CONTRACT_KEYS
    assert q["theta_mean"] == pytest.approx(0.5)
    assert q["voltage_V"] == pytest.approx(float(case.material.ocv_at(0.5)) + q["electrolyte_potential_V"], abs=1e-12)
    assert q["electrolyte_c_min"] == q["electrolyte_c_max"] == case.electrolyte.concentration


def test_try_step_does_not_commit_and_reject_restores(sphere):
    sphere.set_initial_state()
    sphere.set_control("current", -sphere.capacity_C / 3600.0)
    first = sphere.try_step(20.0)
    assert isinstance(first, StepOutcome) and first.converged and first.newton_iterations >= 1
    q1 = sphere.quantities()
    again = sphere.try_step(20.0)  # from the same accepted state: the same answer
    assert again.converged
    assert sphere.quantities()["voltage_V"] == pytest.approx(q1["voltage_V"], abs=1e-13)
    sphere.reject()
    assert sphere.quantities()["theta_mean"] == pytest.approx(0.5, abs=1e-14)
    sphere.try_step(20.0)
    sphere.accept()
    assert sphere.quantities()["theta_mean"] > 0.5
    sphere.set_initial_state()


def test_leaving_the_stoichiometry_range_is_not_converged(sphere):
    """A step that would push θ past 1 at the surface comes back converged=False with a reason."""
    sphere.set_initial_state()
    sphere.set_control("current", -500.0 * sphere.capacity_C / 3600.0)
    outcome = sphere.try_step(30.0)
    assert not outcome.converged
    assert outcome.reason
    sphere.reject()
    assert sphere.quantities()["theta_mean"] == pytest.approx(0.5, abs=1e-14)
    sphere.set_control("current", 0.0)


def test_voltage_control_and_rest(sphere):
    sphere.set_initial_state()
    v0 = sphere.quantities()["voltage_V"]
    sphere.set_control("voltage", v0 + 0.05)  # charge: anodic current
    assert sphere.control == ("voltage", v0 + 0.05)
    outcome = sphere.try_step(1.0)
    assert outcome.converged, outcome.reason
    q = sphere.quantities()
    assert q["voltage_V"] == pytest.approx(v0 + 0.05, abs=1e-12)
    assert q["current_A"] > 0 and q["current_A"] == q["interface_current_A"]
    sphere.accept()
    sphere.set_control("current", 0.0)
    outcome = sphere.try_step(10.0)
    assert outcome.converged
    assert abs(sphere.quantities()["interface_current_A"]) < 1e-10 * sphere.capacity_C / 3600.0
    sphere.set_initial_state()
    with pytest.raises(ValueError, match="control mode"):
        sphere.set_control("power", 1.0)


def test_fields_units_and_probe_sphere(sphere):
    sphere.set_initial_state()
    fields = sphere.fields
    assert set(fields) == {"particle_concentration"}
    cmax = sphere.case.material.max_concentration
    assert np.allclose(fields["particle_concentration"].x.array, 0.5 * cmax)
    # 3D points are taken at their distance from the centre
    values = sphere.probe(np.array([[0.0, 0.0, 0.0], [0.3, 0.4, 0.0], [0.0, 0.0, 2.0]]))
    assert values["particle_concentration"][:2] == pytest.approx([0.5 * cmax] * 2)
    assert np.isnan(values["particle_concentration"][2])


def test_box_fields_probe_and_submesh(box):
    box.set_initial_state()
    assert set(box.fields) == {"particle_concentration", "electrolyte_concentration", "electrolyte_potential"}
    assert box.fields["particle_concentration"].function_space.mesh is box.particle_mesh
    assert box.particle_entity_map is not None
    box.set_control("current", -2 * box.capacity_C / 3600.0)
    assert box.try_step(10.0).converged
    box.accept()
    pts = np.array([[0.0, 0.0, 0.0], [0.0, 0.0, 2.5], [0.0, 0.0, 50.0]])
    values = box.probe(pts)
    assert np.isfinite(values["particle_concentration"][0]) and np.isnan(values["particle_concentration"][1])
    assert np.isnan(values["electrolyte_concentration"][0]) and np.isfinite(values["electrolyte_concentration"][1])
    assert np.all(np.isnan([v[2] for v in values.values()]))
    # discharge: Na⁺ is consumed at the particle and produced at the Na metal on top
    q = box.quantities()
    assert q["electrolyte_c_min"] < box.case.electrolyte.concentration < q["electrolyte_c_max"]
    top = box.probe(np.array([[0.0, 0.0, 3.9]]))["electrolyte_concentration"][0]
    assert top > box.case.electrolyte.concentration


def test_electrolyte_depletion_is_not_converged():
    """Above the limiting current of a slow electrolyte c reaches 0 at the particle: the step comes
    back converged=False, the reason names the depletion, and reject() restores the state."""
    case = make_case("particle-in-electrolyte", material={"diffusivity": 1e-12, "max_concentration": 1e5}, theta0=0.1,
                     electrolyte={"cation_diffusivity": 1e-14, "anion_diffusivity": 1e-14})
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.4), case)
    problem.set_control("current", -3 * problem.capacity_C / 3600.0)
    outcome = problem.try_step(300.0)
    assert not outcome.converged
    assert "electrolyte concentration not positive" in outcome.reason
    problem.reject()
    q = problem.quantities()
    assert q["electrolyte_c_min"] == q["electrolyte_c_max"] == case.electrolyte.concentration

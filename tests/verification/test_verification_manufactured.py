"""Manufactured solutions for the coupled, discontinuous particle/electrolyte system (docs/model.md §5).

Smooth fields θ*, c*, φ* (different on each side of Γ, coupled there only through Butler–Volmer)
and a held voltage V*; the sources that make them exact (bulk divergences, the mismatch between the
exact normal fluxes and the kinetic fluxes on Γ and on the Na-metal face) enter through
``CellProblem(..., sources=Sources(...))``. One long backward-Euler step gives the stationary
discrete solution; its L² errors must fall as h² (P1): axisymmetric-2d on four meshes, 3D on two.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import math

import numpy as np
import pytest
import ufl
from dolfinx import fem
from support.problem_helpers import make_case

from ecmx.meshes import load_mesh
from ecmx.solver.fem.cell_problem import CellProblem, Sources

MATERIAL = {"diffusivity": 1e-14, "open_circuit_voltage": {"stoichiometry": [0.0, 1.0], "voltage": [3.6, 3.2]}}
ELECTROLYTE = {"cation_diffusivity": 1e-13, "anion_diffusivity": 1.5e-13}
ETA = 0.4  # V̂* − φ̂* − Û(θ*) is about this (nondimensional)


def exact_fields(kind: str, m=ufl):
    """(θ*, c*, φ*) as functions of the nondimensional position, written with the cos/sin of ``m``
    (ufl for the sources, numpy for the initial state); axisymmetric ones even in r."""
    if kind == "axisymmetric-2d":
        def theta(x):
            return 0.5 + 0.1 * m.cos(x[1]) * (1 - 0.5 * x[0] ** 2)

        def salt(x):
            return 1 + 0.2 * m.cos(0.5 * x[0] ** 2) * m.sin(0.3 * x[1])

        def potential(x):
            return -1 + 0.5 * m.sin(0.4 * x[1]) + 0.3 * m.cos(0.5 * x[0]) ** 2
    else:
        def theta(x):
            return 0.5 + 0.1 * m.sin(x[0]) * m.cos(x[2]) + 0.05 * x[1] ** 2

        def salt(x):
            return 1 + 0.2 * m.cos(0.5 * x[0]) * m.sin(0.3 * x[2]) + 0.1 * x[1]

        def potential(x):
            return -1 + 0.5 * m.sin(0.4 * x[2]) + 0.3 * m.cos(0.5 * x[1])
    return theta, salt, potential


def manufactured(kind: str, h: float, cache) -> dict[str, float]:
    case = make_case(kind, material=MATERIAL, electrolyte=ELECTROLYTE, theta0=0.5)
    size = h * 1e-6  # h in µm = R
    geo = case.geometry.model_copy(update={"mesh": case.geometry.mesh.model_copy(update={"size": size, "interface_size": size})})
    pmesh = load_mesh(geo, cache_dir=cache)
    sc_probe = CellProblem(pmesh, case)  # scales and kinetics of this case
    assert sc_probe.scales.mesh_to_length == pytest.approx(1.0)  # mesh unit = R: ∇ on the mesh is ∇̂
    sc = sc_probe.scales
    vt = sc.thermal_voltage
    d_s = case.material.diffusivity / sc.diffusivity
    d_plus = case.electrolyte.cation_diffusivity / sc.diffusivity
    d_minus = case.electrolyte.anion_diffusivity / sc.diffusivity
    ratio = sc.particle_concentration / sc.electrolyte_concentration
    top = pmesh.particle_radii[0] + case.geometry.electrolyte.thickness / pmesh.length_unit
    theta, salt, potential = exact_fields(kind)
    v_hat = float(case.material.ocv_at(0.5)) / vt - 1.0 + ETA
    axisymmetric = kind == "axisymmetric-2d"

    def weight(x):
        return x[0] if axisymmetric else 1.0

    def divergence(flux, x):
        """(1/w) ∇·(w F): the divergence in the measure's coordinates."""
        return ufl.div(weight(x) * flux) / weight(x)

    def particle_flux(x):
        return d_s * ufl.grad(theta(x))

    def anion_flux(x):
        return d_minus * (ufl.grad(salt(x)) - salt(x) * ufl.grad(potential(x)))

    def charge_flux(x):
        return (d_plus - d_minus) * ufl.grad(salt(x)) + (d_plus + d_minus) * salt(x) * ufl.grad(potential(x))

    def on_na_metal(x):
        return ufl.conditional(ufl.gt(x[1] if axisymmetric else x[2], top - 1e-8), 1.0, 0.0)

    sources = Sources(
        particle=lambda x: -divergence(particle_flux(x), x),
        particle_flux=lambda x, n: -ufl.dot(particle_flux(x), n)
        - sc_probe.interface_flux(theta(x), salt(x), potential(x), v_hat),
        salt=lambda x: -divergence(anion_flux(x), x),
        salt_flux=lambda x, n, on_interface: -ufl.dot(anion_flux(x), n),
        charge=lambda x: -divergence(charge_flux(x), x),
        charge_flux=lambda x, n, on_interface: -ufl.dot(charge_flux(x), n)
        + (ratio * sc_probe.interface_flux(theta(x), salt(x), potential(x), v_hat) if on_interface
           else ratio * on_na_metal(x) * sc_probe.counter_flux(salt(x), potential(x))),
    )
    problem = CellProblem(pmesh, case, sources=sources)
    # Start from the interpolated exact state and march to the stationary discrete solution. With
    # no-flux anions the stationary problem alone leaves the anion amount free; the storage term
    # keeps the (conserved) amount of the start.
    th_np, c_np, phi_np = exact_fields(kind, np)
    problem.set_state(lambda x: th_np(x) * sc.particle_concentration,
                      lambda x: c_np(x) * sc.electrolyte_concentration,
                      lambda x: phi_np(x) * vt)
    problem.set_control("voltage", v_hat * vt)
    for dt_hat in (1.0, 10.0, 100.0, 1000.0, 1000.0):
        outcome = problem.try_step(dt_hat * sc.time)
        assert outcome.converged, outcome.reason
        problem.accept()

    msh = pmesh.mesh
    x = ufl.SpatialCoordinate(msh)
    dx = ufl.Measure("dx", domain=msh, subdomain_data=pmesh.cell_tags, metadata={"quadrature_degree": 6})
    maps = [problem.particle_entity_map, problem.electrolyte_entity_map]
    f = problem.fields
    pairs = {
        "particle": (f["particle_concentration"] / sc.particle_concentration, theta(x), dx(1)),
        "salt": (f["electrolyte_concentration"] / sc.electrolyte_concentration, salt(x), dx(pmesh.electrolyte_tag)),
        "potential": (f["electrolyte_potential"] / vt, potential(x), dx(pmesh.electrolyte_tag)),
    }
    errors = {}
    for name, (uh, ue, measure) in pairs.items():
        form = fem.form((uh - ue) ** 2 * weight(x) * measure, entity_maps=maps)
        errors[name] = math.sqrt(msh.comm.allreduce(fem.assemble_scalar(form)))
    q = problem.quantities()
    errors["voltage"] = abs(q["voltage_V"] / vt - v_hat)
    return errors


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return tmp_path_factory.mktemp("meshes")


def _orders(errors: list[dict[str, float]], name: str) -> list[float]:
    return [math.log2(errors[i][name] / errors[i + 1][name]) for i in range(len(errors) - 1)]


def test_manufactured_axisymmetric(cache):
    errors = [manufactured("axisymmetric-2d", 1.0 / k, cache) for k in (4, 8, 16, 32)]
    for name in ("particle", "salt", "potential"):
        p = _orders(errors, name)
        print(f"axisymmetric {name}: L2 errors {[e[name] for e in errors]}, orders {p}")
        assert 1.8 < p[-1] < 2.3, f"{name}: observed order {p[-1]:.2f}"
    assert errors[-1]["voltage"] < 1e-10


@pytest.mark.slow
def test_manufactured_3d(cache):
    errors = [manufactured("particle-in-electrolyte", h, cache) for h in (0.6, 0.3)]
    for name in ("particle", "salt", "potential"):
        p = _orders(errors, name)
        print(f"3D {name}: L2 errors {[e[name] for e in errors]}, order {p}")
        assert 1.6 < p[-1] < 2.5, f"{name}: observed order {p[-1]:.2f}"

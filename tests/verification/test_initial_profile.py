"""A run started from a radial profile θ(r) given in the case file (``initial.profile``, docs/case-format.md).

The profile is a core–shell state: a Na-poor core (θ = 0.05) inside a Na-rich shell (θ = 0.9), a tanh
front at r = 0.7 R of width 0.03 R, sampled at 101 points. Its exact Na content is
c_s,max ∫ θ dV = 4π c_s,max ∫₀^R θ(r) r² dr (the piecewise-linear profile integrated exactly).
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from support.problem_helpers import ELECTROLYTE, MATERIAL, particle_in_box_mesh, sphere_1d_mesh

from ecmx.solver.config.case import case_from_dict, load_case
from ecmx.solver.fem.cell_problem import CellProblem
from ecmx.solver.units import R_GAS

C_MAX = 13831.0
RT = R_GAS * 298.15
R_NODES = np.linspace(0.0, 1e-6, 101)
THETA = 0.05 + 0.85 / (1.0 + np.exp(-(R_NODES / 1e-6 - 0.7) / 0.03))


def write_profile(directory, name: str = "theta.csv") -> str:
    """The core–shell profile as a CSV file (r in µm) in ``directory``; returns its name."""
    lines = ["# core-shell profile", "r [um],stoichiometry"]
    lines += [f"{r * 1e6:.10g},{t:.12g}" for r, t in zip(R_NODES, THETA, strict=True)]
    (directory / name).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return name


def case_data(initial: dict, phase_field: bool = True, kind: str = "sphere-1d") -> dict:
    material = dict(MATERIAL) | {"diffusivity": 1e-14}
    if phase_field:
        omega = 4.05 * RT
        material |= {"open_circuit_voltage": None, "phase_field": {
            "interaction_energy": omega, "gradient_energy": (0.05e-6) ** 2 * C_MAX * omega, "reference_voltage": 3.4}}
    return {"name": "profile", "material": material, "electrolyte": dict(ELECTROLYTE), "geometry": {"kind": kind},
            "initial": initial, "protocol": [{"step": "discharge", "c_rate": 1.0, "until": {"depth_of_discharge": 0.9}}],
            "mechanics": {"enabled": False}}


def exact_mean() -> float:
    """3/R³ ∫₀^R θ r² dr of the piecewise-linear profile (exact per segment), dimensionless."""
    a, b, ta, tb = R_NODES[:-1], R_NODES[1:], THETA[:-1], THETA[1:]
    s = (tb - ta) / (b - a)
    return float(3.0 * np.sum((ta - s * a) * (b**3 - a**3) / 3.0 + s * (b**4 - a**4) / 4.0) / 1e-18)


def nodal(problem: CellProblem) -> tuple[np.ndarray, np.ndarray]:
    """(|x| [m], θ) at the particle nodes."""
    theta = problem.particle.unknowns[0]
    x = theta.function_space.tabulate_dof_coordinates()
    return np.linalg.norm(x, axis=1) * 1e-6, theta.x.array.copy()


def test_profile_file_sets_the_nodes_and_the_content(tmp_path):
    """sphere-1d phase field: θ at the nodes is the file's profile at their radius (to round-off), the Na
    content the exact ∫ θ c_s,max dV within the P1 interpolation error (1e-4; the r² weight missed would be
    off by 30 %), μ̂ starts from μ̂_h(θ), and initial_stoichiometry() is the exact volume mean."""
    (tmp_path / "case.yaml").write_text("x: 1\n")
    case = case_from_dict(case_data({"profile": {"file": write_profile(tmp_path)}}), file=tmp_path / "case.yaml")
    assert case.initial_stoichiometry() == pytest.approx(exact_mean(), rel=1e-12)
    assert case.to_dict()["initial"]["profile"]["radius"][1] == pytest.approx(1e-8)
    problem = CellProblem(sphere_1d_mesh(elements=150), case)
    r, theta = nodal(problem)
    assert theta == pytest.approx(np.interp(r, R_NODES, THETA), abs=1e-12)
    content = problem.particle.quantities()["c_mean"] * 4.0 / 3.0 * math.pi * 1e-18
    assert content == pytest.approx(exact_mean() * C_MAX * 4.0 / 3.0 * math.pi * 1e-18, rel=1e-4)
    mu = problem.particle.unknowns[1].x.array
    assert mu == pytest.approx(np.log(theta / (1 - theta)) + 4.05 * (1 - 2 * theta), rel=1e-10)


def test_run_from_the_case_profile_equals_the_api_path():
    """Five backward-Euler steps at 1C from the case's profile equal those from a uniform case whose state
    is set through the Python API (CellProblem.set_state) to the same profile: θ, μ̂ and the voltage."""
    case = case_from_dict(case_data({"profile": {"radius": R_NODES.tolist(), "stoichiometry": THETA.tolist()}}))
    from_case = CellProblem(sphere_1d_mesh(elements=80), case)
    uniform = case_from_dict(case_data({"stoichiometry": float(case.initial_stoichiometry())}))
    from_api = CellProblem(sphere_1d_mesh(elements=80), uniform)
    from_api.set_state(particle_concentration=lambda x: C_MAX * np.interp(np.abs(x[0]) * 1e-6, R_NODES, THETA))
    for problem in (from_case, from_api):
        problem.set_control("current", -problem.capacity_C / 3600.0)
        for _ in range(5):
            assert problem.try_step(2.0).converged
            problem.accept()
    for a, b in zip(from_case.state(), from_api.state(), strict=True):
        assert a == pytest.approx(b, rel=1e-8, abs=1e-10)
    assert from_case.quantities()["c_min"] / C_MAX < 0.06 and from_case.quantities()["c_max"] / C_MAX > 0.85


def test_fickian_particle_in_3d_takes_the_profile_by_distance_from_the_centre():
    """A Fickian particle in the 3D particle-in-electrolyte mesh, profile θ = 0.2 + 0.6 (r/R)² (mean 0.56): θ at
    every particle node is the profile at its distance from the centre; the content is the exact one within
    the coarse mesh's error (10 %: 0.59 on cells of 0.3–0.8 R; a profile read by one coordinate, x or z,
    would hold 0.32)."""
    theta = 0.2 + 0.6 * (R_NODES / 1e-6) ** 2
    case = case_from_dict(case_data({"profile": {"radius": R_NODES.tolist(), "stoichiometry": theta.tolist()}},
                                    phase_field=False, kind="particle-in-electrolyte"))
    problem = CellProblem(particle_in_box_mesh(size=0.8, interface_size=0.3), case)
    r, nodes = nodal(problem)
    assert nodes == pytest.approx(np.interp(r, R_NODES, theta), abs=1e-12)
    assert problem.particle.quantities()["theta_mean"] == pytest.approx(0.56, rel=0.1)


def test_example_run_from_a_profile_file(tmp_path):
    """``ecmx run`` of the example with ``initial: {profile: {file: ...}}`` (a 2 s rest): the first timeseries
    row holds the profile's Na content (c_mean = c_s,max × its volume mean, within 1e-4) and its extremes, and
    the resolved case.yaml of the run directory loads again without the file."""
    import csv
    from pathlib import Path

    from ecmx.solver.studies.run import run_case

    example = Path(__file__).resolve().parents[2] / "cases" / "examples" / "phase-field-sphere1d.yaml"
    text = example.read_text(encoding="utf-8").replace("initial: {state_of_charge: 1.0}",
                                                       f"initial: {{profile: {{file: {write_profile(tmp_path)}}}}}")
    (tmp_path / "case.yaml").write_text(text, encoding="utf-8")
    case = load_case(tmp_path / "case.yaml", ["protocol=[{step: rest, duration: 2 s}]", "mechanics.enabled=false"])
    run_case(case, out_dir=tmp_path / "run", progress=False, cache_dir=tmp_path / "meshes")
    first = next(csv.DictReader((tmp_path / "run" / "timeseries.csv").read_text(encoding="utf-8").splitlines()))
    assert float(first["c_mean"]) == pytest.approx(exact_mean() * C_MAX, rel=1e-4)
    assert float(first["c_min"]) / C_MAX < 0.06 and float(first["c_max"]) / C_MAX > 0.89
    (tmp_path / "theta.csv").unlink()
    again = load_case(tmp_path / "run" / "case.yaml")
    assert again.initial.profile.stoichiometry == pytest.approx(THETA.tolist(), abs=1e-12)


def test_axisymmetric_profile_by_distance_from_the_centre_and_a_spheroid_beyond_it(mesh_cache):
    """axisymmetric-2d (r, z): θ at every particle node is the profile at √(r² + z²); a prolate spheroid
    (c = 1.2 µm) whose tip lies beyond the profile's last radius (1 µm) is refused on the mesh, naming
    initial.profile.radius."""
    from ecmx.meshes import load_mesh
    from ecmx.solver.errors import CaseError

    profile = {"radius": R_NODES.tolist(), "stoichiometry": THETA.tolist()}
    data = case_data({"profile": profile}, phase_field=False, kind="axisymmetric-2d")
    data["geometry"] |= {"mesh": {"size": "0.4 um", "interface_size": "0.2 um"}}
    case = case_from_dict(data)
    problem = CellProblem(load_mesh(case.geometry, cache_dir=mesh_cache), case)
    r, theta = nodal(problem)
    assert theta == pytest.approx(np.interp(r, R_NODES, THETA), abs=1e-12)
    assert theta.min() < 0.06 and theta.max() > 0.89  # both phases are on the mesh
    data["geometry"]["particle"] = {"shape": "ellipsoid", "semi_axes": ["1 um", "1 um", "1.2 um"]}
    spheroid = case_from_dict(data)
    with pytest.raises(CaseError, match=r"reaches 1\.2e-06 m from its centre") as info:
        CellProblem(load_mesh(spheroid.geometry, cache_dir=mesh_cache), spheroid)
    assert info.value.key == "initial.profile.radius"

"""The phase-boundary measurement (ecmx.solver.fem.phase_boundary) against exact answers.

Linear θ fields are represented exactly by P1, so their level sets and volumes must come out to
round-off on any mesh; a smooth radial step at r₀ on the real particle meshes (sphere-1d,
axisymmetric, 3D) must give the sphere area 4πr₀² within the mesh error, converging, and the
front radius r₀ within a cell size. Run as a script under mpiexec, it prints the measurements.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import dolfinx
import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI

from ecmx.meshes import load_mesh
from ecmx.solver.config import Geometry
from ecmx.solver.fem.phase_boundary import measure_phase_boundary
from ecmx.solver.physics.coordinates import AXISYMMETRIC, CARTESIAN, SPHERICAL

UM = 1e-6
R0 = 0.6  # front radius of the radial step, in units of R = 1 µm
WIDTH = 0.1  # its tanh width, in units of R (resolved by the meshes, as a phase field's interface must be)


def _p1(msh: dolfinx.mesh.Mesh, f) -> fem.Function:
    theta = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    theta.interpolate(f)
    return theta


def test_linear_fields_in_3d_are_exact() -> None:
    """θ = x: the plane x = ½ of the unit cube (area 1, half the volume above); θ = (x+y+z)/3: the
    regular hexagon x+y+z = 3/2 (area 3√3/4), half the volume above by symmetry. Every cut case of a
    tetrahedron (one, two and three vertices above) occurs."""
    msh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, 5, 4, 3)
    plane = measure_phase_boundary(_p1(msh, lambda x: x[0] * 0.9 + 0.05), CARTESIAN, 1.0, 1.0)
    assert plane.area_m2 == pytest.approx(1.0, rel=1e-12)
    assert plane.volume_m3 == pytest.approx(1.0, rel=1e-12)
    assert plane.volume_above_m3 == pytest.approx(0.5, rel=1e-12)
    hexagon = measure_phase_boundary(_p1(msh, lambda x: (x[0] + x[1] + x[2]) / 3), CARTESIAN, 1.0, 1.0)
    assert hexagon.area_m2 == pytest.approx(3 * math.sqrt(3) / 4, rel=1e-12)
    assert hexagon.volume_above_m3 == pytest.approx(0.5, rel=1e-12)
    assert hexagon.radius_m == pytest.approx(0.5 ** (1 / 3), rel=1e-12)


def test_linear_fields_in_the_meridian_plane_are_exact() -> None:
    """Axisymmetric weight 2πr on the unit square (r, z), lengths in µm: θ = r gives the cylinder
    r = ½ (area π), ∫_{½}^{1} 2πr dr = ¾π above; θ = (r+z)/2 gives the cone r + z = 1 (area √2 π) and
    2π/3 above."""
    msh = dolfinx.mesh.create_unit_square(MPI.COMM_WORLD, 7, 5)
    cylinder = measure_phase_boundary(_p1(msh, lambda x: x[0]), AXISYMMETRIC, UM, UM)
    assert cylinder.area_m2 == pytest.approx(math.pi * UM**2, rel=1e-12)
    assert cylinder.volume_m3 == pytest.approx(math.pi * UM**3, rel=1e-12)
    assert cylinder.volume_above_m3 == pytest.approx(0.75 * math.pi * UM**3, rel=1e-12)
    cone = measure_phase_boundary(_p1(msh, lambda x: (x[0] + x[1]) / 2), AXISYMMETRIC, UM, UM)
    assert cone.area_m2 == pytest.approx(math.sqrt(2) * math.pi * UM**2, rel=1e-12)
    assert cone.volume_above_m3 == pytest.approx(2 * math.pi / 3 * UM**3, rel=1e-12)


def test_linear_field_on_the_radius_is_exact() -> None:
    """Spherical weight 4πr² on [0, 1] µm: θ = r puts the boundary at r = ½ (area π µm²), the shell
    above holds 4π/3 (1 − 1/8) µm³ and the front radius is ½ µm."""
    msh = dolfinx.mesh.create_unit_interval(MPI.COMM_WORLD, 9)
    front = measure_phase_boundary(_p1(msh, lambda x: x[0]), SPHERICAL, UM, UM)
    assert front.area_m2 == pytest.approx(math.pi * UM**2, rel=1e-12)
    assert front.volume_m3 == pytest.approx(4 * math.pi / 3 * UM**3, rel=1e-12)
    assert front.volume_above_m3 == pytest.approx(4 * math.pi / 3 * (1 - 1 / 8) * UM**3, rel=1e-12)
    assert front.radius_m == pytest.approx(0.5 * UM, rel=1e-12)


def test_level_set_on_vertices_is_counted_once() -> None:
    """θ = ½ exactly on a layer of vertices (the level set on cell faces): the plane is counted once."""
    msh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, 4, 4, 4)
    front = measure_phase_boundary(_p1(msh, lambda x: x[0]), CARTESIAN, 1.0, 1.0)
    assert front.area_m2 == pytest.approx(1.0, rel=1e-12)
    assert front.volume_above_m3 == pytest.approx(0.5, rel=1e-12)


def _particle_step(kind: str, mesh: dict, cache: Path):
    """The radial step θ = ½(1 + tanh((r − r₀)/w)) on the particle submesh of a real mesh; its
    measurement and the largest cell size in the particle [µm]."""
    pmesh = load_mesh(Geometry(kind=kind, particle={"radius": "1 um"}, mesh=mesh), MPI.COMM_SELF, cache_dir=cache)
    msh, tdim = pmesh.mesh, pmesh.mesh.topology.dim
    cells = np.concatenate([pmesh.cell_tags.find(t) for t in pmesh.particle_tags.values()]).astype(np.int32)
    sub = dolfinx.mesh.create_submesh(msh, tdim, np.sort(cells))[0]
    centre = pmesh.coordinates.to_mesh_coordinates(pmesh.particle_centres[:1])[0]
    theta = _p1(sub, lambda x: 0.5 * (1 + np.tanh((np.linalg.norm(x.T - centre, axis=1) - R0) / WIDTH)))
    front = measure_phase_boundary(theta, pmesh.coordinates, pmesh.length_unit, UM)
    h = float(sub.h(tdim, np.arange(sub.topology.index_map(tdim).size_local, dtype=np.int32)).max())
    return front, h


MESHES = {
    "sphere-1d": [{"elements": 20}, {"elements": 80}],
    "axisymmetric-2d": [{"size": "0.2 um", "interface_size": "0.1 um"}, {"size": "0.05 um", "interface_size": "0.05 um"}],
}


@pytest.mark.parametrize("kind", list(MESHES))
def test_radial_step_gives_the_sphere_and_converges(kind: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Sphere-1d and axisymmetric builder meshes: area 4πr₀² converging (within 0.2 % on the finer
    mesh), front radius r₀ within a cell."""
    cache = tmp_path_factory.mktemp("mesh-cache")
    errors = []
    for mesh in MESHES[kind]:
        front, h = _particle_step(kind, mesh, cache)
        errors.append(abs(front.area_m2 / (4 * math.pi * (R0 * UM) ** 2) - 1))
        assert abs(front.radius_m - R0 * UM) < h * UM, (kind, mesh, front, h)
    assert errors[1] < errors[0] or errors[1] < 1e-5, (kind, errors)
    assert errors[1] < 2e-3, (kind, errors)


def test_radial_step_in_tetrahedra_converges_at_h_squared() -> None:
    """A sphere of radius 0.3 in the unit cube (tetrahedra, weight 1): the level-set area error is
    bounded by h² (h = √3/n the cell diameter; polyhedral approximation of the sphere, not monotone
    as facets cut and chord it) and the volume above within 2·A/n² (A the front area)."""
    for n in (8, 16, 24):
        msh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, n, n, n)
        theta = _p1(msh, lambda x: 0.5 * (1 + np.tanh((np.linalg.norm(x.T - 0.5, axis=1) - 0.3) / 0.05)))
        front = measure_phase_boundary(theta, CARTESIAN, 1.0, (3 / (4 * math.pi)) ** (1 / 3))
        assert abs(front.area_m2 / (4 * math.pi * 0.09) - 1) < 3 / n**2, (n, front)
        assert front.volume_above_m3 == pytest.approx(1 - 4 * math.pi / 3 * 0.027, abs=2 * 0.09 * 4 * math.pi / n**2)


@pytest.mark.slow
def test_radial_step_on_the_builder_3d_mesh(tmp_path_factory: pytest.TempPathFactory) -> None:
    """The particle-in-electrolyte particle (unstructured, graded): area within 3 % and front radius
    within a cell on two meshes."""
    cache = tmp_path_factory.mktemp("mesh-cache")
    for mesh in ({"size": "0.3 um", "interface_size": "0.2 um"}, {"size": "0.2 um", "interface_size": "0.15 um"}):
        front, h = _particle_step("particle-in-electrolyte", mesh, cache)
        assert abs(front.area_m2 / (4 * math.pi * (R0 * UM) ** 2) - 1) < 0.03, (mesh, front)
        assert abs(front.radius_m - R0 * UM) < h * UM, (mesh, front, h)


def test_timeseries_columns_only_for_phase_field_materials(tmp_path: Path) -> None:
    """The recorder's hook: a phase-field material gets the two columns, measured on c_s/c_s,max of
    the output field; a Fickian material gets none."""
    from types import SimpleNamespace

    from ecmx.solver.studies.front import phase_boundary_columns

    pmesh = load_mesh(Geometry(kind="sphere-1d", particle={"radius": "2 um"}, mesh={"elements": 200}),
                      MPI.COMM_SELF, cache_dir=tmp_path)
    c_max = 13830.6
    field = _p1(pmesh.mesh, lambda x: c_max * 0.5 * (1 + np.tanh((x[0] - 2 * R0) / WIDTH)))
    problem = SimpleNamespace(fields={"particle_concentration": field})
    fickian = SimpleNamespace(material=SimpleNamespace(max_concentration=c_max))
    assert phase_boundary_columns(problem, fickian, pmesh) is None
    two_phase = SimpleNamespace(material=SimpleNamespace(max_concentration=c_max, phase_field=object()))
    hook = phase_boundary_columns(problem, two_phase, pmesh)
    assert hook.columns == ("phase_boundary_area_m2", "phase_boundary_radius_m")
    row = hook.row()
    assert row["phase_boundary_radius_m"] == pytest.approx(2 * R0 * UM, rel=1e-3)
    assert row["phase_boundary_area_m2"] == pytest.approx(4 * math.pi * (2 * R0 * UM) ** 2, rel=2e-3)


@pytest.mark.mpi
def test_two_ranks_measure_what_one_does(tmp_path: Path) -> None:
    """The sums are collective: 2 ranks give the 1-rank area, volumes and radius to round-off."""
    from support.mpi import mpiexec

    results = []
    for ranks in (1, 2):
        out = tmp_path / f"front{ranks}.json"
        subprocess.run([mpiexec(), "-n", str(ranks), sys.executable, __file__, str(out)],
                       check=True, timeout=120, cwd=Path(__file__).parent)
        results.append(json.loads(out.read_text()))
    assert results[0] == pytest.approx(results[1], rel=1e-10)


def _mpi_main(out: str) -> None:
    msh = dolfinx.mesh.create_unit_cube(MPI.COMM_WORLD, 12, 12, 12)
    theta = _p1(msh, lambda x: 0.5 * (1 + np.tanh((np.linalg.norm(x.T - 0.5, axis=1) - 0.3) / 0.05)))
    front = measure_phase_boundary(theta, CARTESIAN, 1.0, 1.0)
    if MPI.COMM_WORLD.rank == 0:
        Path(out).write_text(json.dumps([front.area_m2, front.volume_m3, front.volume_above_m3, front.radius_m]))


if __name__ == "__main__":
    _mpi_main(sys.argv[1])

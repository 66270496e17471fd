"""Geometry builders, cache, loading (serial and MPI) and checks of ecmx.meshes."""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import gmsh
import numpy as np
import pytest
from mpi4py import MPI
from support.mpi import mpiexec

from ecmx.meshes import MeshFile, ParticleMesh, build_mesh, builders, load_mesh, mesh_report
from ecmx.meshes.shapes import RadialPerturbation, place_spheres, sample_radii
from ecmx.solver.config import Geometry
from ecmx.solver.errors import CaseError

R = 1e-6
SPHERE_VOLUME = 4.0 / 3.0 * math.pi * R**3
SPHERE_AREA = 4.0 * math.pi * R**2
COARSE = {"size": 0.6e-6, "interface_size": 0.25e-6}


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("mesh-cache")


def geometry(kind: str, **fields) -> Geometry:
    return Geometry(kind=kind, **fields)


CASES = {
    "sphere": geometry("particle-in-electrolyte", mesh=COARSE),
    "ellipsoid": geometry("particle-in-electrolyte", mesh=COARSE,
                          particle={"shape": "ellipsoid", "semi_axes": [1.3e-6, 1e-6, 0.8e-6]}),
    "irregular": geometry("particle-in-electrolyte", mesh=COARSE,
                          particle={"shape": "irregular", "seed": 3, "roughness": 0.15}),
    "agglomerate": geometry("agglomerate", mesh={"size": 0.6e-6, "interface_size": 0.2e-6},
                            agglomerate={"count": 3, "seed": 1}),
    "axisymmetric": geometry("axisymmetric-2d"),
    "spheroid": geometry("axisymmetric-2d",
                         particle={"shape": "ellipsoid", "semi_axes": [1.2e-6, 1.2e-6, 0.7e-6]}),
    "sphere-1d": geometry("sphere-1d"),
}


def _cells(pmesh: ParticleMesh, tag: int) -> int:
    return pmesh.mesh.comm.allreduce(len(pmesh.cell_tags.find(tag)), op=MPI.SUM)


def _facets(pmesh: ParticleMesh, tag: int) -> int:
    return pmesh.mesh.comm.allreduce(len(pmesh.facet_tags.find(tag)), op=MPI.SUM)


@pytest.mark.parametrize("name", list(CASES))
def test_every_kind_has_its_tags(name: str, cache: Path) -> None:
    pmesh = load_mesh(CASES[name], MPI.COMM_WORLD, cache_dir=cache)
    count = 3 if name == "agglomerate" else 1
    assert list(pmesh.particle_tags) == [f"particle_{i}" for i in range(1, count + 1)]
    assert all(_cells(pmesh, tag) > 0 for tag in pmesh.particle_tags.values())
    assert _facets(pmesh, pmesh.interface_tag) > 0
    assert pmesh.length_unit == 1e-6
    assert pmesh.particle_centres.shape == (count, 3)
    assert pmesh.particle_radii.shape == (count,)
    if name == "sphere-1d":
        assert pmesh.coordinate_system == "spherical"
        assert (pmesh.electrolyte_tag, pmesh.na_metal_tag, pmesh.walls_tag) == (None, None, None)
        assert pmesh.counter_electrode_area == pytest.approx((3 * R) ** 2)
        return
    assert _cells(pmesh, pmesh.electrolyte_tag) > 0
    assert _facets(pmesh, pmesh.na_metal_tag) > 0
    assert _facets(pmesh, pmesh.walls_tag) > 0
    # The Na-metal face is the top of the box: all its facets at z (2D: y) = z_max.
    top_axis = pmesh.mesh.geometry.dim - 1
    top = pmesh.mesh.comm.allreduce(np.max(pmesh.mesh.geometry.x[:, top_axis]), op=MPI.MAX)
    assert np.allclose(facet_points(pmesh, pmesh.na_metal_tag)[:, top_axis], top)


def facet_points(pmesh: ParticleMesh, tag: int) -> np.ndarray:
    """Coordinates of the vertices of the (local) facets with `tag`."""
    import dolfinx

    tdim = pmesh.mesh.topology.dim
    pmesh.mesh.topology.create_connectivity(tdim - 1, tdim)
    facets = pmesh.facet_tags.find(tag)
    nodes = dolfinx.mesh.entities_to_geometry(pmesh.mesh, tdim - 1, facets)
    return pmesh.mesh.geometry.x[np.unique(nodes.ravel())]


def test_default_sphere_volume_and_area_within_one_percent(cache: Path) -> None:
    report = mesh_report(load_mesh(geometry("particle-in-electrolyte"), cache_dir=cache))
    assert report["particle_volume_m3"] == pytest.approx(SPHERE_VOLUME, rel=0.01)
    assert report["interface_area_m2"] == pytest.approx(SPHERE_AREA, rel=0.01)
    assert report["cells"] <= 45_000  # small enough for a full 3D discharge in about a minute
    assert report["min_quality"] > builders.MIN_QUALITY
    assert report["counter_electrode_area_m2"] == pytest.approx((3 * R) ** 2)


def test_axisymmetric_volume_is_two_pi_r_weighted(cache: Path) -> None:
    report = mesh_report(load_mesh(CASES["axisymmetric"], cache_dir=cache))
    assert report["coordinate_system"] == "axisymmetric"
    assert report["particle_volume_m3"] == pytest.approx(SPHERE_VOLUME, rel=0.01)
    assert report["interface_area_m2"] == pytest.approx(SPHERE_AREA, rel=0.01)
    spheroid = mesh_report(load_mesh(CASES["spheroid"], cache_dir=cache))
    assert spheroid["particle_volume_m3"] == pytest.approx(SPHERE_VOLUME * 1.2 * 1.2 * 0.7, rel=0.01)


def test_sphere_1d_is_exact_and_graded_toward_the_surface(cache: Path) -> None:
    pmesh = load_mesh(CASES["sphere-1d"], cache_dir=cache)
    report = mesh_report(pmesh)
    assert report["cells"] == 40
    assert report["particle_volume_m3"] == pytest.approx(SPHERE_VOLUME, rel=1e-12)
    assert report["interface_area_m2"] == pytest.approx(SPHERE_AREA, rel=1e-12)
    r = np.sort(pmesh.mesh.geometry.x[:, 0])
    assert r[0] == pytest.approx(0.0) and r[-1] == pytest.approx(1.0)
    h = np.diff(r)
    assert h[-1] < h[0] / 3
    surface = pmesh.facet_tags.find(pmesh.interface_tag)
    assert len(surface) == 1
    assert pmesh.mesh.geometry.x[surface[0], 0] == pytest.approx(1.0)


def test_ellipsoid_volume(cache: Path) -> None:
    report = mesh_report(load_mesh(CASES["ellipsoid"], cache_dir=cache))
    assert report["particle_volume_m3"] == pytest.approx(SPHERE_VOLUME * 1.3 * 0.8, rel=0.03)


def test_irregular_particle_is_seeded_and_rough(cache: Path) -> None:
    pmesh = load_mesh(CASES["irregular"], cache_dir=cache)
    volume = mesh_report(pmesh)["particle_volume_m3"]
    equivalent = (3 * volume / (4 * math.pi)) ** (1 / 3) / 1e-6
    assert equivalent == pytest.approx(pmesh.particle_radii[0], rel=0.02)
    # Interface vertices lie on r = R (1 + δ) with max |δ| close to the roughness.
    x = facet_points(pmesh, pmesh.interface_tag)
    shape = RadialPerturbation(1.0, 0.15, 6, 3)
    assert np.allclose(np.linalg.norm(x, axis=1), 1.0 + shape.delta_at_points(x), rtol=1e-9)
    assert 0.1 < np.max(np.abs(np.linalg.norm(x, axis=1) - 1.0)) <= 0.15 + 1e-3
    other = RadialPerturbation(1.0, 0.15, 6, 4)
    assert not np.allclose(shape.delta_at_points(x), other.delta_at_points(x))


def test_agglomerate_particles_do_not_overlap_and_have_cells(cache: Path) -> None:
    g = CASES["agglomerate"]
    pmesh = load_mesh(g, cache_dir=cache)
    centres, radii = pmesh.particle_centres, pmesh.particle_radii
    gap = g.agglomerate.min_gap / 1e-6
    for i in range(len(radii)):
        for j in range(i):
            assert np.linalg.norm(centres[i] - centres[j]) >= radii[i] + radii[j] + gap - 1e-12
    import dolfinx
    import ufl

    dx = ufl.Measure("dx", domain=pmesh.mesh, subdomain_data=pmesh.cell_tags)
    x = ufl.SpatialCoordinate(pmesh.mesh)
    for k, tag in enumerate(pmesh.particle_tags.values()):
        assert _cells(pmesh, tag) > 0
        volume = dolfinx.fem.assemble_scalar(dolfinx.fem.form(1.0 * dx(tag)))
        centroid = [dolfinx.fem.assemble_scalar(dolfinx.fem.form(x[d] * dx(tag))) / volume
                    for d in range(3)]
        # The tag really is the particle at that centre with that radius.
        assert volume == pytest.approx(4 / 3 * math.pi * radii[k] ** 3, rel=0.03)
        assert np.allclose(centroid, centres[k], atol=0.02)


@pytest.mark.parametrize("seed", range(5))
def test_random_placement_keeps_the_gap(seed: int) -> None:
    rng = np.random.default_rng(seed)
    radii = sample_radii(12, 1.0, 0.3, rng)
    assert np.all((radii >= 0.4) & (radii <= 1.6))
    centres = place_spheres(radii, 0.1, rng)
    distance = np.linalg.norm(centres[:, None] - centres[None], axis=2)
    needed = radii[:, None] + radii[None] + 0.1
    np.fill_diagonal(distance, np.inf)
    assert np.all(distance >= needed)
    again = place_spheres(radii, 0.1, np.random.default_rng(seed))
    assert again.shape == centres.shape


def test_cache_returns_the_same_file_without_gmsh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = geometry("axisymmetric-2d", mesh={"size": 0.5e-6, "interface_size": 0.2e-6})
    first = build_mesh(g, cache_dir=tmp_path)
    assert not first.cached and first.path.parent == tmp_path and first.path.suffix == ".msh"
    stamp = first.path.stat().st_mtime_ns

    def no_gmsh(*args, **kwargs):
        raise AssertionError("gmsh was called for a cached mesh")

    monkeypatch.setattr(builders, "build_msh", no_gmsh)
    second = build_mesh(g, cache_dir=tmp_path)
    assert second.cached and second.path == first.path
    assert second.path.stat().st_mtime_ns == stamp
    assert second.info == json.loads(json.dumps(first.info))
    # Different parameters are a different mesh; nothing half-written is left behind.
    with pytest.raises(AssertionError, match="cached mesh"):
        build_mesh(geometry("axisymmetric-2d", mesh={"size": 0.4e-6}), cache_dir=tmp_path)
    assert sorted(p.suffix for p in tmp_path.iterdir()) == [".json", ".msh"]


def test_cache_directory_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ECMX_CACHE_DIR", str(tmp_path / "root"))
    built = build_mesh(geometry("sphere-1d", mesh={"elements": 7}))
    assert built.path.parent == tmp_path / "root" / "meshes"


def test_too_narrow_box_is_a_case_error(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match="width") as error:
        build_mesh(geometry("particle-in-electrolyte", electrolyte={"width": 1.5e-6}),
                   cache_dir=tmp_path, source="case.yaml")
    assert error.value.file == Path("case.yaml")


def _write_msh(path: Path, groups: list[str], flat: bool = False, scale: float = 1.0,
               untagged: bool = False, version: float = 4.1, binary: bool = False) -> Path:
    """Two tets sharing a face: particle_1 below, electrolyte above (µm × `scale`).

    flat: the particle tet has no volume; untagged: a third tet in no physical group; version and
    binary: the MSH format written.
    """
    apex = [0.3, 0.3, 0.0] if flat else [0.3, 0.3, -1.0]
    nodes = np.array([[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.3, 0.3, 1.0], apex, [2, 2, 2]]) * scale
    with builders.gmsh_model("test"):
        for dim, tag in [(3, 1), (3, 2), (3, 3), (2, 1), (2, 2), (2, 3)]:
            gmsh.model.addDiscreteEntity(dim, tag)
        gmsh.model.mesh.addNodes(3, 1, [1, 2, 3, 4, 5, 6], nodes.ravel().tolist())
        gmsh.model.mesh.addElementsByType(1, 4, [1], [1, 2, 3, 5])
        gmsh.model.mesh.addElementsByType(2, 4, [2], [1, 2, 3, 4])
        if untagged:
            gmsh.model.mesh.addElementsByType(3, 4, [6], [2, 3, 4, 6])
            gmsh.option.setNumber("Mesh.SaveAll", 1)
        gmsh.model.mesh.addElementsByType(1, 2, [3], [1, 2, 3])
        gmsh.model.mesh.addElementsByType(2, 2, [4], [2, 3, 4])
        gmsh.model.mesh.addElementsByType(3, 2, [5], [1, 2, 4])
        entity = {"particle_1": (3, 1), "electrolyte": (3, 2), "interface": (2, 1),
                  "na_metal": (2, 2), "walls": (2, 3)}
        for name in groups:
            gmsh.model.addPhysicalGroup(*entity[name][:1], [entity[name][1]], name=name)
        gmsh.option.setNumber("Mesh.MshFileVersion", version)
        gmsh.option.setNumber("Mesh.Binary", int(binary))
        gmsh.write(str(path))
        gmsh.option.setNumber("Mesh.SaveAll", 0)
        gmsh.option.setNumber("Mesh.MshFileVersion", 4.1)
        gmsh.option.setNumber("Mesh.Binary", 0)
    return path


ALL_GROUPS = ["particle_1", "electrolyte", "interface", "na_metal", "walls"]


def test_mesh_file_with_the_right_groups_loads(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "two.msh", ALL_GROUPS)
    pmesh = load_mesh(geometry("mesh-file", file=path), cache_dir=tmp_path)
    assert pmesh.kind == "mesh-file" and pmesh.coordinate_system == "cartesian"
    assert pmesh.msh_path == path
    report = mesh_report(pmesh)
    assert report["cells"] == 2
    assert report["particle_volume_m3"] == pytest.approx(1 / 6 * 1e-18)
    assert report["interface_area_m2"] == pytest.approx(0.5e-12)
    assert np.allclose(pmesh.particle_centres[0], [0.325, 0.325, -0.25])


def test_built_mesh_loads_as_a_mesh_file(cache: Path, tmp_path: Path) -> None:
    built = build_mesh(CASES["sphere"], cache_dir=cache)
    copy = tmp_path / "mine.msh"
    shutil.copy(built.path, copy)
    user = mesh_report(load_mesh(geometry("mesh-file", file=copy)))
    ours = mesh_report(load_mesh(CASES["sphere"], cache_dir=cache))
    assert user["cells"] == ours["cells"]
    assert user["particle_volume_m3"] == pytest.approx(ours["particle_volume_m3"])
    assert user["counter_electrode_area_m2"] == pytest.approx(ours["counter_electrode_area_m2"])


def test_mesh_file_missing_groups_is_refused(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "partial.msh", ["particle_1", "electrolyte", "interface"])
    with pytest.raises(CaseError) as error:
        build_mesh(geometry("mesh-file", file=path))
    message = str(error.value)
    assert str(path) in message and "na_metal" in message and "walls" in message
    assert "interface" not in message.split("missing")[1].split(";")[0]


def test_degenerate_mesh_file_is_refused(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "flat.msh", ALL_GROUPS, flat=True)
    with pytest.raises(CaseError, match="degenerate") as error:
        load_mesh(geometry("mesh-file", file=path))
    assert error.value.file == path


@pytest.mark.parametrize("content", [None, "not a mesh\n"])
def test_unreadable_mesh_file_is_refused(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "bad.msh"
    if content is not None:
        path.write_text(content)
    with pytest.raises(CaseError) as error:
        build_mesh(geometry("mesh-file", file=path))
    assert error.value.file == path


MPI_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from mpi4py import MPI
    from ecmx.meshes import load_mesh, mesh_report
    from ecmx.solver.config import Geometry

    kinds = json.loads(sys.argv[2])
    out = {}
    for name, fields in kinds.items():
        pmesh = load_mesh(Geometry(**fields), cache_dir=sys.argv[1])
        report = mesh_report(pmesh)
        local = pmesh.mesh.topology.index_map(pmesh.mesh.topology.dim).size_local
        out[name] = {k: report[k] for k in ("cells", "vertices", "particle_volume_m3",
                                            "interface_area_m2")}
        out[name]["ranks_with_cells"] = MPI.COMM_WORLD.allreduce(int(local > 0))
    if MPI.COMM_WORLD.rank == 0:
        print("RESULT " + json.dumps(out))
    """
)


@pytest.mark.mpi
def test_meshes_load_under_mpi_like_in_serial(tmp_path: Path) -> None:
    kinds = {
        "sphere": {"kind": "particle-in-electrolyte", "mesh": COARSE},
        "agglomerate": {"kind": "agglomerate", "agglomerate": {"count": 2, "seed": 2},
                        "mesh": {"size": 0.6e-6, "interface_size": 0.25e-6}},
        "axisymmetric": {"kind": "axisymmetric-2d"},
        "sphere-1d": {"kind": "sphere-1d"},
    }
    script = tmp_path / "load.py"
    script.write_text(MPI_SCRIPT)
    # The parallel run builds the meshes itself (on rank 0) into an empty cache.
    run = subprocess.run(
        [mpiexec(), "-n", "2", sys.executable, str(script), str(tmp_path / "cache"), json.dumps(kinds)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    parallel = json.loads(run.stdout.split("RESULT ", 1)[1])
    for name, fields in kinds.items():
        serial = mesh_report(load_mesh(Geometry(**fields), MPI.COMM_SELF, cache_dir=tmp_path / "cache"))
        assert parallel[name]["ranks_with_cells"] == 2
        assert parallel[name]["cells"] == serial["cells"]
        assert parallel[name]["vertices"] == serial["vertices"]
        assert parallel[name]["particle_volume_m3"] == pytest.approx(serial["particle_volume_m3"], rel=1e-12)
        assert parallel[name]["interface_area_m2"] == pytest.approx(serial["interface_area_m2"], rel=1e-12)


def test_mesh_file_info_survives_json(cache: Path) -> None:
    built = build_mesh(CASES["agglomerate"], cache_dir=cache)
    assert isinstance(built, MeshFile)
    stored = json.loads(built.path.with_suffix(".json").read_text())
    assert stored["particle_radii"] == built.info["particle_radii"]
    assert stored["kind"] == "agglomerate" and stored["dim"] == 3


def test_relative_mesh_file_is_found_beside_the_case(tmp_path: Path) -> None:
    _write_msh(tmp_path / "two.msh", ALL_GROUPS)
    built = build_mesh(geometry("mesh-file", file="two.msh"), source=tmp_path / "case.yaml")
    assert built.path == tmp_path / "two.msh"


def test_report_of_a_msh_path(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "two.msh", ALL_GROUPS)
    report = mesh_report(path)
    assert report["kind"] == "mesh-file" and report["cells"] == 2
    assert report["min_quality"] > builders.MIN_QUALITY


def test_mesh_file_in_metres_is_refused(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "metres.msh", ALL_GROUPS, scale=1e-6)
    with pytest.raises(CaseError, match="micrometres"):
        build_mesh(geometry("mesh-file", file=path))


def test_mesh_file_with_untagged_cells_is_refused(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "untagged.msh", ALL_GROUPS, untagged=True)
    with pytest.raises(CaseError, match="no physical group") as error:
        build_mesh(geometry("mesh-file", file=path))
    assert error.value.file == path

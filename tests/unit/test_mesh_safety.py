"""Untrusted mesh files and the mesh cache (issue 9): no gmsh script runs, bounded reads, clear errors.

gmsh runs any file that does not start with ``$MeshFormat`` as a script (``SystemCall``,
``Printf > file``), and also ``<file>.opt`` beside a mesh; a few hundred bytes declaring 3·10⁸
nodes take gigabytes in gmsh. ecmx checks mesh files before gmsh sees them and hands gmsh a
private copy. The cache reports unwritable directories as CaseErrors, writes complete files or
none, and respects the umask.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import pytest
from support.cases import CASE, write_yaml
from support.mpi import mpiexec
from test_meshes import ALL_GROUPS, _write_msh

from ecmx.meshes import build_mesh, builders, load_mesh, mesh_report
from ecmx.meshes.cache import CACHE_ENV, build_from_spec
from ecmx.meshes.meshfile import MAX_MESH_FILE_BYTES, check_mesh_file
from ecmx.meshes.mshscan import MAX_ENTRIES
from ecmx.meshes.spec import MAX_CELLS, MeshSpec
from ecmx.solver.config import Geometry
from ecmx.solver.errors import CaseError

ECMX = [sys.executable, "-m", "ecmx.solver.cli"]
HEADER = "$MeshFormat\n4.1 0 8\n$EndMeshFormat\n"


def script(directory: Path) -> tuple[str, list[Path]]:
    """A gmsh script that would create two marker files, and their paths."""
    markers = [directory / "PWNED-system", directory / "PWNED-printf"]
    return f'SystemCall "touch {markers[0]}";\nPrintf("x") > "{markers[1]}";\n', markers


def mesh_file_geometry(path: Path | str) -> Geometry:
    return Geometry(kind="mesh-file", file=path)


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([*ECMX, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, COLUMNS="200", NO_COLOR="1", **env))


# --- gmsh scripts never run ----------------------------------------------------------------------


@pytest.mark.parametrize("name", ["evil.geo", "evil.txt", "evil.msh"])
@pytest.mark.parametrize("prefix", ["", HEADER, "\n" + HEADER])
def test_a_script_is_refused_and_never_run(tmp_path: Path, name: str, prefix: str) -> None:
    text, markers = script(tmp_path)
    (tmp_path / name).write_text(prefix + text)
    with pytest.raises(CaseError) as error:
        load_mesh(mesh_file_geometry(tmp_path / name), cache_dir=tmp_path)
    assert error.value.key == "geometry.file" and error.value.file == tmp_path / name
    assert "only gmsh MSH" in str(error.value) or "unexpected line" in str(error.value)
    assert not any(m.exists() for m in markers)


def test_an_opt_script_beside_a_mesh_is_not_run(tmp_path: Path) -> None:
    path = _write_msh(tmp_path / "two.msh", ALL_GROUPS)
    text, markers = script(tmp_path)
    Path(f"{path}.opt").write_text(text)  # gmsh merges <file>.opt after <file>
    report = mesh_report(load_mesh(mesh_file_geometry(path), cache_dir=tmp_path))
    assert report["cells"] == 2
    assert not any(m.exists() for m in markers)


def test_a_planted_script_in_the_cache_is_rebuilt_not_run(tmp_path: Path) -> None:
    geometry = Geometry(kind="sphere-1d", mesh={"elements": 9})
    built = build_mesh(geometry, cache_dir=tmp_path)
    text, markers = script(tmp_path)
    built.path.write_text(text)
    Path(f"{built.path}.opt").write_text(text)
    again = build_mesh(geometry, cache_dir=tmp_path)
    assert not again.cached and again.path == built.path
    assert mesh_report(load_mesh(geometry, cache_dir=tmp_path))["cells"] == 9
    assert not any(m.exists() for m in markers)


@pytest.mark.parametrize("verb", ["validate", "mesh", "run"])
def test_cli_refuses_a_geo_mesh_file_with_exit_2(case_dir: Path, verb: str) -> None:
    text, markers = script(case_dir)
    (case_dir / "evil.geo").write_text(text)
    write_yaml(case_dir / "evil.yaml", dict(CASE, geometry={"kind": "mesh-file", "file": "evil.geo"}))
    result = run_cli(verb, "evil.yaml", cwd=case_dir, **{CACHE_ENV: str(case_dir / "cache")})
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    assert "key 'geometry.file'" in result.stderr and "only gmsh MSH" in result.stderr
    assert not any(m.exists() for m in markers)


# --- what a mesh file may be ---------------------------------------------------------------------


@pytest.mark.parametrize("version", [2.2, 4.1])
@pytest.mark.parametrize("binary", [False, True])
def test_msh_2_and_4_ascii_and_binary_load(tmp_path: Path, version: float, binary: bool) -> None:
    path = _write_msh(tmp_path / "two.msh", ALL_GROUPS, version=version, binary=binary)
    check_mesh_file(path)
    assert mesh_report(load_mesh(mesh_file_geometry(path)))["cells"] == 2


def test_leading_blank_lines_and_any_name_are_read_as_a_mesh(tmp_path: Path) -> None:
    mesh = _write_msh(tmp_path / "two.msh", ALL_GROUPS).read_bytes()
    path = tmp_path / "two.mesh-data.txt"
    path.write_bytes(b"\n  \n" + mesh)  # gmsh alone would run this as a script
    assert mesh_report(load_mesh(mesh_file_geometry(path)))["cells"] == 2


@pytest.mark.parametrize("kind", ["missing", "directory", "dev-zero", "fifo", "empty", "garbage",
                                  "too-large", "msh-3", "bad-name"])
def test_check_mesh_file_refuses_clearly(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "mesh.msh"
    expected = {"missing": "not found", "directory": "a directory", "dev-zero": "a character device",
                "fifo": "a named pipe", "empty": "empty", "garbage": "not a gmsh MSH file",
                "too-large": f"more than the {MAX_MESH_FILE_BYTES}", "msh-3": "unsupported $MeshFormat",
                "bad-name": "invalid mesh file name"}[kind]
    if kind == "directory":
        path.mkdir()
    elif kind == "dev-zero":
        path = Path("/dev/zero")
    elif kind == "fifo":
        os.mkfifo(path)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "garbage":
        path.write_bytes(bytes(range(256)) * 8)
    elif kind == "too-large":
        with open(path, "wb") as stream:  # sparse: no disk used
            stream.truncate(MAX_MESH_FILE_BYTES + 1)
    elif kind == "msh-3":
        path.write_text("$MeshFormat\n3.0 0 8\n$EndMeshFormat\n")
    elif kind == "bad-name":
        path = tmp_path / "bad\ud800name.msh"
    start = time.perf_counter()
    with pytest.raises(CaseError, match="mesh") as error:
        check_mesh_file(path)
    assert time.perf_counter() - start < 2
    assert error.value.key == "geometry.file" and expected in str(error.value)
    str(error.value).encode("utf-8")  # printable


def test_non_utf8_file_names_are_read_and_named(tmp_path: Path) -> None:
    mesh = _write_msh(tmp_path / "two.msh", ALL_GROUPS).read_bytes()
    name = os.fsdecode(b"m\xe9sh.msh")  # Latin-1 bytes: a surrogate-escaped str
    (tmp_path / name).write_bytes(mesh)
    check_mesh_file(tmp_path / name)
    with pytest.raises(CaseError, match="not found") as error:
        check_mesh_file(tmp_path / os.fsdecode(b"n\xe9.msh"))
    assert error.value.file == tmp_path / os.fsdecode(b"n\xe9.msh")


SECTIONS = {
    "nodes-3e8": ("$Nodes\n1 300000000 1 300000000\n3 1 0 300000000\n1\n$EndNodes\n", "declares 300000000"),
    "block-lies": ("$Nodes\n1 2 1 2\n3 1 0 7000000\n1\n2\n0 0 0\n1 0 0\n$EndNodes\n", "the file ends"),
    "elements-1e11": ("$Elements\n1 100000000000 1 100000000000\n3 1 4 1\n1 1 2 3 4\n$EndElements\n",
                      f"more than the {MAX_ENTRIES}"),
    "view-data": ("$NodeData\n1\n\"v\"\n1\n0\n3\n0\n1\n1\n1 0\n$EndNodeData\n", "section '$NodeData' is not read"),
    "entities-lie": ("$Entities\n0 0 0 1\n1 0 0 0 1 1 1 1000000000\n$EndEntities\n", "malformed $Entities"),
}


@pytest.mark.parametrize("name", sorted(SECTIONS))
def test_declared_sizes_and_foreign_sections_are_refused_before_gmsh(
        tmp_path: Path, name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    body, expected = SECTIONS[name]
    path = tmp_path / "bomb.msh"
    path.write_text(HEADER + body)

    def no_gmsh(*args: object) -> None:
        raise AssertionError("gmsh was given a file that failed the check")

    monkeypatch.setattr("gmsh.merge", no_gmsh)
    start = time.perf_counter()
    with pytest.raises(CaseError) as error:
        build_mesh(mesh_file_geometry(path))
    assert time.perf_counter() - start < 2
    assert expected in str(error.value) and error.value.key == "geometry.file"


def test_meshfile_and_spec_import_without_gmsh() -> None:
    code = ("import sys; import ecmx.meshes.meshfile, ecmx.meshes.spec; "
            "assert 'gmsh' not in sys.modules and 'dolfinx' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- cell counts ---------------------------------------------------------------------------------


def test_sphere_1d_element_overflow_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CaseError, match=f"expected 2 to {MAX_CELLS}") as error:
        build_from_spec(MeshSpec(kind="sphere-1d", elements=10**12), cache_dir=tmp_path)
    assert error.value.key == "geometry.mesh.elements"
    assert not list(tmp_path.iterdir())


def test_gmsh_cell_count_is_checked_after_meshing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builders, "MAX_CELLS", 2**40)  # let an overflowing count reach gmsh
    with pytest.raises(CaseError, match="gmsh made 5 cells where 4294967301 were asked for"):
        build_from_spec(MeshSpec(kind="sphere-1d", elements=2**32 + 5), cache_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_more_cells_than_the_limit_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(builders, "MAX_CELLS", 1)
    path = _write_msh(tmp_path / "two.msh", ALL_GROUPS)
    with pytest.raises(CaseError, match="2 cells, more than the 1") as error:
        build_mesh(mesh_file_geometry(path))
    assert error.value.key == "geometry.file"
    with pytest.raises(CaseError, match="more than the 1") as error:
        build_mesh(Geometry(kind="axisymmetric-2d"), cache_dir=tmp_path / "cache")
    assert error.value.key == "geometry.mesh.size"


# --- the mesh cache ------------------------------------------------------------------------------


def test_cache_files_follow_the_umask(tmp_path: Path) -> None:
    previous = os.umask(0o022)
    try:
        built = build_mesh(Geometry(kind="sphere-1d", mesh={"elements": 5}), cache_dir=tmp_path)
    finally:
        os.umask(previous)
    for path in (built.path, built.path.with_suffix(".json")):
        assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_unwritable_cache_directory_is_a_case_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(CaseError, match=f"cannot write the mesh cache.*set {CACHE_ENV}") as error:
        build_mesh(Geometry(kind="sphere-1d"), cache_dir=blocker / "meshes", source="case.yaml")
    assert error.value.key == CACHE_ENV and error.value.file == Path("case.yaml")


def without_override() -> list[str]:
    """A command prefix that takes root's power to write into read-only directories away."""
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root writes into read-only directories and setpriv is missing")
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--bounding-set={caps}", f"--inh-caps={caps}"]


@pytest.mark.parametrize("blocked", ["read-only", "file"])
def test_cli_mesh_in_a_directory_without_a_writable_cache_exits_2(case_dir: Path, blocked: str) -> None:
    """The default cache ./.ecmx-cache/meshes in a read-only working directory, or under a file."""
    if blocked == "file":
        (case_dir / ".ecmx-cache").write_text("a file where the default cache directory would go")
    env = {k: v for k, v in os.environ.items() if k != CACHE_ENV}
    prefix = without_override() if blocked == "read-only" else []
    case_dir.chmod(0o555 if blocked == "read-only" else 0o755)
    try:
        result = subprocess.run([*prefix, *ECMX, "mesh", "case.yaml"], cwd=case_dir, capture_output=True,
                                text=True, timeout=120, env=dict(env, COLUMNS="200", NO_COLOR="1"))
    finally:
        case_dir.chmod(0o755)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and f"key '{CACHE_ENV}'" in result.stderr
    assert "cannot write the mesh cache" in result.stderr


FULL_DISK = textwrap.dedent(
    """
    import resource, signal, sys
    from ecmx.meshes import build_mesh
    from ecmx.solver.config import Geometry
    from ecmx.solver.errors import CaseError

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail like a full disk
    resource.setrlimit(resource.RLIMIT_FSIZE, (1500, 1500))
    try:
        build_mesh(Geometry(kind="sphere-1d"), cache_dir=sys.argv[1])
    except CaseError as error:
        print("CaseError", error.key, error.message)
    """
)


def test_a_full_disk_leaves_no_cache_files(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    run = subprocess.run([sys.executable, "-c", FULL_DISK, str(cache)], capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr
    assert f"CaseError {CACHE_ENV}" in run.stdout and "disk full" in run.stdout
    assert list(cache.iterdir()) == []


def test_a_corrupt_cache_entry_is_rebuilt(tmp_path: Path) -> None:
    geometry = Geometry(kind="sphere-1d", mesh={"elements": 6})
    built = build_mesh(geometry, cache_dir=tmp_path)
    built.path.with_suffix(".json").write_text("{not json")
    again = build_mesh(geometry, cache_dir=tmp_path)
    assert not again.cached and json.loads(again.path.with_suffix(".json").read_text())["cells"] == 6
    assert build_mesh(geometry, cache_dir=tmp_path).cached


# --- MPI -----------------------------------------------------------------------------------------


MPI_READ = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from ecmx.meshes import MeshFile, read_mesh
    from ecmx.solver.errors import CaseError
    from mpi4py import MPI

    try:
        read_mesh(MeshFile(Path(sys.argv[1]), {"kind": "mesh-file", "dim": 3}))
    except CaseError as error:
        print(f"<rank {MPI.COMM_WORLD.rank}: CaseError {error.key}>", flush=True)
    """
)


@pytest.mark.mpi
def test_a_bad_mesh_file_fails_on_every_rank(tmp_path: Path) -> None:
    """The file changed after validation: rank 0 refuses it and rank 1 does not wait forever."""
    text, markers = script(tmp_path)
    (tmp_path / "evil.msh").write_text(text)
    run = subprocess.run([mpiexec(), "-n", "2", sys.executable, "-c", MPI_READ, str(tmp_path / "evil.msh")],
                         capture_output=True, text=True, timeout=60, env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert run.returncode == 0, run.stderr[-2000:]
    # the two ranks share one stdout pipe, so their lines may interleave (unbuffered, print writes the newline
    # apart: "...geometry.filerank 1: ..." was seen): match each delimited report, not lines
    assert sorted(re.findall(r"<rank \d: CaseError [\w.]+>", run.stdout)) == [
        f"<rank {r}: CaseError geometry.file>" for r in (0, 1)]
    assert not any(m.exists() for m in markers)


def test_validate_refuses_a_script_named_by_a_comparison_case(case_dir: Path) -> None:
    text, markers = script(case_dir)
    (case_dir / "evil.txt").write_text(text)
    write_yaml(case_dir / "evil.yaml", dict(CASE, name="evil", geometry={"kind": "mesh-file", "file": "evil.txt"}))
    write_yaml(case_dir / "cmp.yaml", {"compare": {"cases": ["evil.yaml", "case.yaml"]}})
    result = run_cli("validate", "cmp.yaml", cwd=case_dir)
    assert result.returncode == 2, result.stderr
    assert "key 'geometry.file'" in result.stderr and "Traceback" not in result.stderr
    assert not any(m.exists() for m in markers)

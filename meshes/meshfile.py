"""Reading a user's gmsh .msh file (geometry kind ``mesh-file``) safely, and validating it.

Only the gmsh MSH format is read (versions 2.x and 4.1, ASCII or binary). A ``.geo`` file is a
program, not data: gmsh runs its commands when it opens it, ``SystemCall`` (any shell command) and
``Printf(...) > "file"`` included, and it treats every file that does not start with
``$MeshFormat`` as such a script, whatever its name. ecmx therefore never reads .geo files or other
gmsh scripts: mesh them yourself, after reading what they do. Before gmsh sees a mesh file,
:func:`check_mesh_file` checks that it is a regular file of at most :data:`MAX_MESH_FILE_BYTES`
whose first line is ``$MeshFormat`` and whose sections and declared sizes are those of a mesh
(:mod:`ecmx.meshes.mshscan`); :func:`merge_msh` then hands gmsh a private copy of exactly the
checked bytes, named ``mesh.msh`` in a fresh directory, so neither a later change to the file nor
a ``<name>.opt`` script beside it (which gmsh would run too) can reach gmsh.

The file must be in micrometres and carry the physical groups ``particle_1..particle_N``,
``electrolyte``, ``interface``, ``na_metal`` and ``walls``. A 3D mesh is taken as Cartesian; a 2D
mesh as axisymmetric (r = x >= 0, z = y). Particle centres and volume-equivalent radii and the
Na-metal face area are measured on the mesh.

gmsh is imported only inside the functions that use it, so ``ecmx validate`` (and the schema) can
import :func:`check_mesh_file` without loading gmsh.
"""

from __future__ import annotations

import math
import os
import re
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ecmx.meshes.mshscan import MshError, leading_blank, parse_header, scan_msh
from ecmx.meshes.spec import LENGTH_UNIT
from ecmx.solver.errors import CaseError
from ecmx.solver.files import MAX_MESH_BYTES

KEY = "geometry.file"
"""The case key that names a user's mesh file."""

MAX_MESH_FILE_BYTES = MAX_MESH_BYTES
"""Largest mesh file read: 256 MiB (an ASCII MSH file of 2 million tetrahedra takes about 100 MB)."""

_HEAD_BYTES = 4096
"""Bytes read first, to refuse a file that is not MSH before reading the rest."""

SIMPLICES = {2: {2}, 3: {4}}
"""Accepted gmsh element types by dimension: 3-node triangles, 4-node tetrahedra (ecmx is P1)."""

_FILE_KINDS = {stat.S_IFDIR: "a directory", stat.S_IFCHR: "a character device",
               stat.S_IFBLK: "a block device", stat.S_IFIFO: "a named pipe", stat.S_IFSOCK: "a socket"}


@contextmanager
def _open_regular(path: Path, key: str) -> Iterator[BinaryIO]:
    """`path` opened for reading, if it is a regular file of at most MAX_MESH_FILE_BYTES.

    Opened without blocking (a named pipe is refused, not waited on) and checked on the open file,
    so what is checked is what is read.
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise CaseError("mesh file not found", file=path, key=key) from None
    except OSError as error:
        raise CaseError(f"cannot open the mesh file ({error.strerror})", file=path, key=key) from None
    except ValueError:  # a NUL byte or a name the file system cannot encode
        printable = str(path).encode("utf-8", "backslashreplace").decode("utf-8")
        raise CaseError("invalid mesh file name (a NUL byte or an unencodable character)",
                        file=printable.replace("\0", "\\0"), key=key) from None
    try:
        _check_regular(os.fstat(fd), path, key)
        stream = os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
    with stream:
        yield stream


def _check_regular(info: os.stat_result, path: Path, key: str) -> None:
    if not stat.S_ISREG(info.st_mode):
        kind = _FILE_KINDS.get(stat.S_IFMT(info.st_mode), "not a regular file")
        raise CaseError(f"{kind}, not a mesh file: give the path of a gmsh .msh file",
                        file=path, key=key)
    if info.st_size > MAX_MESH_FILE_BYTES:
        raise CaseError(f"the mesh file has {info.st_size} bytes, more than the "
                        f"{MAX_MESH_FILE_BYTES} read", file=path, key=key)


def _read_msh(path: Path, key: str) -> bytes:
    """The bytes of the MSH file `path` from its ``$MeshFormat`` line on, checked; CaseError if not."""
    with _open_regular(path, key) as stream:
        head = stream.read(_HEAD_BYTES)
        if not head.strip():
            raise CaseError("the mesh file is empty", file=path, key=key)
        start = leading_blank(head)
        try:
            parse_header(head[start:])  # refuse a script or binary junk before reading it all
        except MshError as error:
            raise CaseError(str(error), file=path, key=key) from None
        stream.seek(start)
        data = stream.read(MAX_MESH_FILE_BYTES + 1)
    try:
        if len(data) > MAX_MESH_FILE_BYTES:
            raise MshError(f"the mesh file grew beyond {MAX_MESH_FILE_BYTES} bytes while it was read")
        scan_msh(data)
    except MshError as error:
        raise CaseError(str(error), file=path, key=key) from None
    return data


def check_mesh_file(path: str | Path, key: str = KEY) -> None:
    """Refuse anything but a gmsh MSH file that gmsh can read as a mesh and only as a mesh.

    CaseError (naming `path` and `key`) for a missing file, a directory, a device or pipe, a file
    larger than MAX_MESH_FILE_BYTES, a script or other non-MSH content, an MSH version other than
    2.x or 4.1, sections other than those of a mesh, and declared node or element counts that
    exceed ``mshscan.MAX_ENTRIES`` or the data present. Reads the file; needs no gmsh.
    """
    _read_msh(Path(path), key)


@contextmanager
def private_msh(path: str | Path, key: str = KEY) -> Iterator[Path]:
    """A private copy of the checked MSH file `path`: ``mesh.msh`` in a new directory, removed after.

    The copy holds exactly the bytes that were checked, starting with ``$MeshFormat`` (gmsh looks
    at the first line only), and nothing else is in its directory (gmsh also runs ``mesh.msh.opt``).
    """
    path = Path(path)
    data = _read_msh(path, key)
    try:
        directory = Path(tempfile.mkdtemp(prefix="ecmx-msh-"))
    except OSError as error:
        raise CaseError(f"cannot make a private copy of the mesh file ({error.strerror}); set "
                        "TMPDIR to a writable directory", file=path, key="TMPDIR") from None
    try:
        copy = directory / "mesh.msh"
        try:
            copy.write_bytes(data)
        except OSError as error:
            raise CaseError(f"cannot make a private copy of the mesh file in {directory} "
                            f"({error.strerror}); set TMPDIR to a directory with space",
                            file=path, key="TMPDIR") from None
        yield copy
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def merge_msh(path: str | Path, key: str = KEY) -> None:
    """Read the MSH file `path` into the current gmsh model, never running it as a script.

    CaseError (naming `path` and `key`) if it fails :func:`check_mesh_file` or gmsh cannot read it.
    """
    import gmsh

    with private_msh(path, key) as copy:
        try:
            gmsh.merge(str(copy))
        except Exception as error:  # gmsh raises a bare Exception with its own message
            message = str(error).replace(str(copy), str(path))
            raise CaseError(f"gmsh cannot read this mesh file ({message})", file=path,
                            key=key) from None


def _measure(dim: int, tag: int, axisymmetric: bool) -> tuple[float, np.ndarray]:
    """(measure, centroid) of the elements of a physical group; 2π r weighted when axisymmetric."""
    import gmsh

    total, moment = 0.0, np.zeros(3)
    for entity in gmsh.model.getEntitiesForPhysicalGroup(dim, tag):
        types, tags, _ = gmsh.model.mesh.getElements(dim, int(entity))
        for element_type, element_tags in zip(types, tags, strict=True):
            size = np.asarray(gmsh.model.mesh.getElementQualities(element_tags, "volume"))
            centres = np.asarray(
                gmsh.model.mesh.getBarycenters(element_type, int(entity), False, True)
            ).reshape(-1, 3)
            weight = np.abs(size) * (2 * math.pi * centres[:, 0] if axisymmetric else 1.0)
            total += float(weight.sum())
            moment += weight @ centres
    return total, moment / total if total > 0 else moment


def validate_mesh_file(path: str | Path) -> dict[str, Any]:
    """Check a user's .msh and return the same facts a builder returns; CaseError naming the file."""
    import gmsh

    from ecmx.meshes.builders import REQUIRED_GROUPS, check_current_mesh, gmsh_model

    path = Path(path)
    with gmsh_model("ecmx-mesh-file"):
        merge_msh(path)
        groups = {gmsh.model.getPhysicalName(d, t): (d, t) for d, t in gmsh.model.getPhysicalGroups()}
        particles = sorted((n for n in groups if re.fullmatch(r"particle_\d+", n)),
                           key=lambda n: int(n.split("_")[1]))
        expected = [f"particle_{i}" for i in range(1, len(particles) + 1)] or ["particle_1"]
        missing = [n for n in [*expected, *REQUIRED_GROUPS] if n not in groups]
        if missing:
            raise CaseError(
                f"missing physical group(s) {', '.join(missing)}; a mesh file needs particle_1.."
                "particle_N, electrolyte, interface, na_metal and walls", file=path, key=KEY)
        dim = groups["electrolyte"][0]
        wrong = [n for n in [*particles, "electrolyte"] if groups[n][0] != dim]
        wrong += [n for n in REQUIRED_GROUPS[1:] if groups[n][0] != dim - 1]
        if dim not in (2, 3) or wrong:
            raise CaseError(
                f"physical groups of the wrong dimension ({', '.join(wrong) or 'electrolyte'}): "
                "particles and electrolyte must be 3D (or 2D axisymmetric) cells, interface, "
                "na_metal and walls their facets", file=path, key=KEY)
        types = set(gmsh.model.mesh.getElementTypes(dim))
        if len(types) != 1 or not types <= SIMPLICES[dim]:
            names = sorted(gmsh.model.mesh.getElementProperties(t)[0] for t in types)
            raise CaseError(
                f"unsupported {dim}D elements {', '.join(names)}: use linear triangles (2D) or "
                "linear tetrahedra (3D) only", file=path, key=KEY)
        axisymmetric = dim == 2
        if axisymmetric and np.min(gmsh.model.mesh.getNodes()[1].reshape(-1, 3)[:, 0]) < -1e-9:
            raise CaseError("a 2D mesh is axisymmetric and needs r = x >= 0 everywhere", file=path,
                            key=KEY)
        info = check_current_mesh(str(path), KEY)
        centres, radii = [], []
        for name in particles:
            volume, centre = _measure(*groups[name], axisymmetric)
            if axisymmetric:
                centre[0] = 0.0  # on the axis
            centres.append(centre.tolist())
            radii.append((3.0 * volume / (4.0 * math.pi)) ** (1.0 / 3.0))
        area, _ = _measure(*groups["na_metal"], axisymmetric)
    if min(radii) < 1e-3:
        raise CaseError(
            f"particle sizes of {min(radii):.3g} mesh units: mesh files must be in micrometres "
            "(these coordinates look like metres)", file=path, key=KEY)
    info.update({
        "dim": dim,
        "coordinate_system": "axisymmetric" if axisymmetric else "cartesian",
        "particle_centres": centres,
        "particle_radii": radii,
        "counter_electrode_area": area * LENGTH_UNIT**2,
    })
    return info

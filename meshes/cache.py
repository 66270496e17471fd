"""Mesh cache: .msh files named by the sha256 of their geometry parameters and builder version.

Each cached mesh is ``<key>.msh`` plus ``<key>.json`` (the facts the .msh cannot hold). Both are
written to a temporary name in the cache directory, checked complete (gmsh does not report a full
disk: it leaves a truncated file) and flushed to disk, then renamed with ``os.replace``, JSON
first, so a process that sees the .msh also sees complete files, and two processes building the
same mesh at once only waste time. A failed write leaves no file behind. Files are created with
the user's umask. An entry whose files are unreadable or incomplete is built again.

A cache directory that cannot be created or written (a read-only working directory, a full disk)
is a CaseError naming ``ECMX_CACHE_DIR``, the setting that chooses another one.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.meshes import builders
from ecmx.meshes.meshfile import check_mesh_file, validate_mesh_file
from ecmx.meshes.spec import MeshSpec, spec_from_geometry
from ecmx.solver.errors import CaseError
from ecmx.solver.files import atomic_write_text

CACHE_ENV = "ECMX_CACHE_DIR"

FACT_KEYS = ("kind", "dim", "coordinate_system", "particle_centres", "particle_radii",
             "counter_electrode_area", "cells")
"""Facts every cache entry's JSON holds (see :class:`MeshFile`); an entry without them is rebuilt."""

MAX_FACTS_BYTES = 1 << 20
"""Largest cache JSON read (an agglomerate of 200 particles needs about 20 kB)."""


@dataclass(frozen=True)
class MeshFile:
    """A gmsh .msh file ready to load, with its facts.

    info keys: kind, dim, coordinate_system, particle_centres (µm), particle_radii (µm,
    volume-equivalent), counter_electrode_area (m²), cells, vertices (gmsh nodes), min_quality
    (gmsh minSICN), and for built meshes size and interface_size (µm), box [width, bottom, top] (µm),
    build_seconds.
    """

    path: Path
    info: dict[str, Any] = field(default_factory=dict)
    cached: bool = False


def cache_directory(cache_dir: str | Path | None = None) -> Path:
    """`cache_dir`, else ``$ECMX_CACHE_DIR/meshes``, else ``./.ecmx-cache/meshes``."""
    if cache_dir is not None:
        return Path(cache_dir)
    root = os.environ.get(CACHE_ENV)
    return (Path(root) if root else Path.cwd() / ".ecmx-cache") / "meshes"


@contextlib.contextmanager
def _cache_errors(directory: Path, source: str | Path | None) -> Iterator[None]:
    """Turn an OSError while writing the cache into a CaseError naming ECMX_CACHE_DIR."""
    try:
        yield
    except OSError as error:
        raise CaseError(
            f"cannot write the mesh cache in {directory} ({error.strerror or error}); set "
            f"{CACHE_ENV} to a writable directory with free space (ecmx mesh also takes --cache-dir)",
            file=source, key=CACHE_ENV) from None


def _reserve(directory: Path, key: str, suffix: str) -> Path:
    """Create an empty, unique temporary file for `key` in `directory` (mode 0666 less the umask)."""
    path = directory / f".{key}.{os.getpid()}.{secrets.token_hex(4)}{suffix}"
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666))
    return path


def _sync(path: Path) -> None:
    """Flush a written file to disk (a full disk can surface only here)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _cached_facts(msh: Path, facts: Path) -> dict[str, Any] | None:
    """The facts of a complete cache entry, or None if it is missing, unreadable or incomplete."""
    try:
        if not msh.is_file() or facts.stat().st_size > MAX_FACTS_BYTES:
            return None
        info = json.loads(facts.read_bytes())
        check_mesh_file(msh, key=CACHE_ENV)
    except (OSError, ValueError, CaseError):
        return None
    return info if isinstance(info, dict) and all(k in info for k in FACT_KEYS) else None


def build_mesh(geometry: Any, cache_dir: str | Path | None = None,
               source: str | Path | None = None) -> MeshFile:
    """The .msh for a ``Geometry`` (SI): from the cache, or built with gmsh and cached.

    Not collective: call it on one rank (``load_mesh`` does). For kind ``mesh-file`` the user's file
    is validated and returned as is. `source` (the case file) is named in errors.
    Raises CaseError for geometries that cannot be built, meshes that fail the quality or size
    checks, and a cache directory that cannot be written.
    """
    spec = spec_from_geometry(geometry, source)
    return build_from_spec(spec, cache_dir, source)


def build_from_spec(spec: MeshSpec, cache_dir: str | Path | None = None,
                    source: str | Path | None = None) -> MeshFile:
    """:func:`build_mesh` for an already converted :class:`MeshSpec`."""
    if spec.kind == "mesh-file":
        info = validate_mesh_file(spec.file)  # type: ignore[arg-type]
        return MeshFile(Path(spec.file), {"kind": spec.kind, **info})  # type: ignore[arg-type]
    directory = cache_directory(cache_dir)
    key = spec.cache_key()
    msh = directory / f"{key}.msh"
    info = _cached_facts(msh, directory / f"{key}.json")
    if info is not None:
        return MeshFile(msh, info, cached=True)
    with _cache_errors(directory, source):
        directory.mkdir(parents=True, exist_ok=True)
        return MeshFile(msh, _build_entry(spec, directory, key, source))


def _build_entry(spec: MeshSpec, directory: Path, key: str, source: str | Path | None) -> dict[str, Any]:
    """Build `spec` into ``<key>.msh`` and ``<key>.json`` in `directory`: complete files or none."""
    msh, facts = directory / f"{key}.msh", directory / f"{key}.json"
    temporary = _reserve(directory, key, ".msh")
    try:
        start = time.perf_counter()
        info = builders.build_msh(spec, temporary)
        info = {"kind": spec.kind, **info, "build_seconds": time.perf_counter() - start}
        _check_written(temporary, directory)
        _sync(temporary)
        atomic_write_text(facts, json.dumps(info, indent=1), durable=True)
        try:
            os.replace(temporary, msh)
        except OSError:
            facts.unlink(missing_ok=True)
            raise
    except CaseError as error:
        if error.file is None and source is not None:
            error.file = Path(source)
        raise
    finally:
        temporary.unlink(missing_ok=True)
    return info


def _check_written(path: Path, directory: Path) -> None:
    """CaseError if gmsh left `path` incomplete (it does not report a full disk)."""
    try:
        check_mesh_file(path, key=CACHE_ENV)
    except CaseError as error:
        raise CaseError(
            f"gmsh could not write the whole mesh to the cache in {directory} (is the disk "
            f"full?): {error.message}; free space or set {CACHE_ENV} to another directory",
            key=CACHE_ENV) from None

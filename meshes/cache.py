"""Mesh cache: .msh files named by the sha256 of their geometry parameters and builder version.

Each cached mesh is ``<key>.msh`` plus ``<key>.json`` (the facts the .msh cannot hold). Both are
written to a temporary name in the cache directory and renamed with ``os.replace``, JSON first, so
a process that sees the .msh also sees complete files, and two processes building the same mesh at
once only waste time.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ecmx.meshes import builders
from ecmx.meshes.meshfile import validate_mesh_file
from ecmx.meshes.spec import MeshSpec, spec_from_geometry

CACHE_ENV = "ECMX_CACHE_DIR"


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


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.stem}.", suffix=".tmp")
    with os.fdopen(fd, "w") as stream:
        stream.write(text)
    os.replace(tmp, path)


def build_mesh(geometry: Any, cache_dir: str | Path | None = None,
               source: str | Path | None = None) -> MeshFile:
    """The .msh for a ``Geometry`` (SI): from the cache, or built with gmsh and cached.

    Not collective: call it on one rank (``load_mesh`` does). For kind ``mesh-file`` the user's file
    is validated and returned as is. `source` (the case file) is named in errors.
    Raises CaseError for geometries that cannot be built and meshes that fail the quality check.
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
    msh, facts = directory / f"{key}.msh", directory / f"{key}.json"
    if msh.is_file() and facts.is_file():
        return MeshFile(msh, json.loads(facts.read_text()), cached=True)
    directory.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{key}.", suffix=".msh")
    os.close(fd)
    try:
        start = time.perf_counter()
        try:
            info = builders.build_msh(spec, Path(tmp))
        except builders.CaseError as error:
            if error.file is None and source is not None:
                error.file = Path(source)
            raise
        info = {"kind": spec.kind, **info, "build_seconds": time.perf_counter() - start}
        _atomic_write_text(facts, json.dumps(info, indent=1))
        os.replace(tmp, msh)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return MeshFile(msh, info)

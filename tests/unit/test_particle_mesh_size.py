"""``geometry.mesh.particle_size``: a cap on the cell size throughout the particle (a phase boundary
crosses the whole particle), the electrolyte keeping ``size``/``interface_size``; the schema's cell
estimate counts it; meshes made without it keep their cache keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import numpy as np
import pytest
from mpi4py import MPI

from ecmx.meshes import load_mesh
from ecmx.meshes.spec import BUILDER_VERSION, spec_from_geometry
from ecmx.solver.config import Geometry

COARSE = {"size": 0.6e-6, "interface_size": 0.25e-6}


def _cell_sizes(pmesh, tag: int) -> np.ndarray:
    """Largest edge (µm) of the cells with this tag."""
    msh = pmesh.mesh
    return msh.h(msh.topology.dim, pmesh.cell_tags.find(tag))


@pytest.mark.parametrize("kind, particle_size", [("particle-in-electrolyte", 0.15e-6), ("axisymmetric-2d", 0.06e-6)])
def test_particle_size_caps_every_particle_cell_only(tmp_path: Path, kind: str, particle_size: float) -> None:
    graded = load_mesh(Geometry(kind=kind, mesh=COARSE), MPI.COMM_WORLD, cache_dir=tmp_path)
    fine = load_mesh(Geometry(kind=kind, mesh={**COARSE, "particle_size": particle_size}), MPI.COMM_WORLD,
                     cache_dir=tmp_path)
    (tag,) = fine.particle_tags.values()
    h_graded, h_fine = _cell_sizes(graded, tag), _cell_sizes(fine, tag)
    # gmsh's size is about the mean edge; the longest edge of a cell is up to ~2.2 times it
    assert h_fine.size > 3 * h_graded.size and h_graded.max() > h_fine.max()
    assert h_fine.max() < 2.3 * particle_size * 1e6
    assert np.median(h_fine) < 1.6 * particle_size * 1e6
    # the electrolyte far from the particle stays coarse
    assert _cell_sizes(fine, fine.electrolyte_tag).max() > 0.5


def test_the_estimate_counts_the_particle_cells() -> None:
    plain = Geometry(mesh=COARSE).estimated_cells()
    fine = Geometry(mesh={**COARSE, "particle_size": 0.07e-6}).estimated_cells()
    # 6.5 tetrahedra per particle_size³ of the 1 µm sphere: 79k (gmsh makes 56k)
    assert fine - plain == pytest.approx(6.5 * 4.0 / 3.0 * np.pi / 0.07**3, rel=1e-9)
    with pytest.raises(ValueError, match="cells"):
        Geometry(mesh={**COARSE, "particle_size": 0.005e-6})


def test_the_cache_key_changes_only_with_particle_size() -> None:
    base = spec_from_geometry(Geometry(mesh=COARSE))
    fine = spec_from_geometry(Geometry(mesh={**COARSE, "particle_size": 0.1e-6}))
    assert base.particle_size is None and fine.particle_size == pytest.approx(0.1)
    assert base.cache_key() != fine.cache_key()
    # the key of a mesh without particle_size is the one it had before the key existed (cached meshes stay valid)
    old = {"kind", "shape", "radius", "thickness", "width", "margin", "size", "interface_size", "order"}
    data = {k: v for k, v in asdict(base).items() if k in old}
    text = json.dumps({"spec": data, "builder": BUILDER_VERSION}, sort_keys=True)
    assert base.cache_key() == hashlib.sha256(text.encode()).hexdigest()

"""Under mpiexec: the owned particle and electrolyte cells of each rank for a particle-in-electrolyte mesh
(tests/mpi/test_partition_mpi.py). Arguments: mesh cache directory, JSON output path, mesh size and interface size (µm)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split
import numpy as np
from mpi4py import MPI

from ecmx.meshes import load_mesh
from ecmx.solver.config.case import case_from_dict

comm = MPI.COMM_WORLD
case = case_from_dict({
    "name": "partition", "material": "nvp", "electrolyte": "naclo4-ec-pc",
    "geometry": {"kind": "particle-in-electrolyte", "particle": {"shape": "sphere", "radius": 1e-6},
                 "electrolyte": {"thickness": 3e-6}, "mesh": {"size": float(sys.argv[3]) * 1e-6, "interface_size": float(sys.argv[4]) * 1e-6}},
    "initial": {"state_of_charge": 1.0},
    "protocol": [{"step": "discharge", "c_rate": 1.0, "duration": 60.0}],
})
pmesh = load_mesh(case.geometry, comm, cache_dir=sys.argv[1])
owned = pmesh.mesh.topology.index_map(pmesh.mesh.topology.dim).size_local
values = pmesh.cell_tags.values[pmesh.cell_tags.indices < owned]
counts = comm.gather({"particle": int(np.isin(values, list(pmesh.particle_tags.values())).sum()),
                      "electrolyte": int((values == pmesh.electrolyte_tag).sum())})
if comm.rank == 0:
    Path(sys.argv[2]).write_text(json.dumps(counts))

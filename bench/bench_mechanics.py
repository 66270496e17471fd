"""Mesh convergence and cost of the particle mechanics on non-spherical geometries (issue 4).

For an ellipsoid, an irregular particle and a 4-particle agglomerate (each from ecmx.meshes, in an
electrolyte box, mechanics on the particle submesh), a smooth concentration field
c = c₀ + K (|x − x_p|²/(2 R_p²) − 3/10) about each particle's centre x_p (the long-time
galvanostatic shape; R_p the volume-equivalent radius) is prescribed and the stationary mechanics is
solved on three meshes (interface size R/4, R/6, R/9; far size twice that). Printed per mesh:
particle cells, displacement dofs, setup and solve time, GAMG iterations, max von Mises, max
principal stress, min hydrostatic and the surface-mean von Mises, in units of σ*/15 of a sphere
(the steady surface von Mises of docs/model.md §4) — finite and converging values show that no
singularity is hiding in the peak. The 3D sphere is included as the control (exact peak 1).

Run: ``.venv/bin/python bench/bench_mechanics.py [--shapes ellipsoid irregular agglomerate sphere]
[--degree 2] [--levels 4 6 9]``; under ``mpiexec -n 2`` too.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from types import SimpleNamespace

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import numpy as np
from dolfinx import fem
from mpi4py import MPI

from ecmx.meshes import load_mesh
from ecmx.solver.config import Geometry
from ecmx.solver.config.materials import ChemicalExpansion
from ecmx.solver.fem.mechanics import MechanicsProblem
from ecmx.solver.fem.mechanics_case import particle_submesh

E, NU, OMEGA, C_MAX = 80e9, 0.26, 5.97e-6, 13831.0
C0 = 0.5 * C_MAX
K = 0.05 * C_MAX
SCALE = OMEGA * E * K / ((1 - NU) * 15)  # σ*/15 for N0 R/D = K

SHAPES = {
    "sphere": {"kind": "particle-in-electrolyte", "particle": {"radius": 1e-6}},
    "ellipsoid": {"kind": "particle-in-electrolyte",
                  "particle": {"shape": "ellipsoid", "semi_axes": [1.4e-6, 1.0e-6, 0.7e-6]}},
    "irregular": {"kind": "particle-in-electrolyte",
                  "particle": {"shape": "irregular", "radius": 1e-6, "seed": 3, "roughness": 0.15, "modes": 6}},
    "agglomerate": {"kind": "agglomerate", "agglomerate": {"count": 4, "seed": 1}},
}
LEVELS = (4, 6, 9)  # interface size R/level


def run(shape: str, level: int, degree: int, cache: str) -> dict[str, float]:
    spec = dict(SHAPES[shape])
    radius = 1e-6
    spec["mesh"] = {"interface_size": radius / level, "size": 2 * radius / level}
    pmesh = load_mesh(Geometry(**spec), cache_dir=cache)
    msh, index = particle_submesh(pmesh)
    c = fem.Function(fem.functionspace(msh, ("Lagrange", 1)))
    centres, radii = pmesh.particle_centres, pmesh.particle_radii

    def profile(x: np.ndarray) -> np.ndarray:
        d2 = ((x.T[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
        p = np.argmin(d2 / radii[None, :] ** 2, axis=1)
        return C0 + K * (d2[np.arange(len(p)), p] / (2 * radii[p] ** 2) - 0.3)

    c.interpolate(profile)
    material = SimpleNamespace(youngs_modulus=E, poissons_ratio=NU, max_concentration=C_MAX,
                               chemical_expansion=ChemicalExpansion(partial_molar_volume=OMEGA))
    t0 = time.perf_counter()
    problem = MechanicsProblem(msh, "cartesian", material, c, C0, centres=centres, cell_particle_index=index,
                               degree=degree, length_unit=pmesh.length_unit)
    t1 = time.perf_counter()
    problem.solve()
    t2 = time.perf_counter()
    q = problem.quantities()
    comm = msh.comm
    return {
        "cells": msh.topology.index_map(3).size_global,
        "dofs": problem.V.dofmap.index_map.size_global * 3,
        "setup_s": comm.allreduce(t1 - t0, MPI.MAX),
        "solve_s": comm.allreduce(t2 - t1, MPI.MAX),
        "iterations": problem.iterations,
        "vm_max": q["von_mises_max"] / SCALE,
        "s1_max": q["max_principal_max"] / SCALE,
        "sh_min": q["hydrostatic_min"] / SCALE,
        "vm_surface": q["surface_von_mises_mean"] / SCALE,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="+", default=["sphere", "ellipsoid", "irregular", "agglomerate"])
    parser.add_argument("--degree", type=int, default=2)
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS), help="interface size R/level")
    args = parser.parse_args()
    comm = MPI.COMM_WORLD
    with tempfile.TemporaryDirectory() as cache:
        cache = comm.bcast(cache, root=0)
        if comm.rank == 0:
            print(f"ranks={comm.size} degree={args.degree}; stresses in units of sigma*/15 = {SCALE / 1e6:.2f} MPa")
            print(f"{'shape':12s} {'h':>5s} {'cells':>7s} {'dofs':>8s} {'setup':>6s} {'solve':>6s} {'its':>4s} "
                  f"{'vm_max':>7s} {'s1_max':>7s} {'sh_min':>7s} {'vm_surf':>7s}")
        for shape in args.shapes:
            for level in args.levels:
                r = run(shape, level, args.degree, cache)
                if comm.rank == 0:
                    print(f"{shape:12s} {'R/' + str(level):>5s} {r['cells']:7d} {r['dofs']:8d} {r['setup_s']:6.2f} "
                          f"{r['solve_s']:6.2f} {r['iterations']:4d} {r['vm_max']:7.4f} {r['s1_max']:7.4f} "
                          f"{r['sh_min']:7.4f} {r['vm_surface']:7.4f}", flush=True)


if __name__ == "__main__":
    main()

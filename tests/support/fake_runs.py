"""Synthetic run directories for testing the comparison post-processing without a solver.

The fields are the long-time galvanostatic solution of a sphere (docs/model.md §5): during an
insertion (discharge) at molar flux N₀ the concentration is c̄(t) + A (x² − 3/5) with
A = N₀R/(2D), x = r/R, and the stresses follow in closed form:

    σ_r = (6/5) k A (1 − x²),  σ_θ = (6/5) k A (1 − 2x²),  σ_h = 2 k A (3/5 − x²),
    σ_vm = |σ_r − σ_θ| = (6/5) k A x²,  k = ΩE/(9(1 − ν)).

Each run directory has the files that ``ecmx.solver.studies.run.run_case`` writes, written by the
run's own writers (:mod:`ecmx.postprocess.writers`).
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pyvista as pv
import yaml
from mpi4py import MPI

from ecmx.postprocess.run_files import PROBE_COLUMNS, TIMESERIES_COLUMNS, CsvWriter, PvdFiles, write_json
from ecmx.solver.config.case import Case, case_from_dict
from ecmx.solver.errors import SolveError
from ecmx.solver.physics.analytic import steady_sphere_stresses
from ecmx.solver.studies.outdir import DirectoryLock, check_replaceable

F = 96485.33212

BASE_MATERIAL = {
    "density": "3152 kg/m^3",
    "molar_mass": "455.76 g/mol",
    "open_circuit_voltage": {"stoichiometry": [0.0, 0.4, 0.9, 1.0], "voltage": [3.9, 3.41, 3.39, 2.3]},
    "exchange_current_density": "1 A/m^2",
    "youngs_modulus": "80 GPa",
    "poissons_ratio": 0.26,
}
MATERIALS = {
    "nvp": {
        "name": "nvp",
        "formula": "Na3V2(PO4)3",
        "max_concentration": "20747 mol/m^3",
        "stoichiometry_window": [1 / 3, 1.0],
        "diffusivity": "1e-15 m^2/s",
        "chemical_expansion": {"volume_change": 0.0826, "over": [1 / 3, 1.0]},
        "sources": {"diffusivity": "assumed (test)", "chemical_expansion": "EES paper, XRD"},
    },
    "hev": {
        "name": "hev",
        "formula": "Na3VCrMnFeAlMg(PO4)3",
        "max_concentration": "27523 mol/m^3",
        "stoichiometry_window": [0.25, 1.0],
        "diffusivity": "1e-14 m^2/s",
        "chemical_expansion": {"volume_change": 0.022, "over": [0.25, 1.0]},
        "sources": {"diffusivity": "assumed (test)", "chemical_expansion": "EES paper, XRD"},
    },
}
COORDINATES = {"sphere-1d": "spherical", "axisymmetric-2d": "axisymmetric", "particle-in-electrolyte": "cartesian"}
ELECTROLYTE = {
    "name": "test-electrolyte",
    "cation_diffusivity": "2.26e-11 m^2/s",
    "anion_diffusivity": "2.77e-11 m^2/s",
}


def fake_case(material: str, kind: str, radius_um: float = 1.0) -> Case:
    """A validated case of the given material and geometry kind (1C discharge to DOD 0.9)."""
    data = {
        "name": f"{material}-{kind}",
        "description": f"synthetic {material} run",
        "material": {**BASE_MATERIAL, **MATERIALS[material]},
        "electrolyte": ELECTROLYTE,
        "geometry": {"kind": kind, "particle": {"radius": f"{radius_um} um"}},
        "protocol": [{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.9}}],
        "output": {"probes": [{"name": "surface", "point": [f"{radius_um} um", 0, 0]}]},
    }
    return case_from_dict(data, None)


def stresses(case: Case, x: np.ndarray, amplitude: float) -> dict[str, np.ndarray]:
    """Closed-form sphere stresses (Pa) for c − c̄ = A (x² − 3/5), A = K/2 in mol/m³
    (:func:`ecmx.solver.physics.analytic.steady_sphere_stresses`)."""
    m = case.material
    sigma_star = m.partial_molar_volume * m.youngs_modulus * 2.0 * amplitude / (1.0 - m.poissons_ratio)
    return steady_sphere_stresses(x, sigma_star)


def amplitude(case: Case, time_s: float) -> float:
    """A = N₀R/(2D) (1 − e^(−t D/R²·π²)) for a 1C insertion, mol/m³."""
    m = case.material
    R = case.geometry.particle.radius
    flux = m.usable_concentration * R / 3.0 / 3600.0
    D = m.diffusivity
    return flux * R / (2.0 * D) * (1.0 - np.exp(-np.pi**2 * D * time_s / R**2))


def particle_grid(kind: str, radius_um: float) -> pv.UnstructuredGrid:
    """A small unstructured particle mesh in µm: a 3D ball, an (r, z) half-disc or a radius."""
    rng = np.random.default_rng(0)
    if kind == "sphere-1d":
        r = radius_um * np.linspace(0.0, 1.0, 21)
        points = np.column_stack([r, np.zeros_like(r), np.zeros_like(r)])
        lines = np.column_stack([np.full(20, 2), np.arange(20), np.arange(1, 21)]).ravel()
        return pv.UnstructuredGrid(lines, np.full(20, pv.CellType.LINE, dtype=np.uint8), points)
    if kind == "axisymmetric-2d":
        phi = np.linspace(0.0, np.pi, 25)
        rim = np.column_stack([np.sin(phi), np.cos(phi)])
        inner = rng.uniform(-1, 1, (400, 2))
        inner[:, 0] = np.abs(inner[:, 0])
        inner = inner[np.linalg.norm(inner, axis=1) < 0.95]
        axis = np.column_stack([np.zeros(15), np.linspace(-0.95, 0.95, 15)])
        pts = radius_um * np.vstack([rim, inner, axis])
        cloud = pv.PolyData(np.column_stack([pts, np.zeros(len(pts))]))
        return cloud.delaunay_2d().cast_to_unstructured_grid()
    surface = pv.Sphere(radius=radius_um, theta_resolution=16, phi_resolution=12).points
    inner = rng.uniform(-radius_um, radius_um, (900, 3))
    inner = inner[np.linalg.norm(inner, axis=1) < 0.93 * radius_um]
    return pv.PolyData(np.vstack([surface, inner, [[0, 0, 0]]])).delaunay_3d()


def _radius_of(grid: pv.UnstructuredGrid, kind: str) -> np.ndarray:
    pts = grid.points
    if kind == "axisymmetric-2d":
        return np.hypot(pts[:, 0], pts[:, 1])
    return np.linalg.norm(pts, axis=1)


def gathered_from_two_ranks(grid: pv.UnstructuredGrid) -> pv.UnstructuredGrid:
    """``grid`` as a run on two MPI ranks writes it (``ecmx.postprocess.writers``): the cells split
    between the ranks, each rank's nodes listed separately (so a node on the rank boundary appears
    twice), each followed by the rank's ghost nodes that none of its own cells use."""
    (cell_type, cells), = grid.cells_dict.items()
    centre_x = grid.points[cells].mean(axis=1)[:, 0]
    parts = [centre_x <= np.median(centre_x), centre_x > np.median(centre_x)]
    sources, new_cells, offset = [], [], 0
    for mine in parts:
        own = np.unique(cells[mine])
        neighbours = np.unique(cells[~mine][np.isin(cells[~mine], own).any(axis=1)])
        local = np.concatenate([own, np.setdiff1d(neighbours, own)])
        position = np.empty(grid.n_points, dtype=np.int64)
        position[local] = offset + np.arange(len(local))
        new_cells.append(position[cells[mine]])
        sources.append(local)
        offset += len(local)
    source = np.concatenate(sources)
    connectivity = np.vstack(new_cells)
    layout = np.column_stack([np.full(len(connectivity), connectivity.shape[1]), connectivity]).ravel()
    gathered = pv.UnstructuredGrid(layout, np.full(len(connectivity), cell_type, dtype=np.uint8), grid.points[source])
    for name in grid.point_data:
        gathered.point_data[name] = np.asarray(grid.point_data[name])[source]
    return gathered


def write_fake_run(directory: Path, case: Case, dods: tuple[float, ...] = (0.1, 0.5, 0.9), ranks: int = 1) -> Path:
    """Write a complete synthetic run directory for ``case`` and return it; ``ranks=2`` writes the
    field files as a run on two MPI ranks does (:func:`gathered_from_two_ranks`)."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "case.yaml").write_text(case.to_yaml())
    m = case.material
    R = case.geometry.particle.radius
    R_um = R / 1e-6
    kind = case.geometry.kind
    lo = m.stoichiometry_window[0]
    c0 = lo * m.max_concentration  # charged: θ = θ_lo
    t_end = 0.9 * 3600.0
    times = np.linspace(0.0, t_end, 61)
    current = -m.usable_concentration * (4 / 3 * np.pi * R**3) * F / 3600.0

    ts_rows, probe_rows = [], []
    for t in times:
        dod = t / 3600.0
        A = amplitude(case, t)
        mean = c0 + dod * m.usable_concentration
        s_surf = stresses(case, np.array([1.0]), A)
        s_all = stresses(case, np.linspace(0, 1, 50), A)
        ts_rows.append(
            {
                "time_s": t, "step": 0, "current_A": current, "voltage_V": 3.4 - 0.2 * dod - 1e-5 * A,
                "state_of_charge": 1 - dod, "depth_of_discharge": dod, "c_mean": mean,
                "c_min": mean - 0.6 * A, "c_max": mean + 0.4 * A, "c_surface_mean": mean + 0.4 * A,
                "von_mises_max": s_all["von_mises"].max(), "hydrostatic_min": s_all["hydrostatic"].min(),
                "hydrostatic_max": s_all["hydrostatic"].max(), "electrolyte_c_min": 990.0,
                "electrolyte_c_max": 1010.0, "na_balance_error": 0.0, "newton_iterations": 3, "dt_s": t_end / 60,
            }
        )
        probe_rows.append(
            {
                "time_s": t, "probe": "surface", "c": mean + 0.4 * A,
                "von_mises": s_surf["von_mises"][0], "hydrostatic": s_surf["hydrostatic"][0],
                "radial_stress": s_surf["radial_stress"][0], "tangential_stress": s_surf["tangential_stress"][0],
            }
        )
    _write_csv(directory / "timeseries.csv", TIMESERIES_COLUMNS, ts_rows)
    _write_csv(directory / "probes.csv", PROBE_COLUMNS, probe_rows)

    grid = particle_grid(kind, R_um) if ranks == 1 else gathered_from_two_ranks(particle_grid(kind, R_um))
    x_nodes = _radius_of(grid, kind) / R_um
    snapshots = []
    for dod in dods:
        t = dod * 3600.0
        A = amplitude(case, t)
        point_data = {"particle_concentration": c0 + dod * m.usable_concentration + A * (x_nodes**2 - 0.6)}
        point_data.update(stresses(case, x_nodes, A))
        name = f"dod_{dod:.2f}"
        pvd = write_pvd(directory / "snapshots" / name / "particle.pvd", grid, point_data, t)
        snapshots.append({"name": name, "depth_of_discharge": dod, "time_s": t, "particle": str(pvd.relative_to(directory))})
    summary = {
        "case": case.name,
        "status": "completed",
        "mesh": {"kind": kind, "coordinate_system": COORDINATES[kind], "cells": grid.n_cells},
        "versions": {"ecmx": "0.1.0", "dolfinx": "0.11.0"},
        "wall_time_s": 1.5,
        "snapshots": snapshots,
    }
    write_json(directory / "summary.json", summary, MPI.COMM_SELF)
    return directory


def write_pvd(path: Path, grid: pv.UnstructuredGrid, point_data: dict[str, np.ndarray], time: float) -> Path:
    """A one-step field series of ``grid`` written by the run's writer (``PvdFiles``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    cell_type = {pv.CellType.LINE: "line", pv.CellType.TRIANGLE: "triangle", pv.CellType.TETRA: "tetra"}
    (vtk_type, cells), = grid.cells_dict.items()
    PvdFiles(path).append(time, np.asarray(grid.points), (cell_type[vtk_type], cells), point_data)
    return path


def _write_csv(path: Path, columns: tuple[str, ...], rows: list[dict]) -> None:
    writer = CsvWriter(path, columns, MPI.COMM_SELF)
    writer.write_rows(rows)
    writer.close()


def analytic_concentration(case: Case, dod: float, x: np.ndarray) -> np.ndarray:
    """The synthetic c_s (mol/m³) at x = r/R for a snapshot at ``dod``."""
    m = case.material
    lo = m.stoichiometry_window[0]
    return lo * m.max_concentration + dod * m.usable_concentration + amplitude(case, dod * 3600.0) * (x**2 - 0.6)


__all__ = ["fake_case", "fake_runner", "unreadable_runner", "write_fake_run", "comparison_files", "stresses",
           "amplitude", "analytic_concentration", "gathered_from_two_ranks"]


def fake_runner(case: Case, out_dir: Path, overwrite: bool = False, progress: bool = False, comm: Any = None) -> Path:
    """A stand-in for ``run_case`` that writes a synthetic run directory (picklable for workers).

    Like ``run_case`` it replaces only an ecmx run directory (with ``overwrite``) and marks the one
    it writes as ecmx's. Collective over ``comm`` (rank 0 writes). A material named ``broken`` fails
    like a run whose Newton solve failed.
    """
    out_dir = Path(out_dir)
    if comm is None or comm.rank == 0:
        if out_dir.exists():
            if not overwrite:
                raise FileExistsError(out_dir)
            check_replaceable(out_dir)
            shutil.rmtree(out_dir)
        if case.material.name != "broken":
            DirectoryLock.create(out_dir, "run").release()
            write_fake_run(out_dir, case, tuple(case.output.snapshots.depth_of_discharge))
    if comm is not None:
        comm.barrier()
    if case.material.name == "broken":
        raise SolveError("Newton failed at the minimum step (synthetic)")
    return out_dir


def unreadable_runner(case: Case, out_dir: Path, overwrite: bool = False, progress: bool = False,
                      comm: Any = None) -> Path:
    """Like :func:`fake_runner`, but the snapshot field files it lists are missing, so that reading
    the run back for the comparison fails."""
    fake_runner(case, out_dir, overwrite, progress, comm)
    if comm is None or comm.rank == 0:
        shutil.rmtree(Path(out_dir) / "snapshots")
    if comm is not None:
        comm.barrier()
    return Path(out_dir)


def comparison_files(directory: Path, materials: tuple[str, ...] = ("nvp", "hev"), **extra: Any) -> Path:
    """Case files ``<material>.yaml`` (3D, snapshot at DOD 0.5, a surface probe) and a comparison
    file ``cmp.yaml`` of them writing to ``<directory>/out``; returns the comparison file."""
    for m in materials:
        material = {**BASE_MATERIAL, **MATERIALS.get(m, MATERIALS["nvp"]), "name": m}
        data = {
            "name": m,
            "description": f"{m} synthetic",
            "material": material,
            "electrolyte": ELECTROLYTE,
            "geometry": {"kind": "particle-in-electrolyte"},
            "protocol": [{"step": "discharge", "c_rate": 1, "until": {"depth_of_discharge": 0.9}}],
            "output": {"snapshots": {"depth_of_discharge": [0.5]},
                       "probes": [{"name": "surface", "point": ["1 um", 0, 0]}]},
        }
        (directory / f"{m}.yaml").write_text(yaml.safe_dump(data))
    spec = {"compare": {"cases": [f"{m}.yaml" for m in materials], **extra},
            "output": {"directory": str(directory / "out")}}
    path = directory / "cmp.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path

"""Mid-plane slices, radial profiles and peak values of snapshot fields.

Slices are taken in the x–z plane through the particle centre (y = 0), which contains the
direction to the Na-metal face (+z). A 3D particle is cut; an axisymmetric (r, z) particle is
mirrored to −r (the y = 0 plane of the revolved body); a spherically symmetric particle is revolved
into a disc. The slice keeps nodal data nodal and per-cell data per cell, so what the figures show
is the data of the field files, not a resampling of it.

Coordinates are in mesh units (µm); values are SI (mol/m³, Pa).
"""

from __future__ import annotations

import numpy as np
import pyvista as pv

from ecmx.postprocess.rundata import Snapshot

REVOLVE_SEGMENTS = 96
"""Angular segments of a revolved spherical-symmetry disc."""


def _y0_points(points_xz: np.ndarray) -> np.ndarray:
    """(n, 2) plane coordinates (x, z) as (n, 3) points on the y = 0 plane."""
    return np.column_stack([points_xz[:, 0], np.zeros(len(points_xz)), points_xz[:, 1]])


def mid_plane_slice(snapshot: Snapshot, quantities: list[str]) -> pv.PolyData:
    """The y = 0 plane through the particle centre, with the listed quantities as arrays.

    Returns a surface in 3D space (y = 0) in µm; quantities the snapshot lacks are left out.
    """
    quantities = [q for q in quantities if snapshot.has(q)]
    grid = snapshot.scalar_grid(quantities)
    system = snapshot.coordinate_system
    if system == "cartesian":
        return grid.slice(normal=(0.0, 1.0, 0.0), origin=tuple(snapshot.centre))
    if system == "axisymmetric":
        return _mirror_axisymmetric(grid, snapshot.centre)
    if system == "spherical":
        return _revolve_spherical(grid, snapshot.centre)
    raise ValueError(f"unknown coordinate system {system!r}")


def _mirror_axisymmetric(grid: pv.UnstructuredGrid, centre: np.ndarray) -> pv.PolyData:
    """(r, z) half-plane mesh and its mirror image at −r, placed on the y = 0 plane."""
    r, z = grid.points[:, 0], grid.points[:, 1]
    points = np.vstack([_y0_points(np.column_stack([centre[0] + r, z])), _y0_points(np.column_stack([centre[0] - r, z]))])
    connectivity, offsets = grid.cell_connectivity, grid.cell_offsets
    sizes = np.diff(offsets)
    halves = [np.insert(connectivity + shift, offsets[:-1], sizes) for shift in (0, grid.n_points)]
    plane = pv.PolyData(points, faces=np.concatenate(halves))
    for name in grid.point_data:
        plane.point_data[name] = np.tile(np.asarray(grid.point_data[name]), 2)
    for name in grid.cell_data:
        plane.cell_data[name] = np.tile(np.asarray(grid.cell_data[name]), 2)
    return plane


def _revolve_spherical(grid: pv.UnstructuredGrid, centre: np.ndarray) -> pv.PolyData:
    """A radial (1D) mesh revolved into a disc of quads; node values stay on rings, cell values on annuli."""
    r = grid.points[:, 0]
    order = np.argsort(r)
    rings = r[order]
    lines = grid.cells_dict[pv.CellType.LINE]
    # each radial cell maps to the annulus between its two nodes, indexed by its inner node's ring
    inner_ring = np.searchsorted(rings, np.minimum(r[lines[:, 0]], r[lines[:, 1]]))
    cell_of_annulus = np.empty(len(lines), dtype=int)
    cell_of_annulus[inner_ring] = np.arange(len(lines))

    angles = np.linspace(0.0, 2.0 * np.pi, REVOLVE_SEGMENTS, endpoint=False)
    nr, na = len(rings), len(angles)
    x = centre[0] + np.outer(rings, np.cos(angles)).ravel()
    z = centre[2] + np.outer(rings, np.sin(angles)).ravel()
    points = _y0_points(np.column_stack([x, z]))
    i, j = np.meshgrid(np.arange(nr - 1), np.arange(na), indexing="ij")
    jn = (j + 1) % na
    quads = np.stack([i * na + j, (i + 1) * na + j, (i + 1) * na + jn, i * na + jn], axis=-1).reshape(-1, 4)
    faces = np.column_stack([np.full(len(quads), 4), quads]).ravel()
    disc = pv.PolyData(points, faces=faces)
    for name in grid.point_data:
        disc.point_data[name] = np.repeat(np.asarray(grid.point_data[name])[order], na)
    for name in grid.cell_data:
        disc.cell_data[name] = np.repeat(np.asarray(grid.cell_data[name])[cell_of_annulus], na)
    return disc


def ray_directions(system: str) -> np.ndarray:
    """Unit directions of the rays a radial profile averages over, in mesh coordinates."""
    if system == "cartesian":
        axes = np.vstack([np.eye(3), -np.eye(3)])
        diagonals = np.array([[sx, sy, sz] for sx in (1, -1) for sy in (1, -1) for sz in (1, -1)]) / np.sqrt(3.0)
        return np.vstack([axes, diagonals])
    if system == "axisymmetric":
        phi = np.linspace(0.0, np.pi, 7)  # from +z (toward the Na metal) to −z, in the (r, z) plane
        return np.column_stack([np.sin(phi), np.cos(phi), np.zeros_like(phi)])
    if system == "spherical":
        return np.array([[1.0, 0.0, 0.0]])
    raise ValueError(f"unknown coordinate system {system!r}")


def radial_profile(snapshot: Snapshot, quantity: str, samples: int = 60) -> dict[str, np.ndarray]:
    """``quantity`` against x = r/R, averaged over rays from the particle centre.

    Returns ``{"x", "mean", "min", "max"}``: the mean over the rays and their spread. A
    spherically symmetric run gives its nodal (or per-cell, as steps) values directly.
    """
    return radial_profiles(snapshot, [quantity], samples)[quantity]


def radial_profiles(snapshot: Snapshot, quantities: list[str], samples: int = 60) -> dict[str, dict[str, np.ndarray]]:
    """:func:`radial_profile` of each of ``quantities`` (all of which the snapshot has), the rays
    sampled once for all of them."""
    if snapshot.coordinate_system == "spherical":
        return {q: _spherical_profile(snapshot, q) for q in quantities}
    grid = snapshot.scalar_grid(quantities)
    x = np.linspace(0.0, 0.995, samples)
    dirs = ray_directions(snapshot.coordinate_system)
    origin = snapshot.centre if snapshot.coordinate_system == "cartesian" else np.zeros(3)
    points = (origin[None, None, :] + snapshot.radius * x[None, :, None] * dirs[:, None, :]).reshape(-1, 3)
    probe = pv.PolyData(points).sample(grid)
    valid = np.asarray(probe.point_data["vtkValidPointMask"], dtype=bool).reshape(len(dirs), samples)
    keep = valid.any(axis=0)
    profiles = {}
    for quantity in quantities:
        sampled = np.asarray(probe.point_data[quantity], dtype=float).reshape(len(dirs), samples)
        sampled = np.where(valid, sampled, np.nan)
        profiles[quantity] = {
            "x": x[keep],
            "mean": np.nanmean(sampled[:, keep], axis=0),
            "min": np.nanmin(sampled[:, keep], axis=0),
            "max": np.nanmax(sampled[:, keep], axis=0),
        }
    return profiles


def _spherical_profile(snapshot: Snapshot, quantity: str) -> dict[str, np.ndarray]:
    """The radial profile of a spherically symmetric run: its nodal (or per-cell, as steps) values."""
    values = snapshot.values(quantity)
    r = snapshot.grid.points[:, 0] - snapshot.centre[0]
    if snapshot.association(quantity) == "point":
        order = np.argsort(r)
        x, v = r[order] / snapshot.radius, values[order]
    else:
        lines = snapshot.grid.cells_dict[pv.CellType.LINE]
        ends = np.sort(r[lines], axis=1)
        order = np.argsort(ends[:, 0])
        x = ends[order].ravel() / snapshot.radius
        v = np.repeat(values[order], 2)
    return {"x": x, "mean": v, "min": v, "max": v}


def peak(snapshot: Snapshot, quantity: str, kind: str = "max") -> float:
    """Largest (``"max"``), smallest (``"min"``) or largest-magnitude signed (``"abs"``) value."""
    values = snapshot.values(quantity)
    if kind == "max":
        return float(values.max())
    if kind == "min":
        return float(values.min())
    if kind == "abs":
        return float(values[np.argmax(np.abs(values))])
    raise ValueError(f"unknown peak kind {kind!r}")


def concentration_spread(snapshot: Snapshot, c_max: float) -> float:
    """(c_s,max − c_s,min)/c_s,max over the particle (dimensionless)."""
    c = snapshot.values("concentration")
    return float((c.max() - c.min()) / c_max)

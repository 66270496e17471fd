"""Verification of the particle mechanics (issue 4) against the analytic sphere of MODEL.md §5.

The concentration is prescribed (the constant-flux sphere series interpolated into the P1
concentration Function), the stationary mechanics is solved, and the stresses at the nodes of the
derived fields are compared with σ_r, σ_θ, σ_h, σ_vm of the same radial c(r).
"""

from __future__ import annotations

from types import SimpleNamespace

import dolfinx_solver  # noqa: F401

import dolfinx
import numpy as np
import pytest
from dolfinx import fem
from mpi4py import MPI
from scipy.optimize import brentq

from ecmx.solver.mechanics import MechanicsProblem, random_orientations
from ecmx.solver.physics import mechanics as phys

E, NU = 80e9, 0.26
OMEGA = 5.97e-6  # m³/mol (NVP, MODEL.md §4)
C_MAX = 13831.0
C0 = 0.5 * C_MAX
K = 0.05 * C_MAX  # N0 R / D [mol/m³]: the concentration scale of the constant-flux profile
SIGMA_STAR = OMEGA * E * K / (1.0 - NU)  # MODEL.md §4 stress scale
TAUS = [0.036, 0.108, 0.36, np.inf]


def nvp_material(**expansion) -> SimpleNamespace:
    """Stand-in for ecmx.solver.config.Material with the mechanics fields only."""
    return SimpleNamespace(
        youngs_modulus=E,
        poissons_ratio=NU,
        max_concentration=C_MAX,
        chemical_expansion=expansion or {"partial_molar_volume": OMEGA},
    )


# ---------------------------------------------------------------------------- analytic sphere
_ALPHA = np.array([brentq(lambda a: np.tan(a) - a, n * np.pi + 1e-9, n * np.pi + np.pi / 2 - 1e-9) for n in range(1, 120)])
_GL_X, _GL_W = np.polynomial.legendre.leggauss(80)


def flux_profile(x: np.ndarray, tau: float) -> np.ndarray:
    """(c − c₀)/(N₀R/D) of the constant-flux sphere at x = r/R, τ = Dt/R² (τ = inf: the
    long-time shape x²/2 − 3/10, its uniform 3τ part dropped)."""
    x = np.asarray(x, dtype=float)
    base = x**2 / 2 - 0.3
    if np.isinf(tau):
        return base
    amp = np.exp(-(_ALPHA**2) * tau) / (_ALPHA**2 * np.sin(_ALPHA))
    # sin(αx)/x = α sinc(αx/π), regular at x = 0
    series = (amp * _ALPHA * np.sinc(np.multiply.outer(x, _ALPHA) / np.pi)).sum(axis=-1)
    return 3 * tau + base - 2 * series


def sphere_stresses(x: np.ndarray, tau: float) -> dict[str, np.ndarray]:
    """σ_r, σ_θ, σ_h, σ_vm [Pa] of a free sphere with c = c₀ + K·flux_profile (MODEL.md §5)."""
    x = np.asarray(x, dtype=float)
    xi = 0.5 * x[:, None] * (_GL_X[None, :] + 1.0)  # Gauss-Legendre nodes on [0, x]
    integral = 0.5 * x[:, None] * _GL_W[None, :] * flux_profile(xi, tau) * xi**2
    with np.errstate(invalid="ignore", divide="ignore"):
        cbar = np.where(x > 1e-12, 3.0 * integral.sum(axis=1) / np.maximum(x, 1e-12) ** 3, flux_profile(0.0 * x, tau))
    cbar_r = float(sphere_mean(tau))
    dc = flux_profile(x, tau)
    f = OMEGA * E * K / (9.0 * (1.0 - NU))
    s_r = 2 * f * (cbar_r - cbar)
    s_t = f * (2 * cbar_r + cbar - 3 * dc)
    return {"radial_stress": s_r, "tangential_stress": s_t, "hydrostatic": 2 * f * (cbar_r - dc),
            "von_mises": np.abs(s_r - s_t)}


def sphere_mean(tau: float) -> float:
    """C̄_R/K: the mean of flux_profile over the sphere."""
    xi = 0.5 * (_GL_X + 1.0)
    return float(3.0 * (0.5 * _GL_W * flux_profile(xi, tau) * xi**2).sum())


def prescribe(c: fem.Function, tau: float, centre=(0.0, 0.0, 0.0), radius: float = 1.0) -> None:
    """Interpolate c₀ + K·flux_profile(|x − centre|/R, τ) into the P1 concentration."""
    ctr = np.asarray(centre, dtype=float)[:, None]
    c.interpolate(lambda x: C0 + K * flux_profile(np.sqrt(((x - ctr) ** 2).sum(axis=0)) / radius, tau))


def nodal_errors(problem: MechanicsProblem, tau: float, centre=(0.0, 0.0, 0.0)) -> dict[str, float]:
    """Max nodal error of each stress field, relative to that field's exact peak |value|; and the
    peak von Mises error relative to the exact peak."""
    W = problem.fields["von_mises"].function_space
    n = W.dofmap.index_map.size_local
    pts = W.tabulate_dof_coordinates()[:n]
    r = np.linalg.norm(pts - np.asarray(centre), axis=1)
    exact = sphere_stresses(r, tau)
    comm = problem.comm
    out = {}
    for name, ref in exact.items():
        err = comm.allreduce(float(np.abs(problem.fields[name].x.array[:n] - ref).max()), MPI.MAX)
        peak = comm.allreduce(float(np.abs(ref).max()), MPI.MAX)
        out[name] = err / peak
    vm_peak = comm.allreduce(float(exact["von_mises"].max()), MPI.MAX)
    out["von_mises_peak"] = abs(problem.quantities()["von_mises_max"] - vm_peak) / vm_peak
    return out


# ---------------------------------------------------------------------------- meshes
def gmsh_mesh(build, dim: int, comm: MPI.Comm = MPI.COMM_WORLD) -> dolfinx.mesh.Mesh:
    """Mesh a gmsh OCC model made by ``build()`` (on rank 0) with a shared-facet partitioner."""
    import gmsh

    own = not gmsh.isInitialized()
    if own:
        gmsh.initialize(interruptible=False)
    gmsh.option.setNumber("General.Terminal", 0)
    gmsh.model.add("mechanics_test")
    if comm.rank == 0:
        build(gmsh)
        gmsh.model.occ.synchronize()
        vols = gmsh.model.getEntities(dim)
        gmsh.model.addPhysicalGroup(dim, [t for _, t in vols], 1)
        gmsh.model.mesh.generate(dim)
    part = dolfinx.mesh.create_cell_partitioner(dolfinx.mesh.GhostMode.shared_facet, 2)
    md = dolfinx.io.gmsh.model_to_mesh(gmsh.model, comm, 0, gdim=dim, partitioner=part)
    gmsh.model.remove()
    if own:
        gmsh.finalize()
    return md.mesh


def ball(size: float, radius: float = 1.0, comm: MPI.Comm = MPI.COMM_WORLD) -> dolfinx.mesh.Mesh:
    """Tetrahedral ball of ``radius`` µm, element size ``size`` µm."""

    def build(gmsh):
        gmsh.model.occ.addSphere(0, 0, 0, radius)
        gmsh.option.setNumber("Mesh.MeshSizeMax", size)
        gmsh.option.setNumber("Mesh.MeshSizeMin", size)

    return gmsh_mesh(build, 3, comm)


def half_disk(size: float, radius: float = 1.0) -> dolfinx.mesh.Mesh:
    """Meridian half-disk r ≥ 0 (x[0] = r, x[1] = z) of an axisymmetric sphere."""

    def build(gmsh):
        occ = gmsh.model.occ
        disk = occ.addDisk(0, 0, 0, radius, radius)
        rect = occ.addRectangle(0, -radius, 0, radius, 2 * radius)
        occ.intersect([(2, disk)], [(2, rect)])
        gmsh.option.setNumber("Mesh.MeshSizeMax", size)
        gmsh.option.setNumber("Mesh.MeshSizeMin", size)

    return gmsh_mesh(build, 2)


def interval(n: int, radius: float = 1.0) -> dolfinx.mesh.Mesh:
    return dolfinx.mesh.create_interval(MPI.COMM_WORLD, n, [0.0, radius])


def concentration(msh: dolfinx.mesh.Mesh) -> fem.Function:
    return fem.Function(fem.functionspace(msh, ("Lagrange", 1)), name="particle_concentration")


def project(c: fem.Function, tau: float, coordinate_system: str, centre=(0.0, 0.0, 0.0), radius: float = 1.0) -> None:
    """L2 projection (radially weighted) of c₀ + K·flux_profile into the P1 concentration.

    Unlike the nodal interpolant, it keeps the particle mean of c exact, as the conservative
    coupled solver does; the mean sets σ_h everywhere (MODEL.md §5: C̄_R).
    """
    import ufl
    from dolfinx.fem.petsc import LinearProblem

    msh = c.function_space.mesh
    x = ufl.SpatialCoordinate(msh)
    w = phys.radial_weight(x, coordinate_system)
    ctr = np.asarray(centre, dtype=float)
    gdim = msh.geometry.dim
    if coordinate_system == "axisymmetric":
        r = ufl.sqrt(x[0] ** 2 + (x[1] - ctr[1]) ** 2)
    else:
        r = ufl.sqrt(sum((x[i] - ctr[i]) ** 2 for i in range(gdim)))
    xr = r / radius
    profile = xr**2 / 2 - 0.3
    if not np.isinf(tau):
        amp = np.exp(-(_ALPHA**2) * tau) / (_ALPHA**2 * np.sin(_ALPHA))
        keep = np.abs(amp) * _ALPHA**2 > 1e-14
        series = sum(float(a) * ufl.sin(float(al) * xr) for a, al in zip(amp[keep], _ALPHA[keep]))
        profile = 3 * tau + profile - 2 * series / ufl.max_value(xr, 1e-12)
    u, v = ufl.TrialFunction(c.function_space), ufl.TestFunction(c.function_space)
    dx = ufl.dx(metadata={"quadrature_degree": 8})
    problem = LinearProblem(
        u * v * w * dx,
        (C0 + K * profile) * v * w * dx,
        u=c,
        petsc_options_prefix="test_mechanics_projection_",
        petsc_options={"ksp_type": "cg", "pc_type": "jacobi", "ksp_rtol": 1e-13},
    )
    problem.solve()

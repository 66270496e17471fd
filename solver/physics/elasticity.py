"""Linear elasticity of the particles: small strain, Hooke's law and stress invariants (UFL, with
numpy twins for recovered nodal values).

Quasi-static, small-strain, isotropic linear elastic particles with a chemical (stress-free)
strain ε_ch (docs/model.md §3)::

    ∇·σ = 0,   σ = λ tr(ε − ε_ch) I + 2μ (ε − ε_ch),   ε = sym ∇u,

with tension positive. Strains and stresses are always 3×3 tensors, in the frame of the
coordinate system (:mod:`ecmx.solver.physics.coordinates`):

- cartesian (3D mesh): (x, y, z);
- axisymmetric (2D mesh, x[0] = r, x[1] = z): (r, θ, z); hoop strain u_r/r;
- spherical (1D mesh, x[0] = r): (r, θ, φ); hoop strains u_r/r.

Strains are dimensionless, so u and ∇ may be in any one length unit (ecmx uses mesh units, µm).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import ufl

from ecmx.solver.physics.coordinates import AXISYMMETRIC, CARTESIAN, SPHERICAL, CoordinateSystem

Expr = ufl.core.expr.Expr


def _cartesian_strain(g: Expr, hoop: Expr | None) -> Expr:
    return ufl.sym(g)


def _axisymmetric_strain(g: Expr, hoop: Expr) -> Expr:
    shear = 0.5 * (g[0, 1] + g[1, 0])
    return ufl.as_matrix([[g[0, 0], 0, shear], [0, hoop, 0], [shear, 0, g[1, 1]]])


def _spherical_strain(g: Expr, hoop: Expr) -> Expr:
    return ufl.as_matrix([[g[0, 0], 0, 0], [0, hoop, 0], [0, 0, hoop]])


_STRAIN: dict[CoordinateSystem, Callable[[Expr, Expr | None], Expr]] = {
    CARTESIAN: _cartesian_strain, AXISYMMETRIC: _axisymmetric_strain, SPHERICAL: _spherical_strain}


def strain(u: Expr, x: ufl.SpatialCoordinate, system: CoordinateSystem, axis_tolerance: float | None = None) -> Expr:
    """Small strain ε(u) (3×3, dimensionless) in the frame of ``system``.

    ``u`` has ``system.mesh_dimension`` components (u_r, u_z axisymmetric; u_r spherical). With
    ``axis_tolerance`` the hoop strain u_r/r takes its limit ∂u_r/∂r within that distance of the
    axis/centre (where u_r = 0): needed where nodes of derived fields lie on the axis; weak forms
    (quadrature points off the axis, no conditionals on arguments) pass None.
    """
    g = ufl.grad(u)
    hoop = None
    if system.is_reduced:
        hoop = u[0] / x[0]
        if axis_tolerance is not None:
            hoop = ufl.conditional(ufl.gt(x[0], axis_tolerance), hoop, g[0, 0])
    return _STRAIN[system](g, hoop)


def lame_parameters(youngs_modulus: float, poissons_ratio: float) -> tuple[float, float]:
    """(λ, μ) [unit of E] of an isotropic solid."""
    E, nu = youngs_modulus, poissons_ratio
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (2.0 * (1.0 + nu))


def stress(eps: Expr, eps_ch: Expr, lam: float | Expr, mu: float | Expr) -> Expr:
    """σ = λ tr(ε − ε_ch) I + 2μ (ε − ε_ch) (3×3; unit of λ, μ; tension positive)."""
    e = eps - eps_ch
    return lam * ufl.tr(e) * ufl.Identity(3) + 2.0 * mu * e


def hydrostatic(sigma: Expr) -> Expr:
    """σ_h = tr σ / 3 (positive in tension)."""
    return ufl.tr(sigma) / 3.0


def von_mises(sigma: Expr) -> Expr:
    """σ_vm = sqrt(3/2 s:s), s = σ − σ_h I."""
    s = ufl.dev(sigma)
    return ufl.sqrt(1.5 * ufl.inner(s, s))


def strain_energy_density(sigma: Expr, elastic_strain: Expr) -> Expr:
    """W = ½ σ : (ε − ε_ch) [J/m³ when σ is in Pa]."""
    return 0.5 * ufl.inner(sigma, elastic_strain)


def stress_invariants(sigma: np.ndarray, youngs_modulus: float, poissons_ratio: float) -> dict[str, np.ndarray]:
    """Numpy twins of the invariants of stress tensors ``sigma`` (N, 3, 3) [Pa], symmetrised first.

    Returns (N,) arrays ``von_mises``, ``hydrostatic``, ``max_principal`` (σ1),
    ``strain_energy_density`` ½ σ:C⁻¹σ [J/m³] of the isotropic solid, the (N, 3)
    ``principal_stresses`` σ1 ≥ σ2 ≥ σ3, and the (N,) ``trace`` and symmetrised (N, 3, 3) ``tensor``.
    """
    sig = 0.5 * (sigma + sigma.transpose(0, 2, 1))
    trace = np.trace(sig, axis1=1, axis2=2)
    dev = sig - (trace / 3.0)[:, None, None] * np.eye(3)
    principal = np.linalg.eigvalsh(sig)[:, ::-1]
    E, nu = youngs_modulus, poissons_ratio
    return {
        "von_mises": np.sqrt(1.5 * np.einsum("nij,nij->n", dev, dev)),
        "hydrostatic": trace / 3.0,
        "max_principal": principal[:, 0],
        "strain_energy_density": ((1 + nu) * np.einsum("nij,nij->n", sig, sig) - nu * trace**2) / (2 * E),
        "principal_stresses": principal,
        "trace": trace,
        "tensor": sig,
    }


def as_frame_vector(f: Expr, system: CoordinateSystem) -> Expr:
    """A mesh-dimension vector (u_r; u_r, u_z; u_x, u_y, u_z) as a 3-vector in the frame of σ."""
    if system is SPHERICAL:
        return ufl.as_vector([f[0], 0.0, 0.0])
    if system is AXISYMMETRIC:
        return ufl.as_vector([f[0], 0.0, f[1]])
    return f


def radial_direction(x: ufl.SpatialCoordinate, centre: Expr, system: CoordinateSystem) -> Expr:
    """Unit vector from a particle centre to x, as a 3-vector in the frame of σ.

    ``centre`` is a 3-vector in mesh units (a DG0 field for several particles). Axisymmetric: the
    meridian-plane direction (r, 0, z − z_c) (the centre lies on the axis, z_c = centre[1]).
    Spherical: (1, 0, 0). :func:`radial_directions_at` is the numpy twin.
    """
    if system is SPHERICAL:
        return ufl.as_vector([1.0, 0.0, 0.0])
    if system is AXISYMMETRIC:
        d = ufl.as_vector([x[0], 0.0, x[1] - centre[1]])
    else:
        d = ufl.as_vector([x[0] - centre[0], x[1] - centre[1], x[2] - centre[2]])
    return d / ufl.max_value(ufl.sqrt(ufl.dot(d, d)), 1e-300)


def radial_offsets_at(points: np.ndarray, centres: np.ndarray, system: CoordinateSystem) -> np.ndarray:
    """Numpy twin of :func:`radial_direction` before normalisation: (N, 3) offsets in the frame of σ
    from each point's particle centre ``centres`` (N, 3) to ``points`` (N, 3) [mesh units]."""
    d = np.zeros((len(points), 3))
    if system is SPHERICAL:
        d[:, 0] = 1.0
    elif system is AXISYMMETRIC:
        d[:, 0] = points[:, 0]
        d[:, 2] = points[:, 1] - centres[:, 1]
    else:
        d[:] = points - centres
    return d

"""Chemo-mechanics of the active particles (UFL only).

Quasi-static, small-strain, linear elastic particles with a chemical (intercalation) strain
(MODEL.md §3)::

    ∇·σ = 0,   σ = λ tr(ε − ε_ch) I + 2μ (ε − ε_ch),   ε = sym ∇u,

with tension positive. The strain and stress are always 3×3 tensors, in the frame of the
coordinate system:

- ``"cartesian"`` (3D mesh): (x, y, z).
- ``"axisymmetric"`` (2D mesh, x[0] = r, x[1] = z): (r, θ, z); hoop strain u_r/r; measure
  weight r.
- ``"spherical"`` (1D mesh, x[0] = r, radial symmetry): (r, θ, φ); hoop strains u_r/r; measure
  weight r².

The chemical strain ε_ch is built from a :class:`ChemicalStrain` (isotropic or lattice
anisotropic); it depends on the stoichiometry θ = c_s/c_s,max relative to the reference θ_ref
(the stress-free state). Lengths are in whatever unit the mesh uses: strains are dimensionless,
so a displacement in mesh units and ∇ in mesh units give the same ε.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import ufl

from ecmx.solver.errors import CaseError

COORDINATE_SYSTEMS = ("cartesian", "axisymmetric", "spherical")
_GDIM = {"cartesian": 3, "axisymmetric": 2, "spherical": 1}


def _field(obj: Any, name: str) -> Any:
    """Attribute or mapping item ``name`` of ``obj`` (None if absent)."""
    if obj is None:
        return None
    if isinstance(obj, Mapping):
        return obj.get(name)
    return getattr(obj, name, None)


def mesh_dimension(coordinate_system: str) -> int:
    """Geometric dimension of the mesh a coordinate system lives on (3, 2 or 1)."""
    if coordinate_system not in _GDIM:
        raise ValueError(f"coordinate system must be one of {COORDINATE_SYSTEMS}, got {coordinate_system!r}")
    return _GDIM[coordinate_system]


def radial_weight(x: ufl.SpatialCoordinate, coordinate_system: str) -> ufl.core.expr.Expr:
    """Volume weight of the reduced measure: 1 (cartesian), r (axisymmetric), r² (spherical).

    The 2π and 4π factors are left out; they cancel in every weak form and mean value.
    """
    mesh_dimension(coordinate_system)
    if coordinate_system == "cartesian":
        return ufl.as_ufl(1.0)
    if coordinate_system == "axisymmetric":
        return x[0]
    return x[0] ** 2


def angular_factor(coordinate_system: str) -> float:
    """Factor that turns a weighted integral into a 3D one: 1, 2π or 4π."""
    return {"cartesian": 1.0, "axisymmetric": 2.0 * np.pi, "spherical": 4.0 * np.pi}[coordinate_system]


def strain(
    u: ufl.core.expr.Expr, x: ufl.SpatialCoordinate, coordinate_system: str, axis_tolerance: float | None = None
) -> ufl.core.expr.Expr:
    """Small strain ε(u) as a 3×3 tensor in the frame of ``coordinate_system``.

    ``u`` has ``mesh_dimension(coordinate_system)`` components (u_r, u_z for axisymmetric; u_r for
    spherical). With ``axis_tolerance`` the hoop strain u_r/r takes its limit ∂u_r/∂r within that
    distance of the axis/centre (where u_r = 0): needed where nodes of derived fields lie on the
    axis; weak forms (quadrature points off the axis, no conditionals on arguments) pass None.
    """
    mesh_dimension(coordinate_system)
    g = ufl.grad(u)
    if coordinate_system == "cartesian":
        return ufl.sym(g)
    hoop = u[0] / x[0]
    if axis_tolerance is not None:
        hoop = ufl.conditional(ufl.gt(x[0], axis_tolerance), hoop, g[0, 0])
    if coordinate_system == "axisymmetric":
        shear = 0.5 * (g[0, 1] + g[1, 0])
        return ufl.as_matrix([[g[0, 0], 0, shear], [0, hoop, 0], [shear, 0, g[1, 1]]])
    return ufl.as_matrix([[g[0, 0], 0, 0], [0, hoop, 0], [0, 0, hoop]])


def lame_parameters(youngs_modulus: float, poissons_ratio: float) -> tuple[float, float]:
    """(λ, μ) [same unit as E] of an isotropic solid."""
    E, nu = youngs_modulus, poissons_ratio
    return E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu)), E / (2.0 * (1.0 + nu))


def stress(
    eps: ufl.core.expr.Expr, eps_ch: ufl.core.expr.Expr, lam: float | ufl.core.expr.Expr, mu: float | ufl.core.expr.Expr
) -> ufl.core.expr.Expr:
    """σ = λ tr(ε − ε_ch) I + 2μ (ε − ε_ch) (3×3; unit of λ, μ)."""
    e = eps - eps_ch
    return lam * ufl.tr(e) * ufl.Identity(3) + 2.0 * mu * e


def hydrostatic(sigma: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
    """σ_h = tr σ / 3 (positive in tension)."""
    return ufl.tr(sigma) / 3.0


def von_mises(sigma: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
    """σ_vm = sqrt(3/2 s:s), s = σ − σ_h I."""
    s = ufl.dev(sigma)
    return ufl.sqrt(1.5 * ufl.inner(s, s))


def strain_energy_density(sigma: ufl.core.expr.Expr, elastic_strain: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
    """W = ½ σ : (ε − ε_ch) [J/m³ when σ is in Pa]."""
    return 0.5 * ufl.inner(sigma, elastic_strain)


def normal_stress(sigma: ufl.core.expr.Expr, n: ufl.core.expr.Expr) -> ufl.core.expr.Expr:
    """n·σ·n for a unit 3-vector n in the frame of σ."""
    return ufl.dot(n, ufl.dot(sigma, n))


def radial_direction(
    x: ufl.SpatialCoordinate, centre: ufl.core.expr.Expr, coordinate_system: str
) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr]:
    """Unit vector from a particle centre to x, as a 3-vector in the frame of σ, and |x − centre|.

    ``centre`` is a 3-vector in mesh units (a DG0 field for several particles). Axisymmetric: the
    meridian-plane direction (r, 0, z − z_c) (the centre lies on the axis). Spherical: (1, 0, 0).
    """
    if coordinate_system == "spherical":
        return ufl.as_vector([1.0, 0.0, 0.0]), x[0]
    if coordinate_system == "axisymmetric":
        d = ufl.as_vector([x[0], 0.0, x[1] - centre[1]])
    else:
        d = ufl.as_vector([x[0] - centre[0], x[1] - centre[1], x[2] - centre[2]])
    dist = ufl.sqrt(ufl.dot(d, d))
    return d / ufl.max_value(dist, 1e-300), dist


def radial_tangential_stress(
    sigma: ufl.core.expr.Expr, n: ufl.core.expr.Expr, dist: ufl.core.expr.Expr, tiny: float
) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr]:
    """(σ_r, σ_t) about a particle centre.

    σ_r = n·σ·n; σ_t = (tr σ − σ_r)/2, the mean normal stress on the two tangential directions
    (equal to σ_θ = σ_φ for a sphere). Within ``tiny`` of the centre, where n is undefined, both are
    the hydrostatic stress (exact for radial symmetry).
    """
    sh = hydrostatic(sigma)
    sr = ufl.conditional(ufl.gt(dist, tiny), normal_stress(sigma, n), sh)
    return sr, 0.5 * (ufl.tr(sigma) - sr)


def stress_assisted_flux(
    D: float | ufl.core.expr.Expr,
    c_s: ufl.core.expr.Expr,
    Omega: float | ufl.core.expr.Expr,
    sigma_h: ufl.core.expr.Expr,
    R: float,
    T: float | ufl.core.expr.Expr,
    grad: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr] = ufl.grad,
) -> ufl.core.expr.Expr:
    """Stress-driven molar flux J_σ = +D c_s Ω/(RT) ∇σ_h [mol/(m² s)]: Na moves towards tension.

    From the chemical potential μ = μ₀ + RT ln c_s − Ω σ_h, J = −(D c_s/RT)∇μ = −D∇c_s + J_σ, so
    the particle equation is ∂c_s/∂t + ∇·(−D∇c_s + J_σ) = 0, i.e. MODEL.md §3's
    ∂c_s/∂t = ∇·(D∇c_s − D c_s Ω/(RT) ∇σ_h). In a weak form with test function q the term is
    −∫ J_σ·∇q. Since σ_h falls where c_s rises (free particle), J_σ speeds diffusion up:
    D_eff = D(1 + 2Ω²E c₀/(9RT(1−ν))) in the small-swing limit (:func:`effective_diffusivity_factor`).

    ∇ is ``grad`` (default ufl.grad, in the mesh's length unit; pass the solver's scaled gradient
    for nondimensional forms). ``sigma_h`` must be continuous (e.g. the recovered P1 ``hydrostatic`` field of
    :class:`ecmx.solver.fem.mechanics.MechanicsProblem`, or a projected unknown of a monolithic system)
    for ∇σ_h to be a flux.
    """
    return D * c_s * Omega / (R * T) * grad(sigma_h)


def local_hydrostatic_coefficient(Omega: float, youngs_modulus: float, poissons_ratio: float) -> float:
    """k_σ = 2EΩ/(9(1−ν)) [Pa m³/mol]: σ_h = φ − k_σ (c_s − c_s,0) with φ harmonic.

    For an isotropic chemical strain (Ω/3)Δc I in a homogeneous isotropic body of any shape and
    any boundary conditions, equilibrium gives ∇²(σ_h + k_σ Δc) = 0. The local part −k_σΔc
    carries the steep, fast response of σ_h to c_s; φ is smooth and set by the boundary (for a free
    sphere φ = k_σ C̄_R is uniform).
    """
    return 2.0 * youngs_modulus * Omega / (9.0 * (1.0 - poissons_ratio))


def stress_assisted_flux_split(
    D: float | ufl.core.expr.Expr,
    c_s: ufl.core.expr.Expr,
    Omega: float | ufl.core.expr.Expr,
    phi: ufl.core.expr.Expr,
    R: float,
    T: float | ufl.core.expr.Expr,
    youngs_modulus: float | ufl.core.expr.Expr,
    poissons_ratio: float | ufl.core.expr.Expr,
    grad: Callable[[ufl.core.expr.Expr], ufl.core.expr.Expr] = ufl.grad,
) -> ufl.core.expr.Expr:
    """:func:`stress_assisted_flux` with σ_h = φ − k_σ Δc_s: D c_s Ω/(RT) (∇φ − k_σ ∇c_s) [mol/(m² s)].

    For staggered two-way coupling: the local part is implicit in c_s (inside the particle Newton
    solve), only the harmonic part φ (``MechanicsProblem.fields["harmonic_hydrostatic"]``) is taken
    from the last mechanics solve. Lagging σ_h itself is unstable once k_σΩc/(RT) > 1 (NVP: 2.4);
    lagging φ is not, and for a sphere it is exact (∇φ = 0). Isotropic linear expansion only
    (:func:`two_way_partial_molar_volume`). ``grad`` as in :func:`stress_assisted_flux`.
    """
    k = local_hydrostatic_coefficient(Omega, youngs_modulus, poissons_ratio)
    return D * c_s * Omega / (R * T) * (grad(phi) - k * grad(c_s))


def two_way_partial_molar_volume(material: Any) -> float:
    """Ω [m³/mol] for two-way coupling, which needs an isotropic expansion linear in c_s
    (``partial_molar_volume`` or ``volume_change`` over a window); CaseError otherwise."""
    strain = chemical_strain_from_material(material)
    if strain.kind != "linear":
        raise CaseError(
            "two-way coupling needs an isotropic expansion linear in c_s (partial_molar_volume or volume_change"
            " with over); tables and lattice data work with one-way coupling",
            key="mechanics.coupling",
        )
    return strain.partial_molar_volume


def effective_diffusivity_factor(
    Omega: float, youngs_modulus: float, poissons_ratio: float, concentration: float, T: float, R: float
) -> float:
    """D_eff/D = 1 + 2Ω²E c₀/(9RT(1−ν)) of a free sphere with stress-assisted diffusion (small swing)."""
    return 1.0 + 2.0 * Omega**2 * youngs_modulus * concentration / (9.0 * R * T * (1.0 - poissons_ratio))


def _piecewise_linear(theta: ufl.core.expr.Expr, xs: np.ndarray, ys: np.ndarray) -> ufl.core.expr.Expr:
    """UFL piecewise-linear interpolant of (xs, ys), constant beyond the ends (like numpy.interp)."""
    expr = ufl.as_ufl(float(ys[0]))
    for x0, x1, y0, y1 in zip(xs[:-1], xs[1:], ys[:-1], ys[1:], strict=True):
        slope = float((y1 - y0) / (x1 - x0))
        expr = expr + slope * (ufl.min_value(ufl.max_value(theta, float(x0)), float(x1)) - float(x0))
    return expr


@dataclass(frozen=True)
class ChemicalStrain:
    """Stress-free strain of the crystal against stoichiometry θ, relative to a reference θ_ref.

    The principal strains are β_a (twice, the a-axes) and β_c (the c-axis) in the crystal frame:

    - ``kind="linear"`` (``partial_molar_volume`` Ω [m³/mol], or ``volume_change`` ΔV/V over a
      window (θ1, θ2), Ω = (ΔV/V)/(c_s,max (θ2 − θ1))): β_a = β_c = Ω c_s,max (θ − θ_ref)/3.
    - ``kind="volume_table"`` (ΔV/V(θ) = f(θ), piecewise linear, against the table's first
      state): β_a = β_c = (f(θ) − f(θ_ref)) / (3 (1 + f(θ_ref))), the linearised volumetric strain
      relative to the reference volume.
    - ``kind="lattice"`` (a(θ), c(θ), piecewise linear, any length unit): β_a = a(θ)/a(θ_ref) − 1,
      β_c = c(θ)/c(θ_ref) − 1. Anisotropic unless a and c change by the same ratio.

    Tables are clamped beyond their ends (as numpy.interp).
    """

    kind: str
    max_concentration: float
    partial_molar_volume: float = 0.0
    stoichiometry: tuple[float, ...] = ()
    a: tuple[float, ...] = ()
    c: tuple[float, ...] = ()

    @property
    def isotropic(self) -> bool:
        """True unless the lattice parameters change by different ratios somewhere in the table."""
        if self.kind != "lattice":
            return True
        a, c = np.asarray(self.a), np.asarray(self.c)
        return bool(np.allclose(a / a[0], c / c[0], rtol=1e-12, atol=0.0))

    def axial_strains(
        self, theta: ufl.core.expr.Expr, theta_ref: float
    ) -> tuple[ufl.core.expr.Expr, ufl.core.expr.Expr]:
        """(β_a, β_c) at stoichiometry ``theta`` (UFL) relative to ``theta_ref`` (float)."""
        if self.kind == "linear":
            beta = self.partial_molar_volume * self.max_concentration * (theta - theta_ref) / 3.0
            return beta, beta
        xs = np.asarray(self.stoichiometry, dtype=float)
        if self.kind == "volume_table":
            ys = np.asarray(self.a, dtype=float)
            f_ref = float(np.interp(theta_ref, xs, ys))
            beta = (_piecewise_linear(theta, xs, ys) - f_ref) / (3.0 * (1.0 + f_ref))
            return beta, beta
        out = []
        for ys in (np.asarray(self.a, dtype=float), np.asarray(self.c, dtype=float)):
            ref = float(np.interp(theta_ref, xs, ys))
            out.append(_piecewise_linear(theta, xs, ys) / ref - 1.0)
        return out[0], out[1]

    def axial_strains_at(self, theta: np.ndarray | float, theta_ref: float) -> tuple[np.ndarray, np.ndarray]:
        """Numpy twin of :meth:`axial_strains` (for references and checks)."""
        theta = np.asarray(theta, dtype=float)
        if self.kind == "linear":
            beta = self.partial_molar_volume * self.max_concentration * (theta - theta_ref) / 3.0
            return beta, beta
        xs = np.asarray(self.stoichiometry, dtype=float)
        if self.kind == "volume_table":
            ys = np.asarray(self.a, dtype=float)
            f_ref = float(np.interp(theta_ref, xs, ys))
            beta = (np.interp(theta, xs, ys) - f_ref) / (3.0 * (1.0 + f_ref))
            return beta, beta
        ba, bc = (np.interp(theta, xs, np.asarray(ys, float)) / np.interp(theta_ref, xs, np.asarray(ys, float)) - 1.0
                  for ys in (self.a, self.c))
        return ba, bc

    def tensor(
        self,
        theta: ufl.core.expr.Expr,
        theta_ref: float,
        rotation: ufl.core.expr.Expr | None = None,
    ) -> ufl.core.expr.Expr:
        """ε_ch (3×3) in the frame of the stress.

        Lattice strain (even with equal a and c changes): ``rotation`` Q (3×3, crystal → frame of
        the stress, e.g. a DG0 tensor field with one rotation per particle) gives
        ε_ch = Q diag(β_a, β_a, β_c) Qᵀ; None means the c-axis is along the last axis of the frame
        (z; for axisymmetric the symmetry axis). Other kinds: β I.
        """
        ba, bc = self.axial_strains(theta, theta_ref)
        if self.kind != "lattice":
            return ba * ufl.Identity(3)
        local = ufl.as_matrix([[ba, 0, 0], [0, ba, 0], [0, 0, bc]])
        if rotation is None:
            return local
        return rotation * local * rotation.T

    def volumetric_coefficient(self, theta: float) -> float:
        """Ω(θ) = d(tr ε_ch)/dc_s [m³/mol] at stoichiometry θ (slope of the table segment)."""
        if self.kind == "linear":
            return self.partial_molar_volume
        h = 1e-6
        ba1, bc1 = self.axial_strains_at(theta + h, theta)
        ba0, bc0 = self.axial_strains_at(theta - h, theta)
        return float((2 * (ba1 - ba0) + (bc1 - bc0)) / (2 * h * self.max_concentration))


def chemical_strain_from_material(material: Any) -> ChemicalStrain:
    """Build the :class:`ChemicalStrain` of a material (``ecmx.solver.config.Material`` or alike).

    Reads ``material.chemical_expansion`` (one of ``partial_molar_volume``; ``volume_change`` +
    ``over``; ``volume_change_table`` {stoichiometry, value}; ``lattice`` {stoichiometry, a, c})
    and ``material.max_concentration``.
    """
    c_max = float(_field(material, "max_concentration"))
    exp = _field(material, "chemical_expansion")
    key = "material.chemical_expansion"
    if exp is None:
        raise CaseError("a chemical expansion is needed for mechanics", key=key)
    omega = _field(exp, "partial_molar_volume")
    if omega is not None:
        return ChemicalStrain("linear", c_max, partial_molar_volume=float(omega))
    dv = _field(exp, "volume_change")
    if dv is not None:
        over = _field(exp, "over")
        if over is None or len(over) != 2 or float(over[1]) == float(over[0]):
            raise CaseError("'over' must be two different stoichiometries (theta1, theta2)", key=f"{key}.over")
        window = float(over[1]) - float(over[0])
        return ChemicalStrain("linear", c_max, partial_molar_volume=float(dv) / (c_max * window))
    table = _field(exp, "volume_change_table")
    if table is not None:
        xs, ys = _table(table, "value", f"{key}.volume_change_table")
        return ChemicalStrain("volume_table", c_max, stoichiometry=xs, a=ys)
    lattice = _field(exp, "lattice")
    if lattice is not None:
        xs, a = _table(lattice, "a", f"{key}.lattice")
        _, c = _table(lattice, "c", f"{key}.lattice")
        if min(a) <= 0 or min(c) <= 0:
            raise CaseError("lattice parameters must be positive", key=f"{key}.lattice")
        return ChemicalStrain("lattice", c_max, stoichiometry=xs, a=a, c=c)
    raise CaseError(
        "expected one of partial_molar_volume, volume_change (+ over), volume_change_table, lattice", key=key
    )


def _table(table: Any, name: str, key: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    xs = _field(table, "stoichiometry")
    ys = _field(table, name)
    if xs is None or ys is None or len(xs) != len(ys) or len(xs) < 2:
        raise CaseError(f"needs 'stoichiometry' and '{name}' lists of equal length >= 2", key=key)
    xs_arr = np.asarray(xs, dtype=float)
    if np.any(np.diff(xs_arr) <= 0):
        raise CaseError("'stoichiometry' must increase strictly", key=f"{key}.stoichiometry")
    return tuple(float(v) for v in xs), tuple(float(v) for v in ys)


def rotation_matrices(orientation: Sequence[Any] | np.ndarray | None, count: int) -> np.ndarray | None:
    """Validate ``count`` crystal rotations (crystal → lab, proper orthogonal 3×3) as an array."""
    if orientation is None:
        return None
    q = np.asarray(orientation, dtype=float).reshape(-1, 3, 3)
    if q.shape[0] != count:
        raise CaseError(f"expected {count} orientation matrices (one per particle), got {q.shape[0]}",
                        key="mechanics.orientation")
    err = np.abs(np.einsum("nij,nkj->nik", q, q) - np.eye(3)).max()
    if err > 1e-6 or np.any(np.linalg.det(q) < 0):
        raise CaseError("orientations must be rotation matrices (orthogonal, det +1)", key="mechanics.orientation")
    return q

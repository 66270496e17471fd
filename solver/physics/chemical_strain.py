"""Chemical (intercalation) strain of the crystal against stoichiometry θ = c_s/c_s,max.

The stress-free strain relative to a reference stoichiometry θ_ref (the stress-free state) has the
principal strains β_a (twice, the a-axes) and β_c (the c-axis) in the crystal frame. Three sibling
laws share one interface (:class:`ChemicalStrain`):

- :class:`LinearExpansion`: isotropic, linear in c_s, β_a = β_c = Ω c_s,max (θ − θ_ref)/3 with the
  partial molar volume Ω [m³/mol] (positive: insertion expands);
- :class:`VolumeChangeTable`: isotropic, ΔV/V(θ) = f(θ) piecewise linear against the table's first
  state, β = (f(θ) − f(θ_ref)) / (3 (1 + f(θ_ref))), the linearised volumetric strain relative to the
  reference volume;
- :class:`LatticeExpansion`: lattice parameters a(θ), c(θ) piecewise linear (any length unit),
  β_a = a(θ)/a(θ_ref) − 1, β_c = c(θ)/c(θ_ref) − 1; anisotropic unless a and c change by the same
  ratio, and oriented by a crystal rotation per particle.

- :class:`FiniteIsotropicStrain`: the exact length change of the volume change of an isotropic law,
  β = (V(θ)/V(θ_ref))^{1/3} − 1 = (1 + 3β_lin)^{1/3} − 1 (for both isotropic laws above 3β_lin =
  V(θ)/V(θ_ref) − 1); 2.7 % below the linear β for NVP's ΔV/V = 8.26 %.

Tables are clamped beyond their ends (as numpy.interp). The laws take plain numbers; the schema
(``ecmx.solver.config``) has checked the tables (increasing stoichiometry, equal lengths, a, c > 0).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import ufl

from ecmx.solver.physics.tables import piecewise_linear

Expr = ufl.core.expr.Expr
Interpolant = Callable[[Any, np.ndarray, np.ndarray], Any]
"""interp(θ, xs, ys): numpy.interp for arrays, :func:`piecewise_linear` for UFL."""


@dataclass(frozen=True)
class ChemicalStrain:
    """Interface of the chemical-strain laws: principal strains (β_a, β_c) and the tensor ε_ch.

    Attributes:
        max_concentration: c_s,max [mol/m³].
    """

    max_concentration: float

    oriented = False
    """True when ε_ch depends on a crystal rotation (lattice laws)."""

    @property
    def isotropic(self) -> bool:
        """True when ε_ch = β I for every θ."""
        return True

    @property
    def partial_molar_volume(self) -> float | None:
        """Ω [m³/mol] when the strain is isotropic and linear in c_s (tr ε_ch = Ω Δc_s), else None."""
        return None

    @property
    def knots(self) -> int:
        """Number of knots of the law's table (0 for a closed-form law)."""
        return 0

    def _axial(self, theta: Any, theta_ref: float, interp: Interpolant) -> tuple[Any, Any]:
        raise NotImplementedError

    def axial_strains(self, theta: Expr, theta_ref: float) -> tuple[Expr, Expr]:
        """(β_a, β_c) at stoichiometry ``theta`` (UFL) relative to ``theta_ref``."""
        return self._axial(theta, theta_ref, piecewise_linear)

    def axial_strains_at(self, theta: np.ndarray | float, theta_ref: float) -> tuple[np.ndarray, np.ndarray]:
        """Numpy twin of :meth:`axial_strains` (for references and checks)."""
        return self._axial(np.asarray(theta, dtype=float), theta_ref, np.interp)

    def tensor(self, theta: Expr, theta_ref: float, rotation: Expr | None = None) -> Expr:
        """ε_ch (3×3) in the frame of the stress.

        Oriented laws: ``rotation`` Q (3×3, crystal → frame of the stress, e.g. a DG0 tensor field
        with one rotation per particle) gives ε_ch = Q diag(β_a, β_a, β_c) Qᵀ; None means the c-axis
        lies along the last axis of the frame (z; for axisymmetric the symmetry axis). Other laws:
        β I (``rotation`` ignored).
        """
        return self.tensor_of(*self.axial_strains(theta, theta_ref), rotation)

    def tensor_of(self, ba: Expr, bc: Expr, rotation: Expr | None = None) -> Expr:
        """ε_ch (3×3) of given principal strains (β_a, β_c) (UFL; e.g. fields sampled from the
        numpy twin :meth:`axial_strains_at`), oriented as in :meth:`tensor`."""
        if not self.oriented:
            return ba * ufl.Identity(3)
        local = ufl.as_matrix([[ba, 0, 0], [0, ba, 0], [0, 0, bc]])
        return local if rotation is None else rotation * local * rotation.T


@dataclass(frozen=True)
class LinearExpansion(ChemicalStrain):
    """Isotropic strain linear in c_s: β = Ω c_s,max (θ − θ_ref)/3 (Ω [m³/mol], the partial molar volume)."""

    omega: float = 0.0

    @property
    def partial_molar_volume(self) -> float:
        return self.omega

    def _axial(self, theta: Any, theta_ref: float, interp: Interpolant) -> tuple[Any, Any]:
        beta = self.omega * self.max_concentration * (theta - theta_ref) / 3.0
        return beta, beta


@dataclass(frozen=True)
class VolumeChangeTable(ChemicalStrain):
    """Isotropic strain from a table ΔV/V(θ) (``volume_change`` against ``stoichiometry``)."""

    stoichiometry: tuple[float, ...] = ()
    volume_change: tuple[float, ...] = ()

    @property
    def knots(self) -> int:
        return len(self.stoichiometry)

    def _axial(self, theta: Any, theta_ref: float, interp: Interpolant) -> tuple[Any, Any]:
        xs, ys = np.asarray(self.stoichiometry, dtype=float), np.asarray(self.volume_change, dtype=float)
        f_ref = float(np.interp(theta_ref, xs, ys))
        beta = (interp(theta, xs, ys) - f_ref) / (3.0 * (1.0 + f_ref))
        return beta, beta


@dataclass(frozen=True)
class LatticeExpansion(ChemicalStrain):
    """Strain of the lattice parameters a(θ), c(θ) (tables against ``stoichiometry``, one length unit)."""

    stoichiometry: tuple[float, ...] = ()
    a: tuple[float, ...] = ()
    c: tuple[float, ...] = ()

    oriented = True

    @property
    def knots(self) -> int:
        return len(self.stoichiometry)

    @property
    def isotropic(self) -> bool:
        """True when a and c change by the same ratio everywhere in the table."""
        a, c = np.asarray(self.a), np.asarray(self.c)
        return bool(np.allclose(a / a[0], c / c[0], rtol=1e-12, atol=0.0))

    def _axial(self, theta: Any, theta_ref: float, interp: Interpolant) -> tuple[Any, Any]:
        xs = np.asarray(self.stoichiometry, dtype=float)
        ba, bc = (interp(theta, xs, ys) / float(np.interp(theta_ref, xs, ys)) - 1.0
                  for ys in (np.asarray(self.a, dtype=float), np.asarray(self.c, dtype=float)))
        return ba, bc


@dataclass(frozen=True)
class FiniteIsotropicStrain(ChemicalStrain):
    """β = (1 + 3β_lin)^{1/3} − 1 of an isotropic law β_lin (:class:`LinearExpansion` or
    :class:`VolumeChangeTable`): the exact length change of its volume change."""

    volumetric: LinearExpansion | VolumeChangeTable | None = None

    @property
    def knots(self) -> int:
        return 0 if self.volumetric is None else self.volumetric.knots

    def _axial(self, theta: Any, theta_ref: float, interp: Interpolant) -> tuple[Any, Any]:
        if self.volumetric is None:
            raise ValueError("FiniteIsotropicStrain needs the isotropic law of its volume change")
        linear, _ = self.volumetric._axial(theta, theta_ref, interp)
        beta = (1.0 + 3.0 * linear) ** (1.0 / 3.0) - 1.0
        return beta, beta

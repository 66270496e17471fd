"""The integration domains of the coupled cell problem: submeshes, entity maps, the interface Γ
and the radially weighted measures.

All weak forms live on the parent mesh; the particle unknowns on the submesh of all particle cells
and the electrolyte unknowns on the submesh of the electrolyte cells (absent for ``sphere-1d``).
Integrands are multiplied by a weighted, nondimensional volume or area element, so that every
integral is a true 3D amount in units of R³ or R²: element = w(s x) s^d with w the measure weight of
the :class:`~ecmx.solver.physics.coordinates.CoordinateSystem` (1, 2πr or 4πr²), s = length_unit/R
and d the dimension of the measure.

Γ is an interior facet set when an electrolyte mesh surrounds the particles (its '+' side is always
the particle cell) and the boundary point r = R of the radial interval for ``sphere-1d``.

Quadrature: exact for the P1 mass terms (degree 2 + weight) and for the flux terms with constant
coefficients (degree 1 + weight, one point per tetrahedron); degree 2 + weight on Γ, where exp and
the OCV make the integrand nonlinear anyway. The Jacobian assembly is ~40 % cheaper than with UFL's
estimated degrees, and the convergence orders are kept.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import basix.ufl
import dolfinx
import numpy as np
import ufl
from dolfinx import fem
from petsc4py import PETSc

from ecmx.solver.fem.models import global_integral

OUTER_BOUNDARY = 10**6
"""Integration-data id of all outer electrolyte facets (Na metal and walls)."""

Expr = ufl.core.expr.Expr


@dataclass(frozen=True)
class Interface:
    """Γ: the particle surfaces in contact with the electrolyte.

    Attributes:
        measure: the integration measure of Γ (``dS`` or ``ds``, subdomain set).
        area_element: the weighted nondimensional area element w s^(d−1), on the particle side.
        particle: restriction of an expression to the particle side of Γ ('+').
        electrolyte: restriction to the electrolyte side ('−'; identity for ``sphere-1d``).
    """

    measure: ufl.Measure
    area_element: Expr
    particle: Callable[[Expr], Expr]
    electrolyte: Callable[[Expr], Expr]

    def integral(self, integrand: Expr | float) -> ufl.Form:
        """∫_Γ integrand dÂ (weighted, nondimensional)."""
        return integrand * self.area_element * self.measure


@dataclass(frozen=True)
class ElectrolyteDomain:
    """The electrolyte submesh and its measures (on the parent mesh).

    Attributes:
        mesh, entity_map: the submesh of the electrolyte cells and its map to the parent.
        tag: the electrolyte cell tag.
        dx, dx_flux: bulk measures for storage terms and for flux terms (lower quadrature degree).
        ds_na_metal: the Na-metal face, seen from the electrolyte.
        ds_outer: every outer electrolyte facet (Na metal and walls).
    """

    mesh: dolfinx.mesh.Mesh
    entity_map: Any
    tag: int
    dx: ufl.Measure
    dx_flux: ufl.Measure
    ds_na_metal: ufl.Measure
    ds_outer: ufl.Measure


def _identity(expr: Expr) -> Expr:
    return expr


def _plus(expr: Expr) -> Expr:
    return expr("+")


def _minus(expr: Expr) -> Expr:
    return expr("-")


class CellDomains:
    """Submeshes, measures and weighted elements of one cell mesh (collective to build).

    Attributes:
        mesh: the parent mesh; ``coordinates`` its coordinate system.
        scale: the Constant s = length_unit/R (nondimensional length per mesh unit).
        x: the spatial coordinate (mesh units); ``normal`` the outward unit normal.
        particle_mesh, particle_entity_map: the submesh of all particle cells.
        electrolyte: the :class:`ElectrolyteDomain`, or None for ``sphere-1d``.
        entity_maps: the entity maps the forms need.
        dx_particle, dx_particle_flux: bulk measures of the particles (storage, flux terms).
        volume_element, area_element: weighted nondimensional elements w s^d and w s^(d−1).
        interface: the :class:`Interface` Γ.
        real_space: the space of one-dof (global) unknowns on the parent mesh.
        particle_volume, interface_area: the particle volume and the area of Γ in units of R³, R².
    """

    def __init__(self, pmesh: Any, mesh_to_length: float) -> None:
        msh = pmesh.mesh
        self.mesh = msh
        self.coordinates = pmesh.coordinates
        self.comm = msh.comm
        self.scale = fem.Constant(msh, PETSc.ScalarType(mesh_to_length))
        self.x = ufl.SpatialCoordinate(msh)
        self.normal = ufl.FacetNormal(msh)
        self._pmesh = pmesh
        tdim = msh.topology.dim
        msh.topology.create_connectivity(tdim - 1, tdim)
        msh.topology.create_connectivity(tdim, tdim - 1)
        self.particle_ids = tuple(int(t) for t in pmesh.particle_tags.values())
        particle_cells = np.sort(np.concatenate([pmesh.cell_tags.find(t) for t in self.particle_ids])).astype(np.int32)
        self.particle_mesh, self.particle_entity_map, _, _ = dolfinx.mesh.create_submesh(msh, tdim, particle_cells)
        n_cells = msh.topology.index_map(tdim).size_local + msh.topology.index_map(tdim).num_ghosts
        self._is_particle = np.zeros(n_cells, bool)
        self._is_particle[particle_cells] = True
        wdeg = self.coordinates.weight_degree
        self._degrees = {"bulk": 2 + wdeg, "flux": 1 + wdeg, "facet": 2 + wdeg, "source": 4 + wdeg}
        self.dx_particle = self.cell_measure("bulk")(self.particle_ids)
        self.dx_particle_flux = self.cell_measure("flux")(self.particle_ids)
        self.volume_element = self.weight(self.x) * self.scale**tdim
        self.area_element = self.weight(self.x) * self.scale ** (tdim - 1)
        if pmesh.electrolyte_tag is None:
            self.electrolyte = None
            self.interface = self._boundary_interface()
        else:
            self.electrolyte = self._electrolyte_domain()
            self.interface = self._interior_interface()
        self.entity_maps = [self.particle_entity_map] + ([self.electrolyte.entity_map] if self.electrolyte else [])
        real = basix.ufl.real_element(msh.basix_cell(), dtype=dolfinx.default_real_type)
        self.real_space = fem.functionspace(msh, real)
        self.particle_volume = self.integrate(1.0 * self.volume_element * self.dx_particle)
        self.interface_area = self.integrate(self.interface.integral(1.0))

    def weight(self, x: Expr) -> Expr:
        """The measure weight at x (mesh units) in units of R: 1, 2π(s r) or 4π(s r)²."""
        return self.coordinates.measure_weight(x, self.scale)

    def grad(self, f: Expr) -> Expr:
        """The nondimensional gradient ∇̂ f = ∇f / s."""
        return ufl.grad(f) / self.scale

    def cell_measure(self, purpose: str) -> ufl.Measure:
        """``dx`` over the cell tags with the quadrature degree of ``purpose`` (bulk, flux, source)."""
        metadata = {"quadrature_degree": self._degrees[purpose]}
        return ufl.Measure("dx", domain=self.mesh, subdomain_data=self._pmesh.cell_tags, metadata=metadata)

    def form(self, integrand: ufl.Form) -> fem.Form:
        """A compiled form over the parent mesh and its submeshes."""
        return fem.form(integrand, entity_maps=self.entity_maps)

    def integrate(self, form: ufl.Form | fem.Form) -> float:
        """The global value of a scalar form (collective; :func:`~ecmx.solver.fem.models.global_integral`)."""
        return global_integral(form if isinstance(form, fem.Form) else self.form(form), self.comm)

    def _facet_measure(self, kind: str, subdomain_data: Any) -> ufl.Measure:
        metadata = {"quadrature_degree": self._degrees["facet"]}
        return ufl.Measure(kind, domain=self.mesh, subdomain_data=subdomain_data, metadata=metadata)

    def _boundary_interface(self) -> Interface:
        """Γ as the boundary point r = R of a radial interval (no electrolyte mesh)."""
        ds = self._facet_measure("ds", self._pmesh.facet_tags)
        return Interface(ds(int(self._pmesh.interface_tag)), self.area_element, _identity, _identity)

    def _interior_interface(self) -> Interface:
        """Γ as interior facets ordered so that the particle cell is always the '+' side."""
        msh, itag = self.mesh, int(self._pmesh.interface_tag)
        ents = fem.compute_integration_domains(
            fem.IntegralType.interior_facet, msh.topology, self._pmesh.facet_tags.find(itag)
        ).reshape(-1, 4)
        swap = ~self._is_particle[ents[:, 0]]
        ents[swap] = ents[swap][:, [2, 3, 0, 1]]
        if not np.all(self._is_particle[ents[:, 0]]) or np.any(self._is_particle[ents[:, 2]]):
            raise ValueError("interface facets must separate a particle cell from an electrolyte cell")
        dS = self._facet_measure("dS", [(itag, ents.ravel())])
        area = self.weight(self.x("+")) * self.scale ** (msh.topology.dim - 1)
        return Interface(dS(itag), area, _plus, _minus)

    def _electrolyte_domain(self) -> ElectrolyteDomain:
        pmesh, tdim = self._pmesh, self.mesh.topology.dim
        tag = int(pmesh.electrolyte_tag)
        submesh, entity_map, _, _ = dolfinx.mesh.create_submesh(self.mesh, tdim, pmesh.cell_tags.find(tag))
        ds = self._facet_measure("ds", self._electrolyte_facets())
        return ElectrolyteDomain(
            mesh=submesh, entity_map=entity_map, tag=tag,
            dx=self.cell_measure("bulk")(tag), dx_flux=self.cell_measure("flux")(tag),
            ds_na_metal=ds(int(pmesh.na_metal_tag)), ds_outer=ds(OUTER_BOUNDARY),
        )

    def _electrolyte_facets(self) -> list[tuple[int, np.ndarray]]:
        """Exterior-facet integration data on the electrolyte side: the Na-metal face (its tag) and
        all outer electrolyte facets (``OUTER_BOUNDARY``: Na metal and walls, no particle facets), so
        that both share one subdomain_data in a form."""
        pmesh, topology = self._pmesh, self.mesh.topology
        ft = pmesh.facet_tags

        def entities(facets: np.ndarray) -> np.ndarray:
            ents = fem.compute_integration_domains(
                fem.IntegralType.exterior_facet, topology, np.unique(facets).astype(np.int32)
            ).reshape(-1, 2)
            return ents[~self._is_particle[ents[:, 0]]].ravel()

        na = int(pmesh.na_metal_tag)
        outer = [ft.find(t) for t in (pmesh.na_metal_tag, pmesh.walls_tag) if t is not None]
        return [(na, entities(ft.find(na))), (OUTER_BOUNDARY, entities(np.concatenate(outer)))]

"""Rigid-body modes of traction-free particles: the null space of the elasticity matrix, GAMG's
near-null space, and the removal of the rigid part of a displacement.

Every particle of a free body can translate and rotate without stress: 6 modes in 3D, the z
translation for axisymmetric (u_r = 0 on the axis holds the rest), none for spherical (u_r = 0 at
the centre). Of each particle's modes, the combinations that no held (Dirichlet) dof blocks are the
null space. After a solve the rigid part is removed in the volume sense: each particle's mean
translation and mean rotation (weighted by the measure weight) are zero.
"""

from __future__ import annotations

import ecmx.solver._compat  # noqa: F401  (prepares the DOLFINx import)

# isort: split

import dolfinx.fem.petsc
import numpy as np
import ufl
from dolfinx import fem
from mpi4py import MPI
from petsc4py import PETSc

from ecmx.solver.physics.coordinates import CARTESIAN, SPHERICAL, CoordinateSystem


def _free_modes(coords: np.ndarray, centre: np.ndarray, block_size: int) -> list[np.ndarray]:
    """Translations and rotations about ``centre`` of the dofs at ``coords`` (n, mesh_dim), flat."""
    n, gdim = coords.shape
    d = coords - centre[:gdim]
    modes = []
    for k in range(gdim):
        m = np.zeros((n, block_size))
        m[:, k] = 1.0
        modes.append(m)
    for i, j in {2: [(0, 1)], 3: [(0, 1), (1, 2), (2, 0)]}.get(gdim, []):
        m = np.zeros((n, block_size))
        m[:, i], m[:, j] = -d[:, j], d[:, i]
        modes.append(m)
    return [m.ravel() for m in modes]


class RigidBodyModes:
    """The rigid-body modes of the particles on a vector space ``V`` (collective).

    Args:
        V: the displacement space (mesh units).
        system: the coordinate system.
        centres: (n, 3) particle centres [mesh units].
        cell_particle_index: particle index of every local cell (owned and ghost).
        bcs: the Dirichlet conditions (held dofs).
        weight: the measure weight (UFL), for the volume-sense removal.
        matrix: the assembled elasticity matrix (vector layout).

    Attributes:
        null: orthonormal null-space vectors (empty when the particles are held).
        near: orthonormal global rigid-body modes of a free body (GAMG's near-null space).
    """

    def __init__(self, V: fem.FunctionSpace, system: CoordinateSystem, centres: np.ndarray,
                 cell_particle_index: np.ndarray, bcs: list[fem.DirichletBC], weight: ufl.core.expr.Expr,
                 matrix: PETSc.Mat):
        self.comm = V.mesh.comm
        self._matrix = matrix
        bs, n_own = V.dofmap.index_map_bs, V.dofmap.index_map.size_local
        coords = V.tabulate_dof_coordinates()[:n_own, : V.mesh.geometry.dim]
        dm = V.dofmap.list
        node_particle = np.full(n_own + V.dofmap.index_map.num_ghosts, -1)
        node_particle[dm.ravel()] = np.repeat(cell_particle_index, dm.shape[1])
        held = np.zeros(n_own * bs, dtype=bool)
        for bc in bcs:
            dofs, _ = bc.dof_indices()
            held[dofs[dofs < n_own * bs]] = True
        null = []
        if system is not SPHERICAL:
            for p, centre in enumerate(centres):
                modes = self._particle_modes(system, coords, centre, bs)
                null.extend(self._unheld(modes, np.repeat(node_particle[:n_own] == p, bs), held))
        self.null = [self._to_vec(m) for m in self._orthonormalise(null)]
        self.near = [self._to_vec(m) for m in self._orthonormalise(_free_modes(coords, np.zeros(3), bs))]
        self._init_removal(V, weight)

    @staticmethod
    def _particle_modes(system: CoordinateSystem, coords: np.ndarray, centre: np.ndarray, bs: int) -> list[np.ndarray]:
        """A particle's rigid modes: all of them (cartesian) or the z translation (axisymmetric)."""
        if system is CARTESIAN:
            return _free_modes(coords, centre, bs)
        m = np.zeros((len(coords), bs))
        m[:, 1] = 1.0
        return [m.ravel()]

    def _unheld(self, modes: list[np.ndarray], in_particle: np.ndarray, held: np.ndarray) -> list[np.ndarray]:
        """The combinations of a particle's modes (restricted to it) that vanish on the held dofs."""
        modes = [np.where(in_particle, m, 0.0) for m in modes]
        M = np.array([m[held] for m in modes])
        G = self.comm.allreduce(M @ M.T, MPI.SUM)
        scale = self.comm.allreduce(sum(float(m @ m) for m in modes), MPI.SUM)
        if scale == 0.0:
            return []
        vals, vecs = np.linalg.eigh(G)
        return list(vecs[:, vals <= 1e-10 * scale].T @ np.array(modes))

    def _init_removal(self, V: fem.FunctionSpace, weight: ufl.core.expr.Expr) -> None:
        """Weighted mass products M m of the null-space modes m, for :meth:`remove`: the load vector
        ∫ m·v w dx of each mode (one compiled form; the mass matrix itself, a P2 vector matrix as large as
        the stiffness, cost 0.07 s of set-up on cases/nvp.yaml for these six products)."""
        if not self.null:
            return
        mode = fem.Function(V)
        form = fem.form(ufl.inner(mode, ufl.TestFunction(V)) * weight * ufl.dx)
        load = dolfinx.fem.petsc.create_vector(V)  # ghosted: the assembler adds into ghosts
        n_owned = V.dofmap.index_map.size_local * V.dofmap.index_map_bs
        self._mass_modes = []
        for m in self.null:
            mode.x.array[:n_owned] = m.array_r
            mode.x.scatter_forward()
            with load.localForm() as local:
                local.set(0.0)
            dolfinx.fem.petsc.assemble_vector(load, form)
            load.ghostUpdate(addv=PETSc.InsertMode.ADD, mode=PETSc.ScatterMode.REVERSE)
            mm = self._matrix.createVecLeft()
            mm.array[:] = load.array_r[:n_owned]
            self._mass_modes.append(mm)
        load.destroy()
        gram = np.array([[mi.dot(mj) for mj in self.null] for mi in self._mass_modes])
        self._gram_inv = np.linalg.inv(gram)

    def remove(self, x: PETSc.Vec) -> None:
        """Remove the rigid part of ``x`` in the volume sense (in place)."""
        if not self.null:
            return
        alpha = self._gram_inv @ np.array([mm.dot(x) for mm in self._mass_modes])
        x.maxpy(-alpha, self.null)

    def _orthonormalise(self, vectors: list[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray] = []
        for v in vectors:
            v = v.copy()
            for _ in range(2):
                for q in out:
                    v -= self.comm.allreduce(float(q @ v), MPI.SUM) * q
            norm = np.sqrt(self.comm.allreduce(float(v @ v), MPI.SUM))
            if norm > 1e-12:
                out.append(v / norm)
        return out

    def _to_vec(self, values: np.ndarray) -> PETSc.Vec:
        vec = self._matrix.createVecRight()
        vec.array[:] = values
        return vec

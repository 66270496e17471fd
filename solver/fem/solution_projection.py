"""Initial guesses for a sequence of solves with one symmetric positive (semi-)definite matrix.

The one-way mechanics solves K u_n = b_n once per accepted step with the same stiffness K and a
load b_n that changes smoothly with the concentration. Starting CG from u_{n−1} only removes the
part of the error that did not change; the best start in the span S of the last few solutions
u_{n−1}, …, u_{n−m} is the Galerkin projection

    x₀ = argmin_{x ∈ S} ‖x − K⁻¹ b_n‖_K,   i.e.  (Uᵀ K U) α = Uᵀ b_n,   x₀ = U α,

which contains every polynomial extrapolation in time of degree < m (P. F. Fischer, Comput. Methods
Appl. Mech. Engrg. 163 (1998) 193–204). The convergence test of the Krylov solve (‖r‖ < rtol ‖b‖)
is unchanged, so the accuracy of each solve is what it was; only the iteration count falls. Memory:
2m vectors of the matrix's size (the solutions and their images K u).
"""

from __future__ import annotations

from collections import deque

import numpy as np
from petsc4py import PETSc

# eigenvalues of the scaled Gram matrix below this fraction of the largest are dropped: nearly
# collinear solutions (consecutive small steps) add nothing and would make the projection unstable
_COLLINEAR = 1e-12


class SolutionProjection:
    """Galerkin projection of the next solution onto the span of the last ``depth`` solutions.

    Args:
        matrix: the (constant) symmetric positive semi-definite operator K.
        depth: how many past solutions span the projection space (m ≥ 1).

    Collective (every dot product is global).
    """

    def __init__(self, matrix: PETSc.Mat, depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self.matrix = matrix
        self._pairs: deque[tuple[PETSc.Vec, PETSc.Vec]] = deque(maxlen=depth)  # (u_i, K u_i)

    def guess(self, b: PETSc.Vec, x: PETSc.Vec) -> None:
        """Set ``x`` to the K-orthogonal projection of K⁻¹ b onto the stored solutions (unchanged
        when none is stored or b is orthogonal to them)."""
        if not self._pairs:
            return
        gram = np.array([[u.dot(image) for _, image in self._pairs] for u, _ in self._pairs])
        rhs = np.array([u.dot(b) for u, _ in self._pairs])
        alpha = _solve_semidefinite(0.5 * (gram + gram.T), rhs)
        x.set(0.0)
        for a, (u, _) in zip(alpha, self._pairs, strict=True):
            x.axpy(float(a), u)

    def add(self, x: PETSc.Vec) -> None:
        """Store the solution ``x`` (a copy) and its image K x; the oldest drops out at ``depth``, and its two
        vectors take the new pair. On several ranks petsc4py does not destroy a dropped parallel vector (that is
        collective) but leaves it in PETSc's garbage until a collective clean-up: new vectors for every solve
        held 1.5 MB more per step on bench/sphere3d.yaml's particle on 2 ranks, 220 MB over the hour."""
        if len(self._pairs) == self._pairs.maxlen:
            u, image = self._pairs.popleft()
            x.copy(u)
        else:
            u, image = x.copy(), self.matrix.createVecLeft()
        self.matrix.mult(u, image)
        self._pairs.append((u, image))


def _solve_semidefinite(gram: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """α with G α = r on the well-conditioned part of the Gram matrix G (symmetric, ≥ 0): scaled by
    its diagonal, eigenvalues below ``_COLLINEAR`` times the largest are dropped."""
    diag = np.diag(gram)
    scale = np.where(diag > 0.0, 1.0 / np.sqrt(np.where(diag > 0.0, diag, 1.0)), 0.0)
    values, vectors = np.linalg.eigh(gram * np.outer(scale, scale))
    keep = values > _COLLINEAR * max(float(values.max()), 0.0)
    if not keep.any():
        return np.zeros_like(rhs)
    v = vectors[:, keep]
    return scale * (v @ ((v.T @ (scale * rhs)) / values[keep]))

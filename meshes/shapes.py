"""Particle shapes and placements as plain numbers (no gmsh).

Lengths here are in whatever unit the caller uses (the builders pass micrometres).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RadialPerturbation:
    """Smooth random star-shaped surface r(θ, φ) = R (1 + δ(θ, φ)) around the origin.

    δ is a random combination of real spherical harmonics of degree 2..`modes` (degree 0 would
    only rescale the sphere, degree 1 would only shift it), with coefficients drawn from a standard
    normal distribution weighted by 1/l so that higher modes are weaker, then scaled so that
    max |δ| = `roughness` (the maximum taken on a fine grid). The same `seed` always gives the
    same surface.
    """

    radius: float
    roughness: float
    modes: int
    seed: int

    def __post_init__(self) -> None:
        rng = np.random.default_rng(self.seed)
        terms = []
        for degree in range(2, max(self.modes, 2) + 1):
            for order in range(-degree, degree + 1):
                terms.append((degree, order, rng.standard_normal() / degree))
        object.__setattr__(self, "_terms", tuple(terms))
        theta, phi = np.meshgrid(np.linspace(0.0, np.pi, 181), np.linspace(0.0, 2 * np.pi, 361))
        peak = float(np.max(np.abs(self._raw(theta, phi))))
        object.__setattr__(self, "_scale", self.roughness / peak if peak > 0 else 0.0)

    def _raw(self, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        from scipy.special import sph_harm_y  # here: scipy.special takes ~0.4 s to import (every run)

        total = np.zeros(np.broadcast(theta, phi).shape)
        for degree, order, weight in self._terms:
            y = sph_harm_y(degree, abs(order), theta, phi)
            if order > 0:
                total += weight * np.sqrt(2.0) * (-1) ** order * y.real
            elif order < 0:
                total += weight * np.sqrt(2.0) * (-1) ** order * y.imag
            else:
                total += weight * y.real
        return total

    def delta(self, theta: np.ndarray, phi: np.ndarray) -> np.ndarray:
        """Relative radial perturbation δ at polar angle θ and azimuth φ (radians)."""
        return self._scale * self._raw(theta, phi)

    def delta_at_points(self, x: np.ndarray) -> np.ndarray:
        """δ in the direction of each point x (shape (n, 3)); points at the origin get δ(θ=0)."""
        r = np.linalg.norm(x, axis=1)
        safe = np.where(r > 0, r, 1.0)
        theta = np.arccos(np.clip(x[:, 2] / safe, -1.0, 1.0))
        phi = np.mod(np.arctan2(x[:, 1], x[:, 0]), 2 * np.pi)
        return self.delta(theta, phi)

    def _grid(self, n_theta: int = 96, n_phi: int = 192) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        nodes, weights = np.polynomial.legendre.leggauss(n_theta)
        theta = np.arccos(nodes)
        phi = np.linspace(0.0, 2 * np.pi, n_phi, endpoint=False)
        th, ph = np.meshgrid(theta, phi, indexing="ij")
        w = np.outer(weights, np.full(n_phi, 2 * np.pi / n_phi))
        return th, ph, w

    def volume(self) -> float:
        """Enclosed volume, ∫ r³/3 dΩ (Gauss–Legendre in cos θ, trapezoidal in φ)."""
        th, ph, w = self._grid()
        return float(np.sum(w * (self.radius * (1.0 + self.delta(th, ph))) ** 3) / 3.0)

    def equivalent_radius(self) -> float:
        """Radius of the sphere with the same volume."""
        return (3.0 * self.volume() / (4.0 * np.pi)) ** (1.0 / 3.0)

    def extents(self) -> np.ndarray:
        """Bounding box (3, 2): [[xmin, xmax], [ymin, ymax], [zmin, zmax]] of the surface."""
        th, ph = np.meshgrid(np.linspace(0.0, np.pi, 181), np.linspace(0.0, 2 * np.pi, 361))
        r = self.radius * (1.0 + self.delta(th, ph))
        xyz = np.stack([r * np.sin(th) * np.cos(ph), r * np.sin(th) * np.sin(ph), r * np.cos(th)])
        return np.stack([xyz.reshape(3, -1).min(axis=1), xyz.reshape(3, -1).max(axis=1)], axis=1)

    def surface_points(self, x: np.ndarray) -> np.ndarray:
        """Points x (n, 3) of the sphere of `radius` moved radially onto r = R (1 + δ)."""
        return x * (1.0 + self.delta_at_points(x))[:, None]


def sample_radii(count: int, mean: float, std: float, rng: np.random.Generator) -> np.ndarray:
    """Radii from a normal distribution truncated to [max(mean − 2 std, 0.25 mean), mean + 2 std].

    Truncation keeps every particle meshable (no vanishing radii) and the placement box bounded;
    it is done by rejection, so the same generator state gives the same radii.
    """
    if std == 0.0:
        return np.full(count, mean)
    low, high = max(mean - 2.0 * std, 0.25 * mean), mean + 2.0 * std
    radii: list[float] = []
    while len(radii) < count:
        value = rng.normal(mean, std)
        if low <= value <= high:
            radii.append(value)
    return np.array(radii)


def place_spheres(
    radii: np.ndarray,
    min_gap: float,
    rng: np.random.Generator,
    packing_fraction: float = 0.3,
    attempts: int = 2000,
) -> np.ndarray:
    """Random sequential placement of non-overlapping spheres, largest first.

    Centres are drawn uniformly in a cube whose side gives the spheres `packing_fraction` of its
    volume; a sphere is kept when its surface is at least `min_gap` from every sphere already placed.
    If one cannot be placed within `attempts` draws, the cube grows by 10 % and placement restarts.
    Returns centres (n, 3) with the bounding box of the spheres centred at the origin, in the
    original order of `radii`.
    """
    order = np.argsort(-radii, kind="stable")
    volume = float(np.sum(4.0 / 3.0 * np.pi * radii**3))
    side = max(
        (volume / packing_fraction) ** (1.0 / 3.0), 2.0 * float(radii.max()) * 1.0001 + min_gap
    )
    while True:
        centres = np.zeros((len(radii), 3))
        placed: list[int] = []
        for i in order:
            r = radii[i]
            for _ in range(attempts):
                candidate = rng.uniform(r, side - r, size=3)
                if all(
                    np.linalg.norm(candidate - centres[j]) >= r + radii[j] + min_gap for j in placed
                ):
                    centres[i] = candidate
                    placed.append(i)
                    break
            else:
                break
        if len(placed) == len(radii):
            lo = np.min(centres - radii[:, None], axis=0)
            hi = np.max(centres + radii[:, None], axis=0)
            return centres - 0.5 * (lo + hi)
        side *= 1.1

r"""A seeded orthogonal matrix as layers of random Givens rotations, applied in
:math:`O(d \log d)` without ever forming the matrix.

:math:`Q = R_{L-1} \cdots R_0`, where each layer :math:`R_l = P_l^\top B_l P_l`
permutes the coordinates at random (:math:`P_l`), rotates the pairs
:math:`(2i, 2i+1)` by random angles :math:`\theta_{l,i}` (:math:`B_l`, block
diagonal), and permutes back. With :math:`L = 2\lceil\log_2 d\rceil + 2` layers
every coordinate is mixed with every other (a random butterfly network), so the
eigenvectors of :math:`Q \Lambda Q^\top` are spread over all axes; for ``d = 2``
the product is a rotation by a uniform random angle.

Why not a dense Haar matrix: for ``d = 10,000`` it would take 800 MB and a QR
factorization of :math:`O(d^3)`; and a dense product ``X @ Q`` goes through BLAS,
whose result for one row can change with the number of rows. Gathers and
element-wise arithmetic give every row the same operations in any population.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["GivensLayers"]


class GivensLayers:
    """The orthogonal matrix :math:`Q` of ``dim`` coordinates drawn from ``seed``."""

    def __init__(self, dim: int, seed: int):
        rng = np.random.default_rng(seed)
        self.dim = dim
        self.layers = 0 if dim < 2 else 2 * math.ceil(math.log2(dim)) + 2
        perms = [rng.permutation(dim) for _ in range(self.layers)]
        angles = rng.uniform(0.0, 2.0 * math.pi, size=(self.layers, dim // 2))
        self.cos, self.sin = np.cos(angles), np.sin(angles)
        inverse = [np.argsort(p) for p in perms]
        # Gathers for Q: into layer 0's order, between layers, back to natural order.
        self.forward = [perms[0]] if perms else []
        self.forward += [inverse[l][perms[l + 1]] for l in range(self.layers - 1)]
        self.forward += [inverse[-1]] if perms else []
        # Gathers for Q^T: the layers in reverse order.
        self.backward = [perms[-1]] if perms else []
        self.backward += [inverse[l][perms[l - 1]] for l in range(self.layers - 1, 0, -1)]
        self.backward += [inverse[0]] if perms else []

    def apply(self, xp: Any, x: Any, constant, *, transpose: bool = False) -> Any:
        """Rows of ``x`` (shape ``(K, dim)``) mapped by :math:`Q` (or :math:`Q^\\top`).

        ``constant(key, value, like, dtype=None)`` converts NumPy constants to the
        namespace of ``x`` (cached by the caller).
        """
        if self.layers == 0:
            return x
        gathers = self.backward if transpose else self.forward
        order = range(self.layers - 1, -1, -1) if transpose else range(self.layers)
        tag = "T" if transpose else ""
        y = x
        for step, layer in enumerate(order):
            index = constant(f"gather{tag}{step}", gathers[step], x, xp.int64)
            y = xp.take(y, index, axis=-1)
            cos = constant(f"cos{layer}", self.cos[layer], x)
            sin = self.sin[layer]
            sin = constant(f"sin{tag}{layer}", -sin if transpose else sin, x)
            y = self._rotate_pairs(xp, y, cos, sin)
        index = constant(f"gather{tag}{self.layers}", gathers[-1], x, xp.int64)
        return xp.take(y, index, axis=-1)

    def _rotate_pairs(self, xp: Any, y: Any, cos: Any, sin: Any) -> Any:
        """Rotate each pair ``(y[2i], y[2i+1])`` by its angle."""
        pairs = 2 * (self.dim // 2)
        a, b = y[..., 0:pairs:2], y[..., 1:pairs:2]
        rotated = xp.stack((cos * a - sin * b, sin * a + cos * b), axis=-1)
        rotated = xp.reshape(rotated, (y.shape[0], pairs))
        if pairs == self.dim:
            return rotated
        return xp.concat((rotated, y[..., pairs:]), axis=-1)

    def dense(self) -> np.ndarray:
        """:math:`Q` as a NumPy array (``dim x dim``; for small ``dim``)."""
        eye = np.eye(self.dim)
        columns = self.apply(np, eye, lambda key, value, like, dtype=None: value)
        return np.ascontiguousarray(columns.T)

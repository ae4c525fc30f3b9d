r"""The ill-conditioned quadratic: the testbed of curvature, momentum and SGD noise."""

from __future__ import annotations

from typing import Any

import numpy as np

from optkit.problems._base import Problem, namespace, positive_int, real
from optkit.problems._rotation import GivensLayers

__all__ = ["Quadratic", "quadratic"]


class Quadratic(Problem):
    r"""``f(x) = ½ (x − x*)ᵀ H (x − x*)`` with ``H = Q diag(λ) Qᵀ``; see :func:`quadratic`."""

    name = "quadratic"

    def __init__(
        self, dim=None, kappa=None, rotate=True, seed=0, noise=0.0, eigenvalues=None
    ):
        lam = _eigenvalues(dim, kappa, eigenvalues)
        dim = lam.shape[0]
        if not isinstance(rotate, bool):
            raise TypeError(f"rotate={rotate!r}: expected True or False")
        seed = positive_int("seed", seed, minimum=0)
        self.eigenvalues = lam
        self.eigenvalues.flags.writeable = False
        self.rotate = rotate
        self._rotation = GivensLayers(dim, seed) if rotate else None
        params = {
            "dim": dim,
            "kappa": self.condition_number,
            "rotate": rotate,
            "seed": seed,
        }
        params["noise"] = float(noise)
        if eigenvalues is not None:
            params["eigenvalues"] = lam.tolist()
            del params["kappa"]
        self._constants = {}
        super().__init__(
            dim,
            self.from_eigenbasis(np.ones(dim)),
            x_star=np.zeros(dim),
            f_star=0.0,
            bounds=(-2.0, 2.0),
            noise=noise,
            params=params,
        )

    @property
    def condition_number(self) -> float:
        """λ_max / λ_min (``inf`` when λ_min = 0)."""
        low, high = float(self.eigenvalues[0]), float(self.eigenvalues[-1])
        return high / low if low > 0 else float("inf")

    def eigenvectors(self) -> np.ndarray:
        """Q: column i is the eigenvector of ``eigenvalues[i]`` (dense; for small dim)."""
        if self._rotation is None:
            return np.eye(self.dim)
        return self._rotation.dense()

    def to_eigenbasis(self, x: Any) -> Any:
        """The coordinates ``Qᵀ(x − x*)`` of points ``x`` along the eigenvectors."""
        xp, points, single = self._points(x)
        z = self._rotate(xp, points, transpose=True)
        return z[0] if single else z

    def from_eigenbasis(self, z: Any) -> Any:
        """The points ``x* + Q z`` (inverse of :meth:`to_eigenbasis`)."""
        z = np.asarray(z, dtype=np.float64) if isinstance(z, (list, tuple)) else z
        single = len(z.shape) == 1
        xp = namespace(z)
        rows = xp.reshape(z, (1, z.shape[-1])) if single else z
        x = self._rotate(xp, rows, transpose=False)
        return x[0] if single else x

    def _rotate(self, xp: Any, x: Any, *, transpose: bool) -> Any:
        if self._rotation is None:
            return x
        return self._rotation.apply(
            xp,
            x,
            lambda key, value, like, dtype=None: self.constant(xp, key, value, like, dtype),
            transpose=transpose,
        )

    def _lam(self, xp, x):
        return self.constant(xp, "eigenvalues", self.eigenvalues, x)

    def _value(self, xp, x):
        z = self._rotate(xp, x, transpose=True)
        return 0.5 * xp.sum(self._lam(xp, x) * z * z, axis=-1)

    def _value_and_grad(self, xp, x):
        z = self._rotate(xp, x, transpose=True)
        lz = self._lam(xp, x) * z
        return 0.5 * xp.sum(lz * z, axis=-1), self._rotate(xp, lz, transpose=False)

    def _hvp(self, xp, x, v):
        z = self._rotate(xp, v, transpose=True)
        return self._rotate(xp, self._lam(xp, x) * z, transpose=False)

    def _hessian(self, xp, x):
        q = self.eigenvectors()
        h = (q * self.eigenvalues) @ q.T
        h = 0.5 * (h + h.T)
        dense = self.constant(xp, "hessian", h, x)
        return xp.broadcast_to(dense[None, ...], (x.shape[0], self.dim, self.dim))


def _eigenvalues(dim: Any, kappa: Any, eigenvalues: Any) -> np.ndarray:
    """The spectrum, ascending: given, or log-spaced in ``[1, kappa]``."""
    if eigenvalues is None:
        dim = 2 if dim is None else positive_int("dim", dim)
        kappa = 10.0 if kappa is None else real("kappa", kappa, minimum=1.0)
        return np.geomspace(1.0, kappa, dim) if dim > 1 else np.ones(1)
    if kappa is not None:
        raise ValueError("give kappa or eigenvalues, not both")
    lam = np.sort(np.array(eigenvalues, dtype=np.float64).reshape(-1))
    if dim is not None and positive_int("dim", dim) != lam.shape[0]:
        raise ValueError(f"dim={dim} but {lam.shape[0]} eigenvalues were given")
    if lam.shape[0] == 0 or not np.all(np.isfinite(lam)):
        raise ValueError(f"eigenvalues={lam.tolist()!r}: need finite values, at least one")
    if lam[0] < 0:
        raise ValueError(
            f"eigenvalues: {lam[0]!r} < 0 makes the quadratic unbounded below; use "
            f"optkit.problems.saddle for negative curvature"
        )
    if lam[-1] <= 0:
        raise ValueError("eigenvalues: at least one must be > 0")
    return lam


def quadratic(
    dim: int | None = None,
    kappa: float | None = None,
    rotate: bool = True,
    seed: int = 0,
    noise: float = 0.0,
    eigenvalues: Any = None,
) -> Quadratic:
    r"""An ill-conditioned quadratic bowl with a known spectrum.

    .. math::
        f(x) = \tfrac12 (x - x^*)^\top H (x - x^*), \qquad
        H = Q\,\mathrm{diag}(\lambda_1, \dots, \lambda_d)\,Q^\top

    Parameters
    ----------
    dim : int, default 2
        Number of coordinates (taken from ``eigenvalues`` when those are given).
    kappa : float, default 10
        Condition number: :math:`\lambda_i = \kappa^{(i-1)/(d-1)}`, log-spaced in
        ``[1, kappa]``.
    rotate : bool, default True
        ``Q`` is a seeded random orthogonal matrix (layers of random Givens
        rotations, applied in :math:`O(d\log d)`: the eigenvectors mix every axis);
        ``False`` gives ``Q = I`` (axis-aligned sensitivities).
    seed : int, default 0
        Seed of ``Q``.
    noise : float, default 0
        σ of :meth:`~Problem.sample_grad`: :math:`g + \sigma\xi`,
        :math:`\xi\sim\mathcal N(0, I)` (gradient variance σ² per coordinate).
    eigenvalues : sequence of float, optional
        The spectrum itself (any order; sorted ascending). Zeros are allowed (then
        f is convex but not strongly convex, ``condition_number`` is ``inf`` and
        ``x_star`` is the minimizer nearest the origin); negative values are refused.

    Returns
    -------
    Quadratic
        ``x_star = 0``, ``f_star = 0``; the start ``x0 = Q·1`` has component 1 along
        every eigenvector (``f(x0) = ½Σλ``). Extra attributes: ``eigenvalues``
        (ascending), ``condition_number``, ``eigenvectors()`` (dense ``Q``),
        ``to_eigenbasis(x)`` and ``from_eigenbasis(z)``.

    Notes
    -----
    ``∇f = H(x − x*)``, ``∇²f = H``. Gradient descent with step α contracts the
    eigen-direction i by :math:`|1 - \alpha\lambda_i|` per step; it is stable for
    :math:`\alpha < 2/\lambda_{max}` and needs :math:`O(\kappa)` steps.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.problems import quadratic
    >>> q = quadratic(dim=3, kappa=100.0)
    >>> q.eigenvalues.tolist(), float(q.value(q.x0))
    ([1.0, 10.0, 100.0], 55.5)
    >>> np.allclose(q.hessian(q.x0), q.eigenvectors() @ np.diag(q.eigenvalues)
    ...             @ q.eigenvectors().T)
    True
    """
    return Quadratic(dim, kappa, rotate, seed, noise, eigenvalues)

r"""Curvature diagnostics of Goodfellow, Bengio & Courville (2016), ch. 8, from
Hessian-vector products.

* :func:`curvature`: :math:`g^\top g`, :math:`g^\top H g` and the second-order
  prediction of the change in cost for the step :math:`-\alpha g`,
  :math:`-\alpha g^\top g + \tfrac12\alpha^2 g^\top H g` (the step raises the cost
  when :math:`\tfrac12\alpha^2 g^\top Hg > \alpha g^\top g`).
* :func:`hessian_extremes`: the k largest and smallest Hessian eigenvalues by
  Lanczos iteration on ``hvp`` with full reorthogonalisation;
  :func:`condition_number`, :func:`sharpness` (:math:`\lambda_{max}` beside the
  gradient-descent stability limit :math:`2/\alpha`) and
  :func:`negative_curvature` (the saddle index).

Every function takes one point ``(dim,)`` or a population ``(K, dim)`` and works
in the namespace of ``x`` (the Lanczos recurrence itself runs there too; only the
small tridiagonal eigenproblems are solved with NumPy).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import array_api_compat
import numpy as np

from optkit._lanczos import host as _host
from optkit._lanczos import lanczos, ritz_extremes

__all__ = [
    "Curvature",
    "Extremes",
    "NegativeCurvature",
    "Sharpness",
    "condition_number",
    "curvature",
    "hessian_extremes",
    "negative_curvature",
    "sharpness",
]


def _namespace(x: Any):
    return np if isinstance(x, np.ndarray) else array_api_compat.array_namespace(x)


@dataclass(frozen=True)
class Curvature:
    """What one gradient step ``-lr·g`` does to a quadratic model of f (per row).

    Attributes
    ----------
    gTg, gTHg : array
        :math:`g^\\top g` and :math:`g^\\top H g`.
    predicted_change : array
        :math:`-\\alpha g^\\top g + \\tfrac12\\alpha^2 g^\\top H g`.
    raises : array of bool
        :math:`\\tfrac12\\alpha^2 g^\\top H g > \\alpha g^\\top g`: the step is predicted
        to raise the cost.
    optimal_lr : array
        :math:`g^\\top g / g^\\top H g` (the best step along −g when
        :math:`g^\\top Hg > 0`; ``inf`` otherwise).
    """

    gTg: Any
    gTHg: Any
    predicted_change: Any
    raises: Any
    optimal_lr: Any


def curvature(problem: Any, x: Any, g: Any = None, *, lr: Any) -> Curvature:
    r"""The second-order prediction of the change in cost for the step :math:`-\alpha g`.

    .. math::
        f(x - \alpha g) \approx f(x) - \alpha g^\top g + \tfrac12 \alpha^2 g^\top H g

    Parameters
    ----------
    problem : Problem
        Anything with ``grad(x)`` and ``hvp(x, v)``.
    x : array, (dim,) or (K, dim)
    g : array, optional
        The step direction (default: ``problem.grad(x)``); one ``hvp`` is spent.
    lr : float or array of shape (K,)
        α, per row if an array.

    Returns
    -------
    Curvature
        Per-row ``gTg``, ``gTHg``, ``predicted_change``, ``raises``, ``optimal_lr``.

    References
    ----------
    Goodfellow, Bengio & Courville (2016), *Deep Learning*, eq. 4.9 and §8.2.1.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit import diagnostics, problems
    >>> q = problems.quadratic(eigenvalues=[1.0, 100.0], rotate=False)
    >>> c = diagnostics.curvature(q, np.array([1.0, 1.0]), lr=0.05)
    >>> float(c.gTg), float(c.gTHg), bool(c.raises)   # 1 + 100², 1 + 100³
    (10001.0, 1000001.0, True)
    >>> x = np.array([1.0, 1.0])
    >>> step = x - 0.05 * q.grad(x)
    >>> bool(np.isclose(q.value(step) - q.value(x), c.predicted_change))
    True
    """
    xp = _namespace(x)
    if g is None:
        g = problem.grad(x)
    hg = problem.hvp(x, g)
    gtg = xp.sum(g * g, axis=-1)
    gthg = xp.sum(g * hg, axis=-1)
    if hasattr(lr, "shape"):
        lr = xp.reshape(xp.asarray(lr, dtype=gtg.dtype), tuple(gtg.shape))
    predicted = -lr * gtg + 0.5 * lr * lr * gthg
    positive = gthg > 0
    optimal = xp.where(positive, gtg / xp.where(positive, gthg, 1.0), xp.inf)
    return Curvature(gtg, gthg, predicted, 0.5 * lr * lr * gthg > lr * gtg, optimal)


@dataclass(frozen=True)
class Extremes:
    """The ``k`` largest and smallest Hessian eigenvalues (Ritz values) per point.

    Attributes
    ----------
    largest : numpy.ndarray
        ``(k,)`` or ``(K, k)``, descending.
    smallest : numpy.ndarray
        ``(k,)`` or ``(K, k)``, ascending.
    largest_vectors, smallest_vectors : numpy.ndarray or None
        The Ritz vectors (``(k, dim)`` or ``(K, k, dim)``) when asked for.
    hvps : int
        Hessian-vector products spent (per point).
    converged : numpy.ndarray of bool
        Per point: every requested Ritz value met the tolerance (or the Krylov
        space became invariant).
    """

    largest: np.ndarray
    smallest: np.ndarray
    largest_vectors: np.ndarray | None
    smallest_vectors: np.ndarray | None
    hvps: int
    converged: np.ndarray


def hessian_extremes(
    problem: Any,
    x: Any,
    k: int = 1,
    *,
    max_hvps: int | None = None,
    tol: float = 1e-8,
    which: str = "both",
    vectors: bool = False,
    seed: int = 0,
) -> Extremes:
    r"""The k largest and k smallest eigenvalues of :math:`\nabla^2 f(x)` by Lanczos.

    Parameters
    ----------
    problem : Problem
        Anything with ``hvp(x, v)`` and ``dim``.
    x : array, (dim,) or (K, dim)
        One point or a population (all rows iterate together: one batched ``hvp``
        per iteration).
    k : int, default 1
    max_hvps : int, optional
        Iteration limit (default ``min(dim, 300)``; with ``dim`` iterations the
        Ritz values are the eigenvalues).
    tol : float, default 1e-8
        A Ritz value θ has converged when its residual bound :math:`|\beta_m
        s_{m,i}|` is at most ``tol·|θ|`` (or at round-off level of :math:`\lVert
        T\rVert`); the iteration stops when the wanted ones have.
    which : {"both", "largest", "smallest"}, default "both"
        The end(s) of the spectrum whose convergence ends the iteration (both are
        returned either way).
    vectors : bool, default False
        Also return the Ritz vectors.
    seed : int, default 0
        Seed of the random start vector.

    Returns
    -------
    Extremes

    Notes
    -----
    Lanczos builds an orthonormal basis :math:`Q_m` of the Krylov space
    :math:`\{q, Hq, \dots, H^{m-1}q\}` with :math:`Q_m^\top H Q_m = T_m` tridiagonal;
    the extreme eigenvalues of :math:`T_m` converge first. Every new vector is
    orthogonalised against all previous ones, twice (full reorthogonalisation), so
    no spurious copies of converged eigenvalues appear. Clustered interior ends of
    the spectrum converge slowly: for a κ = 10⁴ quadratic with 1,000 log-spaced
    eigenvalues λ_max converges in under 60 products, λ_min needs about as many as
    the dimension.

    References
    ----------
    Lanczos (1950); Golub & Van Loan (2013), *Matrix Computations*, §10.1.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit import diagnostics, problems
    >>> q = problems.quadratic(dim=50, kappa=1e3)
    >>> e = diagnostics.hessian_extremes(q, q.x0, k=2)
    >>> bool(np.allclose(e.largest, [1e3, q.eigenvalues[-2]]))
    True
    >>> bool(np.isclose(e.smallest[0], 1.0)), e.hvps <= 50
    (True, True)
    """
    xp = _namespace(x)
    points = xp.reshape(x, (1, x.shape[-1])) if len(x.shape) == 1 else x
    dim = points.shape[-1]
    m_max = min(dim, 300) if max_hvps is None else int(max_hvps)
    if m_max < 1 or k < 1:
        raise ValueError(f"need max_hvps >= 1 and k >= 1, got {m_max} and {k}")
    if which not in ("both", "largest", "smallest"):
        raise ValueError(f"which={which!r}: expected 'both', 'largest' or 'smallest'")
    alpha, beta, length, done, basis, used = lanczos(
        problem.hvp, points, m_max, k, which, tol, seed
    )
    large, small, large_v, small_v = ritz_extremes(alpha, beta, length, basis, k, vectors)
    if len(x.shape) == 1:
        large, small, done = large[0], small[0], done[0]
        large_v = None if large_v is None else large_v[0]
        small_v = None if small_v is None else small_v[0]
    return Extremes(large, small, large_v, small_v, used, np.asarray(done))


def condition_number(problem: Any, x: Any, **lanczos: Any) -> np.ndarray:
    r""":math:`\lambda_{max}/\lambda_{min}` of the Hessian, by :func:`hessian_extremes`
    (keywords passed on); ``inf`` unless :math:`\lambda_{min}` is positive beyond
    round-off (:math:`64\,\epsilon\,\lambda_{max}`).

    Examples
    --------
    >>> from optkit import diagnostics, problems
    >>> q = problems.quadratic(dim=20, kappa=1e4)
    >>> round(float(diagnostics.condition_number(q, q.x0)), 6)
    10000.0
    """
    e = hessian_extremes(problem, x, 1, **lanczos)
    low, high = e.smallest[..., 0], e.largest[..., 0]
    positive = low > 64 * np.finfo(np.float64).eps * np.abs(high)  # above round-off
    return np.where(positive, high / np.where(positive, low, 1.0), np.inf)


@dataclass(frozen=True)
class Sharpness:
    """λ_max of the Hessian beside gradient descent's stability limit 2/lr.

    Attributes
    ----------
    value : numpy.ndarray
        λ_max per point.
    limit : float, numpy.ndarray or None
        2 / lr (None without lr).
    stable : numpy.ndarray of bool or None
        ``value < limit``: on a quadratic, gradient descent with this lr converges
        along every eigen-direction.
    """

    value: np.ndarray
    limit: Any
    stable: Any


def sharpness(problem: Any, x: Any, lr: Any = None, **lanczos: Any) -> Sharpness:
    r"""The sharpness :math:`\lambda_{max}(\nabla^2 f(x))` and the limit :math:`2/\alpha`.

    Gradient descent on a quadratic multiplies the error along eigenvalue λ by
    :math:`1 - \alpha\lambda` each step: it diverges along λ_max once
    :math:`\alpha\lambda_{max} > 2`.

    Examples
    --------
    >>> from optkit import diagnostics, problems
    >>> q = problems.quadratic(dim=10, kappa=100.0)
    >>> s = diagnostics.sharpness(q, q.x0, lr=0.03)
    >>> round(float(s.value), 6), round(s.limit, 4), bool(s.stable)
    (100.0, 66.6667, False)
    """
    lanczos.setdefault("which", "largest")
    value = hessian_extremes(problem, x, 1, **lanczos).largest[..., 0]
    if lr is None:
        return Sharpness(value, None, None)
    limit = 2.0 / np.asarray(lr, dtype=np.float64) if hasattr(lr, "shape") else 2.0 / lr
    return Sharpness(value, limit, value < limit)


@dataclass(frozen=True)
class NegativeCurvature:
    """The saddle index (number of negative Hessian eigenvalues) per point.

    Attributes
    ----------
    index : numpy.ndarray of int
    min_eigenvalue : numpy.ndarray
    exact : bool
        True when counted from the dense Hessian's eigenvalues; False for a Lanczos
        estimate (a lower bound: converged negative Ritz values).
    """

    index: np.ndarray
    min_eigenvalue: np.ndarray
    exact: bool


def negative_curvature(
    problem: Any, x: Any, *, exact_dim: int = 500, rtol: float = 1e-10, **lanczos: Any
) -> NegativeCurvature:
    r"""Count the Hessian's negative eigenvalues (the index of a critical point).

    For ``dim <= exact_dim`` the dense Hessian's eigenvalues are computed
    (``numpy.linalg.eigvalsh``) and those below ``-rtol·max|λ|`` are counted; above,
    Lanczos estimates the count from the converged negative Ritz values (up to 20).

    Examples
    --------
    >>> import numpy as np
    >>> from optkit import diagnostics, problems
    >>> s = problems.saddle(eigenvalues=[2.0, -1.0, -3.0])
    >>> int(diagnostics.negative_curvature(s, s.saddle_point).index)
    2
    >>> int(diagnostics.negative_curvature(s, s.x_star).index)
    0
    """
    if problem.dim <= exact_dim:
        lam = np.linalg.eigvalsh(_host(problem.hessian(x)))
        scale = np.abs(lam).max(axis=-1, keepdims=True)
        index = np.sum(lam < -rtol * scale, axis=-1)
        return NegativeCurvature(index, lam[..., 0], True)
    e = hessian_extremes(problem, x, min(20, problem.dim), **lanczos)
    index = np.sum(e.smallest < -rtol * np.abs(e.largest[..., :1]), axis=-1)
    return NegativeCurvature(index, e.smallest[..., 0], False)

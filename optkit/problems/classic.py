"""Classic test functions in any dimension: Rosenbrock, Rastrigin, Styblinski–Tang."""

from __future__ import annotations

import math

import numpy as np

from optkit.problems._base import Problem, Separable, positive_int, real

__all__ = ["rastrigin", "rosenbrock", "styblinski_tang"]


def _pad(xp, x, before: bool):
    """``x`` (K, n) with a zero column added before or after: (K, n + 1)."""
    zero = xp.zeros((x.shape[0], 1), dtype=x.dtype, device=_device(x))
    return xp.concat((zero, x) if before else (x, zero), axis=-1)


def _device(x):
    import array_api_compat

    return array_api_compat.device(x)


class Rosenbrock(Problem):
    """The banana valley; see :func:`rosenbrock`."""

    name = "rosenbrock"
    numba_kernel = "rosenbrock"

    def __init__(self, dim=2, noise=0.0):
        dim = positive_int("dim", dim, minimum=2)
        x0 = np.where(np.arange(dim) % 2 == 0, -1.2, 1.0)
        super().__init__(
            dim,
            x0,
            x_star=np.ones(dim),
            f_star=0.0,
            bounds=(-2.0, 2.0),
            noise=noise,
            params={"dim": dim, "noise": float(noise)},
        )

    def _value(self, xp, x):
        a, b = x[:, :-1], x[:, 1:]
        t, u = b - a * a, 1 - a
        return xp.sum(100 * t * t + u * u, axis=-1)

    def _value_and_grad(self, xp, x):
        a, b = x[:, :-1], x[:, 1:]
        t, u = b - a * a, 1 - a
        f = xp.sum(100 * t * t + u * u, axis=-1)
        g = _pad(xp, -400 * a * t - 2 * u, before=False) + _pad(xp, 200 * t, before=True)
        return f, g

    def _hvp(self, xp, x, v):
        a, b = x[:, :-1], x[:, 1:]
        va, vb = v[:, :-1], v[:, 1:]
        left = (1200 * a * a - 400 * b + 2) * va - 400 * a * vb
        right = 200 * vb - 400 * a * va
        return _pad(xp, left, before=False) + _pad(xp, right, before=True)

    def _hessian(self, xp, x):
        a, b = x[:, :-1], x[:, 1:]
        diag = _pad(xp, 1200 * a * a - 400 * b + 2, False) + _pad(xp, 200 + 0 * b, True)
        off = _pad(xp, -400 * a, before=False)
        d, dev = self.dim, _device(x)
        eye = xp.eye(d, dtype=x.dtype, device=dev)
        upper = xp.eye(d, k=1, dtype=x.dtype, device=dev)
        lower = xp.eye(d, k=-1, dtype=x.dtype, device=dev)
        return eye * diag[:, :, None] + upper * off[:, :, None] + lower * off[:, None, :]


def rosenbrock(dim: int = 2, noise: float = 0.0) -> Rosenbrock:
    r"""Rosenbrock's valley (the extended form in ``dim`` coordinates).

    .. math:: f(x) = \sum_{i=1}^{d-1} 100\,(x_{i+1} - x_i^2)^2 + (1 - x_i)^2

    Parameters
    ----------
    dim : int, default 2
        Number of coordinates, ``>= 2``.
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    Rosenbrock
        ``x_star = (1, ..., 1)``, ``f_star = 0``; ``x0 = (-1.2, 1, -1.2, 1, ...)``
        (the classic start); bounds ``[-2, 2]`` per coordinate.

    Notes
    -----
    A curved, narrow valley: the Hessian at the minimum of the 2-D function has
    eigenvalues ≈ 0.4 and 1001.6 (condition number ≈ 2508). The Hessian is
    tridiagonal with :math:`H_{ii} = 1200x_i^2 - 400x_{i+1} + 2\,[i<d] + 200\,[i>1]`
    and :math:`H_{i,i+1} = -400x_i`.

    References
    ----------
    Rosenbrock, H. H. (1960). The Computer Journal 3(3), 175–184.

    Examples
    --------
    >>> from optkit.problems import rosenbrock
    >>> p = rosenbrock()
    >>> round(float(p.value(p.x0)), 12), p.grad(p.x0).round(1).tolist()
    (24.2, [-215.6, -88.0])
    """
    return Rosenbrock(dim, noise)


class Rastrigin(Separable):
    """A bowl covered in local minima; see :func:`rastrigin`."""

    name = "rastrigin"
    numba_kernel = "rastrigin"

    def __init__(self, dim=2, amplitude=10.0, noise=0.0):
        dim = positive_int("dim", dim)
        self.amplitude = real("amplitude", amplitude, minimum=0.0)
        super().__init__(
            dim,
            np.full(dim, 3.0),
            x_star=np.zeros(dim),
            f_star=0.0,
            bounds=(-5.12, 5.12),
            noise=noise,
            params={"dim": dim, "amplitude": self.amplitude, "noise": float(noise)},
        )

    def _value(self, xp, x):
        a = self.amplitude
        return xp.sum(x * x - a * xp.cos(2 * math.pi * x) + a, axis=-1)

    def _value_and_grad(self, xp, x):
        a, w = self.amplitude, 2 * math.pi
        f = xp.sum(x * x - a * xp.cos(w * x) + a, axis=-1)
        return f, 2 * x + (a * w) * xp.sin(w * x)

    def _curvature(self, xp, x):
        a, w = self.amplitude, 2 * math.pi
        return 2 + (a * w * w) * xp.cos(w * x)

    def _numba_args(self):
        return (self.amplitude,)


def rastrigin(dim: int = 2, amplitude: float = 10.0, noise: float = 0.0) -> Rastrigin:
    r"""Rastrigin's function: a parabola with a cosine ripple, :math:`\approx 10^d`
    local minima in :math:`[-5.12, 5.12]^d`.

    .. math:: f(x) = A d + \sum_i \left(x_i^2 - A\cos(2\pi x_i)\right)

    Parameters
    ----------
    dim : int, default 2
    amplitude : float, default 10
        A, the depth of the ripple.
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    Rastrigin
        ``x_star = 0``, ``f_star = 0``; ``x0 = (3, ..., 3)`` (inside the basin of
        the local minimum near 2.98 in every coordinate); bounds ``[-5.12, 5.12]``.

    Notes
    -----
    Separable: :math:`\partial_i f = 2x_i + 2\pi A\sin(2\pi x_i)`, diagonal Hessian
    :math:`2 + 4\pi^2 A\cos(2\pi x_i)`.

    References
    ----------
    Rastrigin, L. A. (1974). Systems of extremal control. Nauka, Moscow.

    Examples
    --------
    >>> from optkit.problems import rastrigin
    >>> p = rastrigin(dim=3)
    >>> float(p.value(p.x_star)), round(float(p.value(p.x0)), 6)
    (0.0, 27.0)
    """
    return Rastrigin(dim, amplitude, noise)


def _styblinski_root() -> float:
    """The global minimizer of t -> ½(t⁴ − 16t² + 5t): Newton on 2t³ − 16t + 2.5."""
    t = -2.9
    for _ in range(50):
        step = (2 * t**3 - 16 * t + 2.5) / (6 * t * t - 16)
        t -= step
        if abs(step) < 1e-17:
            break
    return t


class StyblinskiTang(Separable):
    """A separable quartic with one global and many local minima."""

    name = "styblinski_tang"
    numba_kernel = "styblinski_tang"

    def __init__(self, dim=2, noise=0.0):
        dim = positive_int("dim", dim)
        t = _styblinski_root()
        self.coordinate_minimum = 0.5 * (t**4 - 16 * t * t + 5 * t)
        super().__init__(
            dim,
            np.zeros(dim),
            x_star=np.full(dim, t),
            f_star=dim * self.coordinate_minimum,
            bounds=(-5.0, 5.0),
            noise=noise,
            params={"dim": dim, "noise": float(noise)},
        )

    def _value(self, xp, x):
        x2 = x * x
        return 0.5 * xp.sum(x2 * x2 - 16 * x2 + 5 * x, axis=-1)

    def _value_and_grad(self, xp, x):
        x2 = x * x
        f = 0.5 * xp.sum(x2 * x2 - 16 * x2 + 5 * x, axis=-1)
        return f, 2 * x2 * x - 16 * x + 2.5

    def _curvature(self, xp, x):
        return 6 * x * x - 16


def styblinski_tang(dim: int = 2, noise: float = 0.0) -> StyblinskiTang:
    r"""The Styblinski–Tang function.

    .. math:: f(x) = \tfrac12 \sum_i \left(x_i^4 - 16x_i^2 + 5x_i\right)

    Parameters
    ----------
    dim : int, default 2
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    StyblinskiTang
        ``x_star = (t*, ..., t*)`` with ``t* ≈ -2.903534`` (the root of
        :math:`2t^3 - 16t + 2.5`, refined by Newton to float64), ``f_star = d·f₁(t*)
        ≈ -39.16617·d``; each coordinate also has a local minimum near 2.7468
        (value ≈ -25.03). ``x0 = 0``; bounds ``[-5, 5]``.

    References
    ----------
    Styblinski, M. A. & Tang, T.-S. (1990). Neural Networks 3(4), 467–483.

    Examples
    --------
    >>> from optkit.problems import styblinski_tang
    >>> p = styblinski_tang(dim=2)
    >>> round(p.f_star / p.dim, 5)
    -39.16617
    """
    return StyblinskiTang(dim, noise)

"""Two-dimensional sums of squares: Beale's and Himmelblau's functions.

Both are :math:`f = \\sum_j r_j(x, y)^2`, so one code path gives the value, the
gradient :math:`2\\sum_j r_j\\nabla r_j` and the Hessian
:math:`2\\sum_j (\\nabla r_j\\nabla r_j^\\top + r_j\\nabla^2 r_j)` from each residual's
value, gradient and Hessian.
"""

from __future__ import annotations

import numpy as np

from optkit.problems._base import Problem

__all__ = ["beale", "himmelblau"]


class SumOfSquares2D(Problem):
    """Base of 2-D problems ``f = Σ r_j²`` with minimum 0; subclasses give
    :meth:`residuals`."""

    def __init__(self, x0, x_star, bounds, noise):
        super().__init__(
            2,
            x0,
            x_star=x_star,
            f_star=0.0,
            bounds=bounds,
            noise=noise,
            params={"noise": float(noise)},
        )

    def residuals(self, xp, x, y):
        """``[(r, (r_x, r_y), (r_xx, r_xy, r_yy)), ...]`` at the points ``(x, y)``."""
        raise NotImplementedError

    def _value(self, xp, p):
        terms = self.residuals(xp, p[:, 0], p[:, 1])
        return sum(r * r for r, _, _ in terms)

    def _value_and_grad(self, xp, p):
        terms = self.residuals(xp, p[:, 0], p[:, 1])
        f = sum(r * r for r, _, _ in terms)
        gx = 2 * sum(r * dr[0] for r, dr, _ in terms)
        gy = 2 * sum(r * dr[1] for r, dr, _ in terms)
        return f, xp.stack((gx, gy), axis=-1)

    def _hessian_entries(self, xp, p):
        terms = self.residuals(xp, p[:, 0], p[:, 1])
        hxx = 2 * sum(dr[0] * dr[0] + r * d2[0] for r, dr, d2 in terms)
        hxy = 2 * sum(dr[0] * dr[1] + r * d2[1] for r, dr, d2 in terms)
        hyy = 2 * sum(dr[1] * dr[1] + r * d2[2] for r, dr, d2 in terms)
        return hxx, hxy, hyy

    def _hvp(self, xp, p, v):
        hxx, hxy, hyy = self._hessian_entries(xp, p)
        vx, vy = v[:, 0], v[:, 1]
        return xp.stack((hxx * vx + hxy * vy, hxy * vx + hyy * vy), axis=-1)

    def _hessian(self, xp, p):
        hxx, hxy, hyy = self._hessian_entries(xp, p)
        rows = (xp.stack((hxx, hxy), axis=-1), xp.stack((hxy, hyy), axis=-1))
        return xp.stack(rows, axis=-2)


class Beale(SumOfSquares2D):
    """Beale's function; see :func:`beale`."""

    name = "beale"
    numba_kernel = "beale"

    def __init__(self, noise=0.0):
        super().__init__((1.0, 1.0), x_star=(3.0, 0.5), bounds=(-4.5, 4.5), noise=noise)

    def residuals(self, xp, x, y):
        y2 = y * y
        y3 = y2 * y
        zero = 0 * x
        return [
            (1.5 - x + x * y, (y - 1, x), (zero, 1 + zero, zero)),
            (2.25 - x + x * y2, (y2 - 1, 2 * x * y), (zero, 2 * y, 2 * x)),
            (2.625 - x + x * y3, (y3 - 1, 3 * x * y2), (zero, 3 * y2, 6 * x * y)),
        ]


def beale(noise: float = 0.0) -> Beale:
    r"""Beale's function: flat plateaus and steep ridges around one minimum.

    .. math::
        f(x, y) = (1.5 - x + xy)^2 + (2.25 - x + xy^2)^2 + (2.625 - x + xy^3)^2

    Parameters
    ----------
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    Beale
        ``x_star = (3, 0.5)``, ``f_star = 0``; ``x0 = (1, 1)``; bounds
        ``[-4.5, 4.5]²``.

    References
    ----------
    Beale, E. M. L. (1958). On an iterative method for finding a local minimum of a
    function of more than one variable. Princeton University, Tech. Rep. 25.

    Examples
    --------
    >>> from optkit.problems import beale
    >>> p = beale()
    >>> float(p.value(p.x_star)), float(p.value(p.x0))
    (0.0, 14.203125)
    """
    return Beale(noise)


#: Himmelblau's four global minima (value 0): (3, 2) exactly; the other three are
#: roots refined by Newton's method at construction.
_HIMMELBLAU_GUESSES = (
    (3.0, 2.0),
    (-2.805118, 3.131312),
    (-3.779310, -3.283186),
    (3.584428, -1.848126),
)


class Himmelblau(SumOfSquares2D):
    """Himmelblau's function; see :func:`himmelblau`."""

    name = "himmelblau"
    numba_kernel = "himmelblau"

    def __init__(self, noise=0.0):
        super().__init__((0.0, 0.0), x_star=(3.0, 2.0), bounds=(-5.0, 5.0), noise=noise)
        self.minima = np.array([self._root(g) for g in _HIMMELBLAU_GUESSES])
        self.minima.flags.writeable = False

    def _root(self, guess):
        """Newton's method on the residuals r = 0 (a 2 x 2 system)."""
        p = np.array(guess, dtype=np.float64)
        for _ in range(20):
            (r1, d1, _), (r2, d2, _) = self.residuals(np, p[:1], p[1:])
            jac = np.array([[d1[0][0], d1[1][0]], [d2[0][0], d2[1][0]]])
            step = np.linalg.solve(jac, [r1[0], r2[0]])
            p = p - step
            if np.max(np.abs(step)) < 1e-16:
                break
        return p

    def residuals(self, xp, x, y):
        zero = 0 * x
        return [
            (x * x + y - 11, (2 * x, 1 + zero), (2 + zero, zero, zero)),
            (x + y * y - 7, (1 + zero, 2 * y), (zero, zero, 2 + zero)),
        ]


def himmelblau(noise: float = 0.0) -> Himmelblau:
    r"""Himmelblau's function: four global minima of equal value 0.

    .. math:: f(x, y) = (x^2 + y - 11)^2 + (x + y^2 - 7)^2

    Parameters
    ----------
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    Himmelblau
        ``x_star = (3, 2)`` (one of the four), ``f_star = 0``; ``minima`` holds all
        four, shape ``(4, 2)``: (3, 2), (−2.805118, 3.131312), (−3.779310, −3.283186),
        (3.584428, −1.848126); a local maximum sits at (−0.270845, −0.923039).
        ``x0 = (0, 0)``; bounds ``[-5, 5]²``.

    References
    ----------
    Himmelblau, D. M. (1972). Applied Nonlinear Programming. McGraw-Hill.

    Examples
    --------
    >>> from optkit.problems import himmelblau
    >>> p = himmelblau()
    >>> bool(abs(p.value(p.minima)).max() < 1e-20)
    True
    """
    return Himmelblau(noise)

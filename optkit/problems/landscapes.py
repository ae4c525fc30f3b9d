"""Hard features of a landscape, one at a time: saddle points and cliffs."""

from __future__ import annotations

import numpy as np

from optkit.problems._base import Problem, Separable, positive_int, real

__all__ = ["cliff", "saddle"]


class QuadraticSaddle(Separable):
    """A strict saddle at the origin, bounded below by a quartic; see :func:`saddle`."""

    name = "saddle"
    numba_kernel = "saddle_quadratic"

    def __init__(self, dim=2, eigenvalues=None, quartic=1.0, noise=0.0):
        if eigenvalues is None:
            dim = positive_int("dim", dim, minimum=2)
            lam = np.ones(dim)
            lam[-1] = -1.0
        else:
            lam = np.array(eigenvalues, dtype=np.float64).reshape(-1)
            if dim is not None and positive_int("dim", dim) != lam.shape[0]:
                raise ValueError(f"dim={dim} but {lam.shape[0]} eigenvalues were given")
            if not np.all(np.isfinite(lam)) or lam.shape[0] == 0:
                raise ValueError(f"eigenvalues={lam.tolist()!r}: need finite values")
        c = real("quartic", quartic, minimum=0.0)
        if c == 0 and np.any(lam < 0):
            raise ValueError("quartic=0 with a negative eigenvalue: f is unbounded below")
        self.eigenvalues, self.quartic = lam, c
        self.eigenvalues.flags.writeable = False
        self.saddle_point = np.zeros(lam.shape[0])
        self.index = int(np.sum(lam < 0))
        negative = np.minimum(lam, 0.0)
        x_star = np.sqrt(np.maximum(-lam, 0.0) / c) if c > 0 else np.zeros_like(lam)
        super().__init__(
            lam.shape[0],
            np.where(lam < 0, 1e-3, 1.0),
            x_star=x_star,
            f_star=float(np.sum(-(negative**2)) / (4 * c)) if c > 0 else 0.0,
            bounds=(-2.0, 2.0),
            noise=noise,
            params={
                "kind": "quadratic",
                "dim": int(lam.shape[0]),
                "eigenvalues": lam.tolist(),
                "quartic": c,
                "noise": float(noise),
            },
        )

    def _lam(self, xp, x):
        return self.constant(xp, "eigenvalues", self.eigenvalues, x)

    def _value(self, xp, x):
        x2 = x * x
        return xp.sum(
            0.5 * self._lam(xp, x) * x2 + (0.25 * self.quartic) * x2 * x2, axis=-1
        )

    def _value_and_grad(self, xp, x):
        lam, x2 = self._lam(xp, x), x * x
        f = xp.sum(0.5 * lam * x2 + (0.25 * self.quartic) * x2 * x2, axis=-1)
        return f, lam * x + self.quartic * x2 * x

    def _curvature(self, xp, x):
        return self._lam(xp, x) + (3 * self.quartic) * x * x

    def _numba_args(self):
        return (self.eigenvalues, self.quartic)


class MonkeySaddle(Problem):
    """A degenerate saddle (zero Hessian) at the origin; see :func:`saddle`."""

    name = "saddle"
    numba_kernel = "saddle_monkey"

    def __init__(self, dim=2, quartic=1.0, noise=0.0):
        dim = positive_int("dim", dim, minimum=2)
        c = real("quartic", quartic, minimum=0.0, strict=True)
        self.quartic, self.index = c, 0
        self.saddle_point = np.zeros(dim)
        x_star = np.zeros(dim)
        x_star[0] = -3.0 / c
        x0 = np.ones(dim)
        x0[1] = 0.0
        super().__init__(
            dim,
            x0,
            x_star=x_star,
            f_star=-27.0 / (4 * c**3),
            bounds=(-4.0, 4.0),
            noise=noise,
            params={"kind": "monkey", "dim": dim, "quartic": c, "noise": float(noise)},
        )

    def _value(self, xp, p):
        return self._value_and_grad(xp, p)[0]

    def _value_and_grad(self, xp, p):
        c = self.quartic
        x, y, rest = p[:, 0], p[:, 1], p[:, 2:]
        r2 = x * x + y * y
        f = x * x * x - 3 * x * y * y + (0.25 * c) * r2 * r2
        f = f + 0.5 * xp.sum(rest * rest, axis=-1)
        gx = 3 * x * x - 3 * y * y + c * r2 * x
        gy = -6 * x * y + c * r2 * y
        return f, xp.concat((xp.stack((gx, gy), axis=-1), rest), axis=-1)

    def _entries(self, p):
        c = self.quartic
        x, y = p[:, 0], p[:, 1]
        hxx = 6 * x + c * (3 * x * x + y * y)
        hxy = -6 * y + 2 * c * x * y
        hyy = -6 * x + c * (x * x + 3 * y * y)
        return hxx, hxy, hyy

    def _hvp(self, xp, p, v):
        hxx, hxy, hyy = self._entries(p)
        vx, vy = v[:, 0], v[:, 1]
        plane = xp.stack((hxx * vx + hxy * vy, hxy * vx + hyy * vy), axis=-1)
        return xp.concat((plane, v[:, 2:]), axis=-1)

    def _numba_args(self):
        return (self.quartic,)


def saddle(
    kind: str = "quadratic",
    dim: int | None = None,
    *,
    eigenvalues=None,
    quartic: float = 1.0,
    noise: float = 0.0,
) -> QuadraticSaddle | MonkeySaddle:
    r"""A saddle point at the origin, with a quartic term so that f is bounded below.

    ``kind="quadratic"`` (a strict saddle: the Hessian at 0 has negative
    eigenvalues):

    .. math:: f(x) = \sum_i \tfrac12\lambda_i x_i^2 + \tfrac{c}{4} x_i^4

    ``kind="monkey"`` (a degenerate saddle: the Hessian at 0 is zero in the plane of
    the first two coordinates, the index is 0, and the gradient vanishes like
    :math:`r^2`):

    .. math::
        f(x) = x_1^3 - 3x_1x_2^2 + \tfrac{c}{4}(x_1^2 + x_2^2)^2
             + \tfrac12\sum_{i>2} x_i^2

    Parameters
    ----------
    kind : {"quadratic", "monkey"}
    dim : int, default 2
        Number of coordinates (``>= 2``; for ``"quadratic"`` taken from
        ``eigenvalues`` when given).
    eigenvalues : sequence of float, optional
        ``"quadratic"`` only: the Hessian's eigenvalues at the saddle; default
        ``(1, ..., 1, -1)`` (index 1).
    quartic : float, default 1
        c ≥ 0 (> 0 when a λ is negative, and for ``"monkey"``).
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad`` (noise alone lets a run
        started exactly at the saddle escape).

    Returns
    -------
    QuadraticSaddle or MonkeySaddle
        Attributes ``saddle_point`` (zeros) and ``index`` (number of negative
        eigenvalues at the saddle). ``"quadratic"``: minimizers
        :math:`x_i = \pm\sqrt{-\lambda_i/c}` where :math:`\lambda_i<0` (else 0),
        ``x_star`` takes the + signs, :math:`f^* = -\sum_{\lambda_i<0}\lambda_i^2/(4c)`;
        ``x0`` has 1 along positive and 1e-3 along negative curvature (it slides
        towards the saddle, then escapes). ``"monkey"``: three minima at radius
        3/c, ``x_star = (-3/c, 0, ...)``, :math:`f^* = -27/(4c^3)`; ``x0 = (1, 0, 1,
        ...)`` creeps towards the saddle along the first axis.

    Notes
    -----
    Near a strict saddle, gradient descent with step α grows the component along
    :math:`\lambda_i < 0` by :math:`1 + \alpha|\lambda_i|` per step, so escaping from
    distance ε takes about :math:`\log(1/\varepsilon) / \log(1 + \alpha|\lambda_i|)`
    steps.

    Examples
    --------
    >>> from optkit.problems import saddle
    >>> s = saddle()
    >>> s.index, s.x_star.tolist(), s.f_star
    (1, [0.0, 1.0], -0.25)
    >>> float(saddle("monkey").value(saddle("monkey").x_star))
    -6.75
    """
    if kind == "quadratic":
        if eigenvalues is None and dim is None:
            dim = 2
        return QuadraticSaddle(dim, eigenvalues, quartic, noise)
    if kind == "monkey":
        if eigenvalues is not None:
            raise ValueError("eigenvalues= applies to kind='quadratic' only")
        return MonkeySaddle(2 if dim is None else dim, quartic, noise)
    raise ValueError(f"unknown kind={kind!r}: expected 'quadratic' or 'monkey'")


#: The wall's profile rises over 15/8 of ``width`` so that its steepest slope is
#: exactly ``height / width`` (the smootherstep's largest slope is 15/8).
_SPREAD = 15.0 / 8.0
_FOOT = -1.0


class Cliff(Problem):
    """A valley with a cliff on the way down; see :func:`cliff`."""

    name = "cliff"
    numba_kernel = "cliff"

    def __init__(self, height=10.0, width=0.1, noise=0.0):
        self.height = real("height", height, minimum=0.0)
        self.width = real("width", width, minimum=0.0, strict=True)
        self.foot = _FOOT
        super().__init__(
            2,
            (-3.0, 0.5),
            x_star=(0.0, 0.0),
            f_star=0.0,
            bounds=((-4.0, -2.0), (2.0, 2.0)),
            noise=noise,
            params={"height": self.height, "width": self.width, "noise": float(noise)},
        )

    def _profile(self, xp, x):
        """The wall's height and its first two x-derivatives at the points' x."""
        k = 1.0 / (_SPREAD * self.width)
        z = xp.clip((self.foot - x) * k, 0.0, 1.0)
        s = z * z * z * (z * (6 * z - 15) + 10)
        ds = 30 * z * z * (z - 1) * (z - 1)
        d2s = 60 * z * (2 * z - 1) * (z - 1)
        h = self.height
        return h * s, -h * k * ds, h * k * k * d2s

    def _value(self, xp, p):
        x, y = p[:, 0], p[:, 1]
        return 0.5 * (x * x + y * y) + self._profile(xp, x)[0]

    def _value_and_grad(self, xp, p):
        x, y = p[:, 0], p[:, 1]
        wall, slope, _ = self._profile(xp, x)
        return 0.5 * (x * x + y * y) + wall, xp.stack((x + slope, y), axis=-1)

    def _hvp(self, xp, p, v):
        bend = self._profile(xp, p[:, 0])[2]
        return xp.stack(((1 + bend) * v[:, 0], v[:, 1]), axis=-1)

    def _numba_args(self):
        return (self.height, 1.0 / (_SPREAD * self.width), self.foot)


def cliff(height: float = 10.0, width: float = 0.1, noise: float = 0.0) -> Cliff:
    r"""A smooth valley with a cliff: one gradient step on the wall jumps far away.

    .. math::
        f(x, y) = \tfrac12(x^2 + y^2) + h\,S\!\left(\frac{-1 - x}{s w}\right),
        \qquad S(z) = 6z^5 - 15z^4 + 10z^3 \ \text{on}\ [0, 1],

    with :math:`S = 0` for :math:`z \le 0`, :math:`S = 1` for :math:`z \ge 1`
    (a :math:`C^2` step) and :math:`s = 15/8`. Left of :math:`x = -1 - sw` lies a
    plateau raised by :math:`h`; the wall falls to the valley floor over
    :math:`x \in [-1 - sw, -1]`, and the valley ½(x² + y²) leads on to the minimum
    at the origin.

    Parameters
    ----------
    height : float, default 10
        h ≥ 0, the drop of the cliff.
    width : float, default 0.1
        w > 0: the wall's steepest slope is exactly :math:`h/w`, which is ``height /
        width`` times the valley's gradient at the wall's foot (|x| = 1 there).
    noise : float, default 0
        σ of the additive Gaussian noise of ``sample_grad``.

    Returns
    -------
    Cliff
        ``x_star = (0, 0)``, ``f_star = 0``; ``x0 = (-3, 0.5)`` on the plateau, so
        that descent walks onto the wall; bounds ``[-4, 2] x [-2, 2]``.

    Notes
    -----
    A gradient step of size α from the wall's face moves x by up to
    :math:`\alpha h/w`: with the defaults and α = 0.1, 10 units, far past the minimum
    (the "cliff" of Goodfellow et al. 2016, §8.2.4, after Pascanu et al.
    2013). Clipping the gradient bounds that jump.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.problems import cliff
    >>> c = cliff(height=10.0, width=0.1)
    >>> wall = np.array([-1 - 15 / 16 * 0.1, 0.0])   # the wall's steepest point
    >>> round(float(c.grad(wall)[0] - wall[0]), 9)   # the wall's own slope: -h/w
    -100.0
    """
    return Cliff(height, width, noise)

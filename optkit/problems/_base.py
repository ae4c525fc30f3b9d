"""The :class:`Problem` base: shapes, namespaces, constants, noise, random starts.

A subclass writes the mathematics once, for a population of points ``x`` of shape
``(K, dim)`` in any Array API namespace ``xp``:

* ``_value_and_grad(xp, x) -> (f, g)`` with ``f`` of shape ``(K,)``;
* ``_hvp(xp, x, v)`` (the exact Hessian-vector product);
* optionally ``_value`` (cheaper than the gradient) and ``_hessian`` (analytic;
  otherwise the Hessian is the stack of ``hvp`` with the unit vectors).

Every reduction over a point's coordinates runs along the last axis of an
element-wise product, or as a stack of identically shaped matrix products, so
that row ``k`` of a population is computed by exactly the same operations as the
point alone: results do not depend on the population size, bit for bit.
"""

from __future__ import annotations

import importlib.util
import math
import numbers
from collections.abc import Sequence
from typing import Any, ClassVar

import array_api_compat
import numpy as np

__all__ = ["Problem", "Separable", "generators"]


def namespace(x: Any) -> Any:
    """The Array API namespace of ``x`` (NumPy itself for NumPy arrays)."""
    if isinstance(x, np.ndarray):
        return np
    return array_api_compat.array_namespace(x)


def positive_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int ``>= minimum``; the error names the parameter."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}={value!r}: expected an integer")
    if value < minimum:
        raise ValueError(f"{name}={value!r}: must be >= {minimum}")
    return int(value)


def real(name: str, value: Any, *, minimum: float | None = None, strict: bool = False):
    """``value`` as a finite float (``> minimum`` if strict, else ``>=``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}={value!r}: expected a number")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r}: must be finite")
    if minimum is not None and (value <= minimum if strict else value < minimum):
        raise ValueError(f"{name}={value!r}: must be {'>' if strict else '>='} {minimum}")
    return value


def generators(rng: Any, count: int | None) -> list[np.random.Generator]:
    """``count`` generators from a sequence of them (checked), or ``[rng]``."""
    if isinstance(rng, np.random.Generator):
        return [rng]
    if isinstance(rng, Sequence) and all(isinstance(r, np.random.Generator) for r in rng):
        if count is not None and len(rng) != count:
            raise ValueError(f"rng holds {len(rng)} generators for {count} points")
        return list(rng)
    raise TypeError(
        f"rng must be a numpy.random.Generator or a sequence of them (one per point), "
        f"got {type(rng).__name__}"
    )


class Problem:
    """An objective with exact derivatives, evaluated on one point or a population.

    Attributes
    ----------
    name : str
        The registry name (``optkit.problems.make(name, **params)`` rebuilds it).
    dim : int
        Number of coordinates of a point.
    x0 : numpy.ndarray
        The documented standard start, shape ``(dim,)``.
    x_star, f_star : numpy.ndarray or None, float or None
        A global minimizer and the minimum, where known.
    bounds : tuple of numpy.ndarray
        ``(low, high)``, each ``(dim,)``: the box of :meth:`random_start` and of plots.
    noise : float
        Standard deviation σ of the additive Gaussian noise of :meth:`sample_grad`.
    params : dict
        The constructor's arguments (plain data; see :attr:`spec`).

    Notes
    -----
    Methods take ``x`` of shape ``(dim,)`` (one point: scalar results) or
    ``(K, dim)`` (K independent points: one result per row), in any Array API
    namespace (NumPy, CuPy, array-api-strict, ...); results stay in that namespace
    and dtype. Constants are converted once per namespace, dtype and device.
    """

    name: ClassVar[str] = "problem"
    #: Name of the fused Numba kernel in :mod:`optkit.problems._numba`, if any.
    numba_kernel: ClassVar[str | None] = None

    def __init__(self, dim, x0, *, bounds, params, x_star=None, f_star=None, noise=0.0):
        self.dim = int(dim)
        self.x0 = _frozen(x0, self.dim)
        self._x_star = None if x_star is None else _frozen(x_star, self.dim)
        self._f_star = None if f_star is None else float(f_star)
        low, high = bounds
        self.bounds = (_frozen(np.broadcast_to(low, self.dim), self.dim),)
        self.bounds += (_frozen(np.broadcast_to(high, self.dim), self.dim),)
        self.noise = real("noise", noise, minimum=0.0)
        self.params = dict(params)
        self._constants: dict[tuple, Any] = {}

    # ----------------------------------------------------------------- description
    @property
    def x_star(self) -> np.ndarray | None:
        """A global minimizer (read-only, ``(dim,)``), or None where unknown."""
        return self._x_star

    @property
    def f_star(self) -> float | None:
        """The global minimum, or None where unknown."""
        return self._f_star

    @property
    def spec(self) -> dict[str, Any]:
        """``{"name": ..., **params}``: ``optkit.problems.make(**spec)`` rebuilds it."""
        return {"name": self.name, **self.params}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params.items())
        return f"{self.name}({args})"

    # ----------------------------------------------------------------- public API
    def value(self, x: Any) -> Any:
        """f(x): shape ``()`` for one point, ``(K,)`` for a population."""
        xp, points, single = self._points(x)
        f = self._value(xp, points)
        return f[0] if single else f

    def grad(self, x: Any) -> Any:
        """∇f(x), the shape of ``x``."""
        return self.value_and_grad(x)[1]

    def value_and_grad(self, x: Any, *, backend: str | None = None) -> tuple[Any, Any]:
        """``(f(x), ∇f(x))`` in one pass.

        ``backend="numba"`` (or ``"auto"`` with NumPy input and Numba installed) runs
        the problem's fused Numba kernel where it has one: one loop over the rows,
        the same row-by-row results whatever the population size. Otherwise (the
        default) the Array API expressions run in ``x``'s namespace.
        """
        xp, points, single = self._points(x)
        if self._uses_numba(points, backend):
            f, g = self._numba_value_and_grad(points)
        else:
            f, g = self._value_and_grad(xp, points)
        return (f[0], g[0]) if single else (f, g)

    def hvp(self, x: Any, v: Any) -> Any:
        """The exact Hessian-vector product ∇²f(x)·v (``v`` shaped like ``x``)."""
        xp, points, single = self._points(x)
        if tuple(v.shape) != tuple(x.shape):
            raise ValueError(f"v has shape {tuple(v.shape)}, x has {tuple(x.shape)}")
        hv = self._hvp(xp, points, xp.reshape(v, points.shape))
        return hv[0] if single else hv

    def hessian(self, x: Any) -> Any:
        """The dense Hessian: ``(dim, dim)``, or ``(K, dim, dim)`` for a population."""
        xp, points, single = self._points(x)
        h = self._hessian(xp, points)
        return h[0] if single else h

    def sample_grad(self, x: Any, rng: Any, *, backend: str | None = None) -> Any:
        r"""An unbiased noisy gradient: :math:`\nabla f(x) + \sigma\xi`,
        :math:`\xi \sim \mathcal N(0, I)` (exactly ``grad`` when ``noise == 0``).

        ``rng`` is a ``numpy.random.Generator``, or for a population a sequence of K
        generators: row k's noise is drawn from generator k alone, so a run's
        gradients do not depend on the other rows.
        """
        g = self.value_and_grad(x, backend=backend)[1]
        if not isinstance(rng, np.random.Generator):
            generators(
                rng, g.shape[0] if len(g.shape) == 2 else 1
            )  # checked even if unused
        if self.noise == 0.0:
            return g
        return g + self.noise * self._standard_normal(g, rng)

    def random_start(self, rng: Any) -> np.ndarray:
        """A uniform draw in :attr:`bounds`: ``(dim,)`` from one generator, ``(K, dim)``
        from a sequence of K (row k from generator k alone)."""
        low, high = self.bounds
        if isinstance(rng, np.random.Generator):
            return rng.uniform(low, high)
        return np.stack([r.uniform(low, high) for r in generators(rng, None)])

    # ----------------------------------------------------------------- subclass API
    def _value(self, xp: Any, x: Any) -> Any:
        return self._value_and_grad(xp, x)[0]

    def _value_and_grad(self, xp: Any, x: Any) -> tuple[Any, Any]:
        raise NotImplementedError

    def _hvp(self, xp: Any, x: Any, v: Any) -> Any:
        raise NotImplementedError

    def _hessian(self, xp: Any, x: Any) -> Any:
        """Stacked Hessian-vector products with the unit vectors (for ``dim`` small)."""
        k, d = x.shape
        dev = array_api_compat.device(x)
        eye = xp.eye(d, dtype=x.dtype, device=dev)
        xs = xp.reshape(xp.broadcast_to(x[:, None, :], (k, d, d)), (k * d, d))
        vs = xp.reshape(xp.broadcast_to(eye[None, ...], (k, d, d)), (k * d, d))
        return xp.reshape(self._hvp(xp, xs, vs), (k, d, d))

    def _numba_args(self) -> tuple:
        """Extra arguments of the Numba kernel after ``(x, f, g)``."""
        return ()

    # ----------------------------------------------------------------- helpers
    def constant(self, xp: Any, key: str, value: Any, like: Any, dtype: Any = None) -> Any:
        """``value`` (NumPy) in ``like``'s namespace, device and dtype; cached."""
        dtype = like.dtype if dtype is None else dtype
        dev = array_api_compat.device(like)
        cache_key = (key, xp.__name__, str(dtype), str(dev))
        out = self._constants.get(cache_key)
        if out is None:
            out = self._constants[cache_key] = xp.asarray(value, dtype=dtype, device=dev)
        return out

    def _points(self, x: Any) -> tuple[Any, Any, bool]:
        if not hasattr(x, "shape") or not hasattr(x, "dtype"):
            raise TypeError(f"x must be an array, got {type(x).__name__}")
        xp = namespace(x)
        shape = tuple(x.shape)
        if len(shape) not in (1, 2) or shape[-1] != self.dim:
            raise ValueError(
                f"x has shape {shape}; {self!r} takes ({self.dim},) or (K, {self.dim})"
            )
        if not xp.isdtype(x.dtype, "real floating"):
            raise TypeError(f"x has dtype {x.dtype}; expected a real floating dtype")
        single = len(shape) == 1
        return xp, (xp.reshape(x, (1, self.dim)) if single else x), single

    def _standard_normal(self, like: Any, rng: Any) -> Any:
        """Standard normal noise shaped like ``like`` (rows from their generators)."""
        xp = namespace(like)
        shape = tuple(like.shape)
        if isinstance(rng, np.random.Generator):
            noise = rng.standard_normal(shape)
        else:
            rows = generators(rng, shape[0] if len(shape) == 2 else 1)
            noise = np.empty((len(rows), shape[-1]))
            for row, r in zip(noise, rows):
                r.standard_normal(out=row)
            noise = noise.reshape(shape)
        if xp is np:
            return noise.astype(like.dtype, copy=False)
        return xp.asarray(noise, dtype=like.dtype, device=array_api_compat.device(like))

    def _uses_numba(self, x: Any, backend: str | None) -> bool:
        if backend in (None, "numpy", "array_api", "cupy"):
            return False
        if backend not in ("numba", "auto"):
            raise ValueError(
                f"unknown backend {backend!r}; expected numpy, numba, cupy, array_api "
                f"or auto"
            )
        if self.numba_kernel is None:
            return False
        if not isinstance(x, np.ndarray) or x.dtype not in (np.float32, np.float64):
            if backend == "numba":
                raise TypeError(
                    f"backend='numba' takes NumPy float32/float64 arrays, got "
                    f"{type(x).__module__}.{type(x).__name__} of {x.dtype}"
                )
            return False
        return backend == "numba" or _numba_installed()

    def _numba_value_and_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from optkit.problems import _numba

        kernel = getattr(_numba, self.numba_kernel)
        x = np.ascontiguousarray(x)
        f = np.empty(x.shape[0], dtype=x.dtype)
        g = np.empty_like(x)
        kernel(x, f, g, *self._numba_args())
        return f, g


class Separable(Problem):
    """A problem whose Hessian is diagonal (each coordinate's terms apart).

    A subclass gives ``_curvature(xp, x)``: the Hessian's diagonal, shape
    ``(K, dim)``; the Hessian-vector product is ``curvature * v`` and the Hessian
    ``diag(curvature)``.
    """

    def _curvature(self, xp: Any, x: Any) -> Any:
        raise NotImplementedError

    def _hvp(self, xp: Any, x: Any, v: Any) -> Any:
        return self._curvature(xp, x) * v

    def _hessian(self, xp: Any, x: Any) -> Any:
        eye = xp.eye(self.dim, dtype=x.dtype, device=array_api_compat.device(x))
        return eye * self._curvature(xp, x)[:, :, None]


def _numba_installed() -> bool:
    return importlib.util.find_spec("numba") is not None


def _frozen(value: Any, dim: int) -> np.ndarray:
    """A read-only float64 copy of shape ``(dim,)``."""
    out = np.array(value, dtype=np.float64).reshape(dim)
    out.flags.writeable = False
    return out

r"""Weight initialisation, torch's formulas, seeded by a NumPy ``Generator``.

Every function fills an array **in place** (a parameter, or a view of a
:class:`~optkit.FlatParams`) and returns it. Values are drawn on the host in
float64 from ``rng`` (a :class:`numpy.random.Generator`) or from
``numpy.random.default_rng(seed)``, then rounded once to the array's dtype and
copied to its library (CuPy arrays included). Fans follow torch: for a weight of
shape ``(out, in, *kernel)``, ``fan_in = in * prod(kernel)`` and
``fan_out = out * prod(kernel)``.

References
----------
Glorot, X. & Bengio, Y. (2010). Understanding the difficulty of training deep
feedforward neural networks. AISTATS. He, K., Zhang, X., Ren, S. & Sun, J. (2015).
Delving deep into rectifiers. ICCV. Saxe, A. M., McClelland, J. L. & Ganguli, S.
(2014). Exact solutions to the nonlinear dynamics of learning in deep linear
neural networks. ICLR.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

__all__ = [
    "calculate_gain",
    "constant_",
    "generator",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "orthogonal_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]


def generator(rng: np.random.Generator | None = None, seed: int | None = None):
    """``rng``, or ``numpy.random.default_rng(seed)``; giving both is an error."""
    if rng is not None and seed is not None:
        raise ValueError("give rng= or seed=, not both")
    if rng is None:
        return np.random.default_rng(seed)
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    return rng


def _fill(array: Any, values: np.ndarray) -> Any:
    """Write host ``values`` into ``array`` in place (any library), one rounding."""
    from optkit._host import from_numpy
    from optkit.params import dtype_name

    dtype = np.dtype(dtype_name(array.dtype))
    array[...] = from_numpy(values.astype(dtype), array)
    return array


def _fans(array: Any) -> tuple[int, int]:
    shape = tuple(array.shape)
    if len(shape) < 2:
        raise ValueError(
            f"fan in and fan out need an array with at least 2 dimensions, got shape "
            f"{shape}"
        )
    receptive = math.prod(shape[2:])
    return shape[1] * receptive, shape[0] * receptive


def _fan(array: Any, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode={mode!r}: expected 'fan_in' or 'fan_out'")
    fan_in, fan_out = _fans(array)
    return fan_in if mode == "fan_in" else fan_out


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (torch's table).

    ``linear``, ``conv*``, ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: √2;
    ``leaky_relu``: √(2 / (1 + slope²)) (slope ``param``, default 0.01); ``selu``: 3/4.

    Examples
    --------
    >>> from optkit.nn.init import calculate_gain
    >>> round(calculate_gain("relu"), 6), round(calculate_gain("leaky_relu", 5**0.5), 6)
    (1.414214, 0.57735)
    """
    linear = ("linear", "conv1d", "conv2d", "conv3d", "sigmoid", "identity")
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, numbers.Real):
            raise ValueError(f"negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def uniform_(array, low=0.0, high=1.0, *, rng=None, seed=None):
    """Fill with U(low, high)."""
    return _fill(array, generator(rng, seed).uniform(low, high, tuple(array.shape)))


def normal_(array, mean=0.0, std=1.0, *, rng=None, seed=None):
    """Fill with N(mean, std²)."""
    return _fill(array, generator(rng, seed).normal(mean, std, tuple(array.shape)))


def constant_(array, value):
    """Fill with ``value``."""
    return _fill(array, np.full(tuple(array.shape), float(value)))


def zeros_(array):
    """Fill with 0."""
    return constant_(array, 0.0)


def ones_(array):
    """Fill with 1."""
    return constant_(array, 1.0)


def xavier_uniform_(array, gain=1.0, *, rng=None, seed=None):
    r"""Glorot uniform: U(−a, a), :math:`a = \text{gain}\sqrt{6/(\text{fan\_in}+\text{fan\_out})}`.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.init import xavier_uniform_
    >>> w = xavier_uniform_(np.empty((300, 200)), seed=0)
    >>> bool(np.abs(w).max() <= (6 / 500) ** 0.5)
    True
    """
    fan_in, fan_out = _fans(array)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound, rng=rng, seed=seed)


def xavier_normal_(array, gain=1.0, *, rng=None, seed=None):
    r"""Glorot normal: N(0, σ²), :math:`\sigma = \text{gain}\sqrt{2/(\text{fan\_in}+\text{fan\_out})}`."""
    fan_in, fan_out = _fans(array)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return normal_(array, 0.0, std, rng=rng, seed=seed)


def kaiming_uniform_(
    array, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None, seed=None
):
    r"""He uniform: U(−b, b), :math:`b = \text{gain}\sqrt{3/\text{fan}}`.

    ``gain = calculate_gain(nonlinearity, a)``. torch's ``Linear`` uses ``a=√5``,
    which gives :math:`b = 1/\sqrt{\text{fan\_in}}`.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.init import kaiming_uniform_
    >>> w = kaiming_uniform_(np.empty((10, 4)), a=5**0.5, seed=0)
    >>> bool(np.abs(w).max() <= 0.5)             # 1 / sqrt(4)
    True
    """
    gain = calculate_gain(nonlinearity, a)
    bound = gain * math.sqrt(3.0 / _fan(array, mode))
    return uniform_(array, -bound, bound, rng=rng, seed=seed)


def kaiming_normal_(
    array, a=0.0, mode="fan_in", nonlinearity="leaky_relu", *, rng=None, seed=None
):
    r"""He normal: N(0, σ²), :math:`\sigma = \text{gain}/\sqrt{\text{fan}}`."""
    gain = calculate_gain(nonlinearity, a)
    std = gain / math.sqrt(_fan(array, mode))
    return normal_(array, 0.0, std, rng=rng, seed=seed)


def orthogonal_(array, gain=1.0, *, rng=None, seed=None):
    """A (semi-)orthogonal matrix times ``gain`` (Saxe et al., 2014; torch's method).

    The array is viewed as ``(shape[0], rest)``; a Gaussian matrix is
    QR-factorised and the signs of R's diagonal are moved into Q, so that Q is
    drawn uniformly (Haar measure).

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.init import orthogonal_
    >>> w = orthogonal_(np.empty((3, 5)), seed=0)
    >>> np.allclose(w @ w.T, np.eye(3))
    True
    """
    if array.ndim < 2:
        raise ValueError(f"orthogonal_ needs at least 2 dimensions, got {array.ndim}")
    rows = int(array.shape[0])
    cols = math.prod(array.shape) // rows
    flat = generator(rng, seed).standard_normal((rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    return _fill(array, gain * q.reshape(tuple(array.shape)))

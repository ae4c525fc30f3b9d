"""Hyperparameter arithmetic that gives the same bits for a number and for an array.

A population of K runs (array hyperparameters) must reproduce K separate runs (number
hyperparameters) bit for bit. Additions, multiplications, divisions and square roots
are correctly rounded everywhere, but powers are not: NumPy's vectorized ``**``
differs from Python's (the C library's) in the last bit for about 5 % of inputs.
So integer powers are computed by repeated squaring — multiplications only, the same
sequence for numbers and arrays — and real powers of arrays element by element with
the C library's ``pow``, as for numbers.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

__all__ = ["int_power", "real_power"]


def int_power(x: Any, n: int) -> Any:
    """``x ** n`` for an integer ``n >= 0`` by repeated squaring (multiplications only).

    Examples
    --------
    >>> int_power(0.9, 3) == 0.9 * 0.9 * 0.9
    True
    """
    result, base = 1.0, x
    while n:
        if n & 1:
            result = result * base
        n >>= 1
        if n:
            base = base * base
    return result


def real_power(base: Any, exponent: Any) -> Any:
    """``base ** exponent`` with the C library's ``pow``, element by element for
    NumPy arrays (other array libraries use their own power)."""
    if type(base) is float and type(exponent) in (int, float):
        return base ** float(exponent)  # the C library's pow, as torch's host math
    if not hasattr(base, "shape") and not hasattr(exponent, "shape"):
        return float(base) ** float(exponent)
    if isinstance(base, np.ndarray | np.generic) or isinstance(
        exponent, np.ndarray | np.generic
    ):
        b, e = np.broadcast_arrays(
            np.asarray(base, np.float64), np.asarray(exponent, np.float64)
        )
        out = np.fromiter(map(math.pow, b.ravel().tolist(), e.ravel().tolist()), np.float64)
        return out.reshape(b.shape)
    return base**exponent

"""Activations on Numba: one fused pass forward, one fused pass backward.

The same functions as the reference in :mod:`optkit.nn._ops` (whose docstring is
the spec), as flat loops over C-contiguous float32/float64 buffers: the forward
reads ``x`` and writes ``y``; the backward reads ``dy`` and ``y`` and writes ``dx``
(NumPy's ``where(y > 0, dy, 0)`` makes a boolean temporary and a second pass).
Arithmetic stays in the array's dtype, as torch's kernels do. Below
:data:`PARALLEL_THRESHOLD` elements the serial loop runs in the calling thread.
"""

from __future__ import annotations

import numba
import numpy as np
from numba import prange

__all__ = ["PARALLEL_THRESHOLD", "backward", "forward"]

#: Below this many elements the serial loop runs. Measured on 2 cores with
#: ``python tools/bench_nn.py --threshold`` (ReLU forward + backward, float32):
#: 2^16 elements serial 12.8 us / parallel 13.0 us, 2^18 serial 60 us / parallel 39 us.
PARALLEL_THRESHOLD = 1 << 17

_KINDS = {"relu": 0, "tanh": 1, "sigmoid": 2}
_OPTIONS = {"error_model": "numpy", "cache": True, "fastmath": {"nsz"}}
_serial = numba.njit(**_OPTIONS)
_parallel = numba.njit(parallel=True, **_OPTIONS)


@_serial
def _relu(v):
    return 0.0 if v < 0 else v  # NaN passes through, as in torch


@_serial
def _sigmoid(v):
    e = np.exp(-np.abs(v))
    return 1 / (1 + e) if v >= 0 else e / (1 + e)


# One function per (pass, serial/parallel): Numba's disk cache keys entries by the
# function's name and line, so a serial and a parallel compile of one Python
# function would share an index.
@_serial
def _forward_serial(x, y, kind):
    n = x.size
    if kind == 0:
        for i in range(n):
            y[i] = _relu(x[i])
    elif kind == 1:
        for i in range(n):
            y[i] = np.tanh(x[i])
    else:
        for i in range(n):
            y[i] = _sigmoid(x[i])


@_parallel
def _forward_parallel(x, y, kind):
    n = x.size
    if kind == 0:
        for i in prange(n):
            y[i] = _relu(x[i])
    elif kind == 1:
        for i in prange(n):
            y[i] = np.tanh(x[i])
    else:
        for i in prange(n):
            y[i] = _sigmoid(x[i])


@_serial
def _backward_serial(dy, y, dx, kind):
    n = dy.size
    if kind == 0:
        for i in range(n):
            dx[i] = dy[i] if y[i] > 0 else 0.0
    elif kind == 1:
        for i in range(n):
            dx[i] = dy[i] * (1 - y[i] * y[i])
    else:
        for i in range(n):
            dx[i] = dy[i] * (y[i] * (1 - y[i]))


@_parallel
def _backward_parallel(dy, y, dx, kind):
    n = dy.size
    if kind == 0:
        for i in prange(n):
            dx[i] = dy[i] if y[i] > 0 else 0.0
    elif kind == 1:
        for i in prange(n):
            dx[i] = dy[i] * (1 - y[i] * y[i])
    else:
        for i in prange(n):
            dx[i] = dy[i] * (y[i] * (1 - y[i]))


def _flat(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a).reshape(-1)


def forward(kind: str, x: np.ndarray) -> np.ndarray:
    """Activation ``kind`` of ``x`` (float32 or float64), a new C-contiguous array."""
    y = np.empty(x.shape, dtype=x.dtype)
    xf = _flat(x)
    run = _forward_parallel if xf.size >= PARALLEL_THRESHOLD else _forward_serial
    run(xf, y.reshape(-1), _KINDS[kind])
    return y


def backward(kind: str, dy: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dy`` times the derivative of ``kind`` at output ``y``, a new array."""
    dx = np.empty(dy.shape, dtype=dy.dtype)
    dyf = _flat(dy)
    run = _backward_parallel if dyf.size >= PARALLEL_THRESHOLD else _backward_serial
    run(dyf, _flat(y), dx.reshape(-1), _KINDS[kind])
    return dx

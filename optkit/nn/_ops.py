r"""The element-wise and matrix work of the layers, in one place per backend.

Activations run as fused Numba loops on the ``numba`` backend
(:mod:`optkit.nn._activations_numba`, imported on first use) and as whole-array
Array API expressions everywhere else (the reference, below). Matrix products use
the namespace's ``matmul``; NumPy writes them straight into a gradient view
(``out=``), other libraries assign the result.

The activations and the derivatives used by the backward passes, written with the
forward's output :math:`y` (as torch does, so the input need not be kept):

=========  ===============================  ==================================
kind       :math:`y`                        :math:`\partial y / \partial x`
=========  ===============================  ==================================
relu       :math:`\max(x, 0)`               :math:`[y > 0]`
tanh       :math:`\tanh x`                  :math:`1 - y^2`
sigmoid    :math:`1 / (1 + e^{-x})`         :math:`y (1 - y)`
=========  ===============================  ==================================

The sigmoid is evaluated as :math:`1/(1+e^{-|x|})` for :math:`x \ge 0` and
:math:`e^{-|x|}/(1+e^{-|x|})` otherwise, so no exponential overflows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optkit._backend import Backend

__all__ = ["ACTIVATIONS", "activation_backward", "activation_forward", "matmul_into"]

ACTIVATIONS = ("relu", "tanh", "sigmoid")

#: dtypes the Numba loops take (Numba has no float16 arithmetic on the CPU).
_NUMBA_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def _numba_module():
    from optkit.nn import _activations_numba

    return _activations_numba


def _use_numba(backend: Backend, *arrays: Any) -> bool:
    return backend.name == "numba" and all(a.dtype in _NUMBA_DTYPES for a in arrays)


def activation_forward(backend: Backend, kind: str, x: Any) -> Any:
    """The activation ``kind`` of ``x`` (a new array of ``x``'s shape and dtype)."""
    if _use_numba(backend, x):
        return _numba_module().forward(kind, x)
    xp = backend.xp
    if kind == "relu":
        return xp.where(x < 0, xp.zeros_like(x), x)  # NaN stays NaN, as in torch
    if kind == "tanh":
        return xp.tanh(x)
    e = xp.exp(-xp.abs(x))
    return xp.where(x >= 0, 1 / (1 + e), e / (1 + e))


def activation_backward(backend: Backend, kind: str, dy: Any, y: Any) -> Any:
    """``dy`` times the derivative of activation ``kind``, from its output ``y``."""
    if _use_numba(backend, dy, y):
        return _numba_module().backward(kind, dy, y)
    xp = backend.xp
    if kind == "relu":
        return xp.where(y > 0, dy, xp.zeros_like(dy))
    if kind == "tanh":
        return dy * (1 - y * y)
    return dy * (y * (1 - y))


def matmul_into(xp: Any, a: Any, b: Any, out: Any) -> Any:
    """``out[...] = a @ b`` (NumPy writes in place through BLAS; no temporary)."""
    if xp is np and isinstance(out, np.ndarray) and out.flags.c_contiguous:
        np.matmul(a, b, out=out)
    else:
        out[...] = xp.matmul(a, b)
    return out

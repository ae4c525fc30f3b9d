"""The element-wise and matrix work of the layers, in one place.

Activations and their derivatives are maps of :mod:`optkit.rules.activations`
(written once, run by every backend's executor: generated loops on Numba and CuPy,
whole-array expressions on the Array API path). Matrix products use the namespace's
``matmul``; NumPy writes them straight into a gradient view (``out=``), other
libraries assign the result.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optkit._backend import Backend
from optkit._exec import run_map
from optkit.rules.activations import ACTIVATIONS as _MAPS

__all__ = ["ACTIVATIONS", "activation_backward", "activation_forward", "matmul_into"]

ACTIVATIONS = tuple(_MAPS)


def activation_forward(backend: Backend, kind: str, x: Any) -> Any:
    """The activation ``kind`` of ``x`` (a new array of ``x``'s shape and dtype)."""
    y = backend.xp.empty(x.shape, dtype=x.dtype)
    run_map(backend, _MAPS[kind][0], {"x": x}, {"y": y})
    return y


def activation_backward(backend: Backend, kind: str, dy: Any, y: Any) -> Any:
    """``dy`` times the derivative of activation ``kind``, from its output ``y``."""
    dx = backend.xp.empty(dy.shape, dtype=dy.dtype)
    run_map(backend, _MAPS[kind][1], {"dy": dy, "y": y}, {"dx": dx})
    return dx


def matmul_into(xp: Any, a: Any, b: Any, out: Any) -> Any:
    """``out[...] = a @ b`` (NumPy writes in place through BLAS; no temporary)."""
    if xp is np and isinstance(out, np.ndarray) and out.flags.c_contiguous:
        np.matmul(a, b, out=out)
    else:
        out[...] = xp.matmul(a, b)
    return out

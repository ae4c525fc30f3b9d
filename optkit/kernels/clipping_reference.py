"""Gradient clipping on any Array API namespace: the readable reference path.

Used by the ``numpy``, ``array_api`` and ``cupy`` backends of :mod:`optkit.clipping`
(on CuPy every call below is a CuPy call through ``array_api_compat``). Norms stay
0-d arrays of the gradients' library and the clipping factor is applied with
``where``, so nothing here waits for the device. It allocates temporaries; the
Numba module is the fast CPU path.

Norms are computed in two scaled passes, ``a = max |g|`` then
``‖g‖ = a * sqrt(sum((g / a)**2))``: every scaled square is at most 1, so nothing
overflows or underflows (the classic scaling of BLAS ``nrm2``) unless the norm
itself is beyond the dtype's range; it is then inf (NumPy's overflow warning is
silenced for that one product).
"""

from __future__ import annotations

import math
from typing import Any

import array_api_compat
import numpy as np

__all__ = ["array_norm", "clip_global_norm", "clip_norms", "clip_values", "global_norm"]


def _size(x: Any) -> int:
    return math.prod(int(s) for s in x.shape)


def array_norm(xp: Any, g: Any) -> Any:
    """The 2-norm of ``g`` as a 0-d array (scaled by ``max |g|``), in ``g``'s dtype, or
    float32 for float16 input: a float16 sum of squares overflows past 65,504."""
    half = getattr(xp, "float16", None)  # not every namespace has float16
    acc = xp.float32 if half is not None and g.dtype == half else g.dtype
    if _size(g) == 0:
        return xp.zeros((), dtype=acc, device=array_api_compat.device(g))
    g = xp.astype(g, acc)
    top = xp.max(xp.abs(g))
    safe = xp.where((top > 0) & xp.isfinite(top), top, xp.ones_like(top))
    r = g / safe
    with np.errstate(over="ignore"):
        return safe * xp.sqrt(xp.sum(r * r))


def global_norm(xp: Any, norms: list[Any]) -> Any:
    """sqrt(sum of squares) of per-array norms, scaled by the largest (0-d array)."""
    dtype = xp.result_type(*(n.dtype for n in norms))
    norms = [xp.astype(n, dtype) for n in norms]
    top = norms[0]
    for n in norms[1:]:
        top = xp.maximum(top, n)
    safe = xp.where((top > 0) & xp.isfinite(top), top, xp.ones_like(top))
    total = xp.zeros_like(top)
    for n in norms:
        q = n / safe
        total = total + q * q
    with np.errstate(over="ignore"):
        return safe * xp.sqrt(total)


def _apply(xp: Any, arrays: list[Any], norm: Any, max_norm: float) -> None:
    """g *= max_norm / norm for every array, where norm is finite and > max_norm."""
    if max_norm >= float(xp.finfo(norm.dtype).max):
        return  # no representable norm exceeds it
    clip = xp.isfinite(norm) & (norm > max_norm)
    one = xp.ones_like(norm)
    coef = xp.where(clip, max_norm / xp.where(clip, norm, one), one)
    for g in arrays:
        g[...] = g * xp.astype(coef, g.dtype)


def clip_values(xp: Any, arrays: list[Any], threshold: float) -> None:
    """g = min(max(g, -threshold), threshold) in place (NaN stays NaN)."""
    for g in arrays:
        if threshold <= float(xp.finfo(g.dtype).max):
            g[...] = xp.clip(g, -threshold, threshold)


def clip_norms(xp: Any, arrays: list[Any], max_norm: float) -> list[Any]:
    """Each array scaled to ``max_norm`` when its own norm exceeds it; the norms."""
    norms = []
    for g in arrays:
        norm = array_norm(xp, g)
        _apply(xp, [g], norm, max_norm)
        norms.append(norm)
    return norms


def clip_global_norm(xp: Any, arrays: list[Any], max_norm: float) -> Any:
    """All arrays scaled together when the global norm exceeds ``max_norm``."""
    norm = global_norm(xp, [array_norm(xp, g) for g in arrays])
    _apply(xp, arrays, norm, max_norm)
    return norm

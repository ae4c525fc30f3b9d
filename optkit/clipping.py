r"""Gradient clipping: element-wise, per-array norm, and global norm (all in place).

Each function takes gradients in any of optkit's parameter structures (one array, a
list, a dict of named arrays, or a :class:`~optkit.FlatParams`) and modifies them in
place. The backend is resolved from the first array, as for optimizers (``backend=``
overrides it), and runs the rules of :mod:`optkit.rules.clipping`: a float64 sum of
squares (one fused pass per array on Numba and CuPy), and maps for the element-wise
clip and the rescaling. Norms come back as Python floats for NumPy arrays and as 0-d
arrays of the gradients' library otherwise (so that a GPU is never waited on).

Non-finite gradients: when a norm is inf or NaN nothing is scaled and the norm is
returned, so that the optimizer's ``nonfinite`` policy sees the bad values (torch's
``clip_grad_norm_`` would multiply by 0 or NaN instead).

References
----------
Pascanu, Mikolov & Bengio (2013), *On the difficulty of training recurrent neural
networks*, ICML. Goodfellow, Bengio & Courville (2016), *Deep Learning*, §10.11.1.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from optkit._backend import Backend, get_backend, resolve_backend
from optkit._exec import run_map, run_reduce
from optkit.params import FlatParams, ParamTree, check_float_array
from optkit.rules import clipping as rules

__all__ = ["clip_by_global_norm", "clip_by_norm", "clip_by_value", "global_norm"]

#: Blue's thresholds and scales for float64 (LAPACK 3.10 ``dnrm2``; Anderson, 2017):
#: t_s = 2^-511, t_b = 2^486, s_s = 2^537, s_b = 2^-538.
BLUE = {
    "small": 2.0**-511,
    "big": 2.0**486,
    "small_scale": 2.0**537,
    "big_scale": 2.0**-538,
}
#: Below ``n * 2**-1021`` a float64 sum of squares may have lost more than one ulp to
#: underflow (each square below 2**-1022 is off by at most 2**-1075).
_UNDERFLOW_PER_ELEMENT = 2.0**-1021


def _positive(name: str, value: Any) -> float:
    """``value`` as a float; ``ValueError`` naming ``name`` unless it is > 0."""
    if isinstance(value, (bool, str, bytes)):
        raise TypeError(f"{name} must be a real number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a real number, got {value!r}") from None
    if not number > 0:
        raise ValueError(f"invalid {name}={value!r}: must be > 0")
    return number


def _arrays(grads: Any, per_view: bool) -> tuple[str, list[Any], list[str], list[Any]]:
    """(kind, keys, names, arrays) of ``grads``, as :class:`ParamTree` normalizes them.

    A FlatParams contributes its buffers (one per dtype), or, with ``per_view``,
    its named views (for per-array norms). NumPy float arrays are checked inline:
    ``ParamTree.build`` asks ``array_namespace`` per array (~3 us each).
    """
    if isinstance(grads, FlatParams):
        if per_view:
            names = list(grads.keys())
            return "flat", names, names, [grads[n] for n in names]
        tree = ParamTree.build(grads)
        return "flat", tree.keys, tree.names, tree.arrays
    if isinstance(grads, Mapping) and grads:
        keys = list(grads)
        kind, names, arrays = "dict", [str(k) for k in keys], [grads[k] for k in keys]
    elif isinstance(grads, Sequence) and not isinstance(grads, str) and len(grads):
        keys = list(range(len(grads)))
        kind, names, arrays = "list", [str(k) for k in keys], list(grads)
    elif isinstance(grads, np.ndarray):
        kind, keys, names, arrays = "array", [None], ["param"], [grads]
    else:
        tree = ParamTree.build(grads)  # other libraries, and its errors for empty input
        return tree.kind, tree.keys, tree.names, tree.arrays
    for name, g in zip(names, arrays):
        if not (type(g) is np.ndarray and g.dtype.kind == "f"):
            check_float_array(name, g)
    return kind, keys, names, arrays


#: Resolved backends by (requested, ambient choice, array type): resolution asks
#: ``array_namespace`` (~3.5 us), and depends on nothing else.
_RESOLVED: dict[tuple[Any, str, type], Backend] = {}


def _prepare(grads: Any, backend: str | None, per_view: bool = False, check_writable=True):
    """Validate everything before anything is written; pick the kernel module."""
    kind, keys, names, arrays = _arrays(grads, per_view)
    first = type(arrays[0])
    cache_key = (backend, get_backend(), first)
    resolved = _RESOLVED.get(cache_key)
    if resolved is None:
        resolved = _RESOLVED[cache_key] = resolve_backend(backend, arrays[0])
    for name, g in zip(names, arrays):
        if type(g) is not first:
            raise TypeError(
                f"gradient {name!r} is a {type(g).__module__}.{type(g).__name__} but "
                f"{names[0]!r} is a {first.__module__}.{first.__name__}; "
                f"use one array library"
            )
        flags = getattr(g, "flags", None)
        if check_writable and flags is not None and not getattr(flags, "writeable", True):
            raise ValueError(f"gradient {name!r} is read-only; clipping works in place")
    return kind, keys, arrays, resolved


def _on_host(arrays: list[Any]) -> bool:
    return isinstance(arrays[0], np.ndarray)


def _blue_norm(xp: Any, big: Any, medium: Any, small: Any) -> Any:
    """Combine Blue's three sums into the norm (LAPACK's ``dnrm2``), without branches."""
    sb, ss = BLUE["big_scale"], BLUE["small_scale"]
    with np.errstate(all="ignore"):
        med_counts = (medium > 0) | (medium != medium)
        big_total = big + xp.where(med_counts, (medium * sb) * sb, 0.0 * medium)
        from_big = xp.sqrt(big_total) / sb
        root_med, root_small = xp.sqrt(medium), xp.sqrt(small) / ss
        low, high = xp.minimum(root_med, root_small), xp.maximum(root_med, root_small)
        ratio = low / xp.where(high > 0, high, 1.0 + 0.0 * high)
        mixed = high * xp.sqrt(1.0 + ratio * ratio)
        from_small = xp.where(med_counts, mixed, root_small)
        return xp.where(big > 0, from_big, xp.where(small > 0, from_small, root_med))


def global_norm(grads: Any, *, backend: str | None = None) -> Any:
    r"""The 2-norm of all gradients together, :math:`\sqrt{\sum_k \lVert g_k\rVert^2}`.

    One float64 sum-of-squares pass per array; for float64 input whose sum overflowed
    or may have underflowed, one more pass of Blue's scaled sums. A Python float for
    NumPy arrays, a 0-d array of the gradients' library otherwise.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.clipping import global_norm
    >>> global_norm([np.array([3.0]), np.array([4.0])]), global_norm(np.array([1e200, 1e200]))
    (5.0, 1.414213562373095e+200)
    """
    _, _, arrays, resolved = _prepare(grads, backend, check_writable=False)
    return _norm(resolved, arrays)


def _norm(be: Backend, arrays: list[Any]) -> Any:
    xp = be.xp
    sums = [run_reduce(be, rules.sum_of_squares, {"x": a})[0] for a in arrays]
    wide = [a for a in arrays if a.dtype == xp.float64]
    if _on_host(arrays):
        total = float(sum(float(s) for s in sums))
        n64 = sum(math.prod(a.shape) for a in wide)
        if not wide or total != total or n64 * _UNDERFLOW_PER_ELEMENT <= total < math.inf:
            return math.sqrt(total)
        return float(_blue_norm(np, *_blue_sums(be, arrays)))
    total = sums[0]
    for s in sums[1:]:
        total = total + s
    if not wide:
        return xp.sqrt(total)
    return _blue_norm(xp, *_blue_sums(be, arrays))


def _blue_sums(be: Backend, arrays: list[Any]) -> list[Any]:
    parts = [run_reduce(be, rules.blue_sums, {"x": a}, hypers=BLUE) for a in arrays]
    return [sum(p[j] for p in parts[1:]) + parts[0][j] for j in range(3)]


def _scale_all(be: Backend, arrays: list[Any], norm: Any, max_norm: float) -> None:
    """g *= max_norm / norm where norm is finite and > max_norm (on the host: only then;
    on a device: always, by a factor of 1 when not clipping, with no wait)."""
    if _on_host(arrays):
        if math.isfinite(norm) and norm > max_norm:
            for g in arrays:
                run_map(
                    be, rules.scale, {"x": g}, {"y": g}, hypers={"factor": max_norm / norm}
                )
        return
    xp = be.xp
    clip = xp.isfinite(norm) & (norm > max_norm)
    factor = xp.where(
        clip, max_norm / xp.where(clip, norm, 1.0 + 0.0 * norm), 1.0 + 0.0 * norm
    )
    for g in arrays:
        run_map(be, rules.scale, {"x": g}, {"y": g}, hypers={"factor": factor})


def clip_by_value(grads: Any, threshold: float, *, backend: str | None = None) -> None:
    r"""Clip every gradient element to :math:`[-c, c]`, in place.

    .. math:: g_i \leftarrow \min(\max(g_i, -c),\ c)

    Goodfellow, Bengio & Courville (2016) writes the rule one-sided, :math:`\nabla J \leftarrow
    \min(\nabla J, th)`; this is its symmetric form (torch's ``clip_grad_value_``).

    Parameters
    ----------
    grads : array, list, dict or FlatParams
        Gradients; modified in place.
    threshold : float
        :math:`c > 0`. A threshold above the dtype's largest value changes nothing.
    backend : str, optional
        ``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"`` or ``"auto"``
        (default: resolved from the arrays).

    Raises
    ------
    ValueError
        ``threshold <= 0`` or NaN (the message shows the value).

    Notes
    -----
    NaN stays NaN. Unlike norm clipping this changes the gradient's direction.

    Examples
    --------
    >>> import numpy as np, optkit as ok
    >>> from optkit.clipping import clip_by_value
    >>> g = {"w": np.array([0.5, -3.0, 2.0])}
    >>> clip_by_value(g, 1.0)
    >>> g["w"].tolist()
    [0.5, -1.0, 1.0]
    """
    threshold = _positive("threshold", threshold)
    _, _, arrays, resolved = _prepare(grads, backend)
    for g in arrays:
        if threshold <= float(resolved.xp.finfo(g.dtype).max):
            run_map(resolved, rules.clip_value, {"x": g}, {"y": g},
                    hypers={"threshold": threshold})  # fmt: skip


def clip_by_norm(grads: Any, max_norm: float, *, backend: str | None = None) -> Any:
    r"""Rescale each gradient array whose 2-norm exceeds ``max_norm``, in place.

    .. math::
        g_k \leftarrow g_k \cdot \frac{c}{\lVert g_k\rVert_2}
        \quad\text{if } \lVert g_k\rVert_2 > c

    Arrays at or under the limit are left bitwise unchanged.

    Parameters
    ----------
    grads : array, list, dict or FlatParams
        Gradients; modified in place. For a FlatParams every named view is one
        array.
    max_norm : float
        :math:`c > 0`.
    backend : str, optional
        As for :func:`clip_by_value`.

    Returns
    -------
    float, list or dict
        The norms before clipping, in the structure of ``grads`` (a FlatParams gives
        a dict by name): Python floats for NumPy arrays, 0-d arrays otherwise.

    Raises
    ------
    ValueError
        ``max_norm <= 0`` or NaN.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.clipping import clip_by_norm
    >>> g = [np.array([3.0, 4.0]), np.array([0.3, 0.4])]
    >>> clip_by_norm(g, 1.0)
    [5.0, 0.5]
    >>> g[0].tolist(), g[1].tolist()
    ([0.6000000000000001, 0.8], [0.3, 0.4])
    """
    max_norm = _positive("max_norm", max_norm)
    kind, keys, arrays, resolved = _prepare(grads, backend, per_view=True)
    norms = []
    for g in arrays:
        norm = _norm(resolved, [g])
        _scale_all(resolved, [g], norm, max_norm)
        norms.append(norm)
    if kind == "array":
        return norms[0]
    if kind == "list":
        return norms
    return dict(zip(keys, norms))


def clip_by_global_norm(grads: Any, max_norm: float, *, backend: str | None = None) -> Any:
    r"""Rescale all gradients together when their global 2-norm exceeds ``max_norm``.

    .. math::
        \lVert g\rVert = \sqrt{\textstyle\sum_k \lVert g_k\rVert_2^2}, \qquad
        g_k \leftarrow g_k \cdot \frac{c}{\lVert g\rVert}
        \quad\text{if } \lVert g\rVert > c

    The direction of the whole gradient is kept (Pascanu et al., 2013). Gradients at
    or under the limit are left bitwise unchanged.

    Parameters
    ----------
    grads : array, list, dict or FlatParams
        Gradients; modified in place.
    max_norm : float
        :math:`c > 0`.
    backend : str, optional
        As for :func:`clip_by_value`.

    Returns
    -------
    float or 0-d array
        :math:`\lVert g\rVert` before clipping: a Python float for NumPy arrays, a
        0-d array of the gradients' library otherwise.

    Raises
    ------
    ValueError
        ``max_norm <= 0`` or NaN.

    Notes
    -----
    The norm never overflows or underflows before the true value does: squares are
    accumulated in float64 in one fused pass, and float64 input whose squares left the
    exponent range is summed again with Blue's scaled sums (see :func:`global_norm`). torch's ``clip_grad_norm_`` multiplies by
    :math:`\min(1, c / (\lVert g\rVert + 10^{-6}))` always; here the factor is
    :math:`c / \lVert g\rVert`, applied only above the limit.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.clipping import clip_by_global_norm
    >>> g = {"w": np.array([3.0, 0.0]), "b": np.array([4.0])}
    >>> clip_by_global_norm(g, 1.0)
    5.0
    >>> g["w"].tolist(), g["b"].tolist()
    ([0.6000000000000001, 0.0], [0.8])
    """
    max_norm = _positive("max_norm", max_norm)
    _, _, arrays, resolved = _prepare(grads, backend)
    norm = _norm(resolved, arrays)
    _scale_all(resolved, arrays, norm, max_norm)
    return norm

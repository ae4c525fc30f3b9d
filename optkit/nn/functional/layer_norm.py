r"""Layer normalization, functional: forward and backward (torch's ``layer_norm``).

The input is viewed as ``(N, D, 1)``: N rows (every leading axis) of D values (the
trailing ``normalized_shape``). The passes over the data are the rules of
:mod:`optkit.rules.layer_norm` — one per-row shifted-moments reduction and one
normalize map forward; per-row and per-feature gradient sums and one input-gradient
map backward — run by the backend's executor, with float64 arithmetic; the per-row
algebra between them is O(N) array code here.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass
from typing import Any

import numpy as np

from optkit._backend import Backend, resolve_backend
from optkit._exec import run_map, run_reduce
from optkit.nn.functional._batch_norm_checks import check_upstream
from optkit.rules import layer_norm as rules

__all__ = ["LayerNormCache", "layer_norm", "layer_norm_backward"]


@dataclass(frozen=True)
class LayerNormCache:
    """What :func:`layer_norm_backward` needs from a forward call (float64 statistics)."""

    backend: Backend
    x: Any
    layout: tuple[int, int, int]  # (N, D, 1)
    mean: Any  # (N,) float64
    invstd: Any  # (N,) float64
    weight: Any | None  # copy of γ, or None
    bias_dtype: Any | None
    normalized_shape: tuple[int, ...]


def _normalized(normalized_shape: Any, shape: tuple[int, ...]) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral):
        normalized_shape = (int(normalized_shape),)
    normalized = tuple(int(s) for s in normalized_shape)
    if (
        not normalized
        or len(normalized) > len(shape)
        or shape[-len(normalized) :] != normalized
    ):
        raise ValueError(
            f"normalized_shape={normalized} must be the trailing dimensions of the input "
            f"shape {shape}"
        )
    return normalized


def _check_vector(name: str, v: Any, normalized: tuple[int, ...]) -> None:
    if v is not None and tuple(v.shape) != normalized:
        raise ValueError(f"{name} has shape {tuple(v.shape)}, expected {normalized}")


def layer_norm(
    x: Any,
    normalized_shape: Any,
    weight: Any | None = None,
    bias: Any | None = None,
    eps: float = 1e-5,
    *,
    backend: str | None = None,
) -> tuple[Any, LayerNormCache]:
    r"""Layer normalization over the trailing ``normalized_shape`` axes (Ba et al., 2016).

    Parameters
    ----------
    x : array
        Input; any float dtype; its trailing dimensions equal ``normalized_shape``.
    normalized_shape : int or tuple of int
        The shape normalized over (torch's convention).
    weight, bias : array of shape ``normalized_shape``, optional
        γ and β (``None``: 1 and 0, and no gradient for them).
    eps : float, default 1e-5
    backend : str, optional

    Returns
    -------
    y : array, like ``x``
    cache : LayerNormCache
        For :func:`layer_norm_backward`.

    Notes
    -----
    For each row of :math:`D` values (biased variance):

    .. math::
        \mu = \frac1D \sum x, \quad \sigma^2 = \frac1D \sum (x-\mu)^2, \quad
        y = \gamma \frac{x-\mu}{\sqrt{\sigma^2+\epsilon}} + \beta

    References
    ----------
    Ba, J. L., Kiros, J. R. & Hinton, G. E. (2016). Layer normalization. arXiv:1607.06450.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.functional import layer_norm
    >>> y, _ = layer_norm(np.array([[1.0, 3.0], [2.0, 2.0]]), 2, backend="numpy")
    >>> np.round(y, 4).tolist()
    [[-1.0, 1.0], [0.0, 0.0]]
    """
    be = resolve_backend(backend, x)
    xp = be.xp
    shape = tuple(x.shape)
    normalized = _normalized(normalized_shape, shape)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"layer_norm needs a real float input, got dtype {x.dtype}")
    _check_vector("weight", weight, normalized)
    _check_vector("bias", bias, normalized)
    if not eps >= 0:
        raise ValueError(f"eps={eps} must be >= 0")
    width = math.prod(normalized)
    layout = (math.prod(shape) // width if width else 0, width, 1)
    if layout[0] * width == 0:
        raise ValueError(f"layer_norm got an empty input of shape {shape}")
    with np.errstate(all="ignore"):  # NaN/inf in x propagate, silently
        return _forward(be, x, layout, weight, bias, eps, normalized)


def _forward(be, x, layout, weight, bias, eps, normalized) -> tuple[Any, LayerNormCache]:
    xp, width, shape = be.xp, layout[1], tuple(x.shape)
    shift = xp.astype(xp.reshape(x, layout[:2])[:, 0], xp.float64)
    s1, s2 = run_reduce(be, rules.row_moments, {"x": x}, {"shift": shift}, layout=layout,
                        per="row")  # fmt: skip
    mean_dev = s1 / width
    var = xp.maximum((s2 - s1 * mean_dev) / width, xp.zeros_like(s2))
    mean, invstd = shift + mean_dev, 1.0 / xp.sqrt(var + eps)
    params = {
        "mean": mean,
        "invstd": invstd,
        "weight": _flat64(xp, weight, width, 1.0),
        "bias": _flat64(xp, bias, width, 0.0),
    }
    y = xp.empty(shape, dtype=x.dtype, device=_device(x))
    run_map(be, rules.normalize, {"x": x}, {"y": y}, params, layout=layout)
    keep = None if weight is None else xp.astype(weight, weight.dtype, copy=True)
    bias_dtype = None if bias is None else bias.dtype
    return y, LayerNormCache(be, x, layout, mean, invstd, keep, bias_dtype, normalized)


def _device(x: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def _flat64(xp: Any, v: Any | None, width: int, fill: float) -> Any:
    if v is None:
        return xp.full((width,), fill, dtype=xp.float64)
    return xp.astype(xp.reshape(v, (width,)), xp.float64)


def layer_norm_backward(dy: Any, cache: LayerNormCache) -> tuple[Any, Any, Any]:
    r"""Gradients of :func:`layer_norm` for an upstream gradient ``dy``.

    Returns
    -------
    dx : array, like ``x``
    dweight, dbias : array of shape ``normalized_shape`` or None

    Notes
    -----
    With :math:`\hat x = (x-\mu)\,\sigma^{-1}` and row means
    :math:`c_1 = \overline{\gamma\,dy}`, :math:`c_2 = \overline{\gamma\,dy\,\hat x}`:
    :math:`dx = \sigma^{-1}(\gamma\,dy - c_1 - \hat x\,c_2)`,
    :math:`d\gamma = \sum_n dy\,\hat x`, :math:`d\beta = \sum_n dy`.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.functional import layer_norm, layer_norm_backward
    >>> x = np.array([[1.0, 2.0, 6.0]])
    >>> y, cache = layer_norm(x, 3, np.ones(3), np.zeros(3), backend="numpy")
    >>> dx, dw, db = layer_norm_backward(np.ones_like(x), cache)
    >>> bool(np.abs(dx).max() < 1e-12), db.tolist()   # a constant dy moves nothing
    (True, [1.0, 1.0, 1.0])
    """
    be = cache.backend
    check_upstream(dy, tuple(cache.x.shape), cache.x.dtype)
    with np.errstate(all="ignore"):  # NaN/inf propagate, silently
        return _backward(be, dy, cache)


def _backward(be: Backend, dy: Any, cache: LayerNormCache) -> tuple[Any, Any, Any]:
    xp, layout = be.xp, cache.layout
    width = layout[1]
    weight = _flat64(xp, cache.weight, width, 1.0)
    rows = {"mean": cache.mean, "invstd": cache.invstd}
    inputs = {"dy": dy, "x": cache.x}
    sum_gy, sum_gy_xhat = run_reduce(be, rules.row_gradient_sums, inputs,
                                     {**rows, "weight": weight}, layout=layout, per="row")  # fmt: skip
    params = {**rows, "c1": sum_gy / width, "c2": sum_gy_xhat / width, "weight": weight}
    dx = xp.empty(tuple(dy.shape), dtype=dy.dtype, device=_device(dy))
    run_map(be, rules.input_gradient, inputs, {"dx": dx}, params, layout=layout)
    dweight = dbias = None
    if cache.weight is not None or cache.bias_dtype is not None:
        sum_dy_xhat, sum_dy = run_reduce(be, rules.parameter_gradient_sums, inputs, rows,
                                         layout=layout)  # fmt: skip
        shape = cache.normalized_shape
        if cache.weight is not None:
            dweight = xp.reshape(xp.astype(sum_dy_xhat, cache.weight.dtype), shape)
        if cache.bias_dtype is not None:
            dbias = xp.reshape(xp.astype(sum_dy, cache.bias_dtype), shape)
    return dx, dweight, dbias

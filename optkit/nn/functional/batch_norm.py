r"""Batch normalization, functional: forward and backward, train and eval, running stats.

The input is viewed as ``(O, C, I)`` with the channel in the middle (a free reshape
of contiguous data, whichever axis holds the channel): channels-last data becomes
rows ``(N·HW, C, 1)``, NCHW data runs ``(N, C, HW)``. The passes over the data are
the rules of :mod:`optkit.rules.batch_norm` (one shifted-moments reduction and one
scale/offset map forward; one gradient-sums reduction and one input-gradient map
backward), run by the backend's executor; what lies between them — mean, variance,
running statistics, folded coefficients — is O(C) array code here, in float64.

Semantics are torch's (``torch.nn.functional.batch_norm`` and the ``BatchNorm*d``
modules): the biased variance normalizes, the unbiased one enters ``running_var``;
``momentum`` is the weight of the *new* batch (Keras' 0.99 is the weight of the
old); ``momentum=None`` gives the cumulative average over ``num_batches_tracked``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from optkit._backend import Backend, resolve_backend
from optkit._exec import run_map, run_reduce
from optkit.nn.functional._batch_norm_checks import (
    channel_layout,
    check_arguments,
    check_upstream,
)
from optkit.rules import batch_norm as rules

__all__ = ["BatchNormCache", "batch_norm", "batch_norm_backward", "stats_dtype"]


def stats_dtype(xp: Any, dtype: Any) -> Any:
    """The dtype of returned statistics: float64 for float64 input, else float32."""
    return xp.float64 if dtype == xp.float64 else xp.float32


@dataclass(frozen=True)
class BatchNormCache:
    """What :func:`batch_norm_backward` needs from a forward call.

    ``x`` is the forward input and ``layout`` its ``(O, C, I)`` view; ``mean`` and
    ``invstd`` are per-channel float64; ``weight`` is a copy taken at forward time (or
    None); ``batch_stats`` tells whether the batch's own statistics normalized
    (training) or fixed running ones did (eval).
    """

    backend: Backend
    shape: tuple[int, ...]  # the input's shape; dy and dx have it
    x: Any
    layout: tuple[int, int, int]
    mean: Any  # (C,) float64
    invstd: Any  # (C,) float64, 1 / sqrt(var + eps)
    weight: Any | None  # (C,) copy of gamma, or None
    bias_dtype: Any | None  # dtype of beta (dbias is returned in it), None if no beta
    batch_stats: bool


def batch_norm(
    x: Any,
    weight: Any | None = None,
    bias: Any | None = None,
    running_mean: Any | None = None,
    running_var: Any | None = None,
    *,
    training: bool,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    axis: int = 1,
    num_batches_tracked: Any | None = None,
    backend: str | None = None,
) -> tuple[Any, BatchNormCache]:
    r"""Batch normalization over every axis but ``axis`` (Ioffe & Szegedy, 2015).

    Parameters
    ----------
    x : array, shape (N, C) or (N, C, \*spatial) for ``axis=1``
        Input; any float dtype. The channel sits on ``axis`` (1 is torch's layout,
        ``-1`` channels-last); statistics run over all other axes.
    weight, bias : array of shape (C,), optional
        γ and β. ``None`` means no affine part (γ = 1, β = 0, and the matching
        gradient is returned as ``None``).
    running_mean, running_var : array of shape (C,), optional
        Running statistics, both or neither. In training they are updated in place;
        in eval they normalize.
    training : bool
        Use the batch's statistics (and update the running ones) or the running ones.
    momentum : float or None, default 0.1
        Weight of the new batch in the running average; ``None`` gives the
        cumulative average :math:`1/t` over ``num_batches_tracked``.
    eps : float, default 1e-5
        Added to the variance.
    axis : int, default 1
        The channel axis.
    num_batches_tracked : 0-d integer array, optional
        Number of batches folded into the running statistics so far. When given
        and training with running statistics, it is incremented **in place** before
        the update (as the torch modules do); required when ``momentum`` is None.
    backend : str, optional
        ``"numpy"``, ``"numba"``, ``"cupy"``, ``"array_api"`` or ``"auto"``.

    Returns
    -------
    y : array
        Same shape and dtype as ``x`` (float16 in → float16 out; statistics and
        parameters may be float32).
    cache : BatchNormCache
        Pass it to :func:`batch_norm_backward`.

    Raises
    ------
    ValueError
        ``Expected more than 1 value per channel when training`` (as torch), bad
        shapes, ``eps < 0``, ``momentum`` outside [0, 1], eval without running
        statistics, ``momentum=None`` without ``num_batches_tracked``.

    Notes
    -----
    Over the :math:`M` values of channel :math:`c` (biased variance):

    .. math::
        \mu = \frac1M \sum x, \quad \sigma^2 = \frac1M \sum (x-\mu)^2, \quad
        y = \gamma \frac{x - \mu}{\sqrt{\sigma^2 + \epsilon}} + \beta

    In training, with :math:`m` = ``momentum`` (or :math:`1/t` when it is None):

    .. math::
        \bar\mu \leftarrow (1-m)\,\bar\mu + m\,\mu, \qquad
        \bar\sigma^2 \leftarrow (1-m)\,\bar\sigma^2 + m\,\frac{M}{M-1}\sigma^2

    In eval, :math:`\bar\mu, \bar\sigma^2` replace :math:`\mu, \sigma^2`.

    References
    ----------
    Ioffe, S. & Szegedy, C. (2015). Batch normalization. ICML.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.functional import batch_norm
    >>> x = np.array([[1.0, 10.0], [3.0, 30.0]])
    >>> rm, rv = np.zeros(2), np.ones(2)
    >>> y, cache = batch_norm(x, None, None, rm, rv, training=True, backend="numpy")
    >>> np.round(y, 3).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> rm.tolist(), np.round(rv, 3).tolist()   # momentum 0.1, unbiased variance
    ([0.2, 2.0], [1.1, 20.9])
    """
    resolved = resolve_backend(backend, x)
    return forward(
        resolved,
        x,
        weight,
        bias,
        running_mean,
        running_var,
        training=training,
        momentum=momentum,
        eps=eps,
        axis=axis,
        num_batches_tracked=num_batches_tracked,
    )


def forward(
    be: Backend,
    x: Any,
    weight: Any | None,
    bias: Any | None,
    running_mean: Any | None,
    running_var: Any | None,
    *,
    training: bool,
    momentum: float | None,
    eps: float,
    axis: int,
    num_batches_tracked: Any | None,
) -> tuple[Any, BatchNormCache]:
    """:func:`batch_norm` on an already resolved backend (the module calls this)."""
    xp = be.xp
    _, shape3 = channel_layout(tuple(x.shape), axis)
    if not xp.isdtype(x.dtype, "real floating"):
        raise TypeError(f"batch_norm needs a real float input, got dtype {x.dtype}")
    check_arguments(
        x, shape3, weight, bias, running_mean, running_var, momentum, eps,
        num_batches_tracked, training,
    )  # fmt: skip
    with np.errstate(all="ignore"):  # NaN/inf in x propagate, silently
        return _normalize(be, x, weight, bias, running_mean, running_var, training,
                          momentum, eps, shape3, num_batches_tracked)  # fmt: skip


def _normalize(be, x, weight, bias, running_mean, running_var, training, momentum, eps,
               shape3, num_batches_tracked):  # fmt: skip
    """The forward passes and the O(C) algebra between them."""
    xp = be.xp
    if training:
        mean, var = _batch_moments(be, x, shape3)
        if running_mean is not None:
            factor = _running_factor(momentum, num_batches_tracked)
            _update_running(xp, running_mean, running_var, mean, var, factor, shape3)
    else:
        mean = xp.astype(running_mean, xp.float64, copy=True)
        var = xp.astype(running_var, xp.float64)
    invstd = 1.0 / xp.sqrt(var + eps)
    scale = invstd if weight is None else invstd * xp.astype(weight, xp.float64)
    offset = -mean * scale
    if bias is not None:
        offset = offset + xp.astype(bias, xp.float64)
    y = xp.empty(tuple(x.shape), dtype=x.dtype, device=_device(x))
    params = {"scale": scale, "offset": offset}
    run_map(be, rules.scale_offset, {"x": x}, {"y": y}, params, layout=shape3)
    keep = None if weight is None else xp.astype(weight, weight.dtype, copy=True)
    cache = BatchNormCache(
        backend=be,
        shape=tuple(x.shape),
        x=x,
        layout=shape3,
        mean=mean,
        invstd=invstd,
        weight=keep,
        bias_dtype=None if bias is None else bias.dtype,
        batch_stats=training,
    )
    return y, cache


def _device(x: Any) -> Any:
    import array_api_compat

    return array_api_compat.device(x)


def _batch_moments(be: Backend, x: Any, shape3: tuple[int, int, int]) -> tuple[Any, Any]:
    r"""Per-channel mean and biased variance from one pass of shifted sums.

    With :math:`k` the channel's first value, :math:`s_1 = \sum (x-k)`,
    :math:`s_2 = \sum (x-k)^2` over the :math:`M` values (float64):
    :math:`\mu = k + s_1/M`, :math:`\sigma^2 = (s_2 - s_1^2/M)/M`.
    """
    xp = be.xp
    count = shape3[0] * shape3[2]
    shift = xp.astype(xp.reshape(x, shape3)[0, :, 0], xp.float64)
    s1, s2 = run_reduce(be, rules.shifted_moments, {"x": x}, {"shift": shift},
                        layout=shape3)  # fmt: skip
    mean_dev = s1 / count
    var = xp.maximum((s2 - s1 * mean_dev) / count, xp.zeros_like(s2))
    return shift + mean_dev, var


def _running_factor(momentum: float | None, nbt: Any | None) -> float:
    """Increment ``num_batches_tracked`` in place; the new batch's weight."""
    if nbt is not None:
        count = int(nbt) + 1
        nbt[...] = count
    if momentum is None:
        return 1.0 / count
    return float(momentum)


def _update_running(xp, running_mean, running_var, mean, var, factor, shape3) -> None:
    """``running = (1 − factor)·running + factor·batch``, unbiased variance, in place."""
    count = shape3[0] * shape3[2]
    unbiased = var * (count / (count - 1))  # float64
    rm_new = (1.0 - factor) * running_mean + factor * xp.astype(mean, running_mean.dtype)
    rv_new = (1.0 - factor) * running_var + factor * xp.astype(unbiased, running_var.dtype)
    running_mean[...] = rm_new
    running_var[...] = rv_new


def batch_norm_backward(dy: Any, cache: BatchNormCache) -> tuple[Any, Any, Any]:
    r"""Gradients of :func:`batch_norm` for an upstream gradient ``dy``.

    Parameters
    ----------
    dy : array
        Gradient of the loss with respect to ``y``; same shape as ``x``.
    cache : BatchNormCache
        The second result of :func:`batch_norm`.

    Returns
    -------
    dx : array
        Same shape and dtype as ``x``.
    dweight, dbias : array of shape (C,) or None
        In the dtypes of ``weight`` and ``bias``; ``None`` where those were None.

    Notes
    -----
    With :math:`\hat x = (x-\mu)/\sqrt{\sigma^2+\epsilon}` and :math:`M` values per
    channel, in training (statistics depend on the batch):

    .. math::
        d\beta = \sum dy, \quad d\gamma = \sum dy\,\hat x, \quad
        dx = \frac{\gamma}{M\sqrt{\sigma^2+\epsilon}}
             \Big(M\,dy - d\beta - \hat x\, d\gamma\Big)

    so that :math:`\sum dx = 0` and :math:`\sum dx\,\hat x = 0` per channel. In eval,
    :math:`dx = \gamma\,dy/\sqrt{\bar\sigma^2+\epsilon}`.

    References
    ----------
    Ioffe, S. & Szegedy, C. (2015). Batch normalization. ICML.

    Examples
    --------
    >>> import numpy as np
    >>> from optkit.nn.functional import batch_norm, batch_norm_backward
    >>> x = np.array([[1.0], [2.0], [6.0]])
    >>> w, b = np.ones(1), np.zeros(1)
    >>> y, cache = batch_norm(x, w, b, None, None, training=True, backend="numpy")
    >>> dx, dw, db = batch_norm_backward(np.ones_like(x), cache)
    >>> bool(np.abs(dx).max() < 1e-12), db.tolist()   # a constant dy moves nothing
    (True, [3.0])
    """
    be = cache.backend
    check_upstream(dy, cache.shape, cache.x.dtype)
    with np.errstate(all="ignore"):  # NaN/inf propagate, silently
        return _backward(be, dy, cache)


def _backward(be: Backend, dy: Any, cache: BatchNormCache) -> tuple[Any, Any, Any]:
    xp = be.xp
    layout, mean, invstd = cache.layout, cache.mean, cache.invstd
    count = layout[0] * layout[2]
    inputs = {"dy": dy, "x": cache.x}
    sum_dy, sum_dy_dev = run_reduce(be, rules.gradient_sums, inputs, {"mean": mean},
                                    layout=layout)  # fmt: skip
    a = invstd if cache.weight is None else xp.astype(cache.weight, xp.float64) * invstd
    if cache.batch_stats:
        b = -a * invstd * invstd * sum_dy_dev / count
        e = -a * sum_dy / count - b * mean
    else:
        b = e = xp.zeros_like(a)
    dx = xp.empty(cache.shape, dtype=dy.dtype, device=_device(dy))
    run_map(be, rules.input_gradient, inputs, {"dx": dx}, {"a": a, "b": b, "e": e},
            layout=layout)  # fmt: skip
    dweight = (
        None if cache.weight is None else xp.astype(sum_dy_dev * invstd, cache.weight.dtype)
    )
    dbias = None if cache.bias_dtype is None else xp.astype(sum_dy, cache.bias_dtype)
    return dx, dweight, dbias

"""BatchNorm on any Array API namespace: the readable two-pass reference (the spec).

Every backend module of :mod:`optkit.kernels.batch_norm` offers the same four
functions on arrays already viewed as ``(outer, C, inner)`` — the channel in the
middle, everything before it in ``outer`` and everything after it in ``inner``:

``as_3d(xp, x, shape3)``
    The ``(outer, C, inner)`` view of ``x`` in the layout the backend's kernels take.
``batch_stats(xp, x3)``
    Per-channel mean and *biased* variance over ``outer`` and ``inner``.
``normalize(xp, x3, mean, invstd, weight, bias)``
    :math:`y = \\gamma (x - \\mu)\\,\\mathrm{invstd} + \\beta`, in ``x3``'s dtype.
``backward(xp, dy3, x3, mean, invstd, weight, batch_stats)``
    ``dx3``, :math:`\\sum dy` and :math:`\\sum dy\\,\\hat x` per channel.

This module is the spec: two passes, whole-array expressions, and statistics
accumulated in float64 (so that a float32 batch of mean 1e4 and standard deviation 1
keeps its variance to ~1e-7; the naive float32 ``E[x²] − E[x]²`` loses it
entirely). Elementwise work runs in the *statistics dtype* — float64 for float64
input, float32 otherwise — and the result is cast back to the input's dtype, so a
float16 input keeps a float16 output (mixed precision).

References
----------
Ioffe, S. & Szegedy, C. (2015). Batch normalization: accelerating deep network
training by reducing internal covariate shift. ICML.
"""

from __future__ import annotations

from typing import Any

__all__ = ["as_3d", "backward", "batch_stats", "normalize", "stats_dtype"]

_REDUCE = (0, 2)  # the axes of (outer, C, inner) that a per-channel statistic sums


def stats_dtype(xp: Any, dtype: Any) -> Any:
    """float64 for float64 input, float32 for float32 and float16 input."""
    return xp.float64 if dtype == xp.float64 else xp.float32


def as_3d(xp: Any, x: Any, shape3: tuple[int, int, int]) -> Any:
    """``x`` reshaped to ``(outer, C, inner)`` (a view for contiguous arrays)."""
    return xp.reshape(x, shape3)


def _column(xp: Any, v: Any) -> Any:
    """A per-channel vector shaped ``(1, C, 1)`` to broadcast against ``x3``."""
    return xp.reshape(v, (1, v.shape[0], 1))


def batch_stats(xp: Any, x3: Any) -> tuple[Any, Any]:
    r"""Per-channel mean and biased variance, two passes in float64.

    .. math::
        \mu_c = \frac1M \sum_{o,i} x_{oci}, \qquad
        \sigma^2_c = \frac1M \sum_{o,i} (x_{oci} - \mu_c)^2, \qquad
        M = \text{outer} \cdot \text{inner}
    """
    count = x3.shape[0] * x3.shape[2]
    wide = xp.astype(x3, xp.float64)
    mean = xp.sum(wide, axis=_REDUCE) / count
    centered = wide - _column(xp, mean)
    var = xp.sum(centered * centered, axis=_REDUCE) / count
    sd = stats_dtype(xp, x3.dtype)
    return xp.astype(mean, sd), xp.astype(var, sd)


def normalize(
    xp: Any, x3: Any, mean: Any, invstd: Any, weight: Any | None, bias: Any | None
) -> Any:
    r""":math:`y = \gamma\,(x - \mu)\,\mathrm{invstd} + \beta` (γ = 1, β = 0 when None)."""
    sd = mean.dtype
    xhat = (xp.astype(x3, sd) - _column(xp, mean)) * _column(xp, invstd)
    if weight is not None:
        xhat = xhat * _column(xp, xp.astype(weight, sd))
    if bias is not None:
        xhat = xhat + _column(xp, xp.astype(bias, sd))
    return xp.astype(xhat, x3.dtype)


def backward(
    xp: Any,
    dy3: Any,
    x3: Any,
    mean: Any,
    invstd: Any,
    weight: Any | None,
    batch_stats: bool,
) -> tuple[Any, Any, Any]:
    r"""Gradient of :func:`normalize` with respect to ``x``, and the two channel sums.

    With :math:`\hat x = (x - \mu)\,\mathrm{invstd}`, batch statistics
    (:math:`\mu, \sigma^2` functions of the batch):

    .. math::
        dx = \frac{\gamma\,\mathrm{invstd}}{M}
             \Big(M\,dy - \sum dy - \hat x \sum dy\,\hat x\Big)

    and with fixed (running) statistics :math:`dx = \gamma\,\mathrm{invstd}\,dy`.
    Returns ``(dx3, sum_dy, sum_dy_xhat)``; the sums are ``dbias`` and ``dweight``.
    """
    sd = mean.dtype
    count = x3.shape[0] * x3.shape[2]
    dy = xp.astype(dy3, sd)
    xhat = (xp.astype(x3, sd) - _column(xp, mean)) * _column(xp, invstd)
    sum_dy = xp.astype(xp.sum(dy, axis=_REDUCE, dtype=xp.float64), sd)
    sum_dy_xhat = xp.astype(xp.sum(dy * xhat, axis=_REDUCE, dtype=xp.float64), sd)
    gain = invstd if weight is None else xp.astype(weight, sd) * invstd
    if batch_stats:
        inner = count * dy - _column(xp, sum_dy) - xhat * _column(xp, sum_dy_xhat)
        dx = _column(xp, gain / count) * inner
    else:
        dx = _column(xp, gain) * dy
    return xp.astype(dx, x3.dtype), sum_dy, sum_dy_xhat

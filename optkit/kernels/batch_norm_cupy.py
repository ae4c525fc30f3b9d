r"""BatchNorm on CuPy: CuPy reductions plus two fused elementwise kernels.

The same four functions as :mod:`optkit.kernels.batch_norm_reference` (the spec).
Importing this module imports CuPy; :mod:`optkit.kernels.batch_norm` does so only
when the ``cupy`` backend is first used.

* Statistics: two ``ReductionKernel`` passes over ``(outer, C, inner)`` with float64
  accumulation, :math:`\mu = \sum x / M` then :math:`\sigma^2 = \sum (x-\mu)^2 / M`
  (exact two-pass; 2 reads of ``x``).
* Normalize: one ``ElementwiseKernel`` :math:`y = x\cdot\mathrm{scale} + \mathrm{shift}`
  with per-channel folded :math:`\mathrm{scale} = \gamma\,\mathrm{invstd}`,
  :math:`\mathrm{shift} = \beta - \mu\,\mathrm{scale}` broadcast as ``(1, C, 1)``.
* Backward: reductions :math:`\sum dy` and :math:`\sum dy\,(x-\mu)`, then one
  ``ElementwiseKernel`` :math:`dx = a\,dy + b\,x + e` (per-channel coefficients as in
  :mod:`optkit.kernels.batch_norm_numba`).

The CUDA bodies are plain strings in :mod:`optkit.kernels._batch_norm_cuda`
(float64 arithmetic; float16 stored through float32, like the reference), so tests
compile them without a GPU. Kernel objects are built once, at import; CuPy
compiles them per dtype on first call and caches the binaries on disk.

References
----------
Ioffe & Szegedy (2015).
"""

from __future__ import annotations

from typing import Any

import cupy

from optkit.kernels import _batch_norm_cuda as cuda

__all__ = ["as_3d", "backward", "batch_stats", "normalize"]


def _reduction(name: str):
    """A float64-accumulating sum reduction (spec in ``_batch_norm_cuda``)."""
    in_params, map_expr = cuda.REDUCTIONS[name]
    return cupy.ReductionKernel(
        in_params,
        "float64 y",
        map_expr,
        "a + b",
        "y = a",
        "0",
        f"optkit_bn_{name}",
        reduce_type="double",
        preamble=cuda.PREAMBLE,
    )


def _elementwise(name: str):
    """A fused elementwise kernel (spec in ``_batch_norm_cuda``)."""
    in_params, out_params, operation = cuda.ELEMENTWISE[name]
    return cupy.ElementwiseKernel(
        in_params, out_params, operation, f"optkit_bn_{name}", preamble=cuda.PREAMBLE
    )


_sum = _reduction("sum")
_sum_sq_dev = _reduction("sum_sq_dev")
_sum_dy_dev = _reduction("sum_dy_dev")
_affine = _elementwise("affine")
_grad_input = _elementwise("grad_input")

_AXES = (0, 2)


def _stats_dtype(dtype: Any) -> Any:
    return cupy.float64 if dtype == cupy.float64 else cupy.float32


def _column(v: Any) -> Any:
    """A per-channel float64 vector shaped ``(1, C, 1)``."""
    return cupy.asarray(v, dtype=cupy.float64).reshape(1, -1, 1)


def as_3d(xp: Any, x: Any, shape3: tuple[int, int, int]) -> Any:
    """``x`` reshaped to ``(outer, C, inner)`` (kernels take any strides)."""
    if not isinstance(x, cupy.ndarray):
        raise TypeError(f"the cupy backend needs cupy arrays, got {type(x).__name__}")
    return x.reshape(shape3)


def batch_stats(xp: Any, x3: Any) -> tuple[Any, Any]:
    """Per-channel mean and biased variance: two float64 reductions."""
    count = x3.shape[0] * x3.shape[2]
    mean = _sum(x3, axis=_AXES) / count
    var = _sum_sq_dev(x3, _column(mean), axis=_AXES) / count
    sd = _stats_dtype(x3.dtype)
    return mean.astype(sd), var.astype(sd)


def normalize(
    xp: Any, x3: Any, mean: Any, invstd: Any, weight: Any | None, bias: Any | None
) -> Any:
    """``y = x·scale + shift`` with ``scale = γ·invstd``, ``shift = β − μ·scale``."""
    scale = invstd.astype(cupy.float64)
    if weight is not None:
        scale = scale * weight.astype(cupy.float64)
    shift = -mean.astype(cupy.float64) * scale
    if bias is not None:
        shift = shift + bias.astype(cupy.float64)
    y3 = cupy.empty(x3.shape, dtype=x3.dtype)
    _affine(x3, _column(scale), _column(shift), y3)
    return y3


def backward(
    xp: Any,
    dy3: Any,
    x3: Any,
    mean: Any,
    invstd: Any,
    weight: Any | None,
    batch_stats: bool,
) -> tuple[Any, Any, Any]:
    """``(dx3, Σdy, Σdy·x̂)``: two reductions, then one fused kernel for ``dx``."""
    count = x3.shape[0] * x3.shape[2]
    mu = mean.astype(cupy.float64)
    istd = invstd.astype(cupy.float64)
    sum_dy = _sum(dy3, axis=_AXES)
    sum_dy_xmu = _sum_dy_dev(dy3, x3, _column(mu), axis=_AXES)
    a = istd if weight is None else weight.astype(cupy.float64) * istd
    if batch_stats:
        b = -a * istd * istd * sum_dy_xmu / count
        e = -a * sum_dy / count - b * mu
    else:
        b = cupy.zeros_like(a)
        e = cupy.zeros_like(a)
    dx3 = cupy.empty(x3.shape, dtype=x3.dtype)
    _grad_input(dy3, x3, _column(a), _column(b), _column(e), dx3)
    sd = _stats_dtype(x3.dtype)
    return dx3, sum_dy.astype(sd), (sum_dy_xmu * istd).astype(sd)

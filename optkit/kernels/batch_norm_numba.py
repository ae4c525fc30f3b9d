r"""BatchNorm on Numba: one-pass statistics, one fused normalize pass, two-pass backward.

The same four functions as :mod:`optkit.kernels.batch_norm_reference` (whose
docstring is the spec); the loops live in :mod:`optkit.kernels._batch_norm_loops`.
This wrapper owns shapes, dtypes, thread counts and the per-channel algebra.

Forward (≥ 3 reads/writes of ``x``'s bytes ``S``: one read for the statistics,
one read and one write to normalize):

1. Shifted sums with float64 accumulators, per thread (static partition), with
   the channel's first value :math:`k` as shift: :math:`s_1 = \sum (x-k)`,
   :math:`s_2 = \sum (x-k)^2`, :math:`M_2 = s_2 - s_1^2/n`. Like Welford's (1962)
   update, this sums deviations from a value near the mean, so it avoids the
   cancellation of :math:`E[x^2]-E[x]^2`, without a division per element. The
   per-thread (n, mean, M2) are merged with Chan, Golub & LeVeque (1979).
2. One pass :math:`y = x\cdot\mathrm{scale} + \mathrm{shift}` with the per-channel
   folded :math:`\mathrm{scale} = \gamma\,\mathrm{invstd}`,
   :math:`\mathrm{shift} = \beta - \mu\,\mathrm{scale}` (float64 arithmetic).

Backward (5S): one pass for :math:`\sum dy` and :math:`\sum dy\,(x-\mu)`, one for
:math:`dx = a\,dy + b\,x + e` with per-channel
:math:`a = \gamma\,\mathrm{invstd}`, :math:`b = -a\,\mathrm{invstd}^2 \sum dy(x-\mu)/M`,
:math:`e = -a \sum dy / M - b\,\mu` (training; :math:`b = e = 0` in eval).

float16 arrays reach the loops as ``uint16`` views (Numba has no CPU float16 type).
Below :data:`PARALLEL_THRESHOLD` elements the serial chunk runs on the whole array.

References
----------
Ioffe & Szegedy (2015); Welford, B. P. (1962), Note on a method for calculating
corrected sums of squares and products, Technometrics 4(3); Chan, T. F., Golub,
G. H. & LeVeque, R. J. (1979), Updating formulae and a pairwise algorithm for
computing sample variances, Stanford CS report STAN-CS-79-773.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from optkit.kernels import _batch_norm_loops as loops

__all__ = ["PARALLEL_THRESHOLD", "as_3d", "backward", "batch_stats", "normalize"]

#: Below this many elements a pass runs serially in the calling thread. Measured on
#: 2 cores (``python tools/bench_batch_norm.py --threshold``, fwd+bwd, float32):
#: 2^16 elements serial 150 µs / parallel 162 µs, 2^17 about equal, 2^18 parallel
#: 15 % faster.
PARALLEL_THRESHOLD = 1 << 17

#: Channels-last data with fewer channels than this is processed as "super-rows"
#: of ``ceil(ROW_WIDTH / C)`` rows (a free reshape; per-channel vectors are tiled),
#: so that the vectorized channel loop stays long. Measured on 2 cores,
#: (64, 56, 56, 64) float32: statistics 2.7 ms with 64-wide rows, 1.8 ms with 256,
#: 1.4 ms with 1024; backward sums 5.7 ms -> 2.6 ms.
ROW_WIDTH = 1024

_KERNEL_VIEW = {
    np.dtype(np.float16): np.dtype(np.uint16),
    np.dtype(np.float32): np.dtype(np.float32),
    np.dtype(np.float64): np.dtype(np.float64),
}


def _threads(size: int) -> int:
    """1 below the threshold, else Numba's current thread count."""
    return 1 if size < PARALLEL_THRESHOLD else numba.get_num_threads()


def _kernel_view(a: np.ndarray) -> np.ndarray:
    """``a`` as the loops see it: float16 as uint16 bits, other floats as they are."""
    try:
        view = _KERNEL_VIEW[a.dtype]
    except KeyError:
        raise TypeError(
            f"the numba BatchNorm kernels take float16, float32 or float64 arrays, "
            f"got {a.dtype}"
        ) from None
    return a if view == a.dtype else a.view(view)


_FLOAT32, _FLOAT64 = np.dtype(np.float32), np.dtype(np.float64)


def _stats_dtype(dtype: np.dtype) -> np.dtype:
    return _FLOAT64 if dtype == _FLOAT64 else _FLOAT32


def _f64(v: np.ndarray) -> np.ndarray:
    return np.asarray(v, dtype=np.float64)


def as_3d(xp: Any, x: np.ndarray, shape3: tuple[int, int, int]) -> np.ndarray:
    """``x`` as a C-contiguous ``(outer, C, inner)`` array (copied only if needed)."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"the numba backend needs numpy arrays, got {type(x).__name__}")
    return np.ascontiguousarray(x).reshape(shape3)


def _group(shape3: tuple[int, int, int]) -> int:
    """Rows folded into one "super-row" for channels-last data with few channels."""
    rows, channels, inner = shape3
    if inner != 1 or channels >= ROW_WIDTH:
        return 1
    return max(1, min(-(-ROW_WIDTH // channels), rows))


def _split(a3: np.ndarray, group: int) -> tuple[np.ndarray, np.ndarray]:
    """``(main, rest)``: ``main`` views ``group`` rows as one (a free reshape), ``rest``
    holds the ``rows % group`` rows left over."""
    if group == 1:
        return a3, a3[:0]
    rows, channels = a3.shape[0], a3.shape[1]
    cut = rows - rows % group
    return a3[:cut].reshape(cut // group, group * channels, 1), a3[cut:]


def _tile(vector: np.ndarray, group: int) -> np.ndarray:
    """``vector`` repeated ``group`` times (the per-channel values of a super-row)."""
    return vector if group == 1 else loops.tile(vector, group)


def _sums(chunk, parallel, data, vector, nparts):
    """Per-thread partial sums ``(T, C)`` of a statistics pass, in thread order.

    ``data`` are the arrays the pass reads and ``vector`` its per-channel float64
    input (shift or mean). Rows layout with few channels runs on super-rows (with
    ``vector`` tiled) and folds the partials back to ``C`` channels.
    """
    channels = data[0].shape[1]
    group, threads = _group(data[0].shape), _threads(data[0].size)
    parts = [np.zeros((threads, group * channels)) for _ in range(nparts)]
    pieces = [_split(a, group) for a in data]
    main = [p[0] for p in pieces]
    if threads == 1:
        chunk(*main, _tile(vector, group), 0, loops.units(main[0]), *(p[0] for p in parts))
    else:
        parallel(*main, _tile(vector, group), *parts)
    if group == 1:
        return parts
    folded = [loops.fold_groups(p, group) for p in parts]
    rest = [p[1] for p in pieces]
    if rest[0].shape[0]:
        chunk(*rest, vector, 0, rest[0].shape[0], *(f[0] for f in folded))
    return folded


def _elementwise(chunk, parallel, data, vectors, out) -> None:
    """Run an elementwise pass ``out = f(*data, *per-channel vectors)``."""
    group, threads = _group(data[0].shape), _threads(data[0].size)
    pieces = [_split(a, group) for a in (*data, out)]
    main = [p[0] for p in pieces]
    tiled = [_tile(v, group) for v in vectors]
    if threads == 1:
        chunk(*main[:-1], *tiled, main[-1], 0, loops.units(main[0]))
    else:
        parallel(*main[:-1], *tiled, main[-1], threads)
    rest = [p[1] for p in pieces]
    if group > 1 and rest[0].shape[0]:
        chunk(*rest[:-1], *vectors, rest[-1], 0, rest[0].shape[0])


def batch_stats(xp: Any, x3: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and biased variance in one pass (statistics dtype)."""
    xk = _kernel_view(x3)
    shift = _f64(x3[0, :, 0])
    s1, s2, n = _sums(loops.stats_chunk, loops.stats_parallel, [xk], shift, 3)
    mean, var = loops.chan_merge(shift, s1, s2, n)
    sd = _stats_dtype(x3.dtype)
    return mean.astype(sd), var.astype(sd)


def normalize(
    xp: Any,
    x3: np.ndarray,
    mean: np.ndarray,
    invstd: np.ndarray,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
) -> np.ndarray:
    """``y = x·scale + shift`` with ``scale = γ·invstd``, ``shift = β − μ·scale``."""
    scale = _f64(invstd) if weight is None else _f64(weight) * _f64(invstd)
    shift = -_f64(mean) * scale
    if bias is not None:
        shift += _f64(bias)
    y3 = np.empty(x3.shape, dtype=x3.dtype)
    data = [_kernel_view(x3)]
    _elementwise(
        loops.affine_chunk, loops.affine_parallel, data, [scale, shift], _kernel_view(y3)
    )
    return y3


def backward(
    xp: Any,
    dy3: np.ndarray,
    x3: np.ndarray,
    mean: np.ndarray,
    invstd: np.ndarray,
    weight: np.ndarray | None,
    batch_stats: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(dx3, Σdy, Σdy·x̂)``: one pass for the sums, one for ``dx``."""
    count = x3.shape[0] * x3.shape[2]
    data = [_kernel_view(dy3), _kernel_view(x3)]
    mu, istd = _f64(mean), _f64(invstd)
    sdy, sdyx = _sums(loops.grad_sums_chunk, loops.grad_sums_parallel, data, mu, 2)
    gain = np.ones(x3.shape[1]) if weight is None else _f64(weight)
    a, b, e, sum_dy, sum_dy_xhat = loops.grad_coefficients(
        sdy, sdyx, mu, istd, gain, float(count), batch_stats
    )
    dx3 = np.empty(x3.shape, dtype=x3.dtype)
    chunk, par = loops.grad_input_chunk, loops.grad_input_parallel
    _elementwise(chunk, par, data, [a, b, e], _kernel_view(dx3))
    sd = _stats_dtype(x3.dtype)
    return dx3, sum_dy.astype(sd), sum_dy_xhat.astype(sd)

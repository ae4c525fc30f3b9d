"""The Numba executor: generated loops (see :mod:`optkit._exec.numba_source`) and the
wrappers that own shapes, dtypes, layouts and thread counts.

The loops see only C-contiguous buffers (1-D, ``(R, C)`` rows or ``(O, C, I)``
runs) and small arrays of per-channel/per-row values; everything else happens here:
non-contiguous parameters are copied in and out, float16 travels as ``uint16`` bits
(``compute="float64"`` rules only: Numba has no float16 arithmetic), lifted host
values are rounded once to the compute type, array hyperparameters of a population
become per-row values (one per run), channels-last data with few channels is
processed as "super-rows" (:data:`ROW_WIDTH`), and reductions get per-thread partial
sums that are added in thread order.

Each generated module is written into the kernel cache folder under a name that
hashes its text and the Numba/NumPy versions, so Numba's on-disk cache works across
processes and is never stale; the folder is private and the cache repairs itself
(see :mod:`optkit._exec.numba_cache`). Parallel loops run under a lock when Numba's
``workqueue`` threading layer is in use (it aborts on concurrent launches).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import threading
from typing import Any

import numba
import numpy as np

from optkit._exec import array_api as reference
from optkit._exec import numba_cache, numba_maps, numba_threads
from optkit._exec.host import Floats
from optkit._exec.numba_maps import elementwise, reduce
from optkit._exec.numba_source import Plan, module_source
from optkit._exec.trace import trace
from optkit.rules._rule import Rule
from optkit.rules.finite import nonfinite

__all__ = [
    "PARALLEL_THRESHOLD",
    "ROW_WIDTH",
    "count_nonfinite",
    "elementwise",
    "reduce",
    "update",
    "update_checked",
]

#: Below this many elements an update runs its serial loop; at and above, ``prange``.
#: Measured on 2 cores (float32 Adam, serial time / parallel time): 0.56 at 2^12,
#: 1.10 at 2^14, 1.58 at 2^16, 2.65 at 2^18. The parallel loop's fixed cost (waking
#: the threads, ~2-3 us) pays off between 2^14 and 2^16; 2^16 keeps a clear margin.
PARALLEL_THRESHOLD = 1 << 16

#: Maps and reductions of the normalization layers run serially below this size.
#: Measured on 2 cores, BatchNorm fwd+bwd float32: 2^16 elements serial 150 µs /
#: parallel 162 µs, 2^17 about equal, 2^18 parallel 15 % faster.
REDUCE_THRESHOLD = 1 << 17

#: Channels-last data with fewer channels than this is processed as "super-rows" of
#: ``ceil(ROW_WIDTH / C)`` rows (a free reshape; per-channel values are tiled), so the
#: vectorized channel loop stays long. Measured on 2 cores, (64, 56, 56, 64) float32:
#: statistics 2.7 ms with 64-wide rows, 1.8 ms with 256, 1.4 ms with 1024.
ROW_WIDTH = 1024

#: LLVM fast-math flags. ``nnan``/``ninf`` never (they delete NaN/inf handling);
#: ``contract`` (FMA) neither: it broke exact cancellations the reference keeps
#: (centered RMSprop with alpha=0 computes v - gbar^2 = g*g - g*g, which FMA turned
#: into a tiny negative number and a NaN square root). The loops are memory-bound.
FASTMATH = frozenset({"nsz"})
#: Reductions add ``reassoc`` so that LLVM vectorizes the float64 accumulation with
#: several partial sums (2^24 float32 sum of squares on 2 cores: 1.4 ms with it,
#: 4.9 ms without); the order is fixed at compile time, so results stay deterministic.
REDUCE_FASTMATH = frozenset({"nsz", "reassoc"})

numba_threads.start_threads()  # before any parallel loop: see numba_threads
_modules: dict[Plan, numba_cache.KernelModule] = {}
_lock = threading.RLock()
_F32 = np.dtype(np.float32)
_F64 = np.dtype(np.float64)
_F16 = np.dtype(np.float16)


# ----------------------------------------------------------------- modules
def _module(plan: Plan) -> numba_cache.KernelModule:
    """The loaded module of ``plan`` (generated, written and imported once)."""
    module = _modules.get(plan)
    if module is None:
        with _lock:
            module = _modules.get(plan)
            if module is None:
                text = module_source(plan, FASTMATH, REDUCE_FASTMATH)
                key = "\0".join([text, numba.__version__, np.__version__])
                digest = hashlib.sha256(key.encode()).hexdigest()[:16]
                name = f"optkit_{plan.rule.name}_{plan.kind}_{digest}"
                module = _modules[plan] = numba_cache.KernelModule(name, text)
    return module


def _call(kernel: numba_cache.KernelModule, function: str, *args: Any) -> Any:
    """Call a generated loop. Parallel loops run under the threading-layer lock; a
    damaged cache entry is discarded and rebuilt once (see numba_cache)."""
    lock = numba_cache.parallel_lock() if function in ("parallel",) else _NO_LOCK
    with lock:
        try:
            return getattr(kernel.module, function)(*args)
        except Exception as exc:
            return kernel.recover(exc, lambda m: getattr(m, function)(*args))


_NO_LOCK = contextlib.nullcontext()


def clear_kernels() -> None:
    """Forget every loaded kernel module (the next call generates or loads it again)."""
    with _lock:
        _modules.clear()
        _flats.clear()
        _count.clear()
        numba_maps._flat_maps.clear()


class _Flat:
    """The cached pieces of a flat update (the hot path of every optimizer step)."""

    __slots__ = ("consts", "kernel")

    def __init__(self, rule: Rule):
        tr = trace(rule)
        self.kernel = _module(
            Plan(rule, "update", "flat", bind=("scalar",) * len(tr.lifted))
        )
        self.consts = [float(tr.nodes[i].value) for i in tr.consts]


_flats: dict[Rule, _Flat] = {}


# ----------------------------------------------------------------- buffers
def _flat(a: np.ndarray) -> np.ndarray:
    """A 1-D C-contiguous view of ``a`` (a copy if ``a`` is not contiguous)."""
    return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)


_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


def _kernel_view(a: np.ndarray) -> np.ndarray:
    """``a`` as the loops read it: float16 as uint16 bits (``compute="float64"`` rules)."""
    if a.dtype not in _DTYPES:
        raise TypeError(
            f"the numba backend takes float16, float32 or float64 arrays, got {a.dtype}"
        )
    return a.view(np.uint16) if a.dtype == np.float16 else a


def _half_in_param_dtype(rule: Rule, arrays) -> bool:
    """True for a ``compute="param"`` rule on float16 data: Numba has no float16
    arithmetic, so the reference executor runs it (same program, same rounding)."""
    return rule.compute != "float64" and any(a.dtype == np.float16 for a in arrays)


def _scalars(rule: Rule, values: list, dtype: np.dtype) -> np.ndarray:
    """Lifted scalars then literals, rounded once to ``dtype``."""
    tr = trace(rule)
    consts = [tr.nodes[i].value for i in tr.consts]
    return np.array([*values, *consts], dtype=dtype)


def _threads(size: int, threshold: int) -> int:
    return 1 if size < threshold else numba.get_num_threads()  # started at import


# ----------------------------------------------------------------- update rules
def _population(values: list, shape: tuple[int, ...]) -> tuple[int, list[np.ndarray]]:
    """Array-valued lifted values as per-row values: with ``J`` the last axis on which
    any of them varies, ``p`` is viewed as ``(prod(shape[:J]), prod(shape[J:]))`` rows
    and row ``r`` takes element ``r`` of each (a population of runs: one per row)."""
    arrays = [np.asarray(v) for v in values]
    padded = [a.reshape((1,) * (len(shape) - a.ndim) + a.shape) for a in arrays]
    split = max(
        (max((j + 1 for j, d in enumerate(a.shape) if d != 1), default=0) for a in padded),
        default=0,
    )
    index = (slice(None),) * split + (0,) * (len(shape) - split)
    return split, [np.broadcast_to(a[index], shape[:split]) for a in padded]


def update(rule: Rule, p: np.ndarray, g: np.ndarray, states: tuple, values: list) -> None:
    """Apply update ``rule`` in place (one fused loop over ``p``, ``g`` and the state)."""
    flat = _flats.get(rule)
    if flat is not None and type(values) is Floats and p.ndim == 1 and g.ndim == 1:
        dtype = p.dtype
        if (dtype is _F32 or dtype is _F64) and p.shape[0] < PARALLEL_THRESHOLD:
            # the hot path (small 1-d arrays, any strides): no lock, no copies
            k = np.array([*values, *flat.consts], dtype=dtype)
            try:
                return flat.kernel.module.serial(p, g, *states, k)
            except Exception as exc:
                return flat.kernel.recover(exc, lambda m: m.serial(p, g, *states, k))
    if p.dtype == _F16 and rule.compute != "float64":
        return reference.update(rule, p, g, states, values)
    size = p.size
    if size == 0:
        return None
    if type(values) is not Floats and any(np.ndim(v) for v in values):
        return _update_population(rule, p, [p, g, *states], values)
    if flat is None:
        flat = _flats[rule] = _Flat(rule)
    k = np.array([*values, *flat.consts], dtype=p.dtype)
    if p.ndim == 1 and g.ndim == 1 and p.flags.c_contiguous and g.flags.c_contiguous:
        loop = "serial" if size < PARALLEL_THRESHOLD else "parallel"
        return _call(flat.kernel, loop, p, g, *states, k)
    contiguous = p.flags.c_contiguous
    buffers = [_flat_view(b) for b in (p, g, *states)]
    _call(flat.kernel, "serial" if size < PARALLEL_THRESHOLD else "parallel", *buffers, k)
    if not contiguous:
        p[...] = buffers[0].reshape(p.shape)
    return None


def update_checked(
    rule: Rule, p: np.ndarray, g: np.ndarray, states: tuple, values: list
) -> int | None:
    """The finite check and :func:`update` in one call, for the small 1-d float case:
    the count of non-finite elements of ``g`` (0: updated; else nothing written), or
    None when the case does not apply (the caller checks and updates separately)."""
    flat = _flats.get(rule)
    if flat is None or type(values) is not Floats or p.ndim != 1 or g.ndim != 1:
        return None
    dtype = p.dtype
    if (dtype is not _F32 and dtype is not _F64) or p.shape[0] >= PARALLEL_THRESHOLD:
        return None
    k = np.array([*values, *flat.consts], dtype=dtype)
    try:
        return flat.kernel.module.checked(p, g, *states, k)
    except Exception as exc:
        return flat.kernel.recover(exc, lambda m: m.checked(p, g, *states, k))


def _flat_view(a: np.ndarray) -> np.ndarray:
    return a.reshape(-1) if a.flags.c_contiguous else np.ascontiguousarray(a).reshape(-1)


def _update_population(rule: Rule, p: np.ndarray, buffers: list, values: list) -> None:
    """Array-valued host values: ``p`` as rows, one value per row (see _population)."""
    arrays = [i for i, v in enumerate(values) if np.ndim(v)]
    split, per_row = _population([values[i] for i in arrays], p.shape)
    rows = math.prod(p.shape[:split])
    shaped = [np.ascontiguousarray(b).reshape(rows, -1) for b in buffers]
    scalars = [v for i, v in enumerate(values) if i not in arrays]
    bind = tuple("row" if i in arrays else "scalar" for i in range(len(values)))
    plan = Plan(rule, "update", "rows", bind=bind)
    k = _scalars(rule, scalars, p.dtype)
    row_values = [np.ascontiguousarray(r, dtype=p.dtype).reshape(-1) for r in per_row]
    loop = "serial" if p.size < PARALLEL_THRESHOLD else "parallel"
    _call(_module(plan), loop, *shaped, *row_values, k)
    if not p.flags.c_contiguous:  # the rows are a copy: write them back
        p[...] = shaped[0].reshape(p.shape)


class _Count:
    """The cached nonfinite-count kernel (one read of the gradient)."""

    __slots__ = ("constants", "kernel")

    def __init__(self):
        self.kernel = _module(Plan(nonfinite, "reduce", "flat", "all", ()))
        self.constants = {
            t: _scalars(nonfinite, [], np.dtype(t)) for t in (np.float32, np.float64)
        }


_count: list[_Count] = []


def count_nonfinite(x: np.ndarray) -> int:
    """How many elements of ``x`` are NaN or ±inf (one vectorized read)."""
    constants = _count[0].constants.get(x.dtype.type) if _count else None
    if constants is None:
        if x.dtype == np.float16 or x.size == 0 or x.dtype not in (_F32, _F64):
            return reference.count_nonfinite(x)
        if not _count:
            _count.append(_Count())
        constants = _count[0].constants[x.dtype.type]
    kernel = _count[0].kernel
    flat = x if x.ndim == 1 and x.flags.c_contiguous else _flat_view(x)
    if flat.shape[0] < PARALLEL_THRESHOLD:  # the hot path: no lock
        try:
            return kernel.module.serial(flat, constants)[0]
        except Exception as exc:
            return kernel.recover(exc, lambda m: m.serial(flat, constants))[0]
    return _call(kernel, "parallel", flat, constants)[0]

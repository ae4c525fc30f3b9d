"""The CuPy executor: one generated ``ElementwiseKernel`` per rule, one launch per step.

Each rule is traced once with symbolic scalars (:mod:`optkit._exec.trace`) into a
typed C body; :func:`optkit._exec.cuda_source.elementwise_spec` makes it an
``ElementwiseKernel`` whose ``in_params`` are the gradient and the hyperparameters
and whose ``out_params`` are the parameter and the state arrays. CuPy binds
out-params as references into the arrays, so one launch reads ``p``, ``g`` and the
state and writes ``p`` and the state in place: no temporaries, no copies, and
non-contiguous views and broadcast hyperparameters (population runs) are handled
by CuPy's indexer. Nothing per optimizer is written by hand.

Caching: kernel objects are kept per (rule, set of array-valued hyperparameters);
CuPy compiles and keeps one binary per argument signature (dtype, scalar or array,
dimensions) and caches it on disk (``~/.cupy/kernel_cache``), which completes the
key to (rule, dtype, array hyperparameters). Scalars are passed as NumPy scalars of
the parameter's dtype (:func:`cast_hypers`), so ``T`` is the parameter's type.

Launch cost is ~8-11 us per call (PERFORMANCE.md technique 4): give a whole model
as a :class:`~optkit.FlatParams` to make one launch per dtype.

This module imports CuPy; :mod:`optkit._exec` imports it only for ``backend="cupy"``.
"""

from __future__ import annotations

import operator
from typing import Any

import cupy
import numpy as np

from optkit._exec.cuda_source import elementwise_spec
from optkit.rules import Rule

__all__ = ["BLOCK_SIZE", "all_finite", "cast_hypers", "kernel_for"]

#: Whether scalar hyperparameters must go through ``cast_hypers``:
#: scalars become NumPy scalars of the parameter dtype.
CONVERTS_SCALARS = True

#: Threads per block of the update kernels (CuPy's default; ``tools/gpu_bench.py
#: --block-sizes`` measures alternatives).
BLOCK_SIZE = 128

_kernels: dict[tuple[Rule, frozenset[str]], Any] = {}
_elementwise: dict[Rule, Any] = {}


def elementwise_kernel(rule: Rule):
    """The ``cupy.ElementwiseKernel`` of ``rule`` (built once; compiled on first call)."""
    kernel = _elementwise.get(rule)
    if kernel is None:
        spec = elementwise_spec(rule)
        kernel = _elementwise[rule] = cupy.ElementwiseKernel(
            spec.in_params,
            spec.out_params,
            spec.operation,
            name=spec.name,
            no_return=True,
            options=spec.options,
        )
    return kernel


def kernel_for(rule: Rule, array_hypers: frozenset[str]):
    """The step function of ``rule``: ``kernel(p, g, states, hypers)``, in place."""
    key = (rule, frozenset(array_hypers))
    kernel = _kernels.get(key)
    if kernel is None:
        kernel = _kernels[key] = _make_kernel(rule)
    return kernel


def _make_kernel(rule: Rule):
    elementwise = elementwise_kernel(rule)
    names = rule.hypers
    if len(names) > 1:
        get_hypers = operator.itemgetter(*names)
    elif names:
        name = names[0]

        def get_hypers(h):
            return (h[name],)
    else:

        def get_hypers(h):
            return ()

    def kernel(p, g, states, hypers):
        elementwise(g, *get_hypers(hypers), p, *states, block_size=BLOCK_SIZE)

    kernel.rule = rule
    kernel.elementwise = elementwise
    return kernel


def cast_hypers(hypers: dict[str, Any], param: Any) -> dict[str, Any]:
    """Hyperparameters as the kernel takes them, in the parameter's dtype.

    Numbers and 0-d host arrays become NumPy scalars (passed by value); 0-d CuPy
    arrays stay on the device (cast, never read back: no synchronization);
    other arrays become CuPy arrays broadcastable to the parameter.
    """
    dtype = param.dtype
    scalar = dtype.type
    out = {}
    for name, value in hypers.items():
        if type(value) is float:
            out[name] = scalar(value)
        elif isinstance(value, cupy.ndarray):
            out[name] = value if value.dtype == dtype else value.astype(dtype)
        elif hasattr(value, "shape") and tuple(value.shape) != ():
            out[name] = cupy.asarray(np.asarray(value), dtype=dtype)
        else:
            out[name] = scalar(value)
    return out


_all_finite_kernel = cupy.ReductionKernel(
    "T x",
    "bool y",
    "isfinite(x)",
    "a && b",
    "y = a",
    "true",
    "optkit_all_finite",
    reduce_type="bool",
)


def all_finite(g: Any) -> bool:
    """True when ``g`` holds no NaN/inf: one reduction on the device, one bool back."""
    return bool(_all_finite_kernel(g))

"""The CuPy executor: generated ``ElementwiseKernel``/``ReductionKernel`` objects.

Each rule is traced once and printed by :mod:`optkit._exec.cuda_source`; the kernel
objects are built once per rule and kept, and CuPy compiles one binary per argument
signature (dtype, scalar or array, dimensions) and caches it on disk
(``~/.cupy/kernel_cache``).

* update rules: one launch reads ``g``, ``p`` and the state and writes ``p`` and the
  state in place (out-params are references into the arrays); non-contiguous views
  and population hyperparameters are handled by CuPy's indexer;
* maps: inputs and outputs viewed as ``(O, C, I)``, channel parameters shaped
  ``(1, C, 1)`` and row parameters ``(O, 1, 1)``, so they are indexed, not copied;
* reductions: one ``ReductionKernel`` per output (a second output re-reads the
  input: two reads for BatchNorm's statistics instead of one), summed in ``double``
  over the reduced axes.

Lifted host values become NumPy scalars of the compute type (passed by value) or, for
a population or a value already on the device, CuPy arrays (never read back: no
synchronization). Launch cost is ~8-11 us per call: give a whole model as a
:class:`~optkit.FlatParams` to make one launch per dtype.

This module imports CuPy; the backend registry imports it only for ``backend="cupy"``.
"""

from __future__ import annotations

from typing import Any

import cupy
import numpy as np

from optkit._exec.cuda_source import elementwise_spec, reduction_specs
from optkit._exec.trace import trace
from optkit.rules import Rule
from optkit.rules.finite import nonfinite

__all__ = ["BLOCK_SIZE", "count_nonfinite", "elementwise", "reduce", "update"]

#: Threads per block of the elementwise kernels (CuPy's default; ``tools/gpu_bench.py
#: --block-sizes`` measures alternatives).
BLOCK_SIZE = 128

_elementwise: dict[Rule, tuple[Any, Any]] = {}
_reductions: dict[Rule, list[tuple[Any, Any]]] = {}


def _elementwise_kernel(rule: Rule) -> tuple[Any, Any]:
    entry = _elementwise.get(rule)
    if entry is None:
        spec = elementwise_spec(rule)
        kernel = cupy.ElementwiseKernel(
            spec.in_params, spec.out_params, spec.operation, name=spec.name,
            preamble=spec.preamble, options=spec.options, no_return=True,
        )  # fmt: skip
        entry = _elementwise[rule] = (kernel, spec)
    return entry


def _reduction_kernels(rule: Rule) -> list[tuple[Any, Any]]:
    entry = _reductions.get(rule)
    if entry is None:
        entry = _reductions[rule] = [
            (
                cupy.ReductionKernel(
                    s.in_params,
                    s.out_params,
                    s.map_expr,
                    s.reduce_expr,
                    s.post_map_expr,
                    s.identity,
                    name=s.name,
                    reduce_type=s.reduce_type,
                    preamble=s.preamble,
                    options=s.options,
                ),
                s,
            )
            for s in reduction_specs(rule)
        ]
    return entry


def _compute_dtype(rule: Rule, dtype: Any) -> Any:
    return np.dtype(np.float64) if rule.compute == "float64" else np.dtype(dtype)


def _value(value: Any, dtype: Any) -> Any:
    """A lifted value: a NumPy scalar of ``dtype``, or a CuPy array of ``dtype``."""
    if isinstance(value, cupy.ndarray):
        return value if value.dtype == dtype else value.astype(dtype)
    if getattr(value, "ndim", 0):
        return cupy.asarray(np.asarray(value), dtype=dtype)
    return dtype.type(value)


def update(rule: Rule, p: Any, g: Any, states: tuple, values: list) -> None:
    """Apply update ``rule`` in place: one launch."""
    kernel, spec = _elementwise_kernel(rule)
    dtype = _compute_dtype(rule, p.dtype)
    state = dict(zip(trace(rule).state, states))
    args = []
    for kind, name in spec.args:
        if kind == "data":
            args.append(g)
        elif kind == "lifted":
            args.append(_value(values[int(name)], dtype))
        else:
            args.append(p if name == "p" else state[name])
    kernel(*args, block_size=BLOCK_SIZE)


def _view(a: Any, layout: tuple[int, int, int] | None) -> Any:
    return a if layout is None else a.reshape(layout)


def _param(value: Any, dtype: Any, kind: str, layout: tuple[int, int, int] | None) -> Any:
    v = cupy.asarray(value, dtype=dtype)
    if layout is None:
        return v
    return v.reshape((1, -1, 1) if kind == "channel" else (-1, 1, 1))


def _arguments(spec, rule, inputs, params, values, layout, dtype) -> list[Any]:
    args = []
    for kind, name in spec.args:
        if kind == "data":
            args.append(_view(inputs[name], layout))
        elif kind in ("channel", "row"):
            args.append(_param(params[name], dtype, kind, layout))
        elif kind == "lifted":
            args.append(_value(values[int(name)], dtype))
    return args


def elementwise(
    rule: Rule,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    params: dict[str, Any],
    values: list,
    layout: tuple[int, int, int] | None = None,
) -> None:
    """Evaluate map ``rule`` into the output arrays (one launch)."""
    kernel, spec = _elementwise_kernel(rule)
    first = inputs[rule.inputs[0]]
    dtype = _compute_dtype(rule, first.dtype)
    args = _arguments(spec, rule, inputs, params, values, layout, dtype)
    views = {n: _view(o, layout) for n, o in outputs.items()}
    args += [views[name] for kind, name in spec.args if kind == "out"]
    kernel(*args, block_size=BLOCK_SIZE)
    for n, o in outputs.items():
        if not o.flags.c_contiguous:  # its (O, C, I) view was a copy
            o[...] = views[n].reshape(o.shape)


def reduce(
    rule: Rule,
    inputs: dict[str, Any],
    params: dict[str, Any],
    values: list,
    layout: tuple[int, int, int] | None = None,
    per: str = "channel",
) -> list[Any]:
    """Sums (float64) or counts (int64) of the rule's terms, left on the device."""
    first = inputs[rule.inputs[0]]
    dtype = _compute_dtype(rule, first.dtype)
    axis = None if layout is None else ((0, 2) if per == "channel" else (1, 2))
    results = []
    for kernel, spec in _reduction_kernels(rule):
        args = _arguments(spec, rule, inputs, params, values, layout, dtype)
        results.append(kernel(*args, axis=axis))
    return results


def count_nonfinite(x: Any) -> int:
    """How many elements of ``x`` are NaN or ±inf (one reduction; one number back)."""
    (count,) = reduce(nonfinite, {"x": x}, {}, [], None)
    return int(count)

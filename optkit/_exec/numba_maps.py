"""The Numba executor's maps and reductions: layouts, super-rows, partial sums.

See :mod:`optkit._exec.numba` (the executor) and :mod:`optkit._exec.numba_source`
(the printer). Shared pieces (thresholds, the module table, buffer views) are read
from :mod:`optkit._exec.numba` at call time, so tests can adjust its thresholds.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from optkit._exec.numba_source import Plan
from optkit._exec.trace import trace
from optkit.rules._rule import Rule

__all__ = ["elementwise", "reduce"]


class _Core:
    """:mod:`optkit._exec.numba`, looked up on use (it imports this module)."""

    module: Any = None

    def __getattr__(self, name: str) -> Any:
        if _Core.module is None:
            from optkit._exec import numba

            _Core.module = numba
        return getattr(_Core.module, name)


core = _Core()


def _compute_dtype(rule: Rule, first: np.ndarray) -> np.dtype:
    return core._F64 if rule.compute == "float64" else first.dtype


def _params(rule: Rule, params: dict[str, Any], dtype: np.dtype) -> tuple[list, list]:
    tr = trace(rule)
    channel = [np.ascontiguousarray(params[n], dtype=dtype) for n in tr.channel]
    row = [np.ascontiguousarray(params[n], dtype=dtype) for n in tr.row]
    return channel, row


def _check_scalar(rule: Rule, values: list) -> None:
    if any(np.ndim(v) for v in values):
        raise TypeError(f"{rule.label}: maps and reductions take scalar hyperparameters")


def _group(layout: tuple[int, int, int], has_rows: bool) -> int:
    """Rows folded into one super-row for channels-last data with few channels."""
    rows, channels, inner = layout
    if inner != 1 or channels >= core.ROW_WIDTH or has_rows:
        return 1
    return max(1, min(-(-core.ROW_WIDTH // channels), rows))


def _shape(a: np.ndarray, layout: tuple[int, int, int] | None) -> np.ndarray:
    if layout is None:
        return core._flat(a)
    flat = core._flat(a)
    outer, channels, inner = layout
    return flat.reshape(outer, channels) if inner == 1 else flat.reshape(layout)


class _FlatMap:
    """The cached pieces of a whole-array map with scalar hyperparameters (the
    activations, clipping's scaling): its module, literals and argument names."""

    __slots__ = ("consts", "data", "module", "outputs")

    def __init__(self, rule: Rule, n_values: int):
        tr = trace(rule)
        plan = Plan(rule, "map", "flat", bind=("scalar",) * n_values)
        self.module = core._module(plan)
        self.consts = [tr.nodes[i].value for i in tr.consts]
        self.data, self.outputs = tr.data, tr.output_names


_flat_maps: dict[tuple[Rule, int], _FlatMap] = {}
_F32, _F64 = np.dtype(np.float32), np.dtype(np.float64)


def _flat_map(rule: Rule, inputs: dict, outputs: dict, values: list) -> bool:
    """The common case with little host work: every array C-contiguous, of one dtype,
    float32 or float64. False when it does not apply (the general path runs)."""
    fm = _flat_maps.get((rule, len(values)))
    if fm is None:
        fm = _flat_maps[(rule, len(values))] = _FlatMap(rule, len(values))
    arrays = [inputs[n] for n in fm.data] + [outputs[n] for n in fm.outputs]
    dtype = arrays[0].dtype
    if dtype is not _F32 and dtype is not _F64:
        return False
    for a in arrays:
        if a.dtype is not dtype or not a.flags.c_contiguous:
            return False
    compute = _F64 if rule.compute == "float64" else dtype
    k = np.array([*values, *fm.consts], dtype=compute)
    flat = [a.reshape(-1) for a in arrays]
    executor = _Core.module  # loaded by _FlatMap; its thresholds are read on each call
    if flat[0].shape[0] >= executor.REDUCE_THRESHOLD:
        executor._call(fm.module, "parallel", *flat, k)
        return True
    try:  # serial: no lock, as the update's small-array path
        fm.module.module.serial(*flat, k)
    except Exception as exc:
        fm.module.recover(exc, lambda m: m.serial(*flat, k))
    return True


def elementwise(
    rule: Rule,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    params: dict[str, Any],
    values: list,
    layout: tuple[int, int, int] | None = None,
) -> None:
    """Evaluate map ``rule``, writing each output (any layout; copied back if needed)."""
    _check_scalar(rule, values)
    if layout is None and not params and _flat_map(rule, inputs, outputs, values):
        return
    tr = trace(rule)
    first = inputs[rule.inputs[0]]
    if first.size == 0:
        return
    if core._half_in_param_dtype(rule, (*inputs.values(), *outputs.values())):
        return core.reference.elementwise(rule, inputs, outputs, params, values, layout)
    dtype = _compute_dtype(rule, first)
    ins = [core._kernel_view(_shape(inputs[n], layout)) for n in tr.data]
    outs = {n: outputs[n] for n in tr.output_names}
    shaped = {n: _shape(o, layout) for n, o in outs.items()}
    views = [core._kernel_view(shaped[n]) for n in tr.output_names]
    channel, row = _params(rule, params, dtype)
    k = core._scalars(rule, values, dtype)
    kind = "flat" if layout is None else ("rows" if layout[2] == 1 else "runs")
    plan = Plan(rule, "map", kind, bind=("scalar",) * len(values))
    module = core._module(plan)
    loop = "serial" if first.size < core.REDUCE_THRESHOLD else "parallel"
    group = _group(layout, bool(row)) if kind == "rows" else 1
    if group > 1:
        cut = layout[0] - layout[0] % group
        width = group * layout[1]
        main = [a[:cut].reshape(cut // group, width) for a in (*ins, *views)]
        tiled = [np.tile(c, group) for c in channel]
        core._call(module, loop, *main, *tiled, *row, k)
        if cut < layout[0]:
            rest = [a[cut:] for a in (*ins, *views)]
            core._call(module, "serial", *rest, *channel, *row, k)
    else:
        core._call(module, loop, *ins, *views, *channel, *row, k)
    for n, o in outs.items():
        if not o.flags.c_contiguous:  # _shape gave a copy: write it back
            o[...] = shaped[n].reshape(o.shape)


def reduce(
    rule: Rule,
    inputs: dict[str, Any],
    params: dict[str, Any],
    values: list,
    layout: tuple[int, int, int] | None = None,
    per: str = "channel",
) -> list[Any]:
    """Float64 sums (int64 counts) of the rule's terms: per channel or per row of
    ``layout``, or over everything (``layout=None``: a 0-d array per term)."""
    _check_scalar(rule, values)
    tr = trace(rule)
    first = inputs[rule.inputs[0]]
    if core._half_in_param_dtype(rule, inputs.values()):
        return core.reference.reduce(rule, inputs, params, values, layout, per)
    dtype = _compute_dtype(rule, first)
    acc = np.int64 if rule.count else np.float64
    m = len(tr.outputs)
    if first.size == 0:
        size = 0 if layout is None else layout[1 if per == "channel" else 0]
        return [np.zeros(() if layout is None else (size,), acc) for _ in range(m)]
    ins = [core._kernel_view(_shape(inputs[n], layout)) for n in tr.data]
    channel, row = _params(rule, params, dtype)
    k = core._scalars(rule, values, dtype)
    threads = core._threads(first.size, core.REDUCE_THRESHOLD)
    if layout is None:
        module = core._module(
            Plan(rule, "reduce", "flat", "all", ("scalar",) * len(values))
        )
        loop = "serial" if threads == 1 else "parallel"
        if rule.count:  # the count loops return their ints
            return [acc(c) for c in core._call(module, loop, *ins, k)]
        total = np.zeros(m, acc)
        core._call(module, loop, *ins, k, total)
        return [total[j] for j in range(m)]
    kind = "rows" if layout[2] == 1 else "runs"
    if per == "row":
        module = core._module(Plan(rule, "reduce", kind, "row", ("scalar",) * len(values)))
        outs = [np.zeros(layout[0], acc) for _ in range(m)]
        core._call(
            module, "serial" if threads == 1 else "parallel", *ins, *channel, *row, k, *outs
        )
        return outs
    # Rows per block: 8 rows of one input (4 of two) keep the float64 accumulators in
    # registers; a per-row parameter changes from row to row, so those go one by one.
    unroll = (8 if len(ins) == 1 else 4) if kind == "rows" and not row else 1
    module = core._module(
        Plan(rule, "reduce", kind, "channel", ("scalar",) * len(values), unroll)
    )
    return _channel_sums(module, ins, channel, row, k, layout, threads, acc, m)


def _channel_sums(module, ins, channel, row, k, layout, threads, acc, m) -> list:
    """Per-thread partial sums of a per-channel reduction, added in thread order."""
    outer, channels, inner = layout
    group = _group(layout, bool(row)) if inner == 1 else 1
    width = group * channels
    parts = [np.zeros((threads, width), acc) for _ in range(m)]
    cut = outer - outer % group
    main = [a[:cut].reshape(cut // group, width) for a in ins] if group > 1 else ins
    tiled = [np.tile(c, group) for c in channel] if group > 1 else channel
    units = main[0].shape[0] * (1 if inner == 1 else channels)
    if threads == 1:
        core._call(
            module, "chunk", *main, *tiled, *row, k, 0, units, *(p[0] for p in parts)
        )
    else:
        core._call(module, "parallel", *main, *tiled, *row, k, *parts)
    folded = [p.reshape(threads, group, channels).sum(axis=1) for p in parts]
    if group > 1 and cut < outer:
        rest = [a[cut:] for a in ins]
        core._call(module, "chunk", *rest, *channel, *row, k, 0, outer - cut,
              *(f[0] for f in folded))  # fmt: skip
    return [f.sum(axis=0) for f in folded]

"""The reference executor: a traced rule evaluated on whole arrays of any Array API library.

This is optkit's ground truth and its readable path: each data node of the program
(:mod:`optkit._exec.trace`) becomes one ``xp`` operation on whole arrays, in the
compute type (the parameter's dtype, or float64 for ``compute="float64"`` rules),
with the lifted host values rounded once to that type. The fast executors run the
very same program per element, so they agree with this one operation by operation.

* update rules write the parameter and the state back in place with ``x[...] = new``
  (also for non-contiguous views); array hyperparameters broadcast as given;
* maps view their inputs as ``(O, C, I)`` when a layout is given, with each channel
  parameter reshaped to ``(1, C, 1)`` and each row parameter to ``(O, 1, 1)``;
* reductions sum their terms in float64 per channel (over ``O`` and ``I``), per row
  (over ``C`` and ``I``) or over everything, or count them (int64).

It allocates temporaries; the Numba and CuPy executors are the fast paths.
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np

from optkit._exec.trace import Trace, trace
from optkit.rules._rule import Rule

__all__ = ["count_nonfinite", "elementwise", "reduce", "update"]

_BINARY = {
    "add": lambda xp, a, b: a + b, "sub": lambda xp, a, b: a - b,
    "mul": lambda xp, a, b: a * b, "div": lambda xp, a, b: a / b,
    "pow": lambda xp, a, b: xp.pow(a, b), "lt": lambda xp, a, b: a < b,
    "le": lambda xp, a, b: a <= b, "gt": lambda xp, a, b: a > b,
    "ge": lambda xp, a, b: a >= b, "eq": lambda xp, a, b: a == b,
    "ne": lambda xp, a, b: a != b, "and": lambda xp, a, b: xp.logical_and(a, b),
    "or": lambda xp, a, b: xp.logical_or(a, b),
}  # fmt: skip
_UNARY = {
    "neg": lambda xp, a: -a, "sqrt": lambda xp, a: xp.sqrt(a),
    "exp": lambda xp, a: xp.exp(a), "log": lambda xp, a: xp.log(a),
    "abs": lambda xp, a: xp.abs(a), "tanh": lambda xp, a: xp.tanh(a),
    "not": lambda xp, a: xp.logical_not(a),
}  # fmt: skip


def _namespace(x: Any) -> Any:
    return np if isinstance(x, np.ndarray) else array_api_compat.array_namespace(x)


def _on(xp: Any, value: Any, dtype: Any, like: Any) -> Any:
    """``value`` (number or array of any library) as an array of ``like``'s library and
    device in ``dtype``: rounded once from float64."""
    device = array_api_compat.device(like)
    if not hasattr(value, "shape") or tuple(value.shape) == ():
        return xp.asarray(float(value), dtype=dtype, device=device)
    if not isinstance(value, np.ndarray) and _namespace(value) is xp:
        return xp.astype(value, dtype)
    return xp.asarray(np.asarray(value, dtype=np.float64), dtype=dtype, device=device)


def _unaliased(xp: Any, news: list, arrays: list) -> list:
    """Copy results that are input arrays themselves (``return v, p``) before writing."""
    return [xp.asarray(v, copy=True) if any(v is a for a in arrays) else v for v in news]


def _evaluate(tr: Trace, xp: Any, dtype: Any, env: dict[int, Any], like: Any) -> None:
    """Fill ``env`` with every node the outputs need, in program order (NaN and inf
    propagate silently, as in the fused kernels)."""
    with np.errstate(all="ignore"):
        _run(tr, xp, dtype, env, like)


def _run(tr: Trace, xp: Any, dtype: Any, env: dict[int, Any], like: Any) -> None:
    for i, node in enumerate(tr.nodes):
        if i in env or (node.host and node.op != "const"):
            continue  # bound, or host-only (its lifted descendants are bound)
        if node.op == "const":
            env[i] = xp.asarray(node.value, dtype=xp.bool if node.type == "b" else dtype,
                                device=array_api_compat.device(like))  # fmt: skip
        elif node.op == "input":
            raise KeyError(f"input {node.value} of {tr.rule.label} was not bound")
        elif node.op == "where":
            c, a, b = (env[x] for x in node.args)
            env[i] = xp.where(c, a, b)
        elif node.op == "float":
            env[i] = xp.astype(env[node.args[0]], dtype)
        elif node.op == "bool":
            env[i] = env[node.args[0]] != xp.asarray(0, dtype=dtype)
        elif len(node.args) == 2:
            env[i] = _BINARY[node.op](xp, env[node.args[0]], env[node.args[1]])
        else:
            env[i] = _UNARY[node.op](xp, env[node.args[0]])


def _bind(tr: Trace, xp, dtype, like, data, params, values, shapes=None) -> dict:
    """The environment: inputs cast to the compute type, lifted values rounded once;
    channel/row parameters reshaped by ``shapes`` (``{"channel": f, "row": f}``)."""
    env = {}
    for i, node in enumerate(tr.nodes):
        if node.op != "input":
            continue
        kind, name = node.value
        if kind == "data":
            env[i] = (
                xp.astype(data[name], dtype) if data[name].dtype != dtype else data[name]
            )
        elif kind in ("channel", "row"):
            v = _on(xp, params[name], dtype, like)
            env[i] = shapes[kind](v) if shapes else v
    for i, value in zip(tr.lifted, values):
        env[i] = _on(xp, value, dtype, like)
    return env


def _compute_dtype(rule: Rule, xp: Any, first: Any) -> Any:
    return xp.float64 if rule.compute == "float64" else first.dtype


def update(rule: Rule, p: Any, g: Any, states: tuple, values: list) -> None:
    """Apply update ``rule`` once to whole arrays, writing parameter and states in place."""
    tr = trace(rule)
    xp = _namespace(p)
    dtype = _compute_dtype(rule, xp, p)
    data = {"p": p, "g": g, **dict(zip(tr.state, states))}
    env = _bind(tr, xp, dtype, p, data, {}, values)
    _evaluate(tr, xp, dtype, env, p)
    targets = [p, *states]
    news = _unaliased(xp, [env[o] for o in tr.outputs], list(data.values()))
    for target, new, store in zip(targets, news, tr.stores()):
        if store:
            target[...] = xp.astype(new, target.dtype) if new.dtype != target.dtype else new


def _view(xp: Any, a: Any, layout: tuple[int, int, int] | None) -> Any:
    return a if layout is None else xp.reshape(a, layout)


def _shapes(xp: Any, layout: tuple[int, int, int] | None) -> dict | None:
    """Reshape channel parameters to ``(1, C, 1)`` and row parameters to ``(O, 1, 1)``."""
    if layout is None:
        return None
    return {
        "channel": lambda v: xp.reshape(v, (1, v.shape[0], 1)),
        "row": lambda v: xp.reshape(v, (v.shape[0], 1, 1)),
    }


def _evaluated(rule: Rule, inputs: dict, params: dict, values: list, layout) -> tuple:
    """Trace ``rule``, bind its inputs (viewed as ``layout``) and evaluate every node:
    ``(trace, namespace, first input, viewed inputs, environment)``."""
    tr = trace(rule)
    first = inputs[rule.inputs[0]]
    xp = _namespace(first)
    dtype = _compute_dtype(rule, xp, first)
    data = {k: _view(xp, v, layout) for k, v in inputs.items()}
    env = _bind(tr, xp, dtype, first, data, params, values, _shapes(xp, layout))
    _evaluate(tr, xp, dtype, env, first)
    return tr, xp, first, data, env


def elementwise(
    rule: Rule,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    params: dict[str, Any],
    values: list,
    layout: tuple[int, int, int] | None = None,
) -> None:
    """Evaluate map ``rule`` and write each output array in place."""
    tr, xp, _, data, env = _evaluated(rule, inputs, params, values, layout)
    news = _unaliased(xp, [env[o] for o in tr.outputs], list(data.values()))
    for name, value in zip(tr.output_names, news):
        out = outputs[name]
        new = xp.astype(value, out.dtype)
        full = tuple(out.shape) if layout is None else layout
        out[...] = xp.reshape(xp.broadcast_to(new, full), tuple(out.shape))


def reduce(
    rule: Rule,
    inputs: dict[str, Any],
    params: dict[str, Any],
    values: list,
    layout: tuple[int, int, int] | None = None,
    per: str = "channel",
) -> list[Any]:
    """Sums (float64) or counts (int64) of the rule's terms: ``(C,)`` arrays per channel
    (``per="channel"``) or ``(O,)`` per row (``per="row"``) of ``layout``; 0-d arrays
    over the whole input without a layout."""
    tr, xp, first, _, env = _evaluated(rule, inputs, params, values, layout)
    shape = layout if layout is not None else tuple(first.shape)
    if layout is None:
        axes = tuple(range(len(shape)))
    else:
        axes = (0, 2) if per == "channel" else (1, 2)
    acc = xp.int64 if rule.count else xp.float64
    results = []
    for index in tr.outputs:
        term = xp.astype(xp.broadcast_to(env[index], shape), acc)
        results.append(xp.sum(term, axis=axes, dtype=acc) if axes else term)
    return results


def count_nonfinite(x: Any) -> int:
    """How many elements of ``x`` are NaN or ±inf."""
    from optkit.rules.finite import nonfinite

    (count,) = reduce(nonfinite, {"x": x}, {}, [], None)
    return int(count)

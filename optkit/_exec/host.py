"""The host part of a traced rule: hyperparameter-only arithmetic, in float64, once per call.

:func:`host_function` turns the host nodes of a :class:`~optkit._exec.trace.Trace`
into a small generated Python function that takes the hyperparameters and returns
the lifted values (:attr:`Trace.lifted`) in float64: NumPy float64 scalars for
numbers, float64 arrays of the hyperparameters' own library for array-valued ones (a
population of K runs). Each executor then rounds them once to its compute type.
Division by zero and overflow give inf/NaN silently, as they would in the kernel.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from optkit._exec.trace import Trace, trace
from optkit.rules._rule import Rule

__all__ = ["Floats", "host_function", "host_values"]


class Floats(list):
    """Lifted values that are all Python floats (no array hyperparameter)."""

    __slots__ = ()


_FORMS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "pow": "_each(xp, _pow, {0}, {1})", "neg": "-{0}", "sqrt": "xp.sqrt({0})",
    "exp": "_each(xp, _exp, {0})", "log": "_each(xp, _log, {0})", "abs": "xp.abs({0})",
    "tanh": "_each(xp, _tanh, {0})", "where": "xp.where({0}, {1}, {2})",
    "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "eq": "{0} == {1}", "ne": "{0} != {1}", "and": "xp.logical_and({0}, {1})",
    "or": "xp.logical_or({0}, {1})", "not": "xp.logical_not({0})",
    "float": "xp.where({0}, 1.0, 0.0)", "bool": "{0} != 0.0",
}  # fmt: skip


def _wide(xp: Any, value: Any) -> Any:
    """A hyperparameter in float64: numbers become NumPy float64 scalars (IEEE
    semantics: 1/0 is inf), or 0-d arrays when another library's arrays are about;
    arrays become float64 arrays of their own library."""
    shape = getattr(value, "shape", None)
    if shape is None:
        return np.float64(value) if xp is np else xp.asarray(float(value), dtype=xp.float64)
    if isinstance(value, np.ndarray | np.generic):
        return value.astype(np.float64) if value.dtype != np.float64 else value
    import array_api_compat

    xp = array_api_compat.array_namespace(value)
    return xp.astype(value, xp.float64) if value.dtype != xp.float64 else value


_SCALAR_FORMS = {
    **_FORMS, "pow": "_pow({0}, {1})", "sqrt": "_sqrt({0})", "exp": "_exp({0})", "log": "_log({0})",
    "tanh": "_tanh({0})", "abs": "abs({0})", "where": "({1} if {0} else {2})", "and": "({0} and {1})",
    "or": "({0} or {1})", "not": "(not {0})",
}  # fmt: skip


def _generate(tr: Trace, forms: dict[str, str], load: str, label: str) -> Callable:
    """Source of ``host(xp, h, wide)`` returning the lifted values. With the scalar
    forms every value it returns is a Python float, or it raises (:class:`_NotNumber`
    for an array hyperparameter, an arithmetic error for an IEEE special case)."""
    scalar = forms is _SCALAR_FORMS
    names = {}
    lines = ["def host(xp, h, wide):"]
    for i in sorted(_needed(tr)):
        n = tr.nodes[i]
        if n.op == "input":
            names[i] = f"h{i}"
            lines.append(f"    h{i} = {load.format(repr(n.value[1]))}")
            if scalar:  # Python floats pass as they are; other numbers are converted
                lines.append(
                    f"    if type(h{i}) is not float:\n        h{i} = _number(h{i})"
                )
        elif n.op == "const":
            names[i] = f"float({n.value!r})" if scalar else repr(n.value)
        else:
            names[i] = f"t{i}"
            lines.append(f"    t{i} = {forms[n.op].format(*(names[a] for a in n.args))}")
    lines.append(f"    return [{', '.join(names[i] for i in tr.lifted)}]")
    scope: dict[str, Any] = {
        "_sqrt": math.sqrt, "_exp": _safe(math.exp), "_log": _safe(math.log),
        "_pow": _safe(math.pow), "_tanh": math.tanh, "_each": _each, "_number": _number,
    }  # fmt: skip
    exec(compile("\n".join(lines), f"<optkit host part of {label}>", "exec"), scope)
    return scope["host"]


class _NotNumber(Exception):
    """An array-valued hyperparameter: the NumPy path takes over."""


def _number(value: Any) -> float:
    """A number (Python or NumPy scalar, 0-d array) as a Python float."""
    if getattr(value, "ndim", 0):
        raise _NotNumber
    return float(value)


def _safe(fn: Callable) -> Callable:
    """The C library's function with IEEE results instead of Python's exceptions."""

    def call(*args: float) -> float:
        try:
            return fn(*args)
        except (OverflowError, ValueError):
            with np.errstate(all="ignore"):
                return float(getattr(np, fn.__name__.replace("pow", "power"))(*args))

    call.__name__ = fn.__name__
    return call


def _each(xp: Any, fn: Callable, *args: Any) -> Any:
    """``fn`` element by element on NumPy float64 arrays (the C library's function,
    as the number path uses: vectorized NumPy exp/log/pow differ in the last bit);
    other array libraries use their own function."""
    if xp is not np:
        return getattr(xp, fn.__name__)(*args)
    arrays = np.broadcast_arrays(*(np.asarray(a, np.float64) for a in args))
    flat = [a.ravel().tolist() for a in arrays]
    return np.fromiter(map(fn, *flat), np.float64, count=arrays[0].size).reshape(
        arrays[0].shape
    )


@functools.cache
def host_function(rule: Rule) -> Callable[[dict[str, Any]], list[Any]]:
    """A function ``hypers -> lifted values`` (float64) for ``rule``; cached.

    Numbers take a plain-Python path (about a microsecond); when it meets an IEEE
    special case Python refuses (1/0, overflow, the square root of a negative) or an
    array hyperparameter, NumPy float64 arithmetic with IEEE semantics takes over.
    """
    tr = trace(rule)
    if not tr.lifted:
        return lambda hypers: Floats()
    fast = _generate(tr, _SCALAR_FORMS, "h[{}]", rule.label)
    wide = _generate(tr, _FORMS, "wide(xp, h[{}])", rule.label)
    names = tr.hypers

    def run(hypers: dict[str, Any]) -> list[Any]:
        try:
            return Floats(fast(None, hypers, None))
        except (_NotNumber, ArithmeticError, ValueError, TypeError):
            pass
        xp = _namespace(hypers, names)
        with np.errstate(all="ignore"):
            return wide(xp, hypers, _wide)

    return run


def _needed(tr: Trace) -> set[int]:
    seen, stack = set(), list(tr.lifted)
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(tr.nodes[i].args)
    return seen


def _namespace(hypers: dict[str, Any], names: tuple[str, ...]) -> Any:
    """NumPy, unless an array hyperparameter belongs to another library."""
    for name in names:
        value = hypers[name]
        if hasattr(value, "shape") and not isinstance(value, np.ndarray | np.generic):
            import array_api_compat

            return array_api_compat.array_namespace(value)
    return np


def host_values(rule: Rule, hypers: dict[str, Any]) -> list[Any]:
    """The lifted values of ``rule`` for ``hypers`` (float64; see module docstring)."""
    return host_function(rule)(hypers)

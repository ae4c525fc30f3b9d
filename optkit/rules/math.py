"""Math helpers that update rules may call; each works on every executor.

On arrays they dispatch through ``array_api_compat`` to the arrays' namespace; on
Python numbers they use :mod:`math`; inside Numba-compiled loops they are replaced
by ``numba.extending.overload`` implementations (registered by
``optkit._exec.numba``); a tracer object (used to generate GPU kernels) takes over
when any argument defines ``__optkit_trace__``.

``where`` is the only way a rule may branch on data. ``maximum``/``minimum``
propagate NaN, as NumPy's do, on every executor.
"""

from __future__ import annotations

import builtins
import contextvars
import math as _m
from numbers import Number

__all__ = [
    "abs",
    "clip",
    "exp",
    "lerp",
    "log",
    "maximum",
    "minimum",
    "sign",
    "sqrt",
    "tanh",
    "where",
]

_namespaces: dict[type, object] = {}

#: The floating dtype of the parameter being updated, set by the Array API executor
#: while it evaluates a rule: a number-only choice such as ``where(g > 0, 1.0, -1.0)``
#: then takes the parameter's dtype, as a Python number combined with it would.
float_dtype: contextvars.ContextVar = contextvars.ContextVar(
    "optkit_float_dtype", default=None
)


def _xp(x):
    """Array API namespace of ``x`` (cached per type; ``array_namespace`` is slow)."""
    kind = type(x)
    ns = _namespaces.get(kind)
    if ns is None:
        import array_api_compat

        ns = _namespaces[kind] = array_api_compat.array_namespace(x)
    return ns


def _traced(name, args):
    for a in args:
        hook = getattr(a, "__optkit_trace__", None)
        if hook is not None:
            return hook(name, args)
    return None


def _is_number(x) -> bool:
    return isinstance(x, Number) and not hasattr(x, "shape")


def _first_array(args):
    for a in args:
        if not _is_number(a):
            return a
    return None


def _as_arrays(xp, like, args):
    """Python numbers among ``args`` become 0-d arrays of ``like``'s float dtype."""
    if xp.isdtype(like.dtype, "real floating"):
        dtype = like.dtype
    else:
        dtype = float_dtype.get() or xp.float64
    device = getattr(like, "device", None)
    out = []
    for a in args:
        if _is_number(a):
            a = (
                xp.asarray(a, dtype=dtype, device=device)
                if device is not None
                else xp.asarray(a, dtype=dtype)
            )
        out.append(a)
    return out


def _unary(name, scalar_fn):
    def helper(x):
        t = _traced(name, (x,))
        if t is not None:
            return t
        if _is_number(x):
            return scalar_fn(x)
        return getattr(_xp(x), name)(x)

    helper.__name__ = name
    helper.__qualname__ = name
    helper.__doc__ = f"Element-wise ``{name}`` on numbers, arrays, Numba and traced code."
    return helper


def _scalar_sign(x):
    if x != x:
        return x
    return float((x > 0) - (x < 0))


sqrt = _unary("sqrt", _m.sqrt)
exp = _unary("exp", _m.exp)
log = _unary("log", _m.log)
tanh = _unary("tanh", _m.tanh)
abs = _unary("abs", builtins.abs)
sign = _unary("sign", _scalar_sign)


def _binary_nan(name, pick):
    def helper(x1, x2):
        t = _traced(name, (x1, x2))
        if t is not None:
            return t
        like = _first_array((x1, x2))
        if like is None:
            if x1 != x1:
                return x1
            if x2 != x2:
                return x2
            return pick(x1, x2)
        xp = _xp(like)
        a, b = _as_arrays(xp, like, (x1, x2))
        return getattr(xp, name)(a, b)

    helper.__name__ = name
    helper.__qualname__ = name
    helper.__doc__ = f"Element-wise ``{name}``; NaN in either argument gives NaN."
    return helper


maximum = _binary_nan("maximum", builtins.max)
minimum = _binary_nan("minimum", builtins.min)


def where(condition, x1, x2):
    """``x1`` where ``condition`` holds, else ``x2`` (the only data-dependent choice)."""
    t = _traced("where", (condition, x1, x2))
    if t is not None:
        return t
    like = _first_array((x1, x2))
    if _is_number(condition) or isinstance(condition, bool):
        if like is None:
            return x1 if condition else x2
        condition = _xp(like).asarray(bool(condition))
    xp = _xp(condition)
    like = condition if like is None else like
    a, b = _as_arrays(xp, like, (x1, x2))
    return xp.where(condition, a, b)


def clip(x, lo, hi):
    """``x`` limited to ``[lo, hi]`` element-wise (``minimum(maximum(x, lo), hi)``)."""
    return minimum(maximum(x, lo), hi)


def lerp(start, end, weight):
    """``start + weight * (end - start)``, computed as torch's ``lerp`` does.

    For ``weight < 0.5`` it is ``start + weight * (end - start)``, else
    ``end - (end - start) * (1 - weight)`` (each form is exact at its end point). The
    exponential moving averages of Adam, NAdam and centered RMSprop use it, so their
    float32 rounding is torch's.
    """
    return where(
        weight < 0.5, start + weight * (end - start), end - (end - start) * (1 - weight)
    )

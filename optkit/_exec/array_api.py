"""The reference executor: evaluate a rule on whole arrays of any Array API namespace.

This is the readable path and optkit's ground truth. Each rule is called once per
step on the full arrays (the math helpers dispatch through ``array_api_compat``),
then the results are written back in place with ``x[...] = new``, which also works
for non-contiguous views. It allocates temporaries; the Numba and CuPy executors
are the fast paths.
"""

from __future__ import annotations

from typing import Any

import array_api_compat

from optkit.rules import Rule
from optkit.rules import math as rule_math

__all__ = ["cast_hypers", "kernel_for", "run_rule"]

#: Whether scalar hyperparameters must go through ``cast_hypers``:
#: NumPy float64 scalars would upcast float32 arrays.
CONVERTS_SCALARS = True


def run_rule(rule: Rule, p: Any, g: Any, states: tuple, hypers: dict[str, Any]) -> None:
    """Apply ``rule`` once to whole arrays, writing parameter and states in place."""
    token = rule_math.float_dtype.set(p.dtype)
    try:
        new = rule.fn(p, g, *states, **hypers)
    finally:
        rule_math.float_dtype.reset(token)
    inputs = (p, g, *states)
    if any(v is a for v in new for a in inputs):  # e.g. `return v, p`: copy before writing
        xp = array_api_compat.array_namespace(p)
        new = [xp.asarray(v, copy=True) if any(v is a for a in inputs) else v for v in new]
    p[...] = new[0]
    for array, value in zip(states, new[1:]):
        array[...] = value


def kernel_for(rule: Rule, array_hypers: frozenset[str]):
    """A step function evaluating ``rule`` on whole arrays (no compilation)."""

    def kernel(p, g, states, hypers):
        run_rule(rule, p, g, states, hypers)

    kernel.rule = rule
    return kernel


def cast_hypers(hypers: dict[str, Any], param: Any) -> dict[str, Any]:
    """Scalars become Python floats (weakly typed: they keep the array's dtype);
    arrays become arrays of the parameter's namespace, dtype and device."""
    xp = array_api_compat.array_namespace(param)
    out = {}
    for name, value in hypers.items():
        if hasattr(value, "shape") and value.shape != ():
            out[name] = xp.asarray(
                value, dtype=param.dtype, device=array_api_compat.device(param)
            )
        else:
            out[name] = float(value)
    return out


def all_finite(g: Any) -> bool:
    """True when every element of ``g`` is finite (``xp.isfinite``, then ``xp.all``)."""
    xp = array_api_compat.array_namespace(g)
    return bool(xp.all(xp.isfinite(g)))

"""Eager validation of hyperparameters: numbers, arrays, or schedules (``t -> value``).

A value out of range raises ``ValueError`` whose message names the hyperparameter
and shows the offending value, e.g. ``invalid lr=-1.0: must be >= 0``; a value of
the wrong kind (a string, a bool where a number is due) raises ``TypeError``. Arrays are checked
element-wise; a schedule is checked at its first value (``t = 0``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from optkit._host import namespace


def is_array(value: Any) -> bool:
    """True for an array of any library with at least one dimension."""
    return hasattr(value, "shape") and tuple(value.shape) != ()


def resolve(value: Any, t: int) -> Any:
    """A hyperparameter's value at applied-step count ``t`` (schedules are called)."""
    if callable(value):
        return value(t)
    if isinstance(value, tuple):
        return tuple(resolve(v, t) for v in value)
    return value


def first_value(value: Any) -> Any:
    """The value a hyperparameter takes at step 0 (calls a schedule)."""
    return value(0) if callable(value) else value


def holds(value: Any, test: Callable[[Any], Any]) -> bool:
    """True when ``test`` holds for the number, or for every element of the array."""
    if hasattr(value, "shape"):
        xp = namespace(value)
        return bool(xp.all(test(value)))
    return bool(test(value))


def _show(value: Any) -> str:
    if is_array(value):
        return f"array of shape {tuple(value.shape)}"
    return repr(float(value)) if hasattr(value, "shape") else repr(value)


def check(name: str, value: Any, test: Callable[[Any], Any], rule: str) -> None:
    """Raise ``ValueError`` unless ``test`` holds for (every element of) ``value``."""
    value = first_value(value)
    if isinstance(value, bool) or not (
        isinstance(value, (int, float)) or hasattr(value, "shape")
    ):
        raise TypeError(
            f"invalid {name}={value!r}: expected a number, an array or a schedule"
        )
    if not holds(value, test):
        raise ValueError(f"invalid {name}={_show(value)}: must be {rule}")
    if not holds(value, _finite):
        raise ValueError(f"invalid {name}={_show(value)}: must be finite")


def _finite(v: Any) -> Any:
    return (v == v) & (v != float("inf")) & (v != float("-inf"))


def non_negative(name: str, value: Any) -> None:
    """``value >= 0``."""
    check(name, value, lambda v: v >= 0, ">= 0")


def unit_interval(name: str, value: Any) -> None:
    """``0 <= value < 1``."""
    check(name, value, lambda v: (v >= 0) & (v < 1), "in [0, 1)")


def betas_pair(name: str, value: Any) -> None:
    """A pair of numbers/arrays/schedules, each in ``[0, 1)``."""
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise ValueError(f"invalid {name}={value!r}: expected a pair (beta1, beta2)")
    for i, beta in enumerate(value):
        unit_interval(f"{name}[{i}]", beta)


def number_or_array(name: str, value: Any) -> None:
    """Reject schedules where a hyperparameter only sets an initial value."""
    if callable(value):
        raise TypeError(
            f"invalid {name}={value!r}: this hyperparameter is an initial "
            f"value (a number or an array), not a schedule"
        )


def flag(name: str, value: Any) -> None:
    """A plain boolean switch."""
    if not isinstance(value, bool):
        raise TypeError(f"invalid {name}={value!r}: expected True or False")


def broadcastable(name: str, value: Any, param_name: str, param: Any) -> None:
    """Raise unless the array hyperparameter ``value`` broadcasts to ``param``'s shape."""
    value = first_value(value)
    if not is_array(value):
        return
    shape, target = tuple(value.shape), tuple(param.shape)
    ok = len(shape) <= len(target) and all(
        s in (1, t) for s, t in zip(reversed(shape), reversed(target))
    )
    if not ok:
        raise ValueError(
            f"hyperparameter {name} has shape {shape}, which does not broadcast to "
            f"parameter {param_name!r} of shape {target}"
        )

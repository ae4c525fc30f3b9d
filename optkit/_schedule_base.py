"""The :class:`Schedule` base and argument checks shared by :mod:`optkit.schedules`."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name}={value!r}: expected a number")
    if not math.isfinite(value):
        raise ValueError(f"{name}={value!r}: must be finite")
    return float(value)


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name}={value!r}: expected an integer")
    if value <= 0:
        raise ValueError(f"{name}={value!r}: must be > 0")
    return value


def _check_t(t: int) -> int:
    if t < 0:
        raise ValueError(f"step count t={t!r}: must be >= 0")
    return t


class Schedule:
    """A hyperparameter as a function of the applied-step count ``t`` (from 0).

    Wraps any ``t -> value`` function with a description; the constructors of
    :mod:`optkit.schedules` return these.

    Examples
    --------
    >>> from optkit.schedules import Schedule
    >>> halving = Schedule(lambda t: 0.1 / 2**t, "halving(0.1)")
    >>> halving(3), halving
    (0.0125, halving(0.1))
    """

    def __init__(self, fn: Callable[[int], float], description: str):
        self._fn = fn
        self._description = description

    def __call__(self, t: int) -> float:
        return self._fn(_check_t(t))

    def __repr__(self) -> str:
        return self._description

    def state_dict(self) -> dict[str, Any]:
        """Pure schedules have no state: an empty dict."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore for a pure schedule."""

"""The :class:`Schedule` base and argument checks shared by :mod:`optkit.schedules`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from optkit._checks import join


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


def load_all_or_none(loads: list[tuple[Any, dict[str, Any]]]) -> None:
    """Load every ``(schedule, state)`` pair, or none: on an error each schedule gets
    back the state it had before, and the error propagates."""
    backups = [(s, s.state_dict()) for s, _ in loads]
    try:
        for schedule, state in loads:
            schedule.load_state_dict(state)
    except Exception:
        for schedule, state in backups:
            schedule.load_state_dict(state)
        raise


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

    def check_state_dict(self, state: Any, where: str = "") -> None:
        """Raise ``ValueError``/``TypeError`` naming the entry (prefixed by ``where``)
        unless :meth:`load_state_dict` can load ``state``; changes nothing.

        A pure schedule accepts only an empty dict.
        """
        if not isinstance(state, Mapping):
            raise TypeError(
                f"{where or 'schedule state'} is a {type(state).__name__}, expected a dict"
            )
        if state and type(self).load_state_dict is Schedule.load_state_dict:
            raise ValueError(
                f"{join(where, next(iter(state)))}: this schedule ({self!r}) has no state"
            )

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Nothing to restore for a pure schedule (an empty dict is checked)."""
        self.check_state_dict(state)

r"""Schedules for any hyperparameter: pure functions of the applied-step count ``t``.

``t`` is 0 at the first optimizer step and counts applied steps only (a step
skipped for a non-finite gradient does not advance it). Any optimizer
hyperparameter accepts a schedule: ``ok.SGD(p, lr=linear(0.1, 0.001, 1000),
momentum=linear(0.5, 0.99, 500))`` is the book's linear cooling with a
momentum warm-up. Values are computed on the host once per step and cast to the
parameter's dtype by the optimizer.

Every constructor validates its arguments eagerly and names the culprit
(``steps=0: must be > 0``). :class:`ReduceOnPlateau` is the one schedule with
state (driven by :meth:`ReduceOnPlateau.observe`); it can sit inside :func:`join`
and drive any hyperparameter, and its state round-trips through ``state_dict``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from optkit._plateau import ReduceOnPlateau
from optkit._schedule_base import Schedule, _number, _positive_int, load_all_or_none

__all__ = [
    "ReduceOnPlateau",
    "Schedule",
    "constant",
    "cosine",
    "exponential",
    "join",
    "linear",
    "step",
    "warmup",
]


class _Formula(Schedule):
    """A schedule given by a module-level formula and its arguments (picklable)."""

    def __init__(self, formula: Callable[..., float], args: tuple, description: str):
        self._formula, self._args = formula, args
        super().__init__(self._value, description)

    def _value(self, t: int) -> float:
        return self._formula(t, *self._args)


def _constant(t: int, value: float) -> float:
    return value


def _linear(t: int, start: float, end: float, steps: int) -> float:
    if t >= steps:
        return end
    alpha = t / steps
    return (1 - alpha) * start + alpha * end


def _exponential(t: int, start: float, gamma: float) -> float:
    return start * gamma**t


def _step(t: int, start: float, step_size: int, gamma: float) -> float:
    return start * gamma ** (t // step_size)


def _cosine(t: int, start: float, steps: int, end: float) -> float:
    if t >= steps:
        return end
    return end + 0.5 * (start - end) * (1 + math.cos(math.pi * t / steps))


def constant(value: float) -> Schedule:
    """``value`` at every step.

    Examples
    --------
    >>> from optkit.schedules import constant
    >>> constant(0.1)(0), constant(0.1)(10**6)
    (0.1, 0.1)
    """
    value = _number("value", value)
    return _Formula(_constant, (value,), f"constant({value!r})")


def linear(start: float, end: float | None = None, steps: int | None = None) -> Schedule:
    r"""The book's linear decay ("cooling"): from ``start`` to ``end`` over ``steps``.

    .. math::
        \epsilon_t = (1 - \alpha)\,\epsilon_0 + \alpha\,\epsilon_\tau,
        \quad \alpha = \min(t/\tau, 1)

    constant at ``end`` after τ = ``steps``. ``end`` defaults to ``start / 100``,
    the book's rule of thumb. Equals torch's ``LinearLR(start_factor=1,
    end_factor=end/start, total_iters=steps)`` applied to ``start``. Rising values
    work too: ``linear(0.5, 0.99, 500)`` is the momentum warm-up.

    Examples
    --------
    >>> from optkit.schedules import linear
    >>> s = linear(1.0, steps=100)            # end = 0.01
    >>> s(0), s(50), s(100), s(1000)
    (1.0, 0.505, 0.01, 0.01)
    """
    start = _number("start", start)
    end = start / 100 if end is None else _number("end", end)
    if steps is None:
        raise TypeError("linear() needs steps=, the number of steps τ of the decay")
    steps = _positive_int("steps", steps)
    return _Formula(
        _linear, (start, end, steps), f"linear(start={start!r}, end={end!r}, steps={steps})"
    )


def exponential(start: float, gamma: float) -> Schedule:
    r""":math:`\epsilon_t = \epsilon_0\,\gamma^t` (torch's ``ExponentialLR``).

    Examples
    --------
    >>> from optkit.schedules import exponential
    >>> round(exponential(1.0, 0.5)(3), 6)
    0.125
    """
    start = _number("start", start)
    gamma = _number("gamma", gamma)
    if gamma <= 0:
        raise ValueError(f"gamma={gamma!r}: must be > 0")
    return _Formula(
        _exponential, (start, gamma), f"exponential({start!r}, gamma={gamma!r})"
    )


def step(start: float, step_size: int, gamma: float = 0.1) -> Schedule:
    r""":math:`\epsilon_t = \epsilon_0\,\gamma^{\lfloor t / s \rfloor}` (torch's ``StepLR``).

    Examples
    --------
    >>> from optkit.schedules import step
    >>> s = step(1.0, step_size=10, gamma=0.5)
    >>> s(9), s(10), s(25)
    (1.0, 0.5, 0.25)
    """
    start = _number("start", start)
    step_size = _positive_int("step_size", step_size)
    gamma = _number("gamma", gamma)
    if gamma <= 0:
        raise ValueError(f"gamma={gamma!r}: must be > 0")
    return _Formula(
        _step, (start, step_size, gamma),
        f"step({start!r}, step_size={step_size}, gamma={gamma!r})",
    )  # fmt: skip


def cosine(start: float, steps: int, end: float = 0.0) -> Schedule:
    r"""Cosine annealing (Loshchilov & Hutter, 2017), held at ``end`` after ``steps``.

    .. math::
        \epsilon_t = \epsilon_{end} + \tfrac12(\epsilon_0 - \epsilon_{end})
        \left(1 + \cos\frac{\pi \min(t, T)}{T}\right)

    Equals torch's ``CosineAnnealingLR(T_max=steps, eta_min=end)`` for
    ``t <= steps`` (torch keeps oscillating afterwards; this stays at ``end``).

    Examples
    --------
    >>> from optkit.schedules import cosine
    >>> s = cosine(1.0, steps=10)
    >>> s(0), round(s(5), 12), s(10), s(11)
    (1.0, 0.5, 0.0, 0.0)
    """
    start = _number("start", start)
    steps = _positive_int("steps", steps)
    end = _number("end", end)
    return _Formula(
        _cosine, (start, steps, end), f"cosine({start!r}, steps={steps}, end={end!r})"
    )


def warmup(steps: int, schedule: Callable[[int], float], start: float = 0.0) -> Schedule:
    r"""Linear warm-up from ``start`` to ``schedule(0)`` over ``steps``, then ``schedule``.

    ``warmup(steps, s)(t)`` is ``start + (s(0) - start) t / steps`` for
    ``t < steps`` and ``s(t - steps)`` afterwards.

    Examples
    --------
    >>> from optkit.schedules import cosine, warmup
    >>> s = warmup(4, cosine(1.0, steps=100))
    >>> [s(t) for t in range(5)]
    [0.0, 0.25, 0.5, 0.75, 1.0]
    """
    steps = _positive_int("steps", steps)
    start = _number("start", start)
    if not callable(schedule):
        raise TypeError(f"schedule={schedule!r}: expected a schedule (t -> value)")
    return join(
        [linear(start, _number("schedule(0)", schedule(0)), steps), schedule], [steps]
    )


class _Join(Schedule):
    def __init__(self, schedules: list, boundaries: list[int]):
        self.schedules = schedules
        self.boundaries = boundaries
        super().__init__(self._value, f"join({schedules!r}, {boundaries!r})")

    def _value(self, t: int) -> float:
        offset = 0
        for schedule, boundary in zip(self.schedules, self.boundaries):
            if t < boundary:
                return schedule(t - offset)
            offset = boundary
        return self.schedules[-1](t - offset)

    def state_dict(self) -> dict[str, Any]:
        return {
            str(i): s.state_dict() if hasattr(s, "state_dict") else {}
            for i, s in enumerate(self.schedules)
        }

    def check_state_dict(self, state: Any, where: str = "") -> None:
        """Each part's state, checked by the part (``where[i]...`` in errors)."""
        if not isinstance(state, Mapping):
            raise TypeError(
                f"{where or 'join state'} is a {type(state).__name__}, expected a dict"
            )
        parts = {str(i): s for i, s in enumerate(self.schedules)}
        unknown = [k for k in state if k not in parts]
        if unknown:
            raise ValueError(f"{where or 'join state'}: unknown parts {unknown}")
        for k, part in parts.items():
            path = f"{where}[{k}]"
            if k not in state:
                if hasattr(part, "state_dict") and part.state_dict():
                    raise ValueError(f"{path} is missing (that schedule has state)")
            elif isinstance(part, Schedule):
                part.check_state_dict(state[k], where=path)
            elif not hasattr(part, "load_state_dict") and state[k] != {}:
                raise ValueError(f"{path}: {part!r} has no state, got {state[k]!r}")

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Load every part's state, or none (checked first; restored on an error)."""
        self.check_state_dict(state)
        loads = [
            (s, state[str(i)])
            for i, s in enumerate(self.schedules)
            if hasattr(s, "load_state_dict") and str(i) in state
        ]
        load_all_or_none(loads)


def join(
    schedules: Sequence[Callable[[int], float]], boundaries: Sequence[int]
) -> Schedule:
    """Run ``schedules[i]`` from ``boundaries[i-1]`` (each restarted at its own t = 0).

    ``len(boundaries) == len(schedules) - 1``, strictly increasing and > 0; at step
    ``boundaries[i]`` exactly, ``schedules[i+1]`` takes over with ``t = 0``.

    Examples
    --------
    >>> from optkit.schedules import constant, join, linear
    >>> s = join([constant(0.1), linear(0.1, 0.0, 10)], [5])
    >>> s(4), s(5), s(10), s(20)
    (0.1, 0.1, 0.05, 0.0)
    """
    schedules = list(schedules)
    boundaries = list(boundaries)
    if not schedules:
        raise ValueError("join() needs at least one schedule")
    for i, s in enumerate(schedules):
        if not callable(s):
            raise TypeError(f"schedules[{i}]={s!r}: expected a schedule (t -> value)")
    if len(boundaries) != len(schedules) - 1:
        raise ValueError(
            f"boundaries={boundaries!r}: need {len(schedules) - 1} for "
            f"{len(schedules)} schedules"
        )
    previous = 0
    for i, b in enumerate(boundaries):
        _positive_int(f"boundaries[{i}]", b)
        if b <= previous:
            raise ValueError(f"boundaries={boundaries!r}: must be strictly increasing")
        previous = b
    return _Join(schedules, boundaries)

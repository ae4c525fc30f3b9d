"""Executors: every kernel of optkit is a rule (:mod:`optkit.rules`) run by one of them.

The three executors share one interface, on arrays of their backend:

``update(rule, p, g, states, values)``
    An update rule, in place on ``p`` and the state arrays.
``elementwise(rule, inputs, outputs, params, values, layout=None)``
    A map from named input arrays into named output arrays (which may be the inputs).
``reduce(rule, inputs, params, values, layout=None, per="channel")``
    Sums (float64) or counts (int64) of the rule's terms.

``values`` are the rule's lifted host values (:mod:`optkit._exec.host`), ``params``
the channel (``(C,)``) and row (``(O,)``) parameters by name, and ``layout`` an
``(O, C, I)`` view of the inputs (``None``: whole arrays, element by element).
The functions below evaluate the host part of a rule from its hyperparameters and
dispatch to the backend's executor (one lookup in the backend registry,
:data:`optkit._backend.REGISTRY`).
"""

from __future__ import annotations

from typing import Any

from optkit._backend import Backend
from optkit._exec.host import host_values
from optkit.rules import Rule

__all__ = [
    "all_finite",
    "count_nonfinite",
    "host_values",
    "run_map",
    "run_reduce",
    "run_update",
]


def run_update(backend: Backend, rule: Rule, p: Any, g: Any, states: tuple, hypers: dict):
    """Apply update ``rule`` with ``hypers`` (numbers or arrays) in place."""
    backend.executor.update(rule, p, g, states, host_values(rule, hypers))


def run_map(
    backend: Backend,
    rule: Rule,
    inputs: dict[str, Any],
    outputs: dict[str, Any],
    params: dict[str, Any] | None = None,
    hypers: dict[str, Any] | None = None,
    layout: tuple[int, int, int] | None = None,
) -> None:
    """Evaluate map ``rule`` into ``outputs``."""
    values = host_values(rule, hypers or {})
    backend.executor.elementwise(rule, inputs, outputs, params or {}, values, layout)


def run_reduce(
    backend: Backend,
    rule: Rule,
    inputs: dict[str, Any],
    params: dict[str, Any] | None = None,
    hypers: dict[str, Any] | None = None,
    layout: tuple[int, int, int] | None = None,
    per: str = "channel",
) -> list[Any]:
    """Sums (or counts) of reduction ``rule``'s terms."""
    values = host_values(rule, hypers or {})
    return backend.executor.reduce(rule, inputs, params or {}, values, layout, per)


def count_nonfinite(backend: Backend, x: Any) -> int:
    """How many elements of ``x`` are NaN or ±inf (the rule
    :func:`optkit.rules.finite.nonfinite`: one read of ``x``)."""
    return backend.executor.count_nonfinite(x)


def all_finite(backend: Backend, x: Any) -> bool:
    """True when ``x`` holds no NaN or ±inf."""
    return count_nonfinite(backend, x) == 0

"""The rule contract: one element-wise update rule, plain math, written once.

A rule is a Python function of *one element* of the parameter, the gradient and
each state array, plus keyword-only scalar hyperparameters. It returns the new
parameter followed by the new value of each state, in the order declared with
``@rule(state=...)``. Its body uses arithmetic, comparisons only inside
:func:`optkit.rules.math.where`, and the helpers of :mod:`optkit.rules.math`; no
Python ``if`` on data, no loops, no indexing, no other globals. The executors
(:mod:`optkit._exec`) turn that one definition into whole-array evaluation on any
Array API namespace, a fused Numba loop, or a CuPy kernel.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Rule", "rule"]


@dataclass(frozen=True, eq=False)
class Rule:
    """An element-wise update rule and its signature (see module docstring)."""

    fn: Callable
    name: str
    state: tuple[str, ...]
    hypers: tuple[str, ...]
    doc: str = field(default="", repr=False)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)


def rule(*, state: tuple[str, ...] = ()) -> Callable[[Callable], Rule]:
    """Declare an update rule with the named state arrays.

    The function's positional parameters must be ``p, g`` followed by the state
    names in order; every hyperparameter is keyword-only.

    Examples
    --------
    >>> from optkit.rules import rule
    >>> @rule(state=("v",))
    ... def heavy_ball(p, g, v, *, lr, mu):
    ...     v = mu * v - lr * g
    ...     return p + v, v
    >>> heavy_ball.state, heavy_ball.hypers
    (('v',), ('lr', 'mu'))
    >>> heavy_ball(1.0, 2.0, 0.0, lr=0.5, mu=0.9)
    (0.0, -1.0)
    """
    state = tuple(state)

    def wrap(fn: Callable) -> Rule:
        sig = inspect.signature(fn)
        positional = [
            n for n, p in sig.parameters.items() if p.kind is p.POSITIONAL_OR_KEYWORD
        ]
        hypers = tuple(n for n, p in sig.parameters.items() if p.kind is p.KEYWORD_ONLY)
        expected = ["p", "g", *state]
        if positional != expected:
            raise TypeError(
                f"rule {fn.__name__!r}: positional parameters must be {expected} "
                f"(p, g, then the declared state), got {positional}"
            )
        other = [
            n
            for n, p in sig.parameters.items()
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)
        ]
        if other:
            raise TypeError(f"rule {fn.__name__!r}: unsupported parameters {other}")
        return Rule(
            fn=fn, name=fn.__name__, state=state, hypers=hypers, doc=fn.__doc__ or ""
        )

    return wrap

"""The rule contract: plain element-wise math, written once, in three kinds.

``@rule``
    An **update rule**: a function of one element of the parameter ``p``, the
    gradient ``g`` and each state array, plus keyword-only hyperparameters; it returns
    the new parameter followed by the new value of each state, in the order declared
    with ``state=``. Executors update ``p`` and the state in place.
``@elementwise``
    A **map**: a function of one element of each positional input array, plus
    keyword-only *channel* parameters (one value per channel, indexed by the executor
    and never broadcast to full size) and scalar hyperparameters; it returns one value
    per declared output array.
``@reduction``
    A **reduction**: like a map, but its values are summed (accumulated in float64
    with a fixed partition) per channel or over the whole array; ``count=True``
    counts the elements where its (boolean) value holds.

A body uses arithmetic, comparisons only inside :func:`optkit.rules.math.where`
(or combined with ``&``, ``|``, ``~``), the helpers of :mod:`optkit.rules.math`, and
small helper functions that obey the same contract. No Python ``if`` on data, no
loops, no indexing. Keyword-only arguments named in ``flags=`` are **compile-time
flags** (plain Python values, e.g. ``amsgrad=False``): the body may branch on them
with ``if``, and each combination is a separate kernel (:meth:`Rule.with_flags`).

Precision: every sub-expression that depends only on hyperparameters and literals is
evaluated once per call on the host in float64 and rounded once (see
:mod:`optkit._exec.trace`). The data arithmetic runs in the parameter's dtype
(``compute="param"``, update rules) or in float64 (``compute="float64"``, e.g. the
normalization kernels, whose float16/float32 inputs are widened on load).
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Rule", "elementwise", "reduction", "rule"]

KINDS = ("update", "map", "reduce")
_COMPUTE = ("param", "float64")


@dataclass(frozen=True, eq=False)
class Rule:
    """One rule (see the module docstring), possibly specialized by compile-time flags.

    Attributes
    ----------
    fn : callable
        The element-wise function (the specification).
    name : str
    kind : {"update", "map", "reduce"}
    inputs : tuple of str
        Positional element inputs (update rules: ``p``, ``g``, then the state).
    declared_state : tuple of str
        Update rules: the state arrays the function takes and returns.
    channel : tuple of str
        Per-channel parameters (maps and reductions): one value per channel ``c``.
    row : tuple of str
        Per-row parameters: one value per row ``o`` of the ``(O, C, I)`` layout.
    declared_hypers : tuple of str
        Keyword-only scalar hyperparameters.
    flags : dict
        The compile-time flags of this specialization (defaults filled in).
    outputs : tuple of str
        Maps: output arrays; reductions: the sums (or counts).
    compute : {"param", "float64"}
    count : bool
        Reductions: count elements where the value holds instead of summing.
    """

    fn: Callable
    name: str
    kind: str
    inputs: tuple[str, ...]
    declared_state: tuple[str, ...] = ()
    channel: tuple[str, ...] = ()
    row: tuple[str, ...] = ()
    declared_hypers: tuple[str, ...] = ()
    flags: dict[str, Any] = field(default_factory=dict)
    outputs: tuple[str, ...] = ()
    compute: str = "param"
    count: bool = False
    doc: str = field(default="", repr=False)
    _variants: dict = field(default_factory=dict, repr=False)
    _lock: Any = field(default_factory=threading.Lock, repr=False)
    _memo: dict = field(default_factory=dict, repr=False)  # state/hypers, once traced

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **{**self.flags, **kwargs})

    def with_flags(self, **flags: Any) -> Rule:
        """This rule with the compile-time ``flags`` set (one object per combination).

        Examples
        --------
        >>> from optkit.rules import adam
        >>> adam.with_flags(amsgrad=True).state
        ('m', 'v', 'vmax')
        >>> adam.with_flags(amsgrad=True) is adam.with_flags(amsgrad=True)
        True
        """
        unknown = sorted(set(flags) - set(self.flags))
        if unknown:
            raise TypeError(
                f"rule {self.name!r} has no flag(s) {unknown}; its flags: {sorted(self.flags)}"
            )
        values = {**self.flags, **flags}
        if values == self.flags:
            return self
        key = tuple(sorted(values.items(), key=lambda kv: kv[0]))
        base = self._variants.get("__base__", self)
        with base._lock:
            variant = base._variants.get(key)
            if variant is None:
                variant = Rule(
                    fn=self.fn, name=self.name, kind=self.kind, inputs=self.inputs,
                    declared_state=self.declared_state, channel=self.channel, row=self.row,
                    declared_hypers=self.declared_hypers, flags=values,
                    outputs=self.outputs, compute=self.compute, count=self.count,
                    doc=self.doc, _variants={"__base__": base},
                )  # fmt: skip
                base._variants[key] = variant
        return variant

    @property
    def label(self) -> str:
        """The name with the non-default flags, e.g. ``adam[amsgrad]``."""
        base = self._variants.get("__base__", self)
        on = [k if v is True else f"{k}={v!r}" for k, v in self.flags.items()
              if base.flags.get(k) != v]  # fmt: skip
        return f"{self.name}[{','.join(on)}]" if on else self.name

    def _trace(self):
        from optkit._exec.trace import trace

        return trace(self)

    @property
    def state(self) -> tuple[str, ...]:
        """Update rules: the state arrays this specialization reads or changes."""
        names = self._memo.get("state")
        if names is None:
            names = self._memo["state"] = self._trace().state
        return names

    @property
    def hypers(self) -> tuple[str, ...]:
        """The hyperparameters this specialization uses."""
        names = self._memo.get("hypers")
        if names is None:
            names = self._memo["hypers"] = self._trace().hypers
        return names


def _split_signature(fn: Callable, flags: tuple[str, ...], indexed: tuple[str, ...]):
    """(positional names, hyperparameter names, flag defaults) of ``fn``."""
    sig = inspect.signature(fn)
    positional, keyword, defaults = [], [], {}
    for name, p in sig.parameters.items():
        if p.kind is p.POSITIONAL_OR_KEYWORD:
            positional.append(name)
        elif p.kind is p.KEYWORD_ONLY:
            keyword.append(name)
            if name in flags:
                if p.default is p.empty:
                    raise TypeError(f"{fn.__name__}: flag {name!r} needs a default value")
                defaults[name] = p.default
        else:
            raise TypeError(f"rule {fn.__name__!r}: unsupported parameter {name!r}")
    missing = [f for f in (*flags, *indexed) if f not in keyword]
    if missing:
        raise TypeError(
            f"rule {fn.__name__!r}: {missing} must be keyword-only parameters "
            f"(after '*') of the function"
        )
    hypers = tuple(k for k in keyword if k not in flags and k not in indexed)
    return positional, hypers, defaults


def rule(*, state: tuple[str, ...] = (), flags: tuple[str, ...] = ()) -> Callable:
    """Declare an update rule with the named state arrays and compile-time flags.

    The function's positional parameters must be ``p, g`` followed by the state
    names in order; hyperparameters and flags are keyword-only.

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
    state, flags = tuple(state), tuple(flags)

    def wrap(fn: Callable) -> Rule:
        positional, hypers, defaults = _split_signature(fn, flags, ())
        expected = ["p", "g", *state]
        if positional != expected:
            raise TypeError(
                f"rule {fn.__name__!r}: positional parameters must be {expected} "
                f"(p, g, then the declared state), got {positional}"
            )
        return Rule(
            fn=fn, name=fn.__name__, kind="update", inputs=tuple(expected),
            declared_state=state, declared_hypers=hypers, flags=defaults,
            outputs=tuple(expected[:1] + expected[2:]), doc=fn.__doc__ or "",
        )  # fmt: skip

    return wrap


def _data_rule(kind: str, outputs, channel, row, flags, compute, count) -> Callable:
    outputs, channel, row, flags = tuple(outputs), tuple(channel), tuple(row), tuple(flags)
    if compute not in _COMPUTE:
        raise ValueError(f"compute={compute!r}: expected one of {_COMPUTE}")
    if not outputs:
        raise TypeError("declare at least one output name with outputs=(...)")

    def wrap(fn: Callable) -> Rule:
        positional, hypers, defaults = _split_signature(fn, flags, channel + row)
        if not positional:
            raise TypeError(f"{kind} {fn.__name__!r} needs at least one input array")
        return Rule(
            fn=fn, name=fn.__name__, kind=kind, inputs=tuple(positional), channel=channel,
            row=row, declared_hypers=hypers, flags=defaults, outputs=outputs, compute=compute,
            count=count, doc=fn.__doc__ or "",
        )  # fmt: skip

    return wrap


def elementwise(
    *,
    outputs: tuple[str, ...],
    channel: tuple[str, ...] = (),
    row: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    compute: str = "param",
) -> Callable:
    """Declare a map: element inputs (positional) → the declared ``outputs``.

    Examples
    --------
    >>> from optkit.rules import elementwise
    >>> @elementwise(outputs=("y",), channel=("scale", "shift"), compute="float64")
    ... def affine(x, *, scale, shift):
    ...     return (x * scale + shift,)
    >>> affine.inputs, affine.channel, affine(2.0, scale=3.0, shift=1.0)
    (('x',), ('scale', 'shift'), (7.0,))
    """
    return _data_rule("map", outputs, channel, row, flags, compute, False)


def reduction(
    *,
    outputs: tuple[str, ...],
    channel: tuple[str, ...] = (),
    row: tuple[str, ...] = (),
    flags: tuple[str, ...] = (),
    compute: str = "param",
    count: bool = False,
) -> Callable:
    """Declare a reduction: the returned element-wise terms are summed in float64
    (per channel or over the whole array), or counted with ``count=True``.

    Examples
    --------
    >>> from optkit.rules import reduction
    >>> @reduction(outputs=("s1", "s2"), channel=("shift",), compute="float64")
    ... def shifted_moments(x, *, shift):
    ...     d = x - shift
    ...     return d, d * d
    >>> shifted_moments(3.0, shift=1.0)
    (2.0, 4.0)
    """
    return _data_rule("reduce", outputs, channel, row, flags, compute, count)

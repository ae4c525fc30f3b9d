"""Symbolic scalars: the recording half of the tracer (:mod:`optkit._exec.trace`).

A :class:`Sym` stands for one scalar of a rule; arithmetic, comparisons, ``& | ~``
and the helpers of :mod:`optkit.rules.math` (through ``__optkit_trace__``) record one
:class:`Node` each in a :class:`_Builder`, equal expressions sharing one node. Nodes
are *host* (numbers that depend only on hyperparameters and literals) or *data*;
conditions are always data (evaluated per element), so only numbers are lifted.
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Real
from typing import Any

__all__ = ["OPS", "Node", "Sym", "TraceError"]

#: op -> (number of arguments, result type); argument types are implied by the op.
OPS = {
    "add": (2, "f"), "sub": (2, "f"), "mul": (2, "f"), "div": (2, "f"),
    "pow": (2, "f"), "neg": (1, "f"), "sqrt": (1, "f"), "exp": (1, "f"),
    "log": (1, "f"), "abs": (1, "f"), "tanh": (1, "f"), "where": (3, "f"),
    "lt": (2, "b"), "le": (2, "b"), "gt": (2, "b"), "ge": (2, "b"), "eq": (2, "b"),
    "ne": (2, "b"), "and": (2, "b"), "or": (2, "b"), "not": (1, "b"),
}  # fmt: skip


class TraceError(TypeError):
    """A rule does something that cannot become a kernel (e.g. ``if`` on data)."""


@dataclass(frozen=True)
class Node:
    """One SSA value.

    ``op`` is ``"input"`` (``value`` = (kind, name) with kind ``"data"``,
    ``"channel"`` or ``"hyper"``), ``"const"`` (``value`` = the number), or an
    operation of :data:`OPS` on the nodes ``args`` (indices into the program).
    """

    op: str
    args: tuple[int, ...]
    type: str
    host: bool
    value: Any = None


class _Builder:
    """Collects the nodes of one trace; equal expressions share one node."""

    def __init__(self) -> None:
        self.nodes: list[Node] = []
        self._seen: dict[tuple, int] = {}

    def add(self, op: str, args: tuple[int, ...] = (), value: Any = None) -> Sym:
        if op == "input":
            kind = value[0]
            node = Node(op, (), "f", kind == "hyper", value)
        elif op == "const":
            node = Node(op, (), "b" if isinstance(value, bool) else "f", True, value)
        else:  # conditions are evaluated per element: only numbers are lifted
            kind = OPS[op][1]
            host = kind == "f" and all(self.nodes[a].host for a in args)
            node = Node(op, args, kind, host)
        key = (node.op, node.args, repr(node.value) if op == "const" else node.value)
        index = self._seen.get(key)
        if index is None:
            index = self._seen[key] = len(self.nodes)
            self.nodes.append(node)
        return Sym(self, index)

    def atom(self, value: Any) -> Sym:
        """``value`` as a symbol: symbols pass, numbers become constants."""
        if isinstance(value, Sym):
            if value.builder is not self:
                raise TraceError("a value from another trace leaked into this one")
            return value
        if isinstance(value, bool):
            return self.add("const", value=value)
        if isinstance(value, Real):
            return self.add("const", value=float(value))
        raise TraceError(
            f"cannot use a {type(value).__name__} in a traced rule; rules may only "
            f"combine their arguments, numbers and the helpers of optkit.rules.math"
        )

    def as_float(self, value: Any) -> Sym:
        """A condition used as a number is 1.0 or 0.0."""
        sym = self.atom(value)
        if sym.type == "f":
            return sym
        one, zero = self.atom(1.0), self.atom(0.0)
        return self.add("where", (sym.index, one.index, zero.index))

    def as_bool(self, value: Any) -> Sym:
        """A number used as a condition is ``value != 0``."""
        sym = self.atom(value)
        return self.add("ne", (sym.index, self.atom(0.0).index)) if sym.type == "f" else sym

    def op(self, name: str, *values: Any) -> Sym:
        """Record ``name`` applied to ``values`` (converted to the op's argument types)."""
        if name in ("and", "or", "not"):
            args = tuple(self.as_bool(v).index for v in values)
        elif name == "where":
            rest = (self.as_float(v).index for v in values[1:])
            args = (self.as_bool(values[0]).index, *rest)
        else:
            args = tuple(self.as_float(v).index for v in values)
        return self.add(name, args)


class Sym:
    """One traced scalar. Arithmetic, comparisons and ``& | ~`` record nodes;
    ``bool(sym)`` raises :class:`TraceError`: branch on data only with ``where``."""

    __slots__ = ("builder", "index")
    __array_ufunc__ = None  # make NumPy scalars defer to the reflected operators
    __hash__ = None  # == builds a comparison, so symbols are not hashable

    def __init__(self, builder: _Builder, index: int):
        self.builder, self.index = builder, index

    @property
    def type(self) -> str:
        return self.builder.nodes[self.index].type

    def __repr__(self) -> str:
        return f"Sym({self.builder.nodes[self.index]})"

    def _op(self, name, *values):
        return self.builder.op(name, *values)

    def __add__(self, o):
        return self._op("add", self, o)

    def __radd__(self, o):
        return self._op("add", o, self)

    def __sub__(self, o):
        return self._op("sub", self, o)

    def __rsub__(self, o):
        return self._op("sub", o, self)

    def __mul__(self, o):
        return self._op("mul", self, o)

    def __rmul__(self, o):
        return self._op("mul", o, self)

    def __truediv__(self, o):
        return self._op("div", self, o)

    def __rtruediv__(self, o):
        return self._op("div", o, self)

    def _power(self, base, exponent):
        if isinstance(exponent, Real) and not isinstance(exponent, bool) and exponent == 2:
            return self._op("mul", base, base)  # NumPy squares for ** 2: exactly x * x
        return self._op("pow", base, exponent)

    def __pow__(self, o):
        return self._power(self, o)

    def __rpow__(self, o):
        return self._power(o, self)

    def __neg__(self):
        return self._op("neg", self)

    def __pos__(self):
        return self.builder.as_float(self)

    def __abs__(self):
        return self._op("abs", self)

    def __lt__(self, o):
        return self._op("lt", self, o)

    def __le__(self, o):
        return self._op("le", self, o)

    def __gt__(self, o):
        return self._op("gt", self, o)

    def __ge__(self, o):
        return self._op("ge", self, o)

    def __eq__(self, o):
        return self._op("eq", self, o)

    def __ne__(self, o):
        return self._op("ne", self, o)

    def __and__(self, o):
        return self._op("and", self, o)

    def __rand__(self, o):
        return self._op("and", o, self)

    def __or__(self, o):
        return self._op("or", self, o)

    def __ror__(self, o):
        return self._op("or", o, self)

    def __invert__(self):
        return self._op("not", self)

    def __bool__(self):
        raise TraceError(
            "a rule used a traced value as a Python bool (if/and/or/not, or a chained "
            "comparison); branch on data with where(condition, a, b), combine "
            "conditions with & | ~, and use compile-time flags for static choices"
        )

    def __float__(self):
        raise TraceError(
            "a rule converted a traced value to a Python float (math.* or float()); "
            "use the helpers of optkit.rules.math"
        )

    def __floordiv__(self, other):
        raise TraceError("'//' is not part of the rule contract; use the math helpers")

    __rfloordiv__ = __mod__ = __rmod__ = __floordiv__

    def __optkit_trace__(self, name: str, args: tuple) -> Sym:
        """Record helper ``name`` of :mod:`optkit.rules.math` applied to ``args``."""
        b = self.builder
        if name in ("sqrt", "exp", "log", "abs", "tanh"):
            return b.op(name, *args)
        if name == "where":
            return b.op("where", *args)
        if name in ("maximum", "minimum"):
            x1, x2 = b.as_float(args[0]), b.as_float(args[1])
            wins = b.op("ge" if name == "maximum" else "le", x1, x2)
            keep = b.op("or", wins, b.op("ne", x1, x1))  # NaN in x1 is kept
            return b.op("where", keep, x1, x2)
        if name == "sign":
            x = b.as_float(args[0])
            zero_or_nan = b.op("where", b.op("eq", x, 0.0), 0.0, x)
            negative = b.op("where", b.op("lt", x, 0.0), -1.0, zero_or_nan)
            return b.op("where", b.op("gt", x, 0.0), 1.0, negative)
        if name == "clip":
            x, lo, hi = args
            return self.__optkit_trace__(
                "minimum", (self.__optkit_trace__("maximum", (x, lo)), hi)
            )
        raise TraceError(f"the tracer has no form for helper {name!r}")

"""Trace a rule with symbolic scalars into one typed SSA program (the IR).

Every executor is derived from this program: the Array API executor interprets it on
whole arrays, the Numba printer turns it into loops and the CUDA printer into kernel
bodies, so all of them evaluate the same operations in the same order.

Calling a rule (:mod:`optkit.rules`) with :class:`Sym` values instead of numbers
records each operation as one :class:`Node`. Nodes have a type, ``"f"`` (a floating
value in the kernel's compute type) or ``"b"`` (a condition), and a *domain*:

* **host** nodes are numbers that depend only on hyperparameters and literals
  (``1 - beta2``, bias corrections). They are evaluated once per call on the host,
  in float64, and the
  ones that data nodes use (:attr:`Trace.lifted`) are rounded once to the compute
  type and passed in, as torch does — a float32 kernel never computes ``1 - beta2``
  in float32;
* **data** nodes depend on an element of an input array or on a channel parameter and
  run per element in the compute type.

The helpers of :mod:`optkit.rules.math` reach the tracer through
``__optkit_trace__``. ``maximum``/``minimum``/``sign``/``clip`` are lowered here into
comparisons and selections with NumPy's semantics (NaN propagates from either
argument of maximum/minimum; sign maps NaN to NaN and ±0 to +0), so every executor
agrees on them by construction.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from numbers import Real
from typing import Any

from optkit.rules._rule import Rule

__all__ = ["Node", "Sym", "Trace", "TraceError", "trace"]

#: op -> (number of arguments, result type); argument types are implied by the op.
OPS = {
    "add": (2, "f"), "sub": (2, "f"), "mul": (2, "f"), "div": (2, "f"),
    "pow": (2, "f"), "neg": (1, "f"), "sqrt": (1, "f"), "exp": (1, "f"),
    "log": (1, "f"), "abs": (1, "f"), "where": (3, "f"),
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
        if name in ("sqrt", "exp", "log", "abs"):
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


@dataclass(frozen=True)
class Trace:
    """A traced rule: the program, its inputs and outputs, and what runs where.

    Attributes
    ----------
    rule : Rule
    nodes : tuple of Node
        The whole program in evaluation order (pruned to what the outputs need).
    outputs : tuple of int
        Node of each output: update rules ``p`` then each state of :attr:`state`;
        maps their outputs; reductions their terms.
    output_names : tuple of str
    data, channel, row, hypers : tuple of str
        The element inputs, channel and row parameters and hyperparameters it uses,
        in declaration order (update rules: ``data`` is ``p, g`` then the state).
    state : tuple of str
        Update rules: the state arrays that are read or changed.
    lifted : tuple of int
        Host nodes that data nodes (or outputs) use: evaluated on the host, passed in.
    consts : tuple of int
        Constants that data nodes use (the kernels' typed literals).
    host_deps : dict
        Lifted node -> the hyperparameters it depends on.
    """

    rule: Rule
    nodes: tuple[Node, ...]
    outputs: tuple[int, ...]
    output_names: tuple[str, ...]
    data: tuple[str, ...]
    channel: tuple[str, ...]
    row: tuple[str, ...]
    hypers: tuple[str, ...]
    state: tuple[str, ...]
    lifted: tuple[int, ...]
    consts: tuple[int, ...]
    host_deps: dict[int, frozenset[str]]

    def input_node(self, kind: str, name: str) -> int | None:
        """Index of input ``name`` of ``kind``, or None when the program does not use it."""
        for i, n in enumerate(self.nodes):
            if n.op == "input" and n.value == (kind, name):
                return i
        return None

    def stores(self) -> tuple[bool, ...]:
        """Per output: False when an update rule returns its input unchanged."""
        out = []
        for name, index in zip(self.output_names, self.outputs):
            node = self.nodes[index]
            out.append(not (node.op == "input" and node.value == ("data", name)))
        return tuple(out)


def _inputs(rule: Rule, b: _Builder) -> tuple[list[Sym], dict[str, Sym]]:
    positional = [b.add("input", value=("data", n)) for n in rule.inputs]
    keywords = {n: b.add("input", value=("channel", n)) for n in rule.channel}
    keywords.update({n: b.add("input", value=("row", n)) for n in rule.row})
    keywords.update({n: b.add("input", value=("hyper", n)) for n in rule.declared_hypers})
    return positional, keywords


def _check_result(rule: Rule, result: Any) -> tuple:
    want = len(rule.outputs)
    if rule.kind == "update":
        what = f"p, then {', '.join(rule.declared_state) or 'no state'}"
    else:
        what = ", ".join(rule.outputs)
    if not isinstance(result, tuple) or len(result) != want:
        raise TraceError(
            f"rule {rule.name!r} must return a tuple of {want} values ({what}), got "
            f"{result!r}"
        )
    return result


@functools.cache
def trace(rule: Rule) -> Trace:
    """Trace ``rule`` (with its flags) once; cached.

    Examples
    --------
    >>> from optkit.rules import adam
    >>> t = trace(adam)
    >>> t.state, t.hypers[:3]
    (('m', 'v'), ('step_size', 'beta1', 'beta2'))
    >>> sorted({t.nodes[i].op for i in t.lifted})  # 1 - beta1, 1 - beta2, sqrt(bc2): host
    ['input', 'sqrt', 'sub']
    """
    b = _Builder()
    positional, keywords = _inputs(rule, b)
    try:
        result = rule.fn(*positional, **keywords, **rule.flags)
    except TraceError as exc:
        raise TraceError(f"rule {rule.name!r}: {exc}") from None
    result = _check_result(rule, result)
    want_bool = rule.kind == "reduce" and rule.count
    outs = [(b.as_bool(v) if want_bool else b.as_float(v)).index for v in result]
    names = list(rule.outputs)
    if rule.kind == "update":
        keep = [0]
        for k, s in enumerate(rule.declared_state, start=1):
            own = b.nodes[outs[k]]
            unchanged = own.op == "input" and own.value == ("data", s)
            others = _used(b.nodes, [o for j, o in enumerate(outs) if j != k])
            if not unchanged or positional[k + 1].index in others:
                keep.append(k)
        outs, names = [outs[k] for k in keep], [names[k] for k in keep]
    return _finish(rule, b.nodes, tuple(outs), tuple(names))


def _used(nodes: list[Node], roots) -> set[int]:
    seen, stack = set(), list(roots)
    while stack:
        i = stack.pop()
        if i not in seen:
            seen.add(i)
            stack.extend(nodes[i].args)
    return seen


def _finish(rule: Rule, nodes: list[Node], outs: tuple, names: tuple) -> Trace:
    """Prune to the outputs' dependencies and find the lifted host values."""
    keep = sorted(_used(nodes, outs))
    remap = {old: new for new, old in enumerate(keep)}
    pruned = tuple(
        Node(n.op, tuple(remap[a] for a in n.args), n.type, n.host, n.value)
        for n in (nodes[i] for i in keep)
    )
    outs = tuple(remap[o] for o in outs)
    lifted, consts, deps = [], [], {}
    for i, n in enumerate(pruned):
        dep = frozenset()
        if n.op == "input" and n.value[0] == "hyper":
            dep = frozenset([n.value[1]])
        elif n.host:
            for a in n.args:
                dep |= deps.get(a, frozenset())
        deps[i] = dep
    needed = set()
    for n in pruned:
        if not n.host:
            needed.update(a for a in n.args if pruned[a].host)
    needed.update(o for o in outs if pruned[o].host)
    for i in sorted(needed):
        (consts if pruned[i].op == "const" else lifted).append(i)

    def used_inputs(kind: str, declared) -> tuple[str, ...]:
        present = {n.value[1] for n in pruned if n.op == "input" and n.value[0] == kind}
        return tuple(x for x in declared if x in present)

    data_names = used_inputs("data", rule.inputs)
    state = ()
    if rule.kind == "update":
        state = tuple(s for s in names[1:])
        data_names = tuple(dict.fromkeys(("p", "g", *state)))
    return Trace(
        rule=rule, nodes=pruned, outputs=outs, output_names=names, data=data_names,
        channel=used_inputs("channel", rule.channel), row=used_inputs("row", rule.row),
        hypers=used_inputs("hyper", rule.declared_hypers), state=state,
        lifted=tuple(lifted), consts=tuple(consts),
        host_deps={i: deps[i] for i in lifted},
    )  # fmt: skip

"""Trace an update rule with symbolic scalars into typed C statements.

A rule (:mod:`optkit.rules`) is plain element-wise math. Calling it with
:class:`Sym` values instead of numbers records every operation, in evaluation order,
as one static-single-assignment statement with an explicit type::

    T t0 = h_s * g;
    bool t1 = t0 > (T)(0.0);

``T`` is the floating type of the parameter (a ``typedef`` supplied by whoever
compiles the body: CuPy's type placeholder, or the test harnesses); comparisons are
``bool``. Numeric literals are written ``(T)(c)``, so a float32 body stays float32
as NumPy's weak Python scalars do on the reference path. The helpers of
:mod:`optkit.rules.math` reach the tracer through ``__optkit_trace__``; their C forms
keep NumPy's semantics: ``maximum``/``minimum`` propagate NaN from either argument,
``sign`` maps NaN to NaN and ±0 to +0.

The result (:class:`Trace`) is language-neutral enough to compile as CUDA C++ (by
CuPy or NVRTC) and as host C++ (by the CPU semantic tests): it uses only ``T``,
``bool``, arithmetic, comparisons, ``?:``, ``&&``/``||``/``!`` and the overloaded
``sqrt``, ``exp``, ``log``, ``fabs``, ``pow``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from numbers import Real

from optkit.rules import Rule

__all__ = ["Sym", "Trace", "TraceError", "literal", "trace", "variable_names"]


class TraceError(TypeError):
    """A rule does something that cannot become a kernel (e.g. ``if`` on data)."""


def literal(value) -> str:
    """The C text of a number in type ``T`` (``bool`` stays ``true``/``false``)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    x = float(value)
    if math.isnan(x):
        return "(T)(0.0 / 0.0)"
    if math.isinf(x):
        return "(T)(1.0 / 0.0)" if x > 0 else "(T)(-1.0 / 0.0)"
    return f"(T)({x!r})"


class _Builder:
    """Collects the statements of one trace; equal expressions share one variable."""

    def __init__(self):
        self.lines: list[str] = []
        self._seen: dict[tuple[str, str], Sym] = {}

    def emit(self, ctype: str, expr: str) -> Sym:
        key = (ctype, expr)
        sym = self._seen.get(key)
        if sym is None:
            name = f"t{len(self.lines)}"
            self.lines.append(f"{ctype} {name} = {expr};")
            sym = self._seen[key] = Sym(self, name, ctype)
        return sym

    def atom(self, value) -> Sym:
        """``value`` as a symbol: symbols pass, numbers become typed literals."""
        if isinstance(value, Sym):
            if value.builder is not self:
                raise TraceError("a value from another trace leaked into this one")
            return value
        if isinstance(value, (bool, Real)):
            return Sym(self, literal(value), "bool" if isinstance(value, bool) else "T")
        raise TraceError(
            f"cannot use a {type(value).__name__} in a traced rule; rules may only "
            f"combine their arguments, numbers and the helpers of optkit.rules.math"
        )

    def as_float(self, value) -> Sym:
        sym = self.atom(value)
        return self.emit("T", f"(T)({sym.name})") if sym.ctype == "bool" else sym

    def as_bool(self, value) -> Sym:
        sym = self.atom(value)
        return self.emit("bool", f"{sym.name} != (T)(0.0)") if sym.ctype == "T" else sym


class Sym:
    """One traced scalar: a C name (or literal) and its type, ``"T"`` or ``"bool"``.

    Arithmetic and comparisons on a :class:`Sym` return new symbols and record a
    statement; ``bool(sym)`` raises :class:`TraceError`, because a rule may branch
    on data only through ``where``.
    """

    __slots__ = ("builder", "ctype", "name")
    __array_ufunc__ = None  # make NumPy scalars defer to our reflected operators
    __hash__ = None  # == builds a comparison, so symbols are not hashable

    def __init__(self, builder: _Builder, name: str, ctype: str):
        self.builder, self.name, self.ctype = builder, name, ctype

    def __repr__(self) -> str:
        return f"Sym({self.ctype} {self.name})"

    # -- arithmetic
    def _arith(self, op: str, left, right) -> Sym:
        b = self.builder
        a, c = b.as_float(left), b.as_float(right)
        return b.emit("T", f"{a.name} {op} {c.name}")

    def __add__(self, other):
        return self._arith("+", self, other)

    def __radd__(self, other):
        return self._arith("+", other, self)

    def __sub__(self, other):
        return self._arith("-", self, other)

    def __rsub__(self, other):
        return self._arith("-", other, self)

    def __mul__(self, other):
        return self._arith("*", self, other)

    def __rmul__(self, other):
        return self._arith("*", other, self)

    def __truediv__(self, other):
        return self._arith("/", self, other)

    def __rtruediv__(self, other):
        return self._arith("/", other, self)

    def _power(self, base, exponent) -> Sym:
        b = self.builder
        if isinstance(exponent, Real) and not isinstance(exponent, bool) and exponent == 2:
            x = b.as_float(base)  # NumPy squares for ** 2: exactly x * x
            return b.emit("T", f"{x.name} * {x.name}")
        x, y = b.as_float(base), b.as_float(exponent)
        return b.emit("T", f"pow({x.name}, {y.name})")

    def __pow__(self, other):
        return self._power(self, other)

    def __rpow__(self, other):
        return self._power(other, self)

    def __neg__(self):
        return self.builder.emit("T", f"-{self.builder.as_float(self).name}")

    def __pos__(self):
        return self.builder.as_float(self)

    def __abs__(self):
        return self.builder.emit("T", f"fabs({self.builder.as_float(self).name})")

    # -- comparisons (always between floating values, as NumPy compares them)
    def _compare(self, op: str, other) -> Sym:
        b = self.builder
        return b.emit("bool", f"{b.as_float(self).name} {op} {b.as_float(other).name}")

    def __lt__(self, other):
        return self._compare("<", other)

    def __le__(self, other):
        return self._compare("<=", other)

    def __gt__(self, other):
        return self._compare(">", other)

    def __ge__(self, other):
        return self._compare(">=", other)

    def __eq__(self, other):
        return self._compare("==", other)

    def __ne__(self, other):
        return self._compare("!=", other)

    # -- logic on conditions: (a > 0) & (b < 0), ~c
    def _logic(self, op: str, left, right) -> Sym:
        b = self.builder
        return b.emit("bool", f"{b.as_bool(left).name} {op} {b.as_bool(right).name}")

    def __and__(self, other):
        return self._logic("&&", self, other)

    def __rand__(self, other):
        return self._logic("&&", other, self)

    def __or__(self, other):
        return self._logic("||", self, other)

    def __ror__(self, other):
        return self._logic("||", other, self)

    def __invert__(self):
        return self.builder.emit("bool", f"!{self.builder.as_bool(self).name}")

    def __bool__(self):
        raise TraceError(
            "a rule used a traced value as a Python bool (if/and/or/not, or a "
            "chained comparison); branch on data with where(condition, a, b) and "
            "combine conditions with & | ~"
        )

    def __floordiv__(self, other):
        raise TraceError("'//' is not part of the rule contract; use the math helpers")

    __rfloordiv__ = __mod__ = __rmod__ = __floordiv__

    # -- the helpers of optkit.rules.math
    def __optkit_trace__(self, name: str, args: tuple) -> Sym:
        """Record helper ``name`` applied to ``args`` (called by optkit.rules.math)."""
        b = self.builder
        handler = _HELPERS.get(name)
        if handler is None:
            raise TraceError(f"the tracer has no C form for helper {name!r}")
        return handler(b, *args)


def _unary(cname):
    def handler(b: _Builder, x):
        return b.emit("T", f"{cname}({b.as_float(x).name})")

    return handler


def _sign(b: _Builder, x):
    x = b.as_float(x).name  # NumPy: NaN stays NaN, +-0 gives +0
    return b.emit(
        "T",
        f"{x} > (T)(0.0) ? (T)(1.0) : ({x} < (T)(0.0) ? (T)(-1.0) : "
        f"({x} == (T)(0.0) ? (T)(0.0) : {x}))",
    )


def _pick(op):
    def handler(b: _Builder, x1, x2):
        a, c = b.as_float(x1).name, b.as_float(x2).name
        # NumPy's loop: keep x1 when it wins the comparison or is NaN, else x2
        # (NaN in x2 fails the comparison and is picked).
        return b.emit("T", f"({a} {op} {c} || {a} != {a}) ? {a} : {c}")

    return handler


def _where(b: _Builder, condition, x1, x2):
    cond = b.as_bool(condition).name
    return b.emit("T", f"{cond} ? {b.as_float(x1).name} : {b.as_float(x2).name}")


def _clip(b: _Builder, x, lo, hi):
    return _HELPERS["minimum"](b, _HELPERS["maximum"](b, x, lo), hi)


_HELPERS = {
    "sqrt": _unary("sqrt"),
    "exp": _unary("exp"),
    "log": _unary("log"),
    "abs": _unary("fabs"),
    "sign": _sign,
    "maximum": _pick(">="),
    "minimum": _pick("<="),
    "where": _where,
    "clip": _clip,
}


# ----------------------------------------------------------------------- tracing
def _c_name(prefix: str, name: str, index: int) -> str:
    ok = name.isascii() and name.isidentifier()
    return f"{prefix}{name}" if ok else f"{prefix}{index}"


def variable_names(rule: Rule) -> dict[str, str]:
    """C names of the rule's inputs: ``p``, ``g``, ``s_<state>``, ``h_<hyper>``.

    The prefixes keep them apart from each other, from the temporaries ``t<k>``,
    from C keywords and from CuPy's reserved ``i`` and ``_raw_*``.
    """
    names = {"p": "p", "g": "g"}
    names.update({s: _c_name("s_", s, k) for k, s in enumerate(rule.state)})
    names.update({h: _c_name("h_", h, k) for k, h in enumerate(rule.hypers)})
    return names


@dataclass(frozen=True)
class Trace:
    """A traced rule: statements, then assignments of the outputs.

    Attributes
    ----------
    rule : Rule
    names : dict
        Rule argument name -> C name (see :func:`variable_names`).
    statements : tuple of str
        The SSA statements, in evaluation order.
    outputs : tuple of str
        C names of the outputs, in order ``p``, then each state.
    """

    rule: Rule
    names: dict
    statements: tuple
    outputs: tuple

    def body(self) -> str:
        """The C body: statements, then ``p = ...; s_<state> = ...;``.

        Every output is first held in a temporary, so the stores come last and no
        store can change a value another output still reads.
        """
        targets = [self.names["p"], *(self.names[s] for s in self.rule.state)]
        stores = [f"{t} = {v};" for t, v in zip(targets, self.outputs)]
        return "\n".join([*self.statements, *stores])


@functools.cache
def trace(rule: Rule) -> Trace:
    """Trace ``rule`` once (cached) with symbolic inputs.

    Examples
    --------
    >>> from optkit.rules import sgd
    >>> print(trace(sgd).body())
    T t0 = h_s * g;
    T t1 = h_wd * p;
    T t2 = t0 + t1;
    T t3 = h_lr * t2;
    T t4 = p - t3;
    p = t4;
    """
    b = _Builder()
    names = variable_names(rule)
    arrays = [Sym(b, names[n], "T") for n in ("p", "g", *rule.state)]
    hypers = {h: Sym(b, names[h], "T") for h in rule.hypers}
    try:
        result = rule.fn(*arrays, **hypers)
    except TraceError as exc:
        raise TraceError(f"rule {rule.name!r}: {exc}") from None
    if not isinstance(result, tuple) or len(result) != 1 + len(rule.state):
        raise TraceError(
            f"rule {rule.name!r} must return a tuple of {1 + len(rule.state)} values "
            f"(p, then {', '.join(rule.state) or 'no state'}), got {result!r}"
        )
    inputs = {s.name for s in arrays} | {s.name for s in hypers.values()}
    outputs = []
    for value in result:
        sym = b.as_float(value)
        if sym.name in inputs or sym.name.startswith("("):  # an input or a literal
            sym = _copy(b, sym)
        outputs.append(sym.name)
    return Trace(rule, names, tuple(b.lines), tuple(outputs))


def _copy(b: _Builder, sym: Sym) -> Sym:
    """A fresh temporary holding ``sym`` (never shared: it must not be deduplicated)."""
    name = f"t{len(b.lines)}"
    b.lines.append(f"T {name} = {sym.name};")
    return Sym(b, name, "T")

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
from typing import Any

from optkit._exec.symbolic import Node, Sym, TraceError, _Builder
from optkit.rules._rule import Rule

__all__ = ["Node", "Sym", "Trace", "TraceError", "trace"]


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

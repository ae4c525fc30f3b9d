"""The Numba printer: a traced rule (:mod:`optkit._exec.trace`) as a module of jitted loops.

:func:`module_source` writes the loops of one :class:`Plan` — the rule, the kind of
loop and its layout, and how each input is bound — as Python source for Numba:

* ``flat``: one loop over 1-D buffers (update rules, whole-array maps);
* ``rows``: ``(R, C)`` arrays, rows outermost and the channel loop innermost (it
  vectorizes across channels); channel parameters are indexed per element, row
  parameters loaded once per row;
* ``runs``: ``(O, C, I)`` arrays, one contiguous run of ``I`` values per unit
  ``(o, c)``, both kinds of parameters loaded once per unit.

Maps and update rules get a ``serial`` and a ``parallel`` (``prange``) loop.
Reductions get a serial ``chunk`` over units ``lo..hi`` and a ``parallel`` driver
that cuts the units into ``T`` static contiguous chunks, one per thread, with
per-thread partial sums in row ``t`` of the partial arrays — the partition depends on
``T`` only, so results are bitwise reproducible for a fixed thread count. Whole-array
reductions use fixed blocks of :data:`BLOCK` elements instead, so their result does
not even depend on ``T``. The per-channel rows loop handles ``unroll`` rows at a time
so that the float64 accumulators are loaded and stored once per block (measured on
2 cores, (8192, 1024) float32 statistics: 2.0 ms one row at a time, 0.95 ms with
8-row blocks; a plain copy of the array takes 1.2 ms).

Values: data arithmetic runs in the compute type. Literals and lifted host values
arrive in one small array ``k`` of that type (Numba types a Python literal ``0.5`` as
float64, which would turn a float32 loop into float64 arithmetic with conversions),
and ``compute="float64"`` rules widen each element on load and narrow on store
(float16 reaches them as ``uint16`` bits, see :mod:`optkit._exec.numba_float`).
"""

from __future__ import annotations

from dataclasses import dataclass

from optkit._exec.trace import Trace, trace
from optkit.rules._rule import Rule

__all__ = ["BLOCK", "Plan", "module_source"]

#: Elements per partial sum of a whole-array reduction (64 KiB of float32).
BLOCK = 1 << 14

_TEMPLATE_VERSION = "v2.6"

_FORMS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "pow": "{0} ** {1}", "neg": "-{0}", "sqrt": "np.sqrt({0})", "exp": "np.exp({0})",
    "log": "np.log({0})", "abs": "abs({0})", "tanh": "np.tanh({0})",
    "where": "{1} if {0} else {2}",
    "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "eq": "{0} == {1}", "ne": "{0} != {1}", "and": "{0} & {1}", "or": "{0} | {1}",
    "not": "not {0}",
}  # fmt: skip


@dataclass(frozen=True)
class Plan:
    """What one generated module computes (the cache key of its source).

    ``kind`` is ``"update"``, ``"map"`` or ``"reduce"``; ``layout`` ``"flat"``,
    ``"rows"`` or ``"runs"``; ``per`` (reductions) ``"all"``, ``"channel"`` or
    ``"row"``. ``bind`` gives, for each lifted host value (in
    :attr:`Trace.lifted` order), ``"scalar"``, ``"row"``, ``"channel"`` or ``"data"``
    (an array materialized to the full size). ``unroll`` is the rows-per-block of
    per-channel ``rows`` reductions.
    """

    rule: Rule
    kind: str
    layout: str
    per: str = "all"
    bind: tuple[str, ...] = ()
    unroll: int = 1

    def key(self) -> str:
        return f"{self.kind}-{self.layout}-{self.per}-{''.join(b[0] for b in self.bind)}-u{self.unroll}"


class _Names:
    """Argument and value names of one generated module.

    Arguments: data arrays ``d0..`` (the rule's element inputs, then lifted values
    materialized to full size), map outputs ``o0..``, channel parameters ``c0..``,
    row parameters ``r0..`` (the rule's, then lifted values bound per channel or per
    row), and ``k``: lifted scalars then literals, in the compute type. Node ``i``'s
    value is ``n<i>``, with a suffix per unrolled element where it varies by element.
    """

    def __init__(self, plan: Plan, tr: Trace):
        self.plan, self.tr = plan, tr
        kinds = dict(zip(tr.lifted, plan.bind or ("scalar",) * len(tr.lifted)))
        extra = {kind: [f"@{i}" for i in tr.lifted if kinds[i] == kind] for kind in
                 ("data", "channel", "row")}  # fmt: skip
        self.scalars = [i for i in tr.lifted if kinds[i] == "scalar"] + list(tr.consts)
        self.tables = {
            "d": list(tr.data) + extra["data"],
            "c": list(tr.channel) + extra["channel"],
            "r": list(tr.row) + extra["row"],
        }
        self.outputs = list(tr.output_names) if plan.kind == "map" else []
        self.widen = plan.rule.compute == "float64"
        self.source = {}
        for i, node in enumerate(tr.nodes):
            key = None
            if node.op == "input" and node.value[0] != "hyper":
                key = node.value[1]
            elif i in tr.lifted and kinds[i] != "scalar":
                key = f"@{i}"
            if key is not None:
                for prefix, table in self.tables.items():
                    if key in table:
                        self.source[i] = (prefix, table.index(key))
            if i in self.scalars:
                self.source[i] = ("k", self.scalars.index(i))

    def args(self, *extra: str) -> str:
        t = self.tables
        names = [f"d{j}" for j in range(len(t["d"]))]
        names += [f"o{j}" for j in range(len(self.outputs))]
        names += [f"c{j}" for j in range(len(t["c"]))]
        names += [f"r{j}" for j in range(len(t["r"]))]
        return ", ".join([*names, "k", *extra])

    def ref(self, i: int, suffix: str) -> str:
        """The name of node ``i``'s value inside an element with ``suffix``."""
        src = self.source.get(i)
        varies = src[0] == "d" if src else not self.tr.nodes[i].host
        return f"n{i}{suffix}" if varies else f"n{i}"

    def loads(self, prefix: str) -> list[tuple[int, int]]:
        """(node, position) of every input read from the ``prefix`` arrays."""
        return [(i, src[1]) for i, src in self.source.items() if src[0] == prefix]


def _hoisted(names: _Names) -> list[str]:
    """Scalar loads at the top of every function."""
    return [f"    n{i} = k[{j}]" for i, (_, j) in sorted(names.source.items()) if _ == "k"]


def _body(names: _Names, suffix: str, pad: str) -> list[str]:
    """Statements of every computed data node."""
    lines = []
    for i, node in enumerate(names.tr.nodes):
        if node.host or node.op in ("input", "const") or i in names.source:
            continue
        args = [names.ref(a, suffix) for a in node.args]
        lines.append(f"{pad}n{i}{suffix} = {_FORMS[node.op].format(*args)}")
    return lines


def _element(names: _Names, index: dict[str, str], suffix: str, pad: str) -> list[str]:
    """One element: loads of its data (and per-element channel) inputs, then the body.

    ``index["d"]`` is the load of data array ``j`` as a format (``"d{j}[i]"``, or a row
    view ``"w{j}[cc]"``); ``index["c"]`` the subscript of channel parameters read per
    element (rows maps).
    """
    lines = []
    for i, j in names.loads("d"):
        load = index["d"].format(j=j)
        lines.append(f"{pad}n{i}{suffix} = " + (f"widen({load})" if names.widen else load))
    if "c" in index:
        lines += [f"{pad}n{i} = c{j}[{index['c']}]" for i, j in names.loads("c")]
    return lines + _body(names, suffix, pad)


def _views(names: _Names, at: str, tag: str, pad: str) -> list[str]:
    """1-D views of every data (``w``) and output (``q``) array at ``at``: loops over a
    view's own ``range(len)`` vectorize where computed 2-D/3-D indices did not
    (measured: a blocked count over 2^24 float32 took 31 ms with ``d0[lo + i]``
    indexing, 4.3 ms over slices)."""
    lines = [f"{pad}w{j}{tag} = d{j}[{at}]" for j in range(len(names.tables["d"]))]
    lines += [f"{pad}q{j}{tag} = o{j}[{at}]" for j in range(len(names.outputs))]
    return lines


def _stores(names: _Names, data: str, out: str, suffix: str, pad: str) -> list[str]:
    """Stores of the outputs; ``data``/``out`` format the target of array ``j``."""
    tr, lines = names.tr, []
    if names.plan.kind == "update":  # outputs p, then state: arrays d0, then d2, d3, ...
        for k, (o, store) in enumerate(zip(tr.outputs, tr.stores())):
            if store:
                target = data.format(j=0 if k == 0 else k + 1)
                lines.append(f"{pad}{target} = {names.ref(o, suffix)}")
        return lines
    for j, o in enumerate(tr.outputs):
        value = names.ref(o, suffix)
        value = f"narrow({value}, o{j})" if names.widen else value
        lines.append(f"{pad}{out.format(j=j)} = {value}")
    return lines


def _outer_loads(names: _Names, prefix: str, index: str, pad: str) -> list[str]:
    """Per-row (``"r"``) or per-channel (``"c"``) parameter loads, hoisted out of a loop."""
    return [f"{pad}n{i} = {prefix}{j}[{index}]" for i, j in names.loads(prefix)]


def _map_loops(names: _Names, layout: str) -> list[str]:
    """``serial`` and ``parallel`` functions of a map or update rule."""
    out = []
    for fn, rng, deco in (
        ("serial", "range", "@serial_jit"),
        ("parallel", "numba.prange", "@parallel_jit"),
    ):
        lines = [deco, f"def {fn}({names.args()}):", *_hoisted(names)]
        if layout == "flat":
            lines.append(f"    for i in {rng}(d0.shape[0]):")
            lines += _element(names, {"d": "d{j}[i]"}, "", "        ")
            lines += _stores(names, "d{j}[i]", "o{j}[i]", "", "        ")
        elif layout == "rows":
            lines += ["    R, C = d0.shape[0], d0.shape[1]", f"    for r in {rng}(R):"]
            lines += _outer_loads(names, "r", "r", "        ")
            lines += _views(names, "r", "", "        ")
            lines.append("        for cc in range(C):")
            lines += _element(names, {"d": "w{j}[cc]", "c": "cc"}, "", "            ")
            lines += _stores(names, "w{j}[cc]", "q{j}[cc]", "", "            ")
        else:
            lines += ["    O, C, I = d0.shape", f"    for u in {rng}(O * C):",
                      "        o = u // C", "        cc = u - o * C"]  # fmt: skip
            lines += _outer_loads(names, "r", "o", "        ")
            lines += _outer_loads(names, "c", "cc", "        ")
            lines += _views(names, "o, cc", "", "        ")
            lines.append("        for j in range(I):")
            lines += _element(names, {"d": "w{j}[j]"}, "", "            ")
            lines += _stores(names, "w{j}[j]", "q{j}[j]", "", "            ")
        out += [*lines, ""]
    return out


def _checked_update(names: _Names) -> list[str]:
    """``checked``: count the non-finite elements of ``g`` (``d1``), run ``serial`` only
    when there are none; returns the count. One call for a checked small step."""
    return ["@serial_jit", f"def checked({names.args()}):", "    bad = 0",
            "    for i in range(d1.shape[0]):", "        if not np.isfinite(d1[i]):",
            "            bad += 1", "    if bad == 0:", f"        serial({names.args()})",
            "    return bad", ""]  # fmt: skip


def module_source(
    plan: Plan, fastmath: frozenset[str], reduce_fastmath: frozenset[str]
) -> str:
    """The generated module of ``plan``: imports, jit options, then the loops."""
    names = _Names(plan, trace(plan.rule))
    flags = fastmath if plan.kind != "reduce" else reduce_fastmath
    fastmath = ", ".join(repr(f) for f in sorted(flags))
    opts = f"error_model='numpy', fastmath={{{fastmath}}}, cache=_CACHE"
    head = [
        f"# Generated by optkit ({_TEMPLATE_VERSION}) from {plan.rule.label!r}, plan "
        f"{plan.key()}; edits are overwritten.",
        "import numba", "import numpy as np",
        "from optkit._exec.numba_float import narrow, widen",
        "# _CACHE is set by the loader: True when this module runs from the cache folder.",
        f"serial_jit = numba.njit({opts})",
        f"parallel_jit = numba.njit({opts}, parallel=True)", "",
    ]  # fmt: skip
    if plan.kind in ("update", "map"):
        body = _map_loops(names, plan.layout)
        if plan.kind == "update" and plan.layout == "flat":
            body += _checked_update(names)
    else:  # reductions (imported here: that module builds on this one's helpers)
        from optkit._exec import numba_reductions as R

        if plan.per == "all":
            body = R.whole_reduction(names)
        elif plan.per == "channel":
            body = R.channel_reduction(names, plan.layout, plan.unroll)
        else:
            body = R.row_reduction(names, plan.layout)
    return "\n".join([*head, *body])

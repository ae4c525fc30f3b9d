"""The Numba printer's reductions: per-channel, per-row and whole-array sums (and
counts) of a traced rule's terms, printed with the helpers of
:mod:`optkit._exec.numba_source` (see there for the layouts and the reproducibility
rules: fixed per-thread partitions, whole-array sums in blocks of ``BLOCK``).
"""

from __future__ import annotations

from optkit._exec.numba_source import (
    BLOCK,
    _element,
    _hoisted,
    _Names,
    _outer_loads,
    _views,
)

__all__ = ["channel_reduction", "row_reduction", "whole_reduction"]


def _pairwise(terms: list[str]) -> str:
    while len(terms) > 1:
        terms = [f"({terms[i]} + {terms[i + 1]})" if i + 1 < len(terms) else terms[i]
                 for i in range(0, len(terms), 2)]  # fmt: skip
    return terms[0]


def _term(names: _Names, m: int, suffix: str) -> str:
    value = names.ref(names.tr.outputs[m], suffix)
    return f"(1 if {value} else 0)" if names.plan.rule.count else value


def channel_reduction(names: _Names, layout: str, unroll: int) -> list[str]:
    """Per-channel sums: ``chunk(..., lo, hi, acc...)`` and the ``parallel`` driver."""
    m = len(names.tr.outputs)
    accs = [f"acc{j}" for j in range(m)]
    lines = [
        "@serial_jit",
        f"def chunk({names.args('lo', 'hi', *accs)}):",
        *_hoisted(names),
    ]
    if layout == "rows":
        lines += ["    C = d0.shape[1]", "    r = lo", f"    while r + {unroll} <= hi:"]
        lines += _outer_loads(names, "r", "r", "        ")
        for b in range(unroll):
            lines += _views(names, f"r + {b}", f"_{b}", "        ")
        lines.append("        for cc in range(C):")
        lines += _outer_loads(names, "c", "cc", "            ")
        for b in range(unroll):
            lines += _element(names, {"d": f"w{{j}}_{b}[cc]"}, f"_{b}", "            ")
        for j in range(m):
            total = _pairwise([_term(names, j, f"_{b}") for b in range(unroll)])
            lines.append(f"            acc{j}[cc] += {total}")
        lines += [f"        r += {unroll}", "    while r < hi:"]
        lines += _outer_loads(names, "r", "r", "        ")
        lines += _views(names, "r", "", "        ")
        lines.append("        for cc in range(C):")
        lines += _outer_loads(names, "c", "cc", "            ")
        lines += _element(names, {"d": "w{j}[cc]"}, "", "            ")
        lines += [f"            acc{j}[cc] += {_term(names, j, '')}" for j in range(m)]
        lines.append("        r += 1")
    else:
        lines += ["    C, I = d0.shape[1], d0.shape[2]", "    for u in range(lo, hi):",
                  "        o = u // C", "        cc = u - o * C"]  # fmt: skip
        lines += _outer_loads(names, "r", "o", "        ")
        lines += _outer_loads(names, "c", "cc", "        ")
        zero = "0" if names.plan.rule.count else "0.0"
        lines += [f"        a{j} = {zero}" for j in range(m)]
        lines += _views(names, "o, cc", "", "        ")
        lines.append("        for j in range(I):")
        lines += _element(names, {"d": "w{j}[j]"}, "", "            ")
        lines += [f"            a{j} += {_term(names, j, '')}" for j in range(m)]
        lines += [f"        acc{j}[cc] += a{j}" for j in range(m)]
    parts = [f"part{j}" for j in range(m)]
    units = "d0.shape[0]" if layout == "rows" else "d0.shape[0] * d0.shape[1]"
    lines += ["", "@parallel_jit", f"def parallel({names.args(*parts)}):",
              f"    T, total = part0.shape[0], {units}", "    for t in numba.prange(T):",
              "        lo, hi = t * total // T, (t + 1) * total // T",
              f"        chunk({names.args('lo', 'hi', *(f'{p}[t]' for p in parts))})", ""]  # fmt: skip
    return lines


def row_reduction(names: _Names, layout: str) -> list[str]:
    """Per-row sums ``out[r]``: one independent sum per row (any thread count)."""
    m = len(names.tr.outputs)
    outs = [f"out{j}" for j in range(m)]
    out = []
    for fn, rng, deco in (
        ("serial", "range", "@serial_jit"),
        ("parallel", "numba.prange", "@parallel_jit"),
    ):
        lines = [deco, f"def {fn}({names.args(*outs)}):", *_hoisted(names)]
        zero = "0" if names.plan.rule.count else "0.0"
        lines += [f"    for r in {rng}(d0.shape[0]):"]
        lines += _outer_loads(names, "r", "r", "        ")
        lines += [f"        a{j} = {zero}" for j in range(m)]
        if layout == "rows":
            lines += _views(names, "r", "", "        ")
            lines.append("        for cc in range(d0.shape[1]):")
            lines += _element(names, {"d": "w{j}[cc]", "c": "cc"}, "", "            ")
        else:
            lines.append("        for cc in range(d0.shape[1]):")
            lines += _outer_loads(names, "c", "cc", "            ")
            lines += _views(names, "r, cc", "", "            ")
            lines.append("            for j in range(d0.shape[2]):")
            lines += _element(names, {"d": "w{j}[j]"}, "", "                ")
            lines += [f"                a{j} += {_term(names, j, '')}" for j in range(m)]
        if layout == "rows":
            lines += [f"            a{j} += {_term(names, j, '')}" for j in range(m)]
        lines += [f"        out{j}[r] = a{j}" for j in range(m)]
        out += [*lines, ""]
    return out


def whole_reduction(names: _Names) -> list[str]:
    """Blocked sums over a 1-D buffer into ``total`` (given zeroed: returning an array
    from a jitted function costs ~10 us of boxing): fixed blocks, partials summed in
    block order."""
    m = len(names.tr.outputs)
    if names.plan.rule.count:
        return _whole_count(names, m)
    zero, dtype = "0.0", "np.float64"
    lines = ["@serial_jit", f"def block({names.args()}):", *_hoisted(names)]
    lines += [f"    a{j} = {zero}" for j in range(m)]
    lines.append("    for i in range(d0.shape[0]):")
    lines += _element(names, {"d": "d{j}[i]"}, "", "        ")
    lines += [f"        a{j} += {_term(names, j, '')}" for j in range(m)]
    lines += [f"    return ({', '.join(f'a{j}' for j in range(m))},)", ""]
    for fn, rng, deco in (
        ("serial", "range", "@serial_jit"),
        ("parallel", "numba.prange", "@parallel_jit"),
    ):
        lines += [deco, f"def {fn}({names.args('total')}):", "    n = d0.shape[0]",
                  f"    nb = (n + {BLOCK} - 1) // {BLOCK}",
                  f"    partial = np.zeros((nb, {m}), {dtype})", f"    for b in {rng}(nb):",
                  f"        lo, hi = b * {BLOCK}, min(n, (b + 1) * {BLOCK})",
                  f"        s = block({_sliced(names)})"]  # fmt: skip
        lines += [f"        partial[b, {j}] = s[{j}]" for j in range(m)]
        lines += ["    for b in range(nb):"]
        lines += [f"        total[{j}] += partial[b, {j}]" for j in range(m)]
        lines += [""]
    return lines


def _whole_count(names: _Names, m: int) -> list[str]:
    """Counts over a 1-D buffer: integers are exact in any order, so one ``prange``
    reduction (a contiguous share per thread) instead of fixed blocks. The counts are
    returned as a tuple of ints (cheaper to box than a ``total`` array is to make)."""
    lines = []
    for fn, rng, deco in (
        ("serial", "range", "@serial_jit"),
        ("parallel", "numba.prange", "@parallel_jit"),
    ):
        lines += [deco, f"def {fn}({names.args()}):", *_hoisted(names)]
        lines += [f"    a{j} = 0" for j in range(m)]
        lines.append(f"    for i in {rng}(d0.shape[0]):")
        lines += _element(names, {"d": "d{j}[i]"}, "", "        ")
        lines += [f"        a{j} += {_term(names, j, '')}" for j in range(m)]
        lines += [f"    return ({''.join(f'a{j}, ' for j in range(m))})", ""]
    return lines


def _sliced(names: _Names) -> str:
    """The arguments of a block call: each data array sliced to ``lo:hi``."""
    data = [f"d{j}[lo:hi]" for j in range(len(names.tables["d"]))]
    params = [f"c{j}" for j in range(len(names.tables["c"]))]
    params += [f"r{j}" for j in range(len(names.tables["r"]))]
    return ", ".join([*data, *params, "k"])

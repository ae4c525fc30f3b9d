"""The CUDA printer: a traced rule as CuPy kernel source (no CuPy needed to print it).

From the same program the Numba printer reads (:mod:`optkit._exec.trace`):

* :func:`elementwise_spec` — the arguments of one ``cupy.ElementwiseKernel`` for an
  update rule (``p`` and the state are ``out_params``: CuPy binds them as ``T&`` into
  the arrays, so one launch reads and writes them in place) or a map (its outputs
  are ``out_params``). Channel and row parameters are ``in_params`` that the caller
  shapes ``(1, C, 1)`` and ``(O, 1, 1)``, so CuPy's indexer reads one value per
  channel or row without a full-size copy; lifted host values are scalars (or arrays
  for a population) of the compute type;
* :func:`reduction_specs` — one ``cupy.ReductionKernel`` per output of a reduction:
  the element's term is a ``__device__`` function in the preamble, summed in
  ``double`` (counted in ``long long``) over the reduced axes;
* :func:`nvrtc_source` — any of these specs as one complete CUDA translation unit
  with CuPy's bindings, so that CI compiles the exact bodies with NVRTC without a
  GPU; the host stand-in of CuPy in the tests compiles the same bodies with the
  system C++ compiler and runs them on the CPU.

The compute type is ``C``: ``T`` (the arrays' type) for ``compute="param"``,
``double`` for ``compute="float64"`` (elements widened on load by ``optkit_wide``,
narrowed on store by ``optkit_narrow``, float16 through float32).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from optkit._exec.trace import Trace, trace
from optkit.rules._rule import Rule

__all__ = [
    "COMPILE_OPTIONS",
    "PREAMBLE",
    "ElementwiseSpec",
    "ReductionSpec",
    "c_type",
    "elementwise_spec",
    "nvrtc_source",
    "reduction_specs",
]

#: NVRTC options of every generated kernel. ``--fmad=false``: no contraction of
#: ``a*b + c`` into FMA, which broke exact cancellations that the reference keeps
#: (centered RMSprop with alpha = 0 computes ``v - gbar*gbar = g*g - g*g``; an FMA
#: turns it into a tiny negative number and a NaN square root). Memory-bound anyway.
COMPILE_OPTIONS = ("--fmad=false",)

#: Loads and stores of ``compute="float64"`` kernels (float16 through float32).
PREAMBLE = r"""
template <typename V>
__device__ inline double optkit_wide(V v) { return static_cast<double>(static_cast<float>(v)); }
__device__ inline double optkit_wide(double v) { return v; }
template <typename V>
__device__ inline V optkit_narrow(double v) { return V(static_cast<float>(v)); }
template <>
__device__ inline double optkit_narrow<double>(double v) { return v; }
"""

_C_TYPES = {"float16": "float16", "float32": "float", "float64": "double"}
_FORMS = {
    "add": "{0} + {1}", "sub": "{0} - {1}", "mul": "{0} * {1}", "div": "{0} / {1}",
    "pow": "pow({0}, {1})", "neg": "-{0}", "sqrt": "sqrt({0})", "exp": "exp({0})",
    "log": "log({0})", "abs": "fabs({0})", "tanh": "tanh({0})",
    "where": "{0} ? {1} : {2}",
    "lt": "{0} < {1}", "le": "{0} <= {1}", "gt": "{0} > {1}", "ge": "{0} >= {1}",
    "eq": "{0} == {1}", "ne": "{0} != {1}", "and": "{0} && {1}", "or": "{0} || {1}",
    "not": "!{0}",
}  # fmt: skip


def c_type(dtype) -> str:
    """The C type of a NumPy dtype (``float`` or ``double``; ``float16`` for CuPy)."""
    name = np.dtype(dtype).name
    try:
        return _C_TYPES[name]
    except KeyError:
        raise ValueError(f"no C type for dtype {name}") from None


def literal(value) -> str:
    """The C text of a constant in the compute type ``C``."""
    if isinstance(value, bool):
        return "true" if value else "false"
    x = float(value)
    if math.isnan(x):
        return "(C)(0.0 / 0.0)"
    if math.isinf(x):
        return "(C)(1.0 / 0.0)" if x > 0 else "(C)(-1.0 / 0.0)"
    return f"(C)({x!r})"


def _ident(prefix: str, name: str, index: int) -> str:
    ok = name.isascii() and name.isidentifier()
    return f"{prefix}{name}" if ok else f"{prefix}{index}"


@dataclass(frozen=True)
class _Bindings:
    """C names of a kernel's arguments and of each node's value."""

    data: dict[str, str]  # rule input -> C name
    channel: dict[str, str]
    row: dict[str, str]
    lifted: list[str]  # per lifted value, in order
    outputs: dict[str, str]  # map outputs -> C name


def _bindings(tr: Trace) -> _Bindings:
    kind = tr.rule.kind
    data = {n: _ident("d_", n, i) for i, n in enumerate(tr.data)}
    if kind == "update":  # the parameter and the state are read and written in place
        data = {
            n: _ident("s_", n, i) if n not in ("p", "g") else n
            for i, n in enumerate(tr.data)
        }
    return _Bindings(
        data=data,
        channel={n: _ident("c_", n, i) for i, n in enumerate(tr.channel)},
        row={n: _ident("r_", n, i) for i, n in enumerate(tr.row)},
        lifted=[f"k{j}" for j in range(len(tr.lifted))],
        outputs={n: _ident("o_", n, i) for i, n in enumerate(tr.output_names)},
    )


def statements(
    tr: Trace, names: _Bindings, widen: bool
) -> tuple[list[str], dict[int, str]]:
    """The C statements of every data node, and each node's C expression."""
    ref: dict[int, str] = {}
    lines = []
    lifted = dict(zip(tr.lifted, names.lifted))
    for i, node in enumerate(tr.nodes):
        if node.op == "input":
            kind, name = node.value
            table = {"data": names.data, "channel": names.channel, "row": names.row}
            if kind in table:
                source = table[kind][name]
                load = (
                    f"optkit_wide({source})"
                    if widen and kind == "data"
                    else f"(C)({source})"
                )
                lines.append(f"C n{i} = {load};")
                ref[i] = f"n{i}"
            elif i in lifted:
                ref[i] = f"(C)({lifted[i]})"
        elif node.op == "const":
            ref[i] = literal(node.value)
        elif i in lifted:
            ref[i] = f"(C)({lifted[i]})"
        elif not node.host:
            ctype = "bool" if node.type == "b" else "C"
            expr = _FORMS[node.op].format(*(ref[a] for a in node.args))
            lines.append(f"{ctype} n{i} = {expr};")
            ref[i] = f"n{i}"
    return lines, ref


def _compute(rule: Rule) -> str:
    return "double" if rule.compute == "float64" else "T"


@dataclass(frozen=True)
class ElementwiseSpec:
    """Arguments of ``cupy.ElementwiseKernel``; call it with ``args`` in order."""

    in_params: str
    out_params: str
    operation: str
    name: str
    preamble: str
    args: tuple[
        tuple[str, str], ...
    ]  # (kind, rule name): kind in data/channel/row/lifted/out
    options: tuple = COMPILE_OPTIONS


def kernel_name(rule: Rule, suffix: str = "") -> str:
    """A valid C identifier naming a kernel of ``rule``."""
    name = rule.name if rule.name.isascii() and rule.name.isidentifier() else "rule"
    flags = "".join(f"_{k}" for k, v in sorted(rule.flags.items()) if v is True)
    return f"optkit_{name}{flags}{suffix}"


def _scalar_type(rule: Rule) -> str:
    return "float64" if rule.compute == "float64" else "T"


def elementwise_spec(rule: Rule) -> ElementwiseSpec:
    """The ElementwiseKernel of an update rule or a map (see the module docstring).

    Examples
    --------
    >>> from optkit.rules import sgd
    >>> spec = elementwise_spec(sgd)
    >>> spec.in_params, spec.out_params
    ('T g, T k0, T k1, T k2', 'T p')
    """
    tr = trace(rule)
    names = _bindings(tr)
    widen = rule.compute == "float64"
    scalar = _scalar_type(rule)
    ins, outs, args = [], [], []
    if rule.kind == "update":
        ins.append("T g")
        args.append(("data", "g"))
    else:
        for n in tr.data:
            ins.append(f"T {names.data[n]}")
            args.append(("data", n))
    for table, kind in ((names.channel, "channel"), (names.row, "row")):
        for n, c in table.items():
            ins.append(f"{scalar} {c}")
            args.append((kind, n))
    for j, c in enumerate(names.lifted):
        ins.append(f"{scalar} {c}")
        args.append(("lifted", str(j)))
    body, ref = statements(tr, names, widen)
    stores = []
    if rule.kind == "update":
        for n in tr.data:
            if n != "g":
                outs.append(f"T {names.data[n]}")
                args.append(("out", n))
        for n, o, store in zip(tr.output_names, tr.outputs, tr.stores()):
            if store:
                stores.append(f"{names.data[n]} = {ref[o]};")
    else:
        for n, o in zip(tr.output_names, tr.outputs):
            outs.append(f"T {names.outputs[n]}")
            args.append(("out", n))
            value = f"optkit_narrow<T>({ref[o]})" if widen else ref[o]
            stores.append(f"{names.outputs[n]} = {value};")
    operation = "\n".join([f"typedef {_compute(rule)} C;", *body, *stores])
    return ElementwiseSpec(", ".join(ins), ", ".join(outs), operation, kernel_name(rule),
                           PREAMBLE, tuple(args))  # fmt: skip


@dataclass(frozen=True)
class ReductionSpec:
    """Arguments of one ``cupy.ReductionKernel`` (the sum or count of one term)."""

    in_params: str
    out_params: str
    map_expr: str
    reduce_expr: str
    post_map_expr: str
    identity: str
    name: str
    reduce_type: str
    preamble: str
    args: tuple[tuple[str, str], ...]
    options: tuple = COMPILE_OPTIONS


def reduction_specs(rule: Rule) -> list[ReductionSpec]:
    """One ReductionKernel per output of reduction ``rule`` (see the module docstring)."""
    tr = trace(rule)
    names = _bindings(tr)
    widen = rule.compute == "float64"
    scalar = _scalar_type(rule)
    params, args = [], []
    for n in tr.data:
        params.append(("T", names.data[n]))
        args.append(("data", n))
    for table, kind in ((names.channel, "channel"), (names.row, "row")):
        for n, c in table.items():
            params.append((scalar, c))
            args.append((kind, n))
    for j, c in enumerate(names.lifted):
        params.append((scalar, c))
        args.append(("lifted", str(j)))
    body, ref = statements(tr, names, widen)
    signature = ", ".join(f"const {'T' if t == 'T' else 'double'}& {c}" for t, c in params)
    call = ", ".join(c for _, c in params)
    acc, out_type = ("long long", "int64") if rule.count else ("double", "float64")
    specs = []
    for j, o in enumerate(tr.outputs):
        fn = kernel_name(rule, f"_{j}")
        value = f"({ref[o]} ? 1LL : 0LL)" if rule.count else f"(double)({ref[o]})"
        device = "\n".join([
            "template <typename T>", f"__device__ inline {acc} {fn}({signature}) {{",
            f"  typedef {_compute(rule)} C;", *(f"  {line}" for line in body),
            f"  return {value};", "}",
        ])  # fmt: skip
        specs.append(
            ReductionSpec(
                in_params=", ".join(f"{t} {c}" for t, c in params),
                out_params=f"{out_type} y",
                map_expr=f"{fn}({call})",
                reduce_expr="a + b",
                post_map_expr="y = a",
                identity="0",
                name=fn,
                reduce_type=acc,
                preamble=PREAMBLE + "\n" + device,
                args=tuple(args),
            )
        )
    return specs


def _param(decl: str, dtype_c: str, scalar_kinds: set[str], out: bool) -> tuple[str, str]:
    """(C parameter, binding line) of one CuPy-style parameter ``"T x"``."""
    ctype, name = decl.split()
    ctype = {"T": "T", "float64": "double", "int64": "long long"}.get(ctype, ctype)
    if out:
        return f"{ctype}* _raw_{name}", f"{ctype} &{name} = _raw_{name}[i];"
    if name in scalar_kinds:
        return f"const {ctype} {name}", ""
    return f"const {ctype}* _raw_{name}", f"const {ctype} &{name} = _raw_{name}[i];"


def nvrtc_source(spec: ElementwiseSpec | ReductionSpec, dtype) -> str:
    """A complete CUDA translation unit that binds ``spec``'s body as CuPy does, over
    contiguous arrays of one size (lifted values as scalars): for compile checks.

    A reduction is bound as a map that writes each element's term (the summation
    tree itself is CuPy's).
    """
    t = c_type(dtype)
    head = [
        f"typedef {t} T;" if t != "float16" else "#include <cuda_fp16.h>\ntypedef __half T;"
    ]
    scalars = {
        p.split()[1] for p in spec.in_params.split(", ") if p.split()[1].startswith("k")
    }
    params, binds = [], []
    for decl in spec.in_params.split(", "):
        p, b = _param(decl, t, scalars, False)
        params.append(p)
        binds.append(b)
    if isinstance(spec, ElementwiseSpec):
        for decl in spec.out_params.split(", "):
            p, b = _param(decl, t, scalars, True)
            params.append(p)
            binds.append(b)
        body = spec.operation
    else:
        p, b = _param(spec.out_params, t, scalars, True)
        params.append(p)
        binds.append(b)
        body = f"y = {spec.map_expr};"
    inner = "\n".join(line for line in [*binds, body] if line)
    return "\n".join([
        *head, spec.preamble,
        f'extern "C" __global__ void {spec.name}({", ".join([*params, "long long n"])}) {{',
        "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;",
        "       i += (long long)blockDim.x * gridDim.x) {",
        *(f"    {line}" for line in inner.splitlines()), "  }", "}", "",
    ])  # fmt: skip

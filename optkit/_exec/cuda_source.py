"""Kernel source text generated from a traced rule (no CuPy needed).

:mod:`optkit._exec.trace` turns a rule into a C body. This module wraps that body
three ways, all with the same parameter order and element types:

* :func:`elementwise_spec` — the pieces of a ``cupy.ElementwiseKernel``: ``g`` and
  every hyperparameter are ``in_params`` of type ``T``; ``p`` and the state arrays
  are ``out_params`` (CuPy binds them as ``T&`` into the arrays, so the body reads
  and writes them in place, one launch per call);
* :func:`cuda_kernel_source` — a complete ``extern "C" __global__`` kernel that
  binds the variables exactly as CuPy's generated code does (``const T&`` for input
  elements, ``T&`` for outputs, ``const T`` for scalars), so that CI can compile the
  body with NVRTC without a GPU;
* :func:`host_loop_source` — the same bindings in a plain C++ loop, so that CI can
  compile the body with the system C++ compiler and check its numbers on the CPU.

The host twin is C++ rather than C99 + ``<tgmath.h>``: overload resolution of
``sqrt``/``exp``/``log``/``fabs``/``pow`` for ``float``, ``bool``, ``T&`` references
and ``(T)(c)`` casts then follow the very language rules CUDA C++ applies to the body,
instead of a macro emulation of them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optkit._exec.trace import trace
from optkit.rules import Rule

__all__ = [
    "COMPILE_OPTIONS",
    "ElementwiseSpec",
    "c_type",
    "cuda_kernel_source",
    "elementwise_spec",
    "host_loop_source",
    "kernel_arguments",
    "kernel_name",
]

#: NVRTC options of every generated kernel. ``--fmad=false``: no contraction of
#: ``a*b + c`` into FMA. Contraction broke exact cancellations that the reference
#: keeps (centered RMSprop with alpha = 0 computes ``v - gbar*gbar = g*g - g*g``,
#: which an FMA turns into a tiny negative number and a NaN square root); the step
#: is memory-bound, so exact IEEE products cost no time.
COMPILE_OPTIONS = ("--fmad=false",)

_C_TYPES = {"float32": "float", "float64": "double"}


def c_type(dtype) -> str:
    """The C type of a NumPy dtype (``float`` or ``double``)."""
    name = np.dtype(dtype).name
    try:
        return _C_TYPES[name]
    except KeyError:
        raise ValueError(
            f"no C type for dtype {name}; generated sources support float32 and float64"
        ) from None


def kernel_name(rule: Rule) -> str:
    """A valid C identifier naming the kernel of ``rule``."""
    name = rule.name if rule.name.isascii() and rule.name.isidentifier() else "rule"
    return f"optkit_{name}"


def kernel_arguments(rule: Rule, array_hypers=frozenset()) -> list[tuple[str, str, str]]:
    """``(rule argument, C name, kind)`` in kernel order; kind is ``"in"`` (``g``),
    ``"scalar"``/``"array"`` (hyperparameters) or ``"out"`` (``p``, then states).

    Examples
    --------
    >>> from optkit.rules import sgd_momentum
    >>> [a[1] for a in kernel_arguments(sgd_momentum)]
    ['g', 'h_lr', 'h_s', 'h_wd', 'h_decay', 'h_damp', 'p', 's_buf']
    """
    names = trace(rule).names
    args = [("g", "g", "in")]
    args += [(h, names[h], "array" if h in array_hypers else "scalar") for h in rule.hypers]
    args += [(a, names[a], "out") for a in ("p", *rule.state)]
    return args


@dataclass(frozen=True)
class ElementwiseSpec:
    """Arguments of ``cupy.ElementwiseKernel`` for one rule."""

    in_params: str
    out_params: str
    operation: str
    name: str
    options: tuple = COMPILE_OPTIONS


def elementwise_spec(rule: Rule) -> ElementwiseSpec:
    """The ElementwiseKernel of ``rule``: call it as ``kernel(g, *hypers, p, *states)``.

    Scalar and array hyperparameters are both ``T`` in-params: CuPy passes a NumPy
    scalar by value and broadcasts an array, compiling one binary per combination.

    Examples
    --------
    >>> from optkit.rules import sgd
    >>> spec = elementwise_spec(sgd)
    >>> spec.in_params, spec.out_params, spec.name
    ('T g, T h_lr, T h_s, T h_wd', 'T p', 'optkit_sgd')
    """
    args = kernel_arguments(rule)
    ins = ", ".join(f"T {c}" for _, c, kind in args if kind != "out")
    outs = ", ".join(f"T {c}" for _, c, kind in args if kind == "out")
    return ElementwiseSpec(ins, outs, trace(rule).body(), kernel_name(rule))


def _indent(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.splitlines())


def _bindings(rule: Rule, array_hypers, index: str) -> tuple[list[str], list[str]]:
    """(parameter declarations, per-element bindings) as CuPy writes them."""
    params, binds = [], []
    for _, c, kind in kernel_arguments(rule, array_hypers):
        if kind == "scalar":
            params.append(f"const T {c}")
        elif kind == "out":
            params.append(f"T* _raw_{c}")
            binds.append(f"T &{c} = _raw_{c}[{index}];")
        else:
            params.append(f"const T* _raw_{c}")
            binds.append(f"const T &{c} = _raw_{c}[{index}];")
    return params, binds


def cuda_kernel_source(rule: Rule, dtype, array_hypers=frozenset()) -> str:
    """A complete CUDA kernel equivalent to the rule's ElementwiseKernel.

    Same body, same element types and bindings; a grid-stride loop over ``n``
    contiguous elements takes the place of CuPy's indexer (which only changes how
    the element addresses are computed).
    """
    params, binds = _bindings(rule, array_hypers, "i")
    body = "\n".join([*binds, trace(rule).body()])
    return (
        f"typedef {c_type(dtype)} T;\n\n"
        f'extern "C" __global__ void {kernel_name(rule)}(\n'
        f"    {', '.join([*params, 'long long n'])}) {{\n"
        "  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n;\n"
        "       i += (long long)blockDim.x * gridDim.x) {\n"
        f"{_indent(body, 4)}\n"
        "  }\n"
        "}\n"
    )


def host_loop_source(rule: Rule, dtype, array_hypers=frozenset()) -> str:
    """The same body in a C++ loop for the host compiler (the CPU semantic tests).

    Exports ``extern "C" void optkit_step(<kernel arguments>, long long n)`` over
    contiguous arrays (array hyperparameters broadcast by the caller).
    """
    params, binds = _bindings(rule, array_hypers, "i")
    body = "\n".join([*binds, trace(rule).body()])
    return (
        "#include <math.h>\n\n"
        f"typedef {c_type(dtype)} T;\n\n"
        f'extern "C" void optkit_step({", ".join([*params, "long long n"])}) {{\n'
        "  for (long long i = 0; i < n; ++i) {\n"
        f"{_indent(body, 4)}\n"
        "  }\n"
        "}\n"
    )

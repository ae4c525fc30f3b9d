"""The Numba executor: a generated, fused, in-place loop per rule.

For each (rule, set of array-valued hyperparameters) a small Python module is
generated into a private cache folder (see :mod:`optkit._exec.numba_cache`: owner
and mode checked, atomic writes, damaged entries rebuilt, in-memory fallback): it
holds a copy of the rule's source (decorator removed) and two loops over raveled
C-contiguous buffers, one serial and one with ``prange``. Every array is read once
and written once per element. Because the generated code lives in a real file whose
name carries a hash of everything it depends on, Numba's on-disk cache
(``cache=True``) works across processes and is never stale. Compilation is lazy,
per dtype signature.

Numerics: ``error_model='numpy'`` (the default ``'python'`` adds division checks
that made the Adam loop ~5x slower); fast-math is a flag set without ``nnan`` and
``ninf``, so that non-finite values behave as in NumPy.

The wrapper owns all shape handling: non-contiguous parameters are copied into a
contiguous buffer and copied back; gradients are made contiguous; array
hyperparameters are broadcast to the parameter's shape.
"""

from __future__ import annotations

import ast
import hashlib
import inspect
import operator
import sys
import textwrap
import threading
from pathlib import Path
from typing import Any

import numba
import numpy as np

from optkit._exec import numba_cache
from optkit.rules import Rule
from optkit.rules import math as rule_math

__all__ = ["PARALLEL_THRESHOLD", "cache_dir", "cast_hypers", "kernel_for", "source_for"]

#: Whether scalar hyperparameters must go through ``cast_hypers``:
#: the kernel packs scalars into an array of the parameter dtype.
CONVERTS_SCALARS = False

#: Below this many elements the serial loop runs; at and above it, the ``prange`` one.
#: Measured with ``python tools/bench_parallel_threshold.py`` on 2 cores (float32
#: Adam, serial time / parallel time): 0.56 at 2^12, 1.10 at 2^14, 1.58 at 2^16,
#: 2.65 at 2^18. The parallel loop's fixed cost (waking the threads, ~2-3 us) pays
#: off between 2^14 and 2^16; 2^16 keeps a clear margin on a busy machine.
PARALLEL_THRESHOLD = 1 << 16

#: LLVM fast-math flags. ``nnan``/``ninf`` never (they delete NaN/inf handling);
#: ``contract`` (FMA) neither: it broke exact cancellations the reference keeps
#: (centered RMSprop with alpha=0 computes v - gbar^2 = g*g - g*g, which FMA turned
#: into a tiny negative number and a NaN square root). The loops are memory-bound,
#: so the stricter flags cost nothing measurable.
FASTMATH = frozenset({"nsz"})

_TEMPLATE_VERSION = "3"
_HELPERS = {name: getattr(rule_math, name) for name in rule_math.__all__}
_kernels: dict[tuple[Rule, frozenset[str]], Any] = {}
_kernels_lock = threading.Lock()


# ----------------------------------------------------------------- helper overloads
def _register_overloads() -> None:
    """Give each :mod:`optkit.rules.math` helper a Numba implementation."""
    from numba.extending import overload

    def unary(fn, impl):
        overload(fn, inline="always")(lambda x: impl)

    unary(rule_math.sqrt, lambda x: np.sqrt(x))
    unary(rule_math.exp, lambda x: np.exp(x))
    unary(rule_math.log, lambda x: np.log(x))
    unary(rule_math.abs, lambda x: np.abs(x))
    unary(rule_math.sign, lambda x: np.sign(x))

    overload(rule_math.maximum, inline="always")(
        lambda x1, x2: lambda x1, x2: np.maximum(x1, x2)
    )
    overload(rule_math.minimum, inline="always")(
        lambda x1, x2: lambda x1, x2: np.minimum(x1, x2)
    )
    overload(rule_math.clip, inline="always")(
        lambda x, lo, hi: lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi)
    )

    def where_impl(condition, x1, x2):
        def impl(condition, x1, x2):
            return x1 if condition else x2

        return impl

    overload(rule_math.where)(where_impl)  # inline="always" trips a Numba IR check


_register_overloads()


# ----------------------------------------------------------------- code generation
def cache_dir() -> Path | None:
    """Folder of generated kernel modules, or None (compiled in memory); see
    :mod:`optkit._exec.numba_cache`."""
    return numba_cache.cache_dir()


def _rule_source(rule: Rule) -> tuple[str, list[str]]:
    """The rule's function as source named ``_rule``, and import lines for its globals."""
    fn = rule.fn
    tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
    func = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    func.decorator_list = []
    func.name = "_rule"
    # Numba cannot fold keyword-only arguments in calls between jitted functions:
    # make them positional (the generated loop passes them in declaration order).
    func.args.args += func.args.kwonlyargs
    func.args.kwonlyargs, func.args.kw_defaults = [], []
    imports = []
    for name in sorted(_global_names(func)):
        value = fn.__globals__.get(
            name,
            getattr(__builtins__, name, None)
            if not isinstance(__builtins__, dict)
            else __builtins__.get(name),
        )
        helper = next((h for h, f in _HELPERS.items() if f is value), None)
        if helper is not None:
            imports.append(f"from optkit.rules.math import {helper} as {name}")
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            imports.append(f"{name} = {value!r}")
        else:
            raise TypeError(
                f"rule {rule.name!r} uses the global {name!r}; a rule may only call the "
                f"helpers of optkit.rules.math and use numeric constants"
            )
    func = ast.fix_missing_locations(_TypedLiterals(func.args.args[0].arg).visit(func))
    return ast.unparse(func), imports


class _TypedLiterals(ast.NodeTransformer):
    """Rewrite each numeric literal ``c`` as ``_as_type_of(c, p)``.

    Numba types a literal ``1`` as int64 and ``0.5`` as float64, and int64 or
    float64 with float32 promotes to float64: ``1 - beta1`` turned the float32 Adam
    loop into float64 arithmetic with conversions (measured: 0.63 of the roofline,
    ``vcvtps2pd`` in the loop). Casting literals to the parameter's type keeps a
    float32 loop in float32, as NumPy's weak Python scalars do on the reference path.
    """

    def __init__(self, like: str):
        self.like = like

    def visit_Constant(self, node: ast.Constant) -> ast.AST:
        value = node.value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return ast.Call(
                ast.Name("_as_type_of", ast.Load()),
                [node, ast.Name(self.like, ast.Load())],
                [],
            )
        return node


def as_type_of(c, x):
    """``c`` converted to the scalar type of ``x`` (used by generated Numba code)."""
    return c


def _register_as_type_of() -> None:
    from numba.core import types
    from numba.extending import overload

    def impl(c, x):
        if isinstance(x, types.Float):
            target = x
            return lambda c, x: target(c)
        return lambda c, x: c

    overload(as_type_of, inline="always")(impl)


_register_as_type_of()


def _global_names(func: ast.FunctionDef) -> set[str]:
    local = {a.arg for a in func.args.args + func.args.kwonlyargs}
    for node in ast.walk(func):
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            local.add(node.id)
    return {
        node.id
        for node in ast.walk(func)
        if isinstance(node, ast.Name)
        and isinstance(node.ctx, ast.Load)
        and node.id not in local
    }


def source_for(rule: Rule, array_hypers: frozenset[str]) -> str:
    """The generated module text for ``rule`` with ``array_hypers`` indexed per element.

    The loops take ``(p, g, *state, scalars, *arrays)``: the scalar hyperparameters
    packed in one small array of the parameter's dtype (one argument for Numba's
    dispatcher to type instead of one per hyperparameter), then each array-valued
    hyperparameter raveled to the parameter's size.
    """
    body, imports = _rule_source(rule)
    arrays = ["p", "g", *rule.state]
    scalar_names = [h for h in rule.hypers if h not in array_hypers]
    array_names = [h for h in rule.hypers if h in array_hypers]
    args = ", ".join([*arrays, "scalars", *array_names])
    unpack = "".join(f"    {h} = scalars[{j}]\n" for j, h in enumerate(scalar_names))
    elements = [f"{a}[i]" for a in arrays]
    hyper_args = ", ".join(f"{h}[i]" if h in array_hypers else h for h in rule.hypers)
    targets = ", ".join(["p[i]", *(f"{s}[i]" for s in rule.state)])
    if not rule.state:
        targets += ","
    call = f"_rule({', '.join(elements)}, {hyper_args})"
    flags = "{" + ", ".join(repr(f) for f in sorted(FASTMATH)) + "}"
    opts = f"error_model='numpy', fastmath={flags}, cache=_CACHE"

    def loop(kind: str, extra: str, rng: str) -> str:
        return (
            f"@numba.njit({opts}{extra})\n"
            f"def {kind}({args}):\n"
            f"{unpack}"
            f"    for i in {rng}(p.shape[0]):\n"
            f"        {targets} = {call}\n"
        )

    return "\n".join(
        [
            f"# Generated by optkit from rule {rule.name!r}; edits are overwritten.",
            "import numba",
            "from optkit._exec.numba import as_type_of as _as_type_of",
            *imports,
            "",
            body,
            "",
            f"_rule = numba.njit(error_model='numpy', fastmath={flags})(_rule)",
            "",
            loop("serial", "", "range"),
            loop("parallel", ", parallel=True", "numba.prange"),
        ]
    )


def _load_module(rule: Rule, array_hypers: frozenset[str]):
    try:
        text = source_for(rule, array_hypers)
    except (OSError, TypeError) as exc:
        if isinstance(exc, TypeError) and "uses the global" in str(exc):
            raise
        raise TypeError(
            f"rule {rule.name!r}: its source is not available, so it cannot "
            f"be compiled by Numba ({exc})"
        ) from exc
    key = "\0".join([text, numba.__version__, np.__version__, _TEMPLATE_VERSION])
    digest = hashlib.sha256(key.encode()).hexdigest()[:16]
    return numba_cache.KernelModule(f"optkit_numba_{rule.name}_{digest}", text)


# ----------------------------------------------------------------- the wrapper
def kernel_for(rule: Rule, array_hypers: frozenset[str]):
    """The fused step function of ``rule``; generated and loaded once per key."""
    key = (rule, frozenset(array_hypers))
    kernel = _kernels.get(key)
    if kernel is None:
        with _kernels_lock:  # one thread generates; the others wait and reuse it
            kernel = _kernels.get(key)
            if kernel is None:
                kernel = _kernels[key] = _make_kernel(rule, key[1])
    return kernel


def _make_kernel(rule: Rule, array_hypers: frozenset[str]):
    cached = _load_module(rule, array_hypers)
    scalar_names = [h for h in rule.hypers if h not in array_hypers]
    array_names = [h for h in rule.hypers if h in array_hypers]
    this_module = sys.modules[__name__]
    # itemgetter + np.array: ~0.4 us for 8 scalars, the cheapest packing measured.
    get_scalars = (
        operator.itemgetter(*scalar_names)
        if len(scalar_names) > 1
        else ((lambda h: (h[scalar_names[0]],)) if scalar_names else (lambda h: ()))
    )

    def kernel(p, g, states, hypers):
        shape = p.shape
        contiguous = p.flags.c_contiguous
        if len(shape) != 1 or not contiguous:
            p = p.reshape(-1) if contiguous else np.ascontiguousarray(p).reshape(-1)
            states = [s.reshape(-1) for s in states]
        g = (
            np.ascontiguousarray(g).reshape(-1)
            if len(g.shape) != 1 or not g.flags.c_contiguous
            else g
        )
        scalars = np.array(get_scalars(hypers), dtype=p.dtype)
        arrays = (
            [
                np.ascontiguousarray(np.broadcast_to(hypers[h], shape)).reshape(-1)
                for h in array_names
            ]
            if array_names
            else ()
        )
        args = (p, g, *states, scalars, *arrays)
        small = p.shape[0] < this_module.PARALLEL_THRESHOLD
        try:
            _run_loop(cached.module, small, args)
        except Exception as exc:  # a damaged cache entry: rebuilt, retried once
            cached.recover(exc, lambda module: _run_loop(module, small, args))
        return p

    def run(p, g, states, hypers):
        flat = kernel(p, g, states, hypers)
        if not p.flags.c_contiguous:
            p[...] = flat.reshape(p.shape)

    run.rule = rule
    run.loops = (cached.module.serial, cached.module.parallel)
    return run


def _run_loop(module, small: bool, args: tuple) -> None:
    if small:
        module.serial(*args)
    else:
        with numba_cache.parallel_lock():  # workqueue layer: one launch at a time
            module.parallel(*args)


def cast_hypers(hypers: dict[str, Any], param: np.ndarray) -> dict[str, Any]:
    """Scalars stay numbers (the kernel packs them into one array of the parameter's
    dtype, so a float32 loop stays float32); arrays become arrays of that dtype."""
    out = hypers
    for name, value in hypers.items():
        if isinstance(value, np.ndarray):
            if out is hypers:
                out = dict(hypers)
            out[name] = value.astype(param.dtype, copy=False) if value.shape else value[()]
    return out


@numba.njit(error_model="numpy", cache=True)
def _count_bad_serial(x):
    bad = 0
    for i in range(x.shape[0]):
        bad += (x[i] - x[i]) != 0  # NaN - NaN and inf - inf are NaN; finite gives 0
    return bad


@numba.njit(error_model="numpy", cache=True, parallel=True)
def _count_bad_parallel(x):
    bad = 0
    for i in numba.prange(x.shape[0]):
        bad += (x[i] - x[i]) != 0
    return bad


def all_finite(g: np.ndarray) -> bool:
    """True when ``g`` holds no NaN/inf: one vectorized pass, no temporaries.

    An integer count vectorizes without fast-math (a float sum would need
    ``reassoc``); the check costs one read of the gradient.
    """
    flat = (
        g if g.ndim == 1 and g.flags.c_contiguous else np.ascontiguousarray(g).reshape(-1)
    )
    if flat.shape[0] < PARALLEL_THRESHOLD:
        return _count_bad_serial(flat) == 0
    with numba_cache.parallel_lock():
        return _count_bad_parallel(flat) == 0

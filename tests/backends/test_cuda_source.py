"""The CuPy executor's generated code, checked without a GPU (runs in CPU CI).

For every rule of ``optkit.rules.RULES`` and the rules defined here (write-once,
TESTING.md B2): the traced body, wrapped as the CUDA kernel CuPy would build, is
compiled by NVRTC (from the ``nvidia-cuda-nvrtc-cu12`` wheel); and the same body,
wrapped in a host C++ loop and compiled by g++, is run on random inputs (NaN, inf
and signed zeros included) and compared with the reference executor. Tests skip
with the reason when NVRTC or g++ are missing.
"""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest
from _native import (
    SPECIAL,
    host_compiler,
    nvrtc,
    nvrtc_compile,
    random_hypers,
    random_inputs,
    run_host,
)

import optkit as ok
from optkit._exec import array_api as reference
from optkit._exec.cuda_source import (
    COMPILE_OPTIONS,
    cuda_kernel_source,
    elementwise_spec,
    kernel_arguments,
)
from optkit._exec.trace import TraceError, trace
from optkit.rules import RULES
from optkit.rules.math import abs, clip, exp, log, maximum, minimum, sign, sqrt, where


# --------------------------------------------------------------------------- new rules
@ok.rule(state=("a", "b"))
def every_helper(p, g, a, b, *, lr, lo, hi):
    """Uses every helper, number branches, ``**``, reflected ops and & | ~."""
    m = maximum(a, g)
    n = minimum(b, -g)
    c = clip(g, -lo, hi)
    s = sign(g) + sign(a) * 0.5
    e = exp(-abs(a)) + log(abs(b) + 1.0) + sqrt(abs(g)) + g**2 + abs(b) ** 0.5
    both = (a > 0) & (b > 0) | ~(g < 0)
    step = where(both, m, where(g == 0, 2.0, n)) + 1 / (1 + e)
    return p - lr * step * s + c, maximum(m, 0.0), minimum(where(a != b, n, c), 3)


@ok.rule(state=("v",))
def swap(p, g, v, *, lr):
    """Outputs that are inputs, in swapped order: the stores must not interfere."""
    return v, p


@ok.rule(state=("v",))
def lecture_momentum(p, g, v, *, lr, mu):
    """The lecture's momentum: ``v = mu v - lr g``, ``p = p + v``."""
    v = mu * v - lr * g
    return p + v, v


TEST_RULES = {r.name: r for r in (every_helper, swap, lecture_momentum)}
ALL_RULES = {**RULES, **TEST_RULES}
DTYPES = {"float32": np.float32, "float64": np.float64}
MASKS = ["scalar", "array"]
#: ``swap`` is checked against hand values (the reference executor writes ``p``
#: before reading it back as the new ``v``, so it cannot be the oracle there).
COMPARED = {k: r for k, r in ALL_RULES.items() if r is not swap}


def _mask(rule, kind):
    return frozenset(rule.hypers) if kind == "array" else frozenset()


def _need_nvrtc():
    lib, reason = nvrtc()
    if lib is None:
        pytest.skip(reason)


def _need_cxx():
    cxx, reason = host_compiler()
    if cxx is None:
        pytest.skip(reason)


# --------------------------------------------------------------------------- tracing
def test_trace_is_typed_ssa_with_typed_literals():
    for rule in ALL_RULES.values():
        t = trace(rule)
        for k, line in enumerate(t.statements):
            assert re.match(rf"^(T|bool) t{k} = .+;$", line), (rule.name, line)
            bare = re.sub(r"\(T\)\([^()]*(\([^()]*\))?[^()]*\)", "", line.split("=", 1)[1])
            assert not re.search(r"(?<![\w.])\d", bare), (rule.name, line)
        assert len(t.outputs) == 1 + len(rule.state)
    assert "(T)(1.0) - h_beta1" in trace(RULES["adam"]).body()


def test_maximum_minimum_sign_forms():
    body = trace(every_helper).body()
    assert "(a >= b || a != a) ? a : b".replace("a", "s_a").replace("b", "g") in body
    assert "s_b <= t" in body  # minimum(b, -g)
    assert "fabs(" in body and "exp(" in body and "log(" in body and "pow(" in body
    assert "&&" in body and "||" in body and "!" in body


def test_python_if_on_traced_value_is_rejected():
    @ok.rule()
    def branchy(p, g, *, lr):
        if g > 0:
            return (p - lr,)
        return (p,)

    with pytest.raises(TraceError, match=r"'branchy'.*where\(condition"):
        trace(branchy)


def test_wrong_number_of_outputs_is_rejected():
    @ok.rule(state=("m",))
    def forgets_state(p, g, m, *, lr):
        return p - lr * g

    with pytest.raises(TraceError, match="tuple of 2 values"):
        trace(forgets_state)


def test_foreign_calls_are_rejected():
    @ok.rule()
    def uses_numpy(p, g, *, lr):
        return (p - lr * np.sign(g),)

    with pytest.raises(TypeError):
        trace(uses_numpy)


def test_kernel_arguments_and_spec_agree():
    rule = RULES["adam"]
    args = kernel_arguments(rule, frozenset({"beta1"}))
    assert [a[0] for a in args] == ["g", *rule.hypers, "p", *rule.state]
    assert dict((a[0], a[2]) for a in args)["beta1"] == "array"
    spec = elementwise_spec(rule)
    assert spec.in_params.split(", ")[0] == "T g"
    assert spec.out_params == "T p, T s_m, T s_v"
    assert spec.options == COMPILE_OPTIONS


def test_tracer_and_sources_do_not_import_cupy():
    code = (
        "import sys, optkit, optkit._exec.cuda_source, optkit._exec.trace; "
        "assert 'cupy' not in sys.modules, 'cupy imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# --------------------------------------------------------------------------- NVRTC
@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(ALL_RULES))
def test_nvrtc_compiles_kernel(name, dtype, mask):
    _need_nvrtc()
    rule = ALL_RULES[name]
    source = cuda_kernel_source(rule, dtype, _mask(rule, mask))
    result = nvrtc_compile(source, f"{name}.cu", COMPILE_OPTIONS)
    assert result.ok, f"NVRTC: {result.status}\n{result.log}\n--- source ---\n{source}"
    assert f".entry {elementwise_spec(rule).name}(" in result.ptx
    if name != "every_helper":  # exp/log/pow are library code with their own FMAs
        assert "fma.rn" not in result.ptx  # --fmad=false: every product is rounded
        if dtype == "float32":
            assert ".f64" not in result.ptx, "a float32 kernel computes in double"


def test_nvrtc_reports_errors():
    _need_nvrtc()
    result = nvrtc_compile('extern "C" __global__ void k() { undeclared = 1; }')
    assert not result.ok and "undeclared" in result.log


# --------------------------------------------------------------------------- C semantics
def _run_reference(rule, p, g, states, hypers):
    p, states = p.copy(), [s.copy() for s in states]
    with np.errstate(all="ignore"):
        reference.run_rule(rule, p, g, tuple(states), hypers)
    return p, states


def _assert_same(got, want, exact, what):
    assert got.dtype == want.dtype, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: NaN")
    if exact:
        np.testing.assert_array_equal(got, want, err_msg=what)
    else:  # exp/log/pow: libm and NumPy may differ by an ulp or two
        rtol = 64 * float(np.finfo(got.dtype).eps)
        np.testing.assert_allclose(got, want, rtol=rtol, atol=rtol, err_msg=what)


@pytest.mark.parametrize("mask", MASKS)
@pytest.mark.parametrize("dtype", list(DTYPES))
@pytest.mark.parametrize("name", list(COMPARED))
def test_host_compiled_body_matches_reference(name, dtype, mask):
    """The body computes what the reference computes; with scalars passed in the
    parameter's dtype both do the same IEEE operations, so arithmetic, sqrt,
    where, maximum/minimum and sign agree bit for bit, NaN and inf included."""
    _need_cxx()
    rule, dt = ALL_RULES[name], DTYPES[dtype]
    hyper_mask = _mask(rule, mask)
    exact = name != "every_helper"
    for seed, kind in enumerate(["abs", "signed", "special"]):
        p, g, states = random_inputs(rule, dt, kind, seed)
        hypers = random_hypers(rule, dt, hyper_mask, seed)
        got_p, got_s = run_host(rule, dt, hyper_mask, p, g, states, hypers)
        want_p, want_s = _run_reference(rule, p, g, states, hypers)
        _assert_same(got_p, want_p, exact, f"{name} {kind} p")
        for s, got, want in zip(rule.state, got_s, want_s):
            _assert_same(got, want, exact, f"{name} {kind} {s}")
        if kind == "abs":
            assert not np.array_equal(got_p, p), "nothing moved"


def test_helper_semantics_on_special_values():
    """maximum/minimum propagate NaN from either side; sign(NaN) is NaN, sign(+-0)
    is 0; clip keeps NaN; where picks per element."""

    @ok.rule(state=("mx", "mn", "sg", "cl"))
    def probe(p, g, mx, mn, sg, cl, *, lo):
        return where(g > p, g, p), maximum(p, g), minimum(p, g), sign(g), clip(g, -lo, lo)

    _need_cxx()
    pairs = np.array([(x, y) for x in SPECIAL for y in SPECIAL])
    for dt in DTYPES.values():
        p, g = pairs[:, 0].astype(dt), pairs[:, 1].astype(dt)
        zeros = [np.zeros_like(p) for _ in probe.state]
        hypers = {"lo": dt(0.5)}
        got_p, (mx, mn, sg, cl) = run_host(probe, dt, frozenset(), p, g, zeros, hypers)
        with np.errstate(invalid="ignore"):
            np.testing.assert_array_equal(mx, np.maximum(p, g))
            np.testing.assert_array_equal(mn, np.minimum(p, g))
            np.testing.assert_array_equal(sg, np.sign(g))
            np.testing.assert_array_equal(cl, np.clip(g, -0.5, 0.5))
            np.testing.assert_array_equal(got_p, np.where(g > p, g, p))
        assert np.isnan(mx[np.isnan(p) | np.isnan(g)]).all()


def test_swapped_outputs_are_stored_from_old_values():
    _need_cxx()
    p, v = np.arange(5.0), -np.arange(5.0)
    got_p, (got_v,) = run_host(swap, np.float64, frozenset(), p, p, [v], {"lr": 1.0})
    np.testing.assert_array_equal(got_p, v)
    np.testing.assert_array_equal(got_v, p)


# --------------------------------------------------------------------------- CuPy objects
def test_cupy_kernel_objects_build_without_a_gpu():
    """Only where CuPy is installed (not in CPU CI): building needs no device."""
    pytest.importorskip("cupy", reason="CuPy is not installed")
    from optkit._exec import cupy as cupy_exec

    for rule in ALL_RULES.values():
        kernel = cupy_exec.kernel_for(rule, frozenset())
        assert kernel.elementwise.nout == 1 + len(rule.state)
        assert kernel is cupy_exec.kernel_for(rule, frozenset())
    cast = cupy_exec.cast_hypers(
        {"lr": 0.1, "mu": np.float64(0.5)}, np.zeros(2, np.float32)
    )
    assert all(type(v) is np.float32 for v in cast.values())


def test_cupy_generated_code_compiles_with_nvrtc():
    """The exact source CuPy generates for our ElementwiseKernel (built through
    CuPy's private code generator, so only where CuPy is installed and its
    internals are as expected) compiles with NVRTC against CuPy's headers."""
    cupy = pytest.importorskip("cupy", reason="CuPy is not installed")
    _need_nvrtc()
    from pathlib import Path

    from optkit._exec import cupy as cupy_exec

    try:
        from cupy._core import _kernel, _scalar
        from cupy._core._carray import Indexer

        def info(kind, typ, dtype, ndim):
            return _kernel._ArgInfo(kind, typ, dtype, ndim, True, True)

        include = Path(cupy.__file__).parent / "_core" / "include"
        ndarray_kind, scalar_kind, indexer_kind = 1, 3, 2  # CuPy 14's enum values
        codes = []
        for rule in ALL_RULES.values():
            ew = cupy_exec.elementwise_kernel(rule)
            for dtype in map(np.dtype, DTYPES):
                infos = [
                    info(scalar_kind, _scalar.CScalar, dtype, 0)
                    if p.name.startswith("h_")
                    else info(ndarray_kind, cupy.ndarray, dtype, 1)
                    for p in ew.params[:-1]
                ]
                infos.append(info(indexer_kind, Indexer, None, 1))
                type_map = _kernel._TypeMap((("T", dtype),))
                code = _kernel._get_elementwise_kernel_code(
                    tuple(infos), type_map, ew.params, ew.operation, ew.name, ew.preamble
                )
                codes.append((rule.name, "#include <cupy/carray.cuh>\n" + code))
    except Exception as exc:  # private API: another CuPy version lays it out differently
        pytest.skip(f"CuPy's private code generator differs: {type(exc).__name__}: {exc}")
    for name, code in codes:
        result = nvrtc_compile(code, f"{name}.cu", (*COMPILE_OPTIONS, f"-I{include}"))
        assert result.ok, f"{name}: {result.log}\n{code}"
        assert "T &s_" in code or name == "sgd"


# --------------------------------------------------------------------------- wiring
def test_numpy_arrays_with_cupy_backend_raise_naming_both():
    with pytest.raises(TypeError, match=r"(?s)backend 'cupy' needs cupy.*numpy"):
        ok.Adam(np.ones(3), backend="cupy")


def test_cupy_arrays_with_numba_backend_raise_naming_both():
    """A stand-in whose type lives in module ``cupy`` (no GPU needed)."""

    class FakeCupyArray:
        __module__ = "cupy"
        shape, dtype = (3,), np.dtype("float64")

        def __array_namespace__(self, api_version=None):  # pragma: no cover
            return np

    from optkit._backend import resolve_backend

    with pytest.raises(TypeError, match=r"(?s)backend 'numba' needs numpy.*cupy"):
        resolve_backend("numba", FakeCupyArray())


def test_missing_cupy_makes_the_executor_unavailable():
    import importlib.util

    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed here")
    from optkit import _exec

    with pytest.raises(NotImplementedError, match="cupy executor is not available"):
        _exec._module("cupy")

"""The CuPy executor's Python side, driven on the CPU (runs in CPU CI).

``optkit._exec.cupy`` is imported against a host stand-in of CuPy
(``tests/_fake_cupy.py``: same ElementwiseKernel/ReductionKernel arguments, the
same generated body compiled by g++). This checks what no GPU is needed for: the
kernel's argument order, the in-place writes through out-params, views,
broadcast (population) hyperparameters, scalar casting, the finite check, and the
whole optimizer pipeline on arrays of library "cupy". Skips without g++.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
from _configs import CONFIG_IDS, CONFIGS, DTYPES, LAYOUTS, make_grads, make_param
from _fake_cupy import fake_cupy_module
from _native import host_compiler, random_hypers, random_inputs
from conftest import tolerance

import optkit as ok
from optkit import _exec
from optkit._exec import array_api as reference
from optkit.rules import RULES
from optkit.rules.math import maximum, where


@ok.rule(state=("v",))
def capped_momentum(p, g, v, *, lr, mu, cap):
    """A rule that exists only here (write-once)."""
    v = mu * v - lr * g
    return p + where(maximum(v, -cap) < cap, v, cap), v


CHECKED_RULES = {**RULES, capped_momentum.name: capped_momentum}


@pytest.fixture
def cupy_exec(monkeypatch):
    """``optkit._exec.cupy`` imported against the host stand-in; restored after."""
    if host_compiler()[0] is None:
        pytest.skip(host_compiler()[1])
    package = _exec
    saved_module = sys.modules.pop("optkit._exec.cupy", None)
    saved_attr = package.__dict__.pop("cupy", None)
    monkeypatch.setitem(sys.modules, "cupy", fake_cupy_module())
    package.executor.cache_clear()
    try:
        yield importlib.import_module("optkit._exec.cupy")
    finally:
        sys.modules.pop("optkit._exec.cupy", None)
        package.__dict__.pop("cupy", None)
        if saved_module is not None:
            sys.modules["optkit._exec.cupy"] = saved_module
        if saved_attr is not None:
            package.cupy = saved_attr
        package.executor.cache_clear()


class FakeGpuArray(np.ndarray):
    """A NumPy array whose type claims to live in module ``cupy``."""

    __module__ = "cupy"


def _device(x):
    return np.array(x).view(FakeGpuArray)


# --------------------------------------------------------------------------- executor
@pytest.mark.parametrize("mask", ["scalar", "array"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("name", list(CHECKED_RULES))
def test_kernel_updates_in_place_like_the_reference(cupy_exec, name, dtype, mask):
    rule = CHECKED_RULES[name]
    array_hypers = frozenset(rule.hypers) if mask == "array" else frozenset()
    kernel = cupy_exec.kernel_for(rule, array_hypers)
    assert kernel is cupy_exec.kernel_for(rule, array_hypers)
    base, g, states = random_inputs(rule, dtype, "signed", 0, shape=(4, 9))
    p = base[:, ::2]  # a non-contiguous view
    g, states = g[:, ::2].copy(), [s[:, ::2].copy() for s in states]
    hypers = random_hypers(rule, dtype, array_hypers, 0)
    hypers = {k: float(v) if v.shape == () else v for k, v in hypers.items()}
    cast = cupy_exec.cast_hypers(hypers, p)
    for k, v in cast.items():
        assert v.dtype == dtype and (k in array_hypers) == (v.shape != ()), k
    p0, want_p, want_s = p.copy(), p.copy(), [s.copy() for s in states]
    untouched = base[:, 1::2].copy()
    for _ in range(3):
        kernel(p, g, states, cast)
        with np.errstate(all="ignore"):
            reference.run_rule(rule, want_p, g, tuple(want_s), cast)
    np.testing.assert_array_equal(p, want_p)
    for got, want in zip(states, want_s):
        np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(base[:, 1::2], untouched)
    assert kernel.elementwise.calls == 3
    assert not np.array_equal(p, p0), "nothing moved"


def test_empty_and_zero_d_parameters(cupy_exec):
    rule = RULES["adam"]
    kernel = cupy_exec.kernel_for(rule, frozenset())
    hypers = {h: 0.5 for h in rule.hypers}
    for shape in [(0,), (), (1, 0)]:
        p = np.ones(shape, np.float32)
        states = [np.zeros(shape, np.float32) for _ in rule.state]
        kernel(p, np.ones(shape, np.float32), states, cupy_exec.cast_hypers(hypers, p))
        if shape == ():
            assert p != 1 and states[0] != 0


def test_cast_hypers(cupy_exec):
    p = np.zeros((3, 2), np.float32)
    cast = cupy_exec.cast_hypers(
        {
            "a": 0.1,
            "b": np.float64(0.2),
            "c": np.asarray(0.3),
            "d": np.ones((3, 1)),
            "e": 1,
        },
        p,
    )
    assert all(v.dtype == np.float32 for v in cast.values())
    assert type(cast["a"]) is np.float32 and type(cast["b"]) is np.float32
    assert cast["d"].shape == (3, 1) and type(cast["e"]) is np.float32


def test_all_finite(cupy_exec):
    assert cupy_exec.all_finite(np.zeros(0, np.float32))
    assert cupy_exec.all_finite(np.ones((4, 3))[:, 1])
    assert cupy_exec.all_finite(np.asarray(2.0))
    for bad in (np.nan, np.inf, -np.inf):
        g = np.ones(100, np.float32)
        g[57] = bad
        assert not cupy_exec.all_finite(g)


# --------------------------------------------------------------------------- optimizer
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_optimizer_on_cupy_arrays_matches_reference(cupy_exec, config, dtype, layout):
    """The full pipeline (auto backend -> CuPy executor -> kernel) on arrays whose
    library is ``cupy``; float64 agrees bit for bit with the reference."""
    param, base = make_param(layout, dtype)
    ref_p = param.copy()
    gpu_base = _device(base)
    gpu_p = gpu_base[:, 1] if LAYOUTS[layout] is None else gpu_base
    ref, fast = config.make(ref_p, backend="numpy"), config.make(gpu_p)
    assert fast.backend == "cupy"
    for g in make_grads(param.shape, dtype, 10):
        ref.step(g)
        assert fast.step(_device(g)) is True
    tol = {} if dtype == np.float64 else tolerance(dtype)
    check = np.testing.assert_allclose if tol else np.testing.assert_array_equal
    check(np.asarray(gpu_p), ref_p, **tol)
    for key, want in ref.state["param"].items():
        check(np.asarray(fast.state["param"][key]), want, err_msg=key, **tol)
    if LAYOUTS[layout] is None:
        np.testing.assert_array_equal(np.asarray(gpu_base)[:, [0, 2]], base[:, [0, 2]])


def test_nonfinite_gradient_is_caught(cupy_exec):
    w = _device(np.ones(4))
    opt = ok.Adam(w, lr=0.1)
    g = _device([1.0, np.nan, 1.0, 1.0])
    with pytest.raises(ok.NonFiniteGradientError, match="step 1"):
        opt.step(g)
    assert (np.asarray(w) == 1).all()

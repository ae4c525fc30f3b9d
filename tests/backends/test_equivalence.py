"""Backend equivalence (TESTING.md B1, B4, B6, D1): the Numba fast path against the
NumPy reference executor, on params and every state array."""

from __future__ import annotations

import numpy as np
import pytest
from _configs import (
    CONFIG_IDS,
    CONFIGS,
    DTYPES,
    LAYOUTS,
    ONE_PER_RULE,
    assert_states_close,
    make_grads,
    make_param,
    population_kwargs,
)
from conftest import CPU_BACKENDS, tolerance
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.array_api import make_strategies_namespace

import optkit as ok
import optkit._exec.numba as numba_exec
from optkit.rules import RULES

STEPS = 10


def run(config, backend, layout, dtype, steps=STEPS):
    """(optimizer, param, base) after ``steps`` random-gradient steps."""
    param, base = make_param(layout, dtype)
    opt = config.make(param, backend=backend)
    assert opt.backend == backend
    for g in make_grads(param.shape, dtype, steps):
        if layout == "view":  # non-contiguous gradients too
            g = np.stack([-g, g, 2 * g], axis=-1)[:, 1]
            assert not g.flags.c_contiguous
        assert opt.step(g) is True
    return opt, param, base


def assert_matches_reference(config, layout, dtype):
    ref, p_ref, base_ref = run(config, "numpy", layout, dtype)
    fast, p_fast, base_fast = run(config, "numba", layout, dtype)
    tol = tolerance(dtype)
    assert p_fast.dtype == p_ref.dtype == dtype
    np.testing.assert_allclose(p_fast, p_ref, **tol)
    if layout == "view":  # the rest of the base array is untouched on both backends
        _, original = make_param(layout, dtype)
        for base, p in ((base_ref, p_ref), (base_fast, p_fast)):
            np.testing.assert_array_equal(base[:, [0, 2]], original[:, [0, 2]])
            np.testing.assert_array_equal(base[:, 1], p)  # updated in place
    assert_states_close(fast, ref, **tol)
    assert len(fast.state) == 1
    return ref, fast


# --------------------------------------------------------------------------- B1
@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_numba_matches_reference(config, dtype, layout):
    ref, _ = assert_matches_reference(config, layout, dtype)
    # the reference really moved (a test of two frozen runs would prove nothing)
    if LAYOUTS[layout] != (0,):
        p0, _ = make_param(layout, dtype)
        assert not np.array_equal(ref.param_groups[0]["params"][0], p0)


def _read_only(g):
    g = g.copy()
    g.setflags(write=False)
    return g


GRAD_LAYOUTS = {
    "read_only": _read_only,
    "broadcast": lambda g: np.broadcast_to(g[:1, :], g.shape),
    "transposed": lambda g: np.ascontiguousarray(g.T).T,
    "strided": lambda g: np.repeat(g, 2, axis=1)[:, ::2],
}


@pytest.mark.parametrize("grad_layout", list(GRAD_LAYOUTS))
@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_gradient_memory_layout_does_not_matter(config, grad_layout):
    """Gradients may be read-only, broadcast (stride 0), transposed or strided."""
    rng = np.random.default_rng(6)
    start = rng.standard_normal((4, 6))
    grads = [rng.standard_normal((4, 6)) for _ in range(3)]
    want = start.copy()
    ref = config.make(want, backend="numpy")
    for g in grads:
        ref.step(np.ascontiguousarray(GRAD_LAYOUTS[grad_layout](g)))
    for backend in CPU_BACKENDS:
        got = start.copy()
        opt = config.make(got, backend=backend)
        for g in grads:
            odd = GRAD_LAYOUTS[grad_layout](g)
            opt.step(odd)
        np.testing.assert_allclose(got, want, err_msg=backend, **tolerance(np.float64))
        assert_states_close(opt, ref, **tolerance(np.float64))
    assert not np.allclose(want, start)


def test_table_covers_every_rule():
    """Every built-in rule is selected by some configuration, and each configuration
    selects the rule it says."""
    seen = set()
    for config in CONFIGS:
        opt = config.make(np.zeros(3), backend="numpy")
        values = {k: opt.param_groups[0][k] for k in opt.defaults}
        assert opt.rule_for(values) is RULES[config.rule], config.name
        seen.add(config.rule)
    assert seen == set(RULES)


@pytest.mark.parametrize("layout", ["vector", "large", "view"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_parallel_loop_matches_reference(config, dtype, layout, monkeypatch):
    monkeypatch.setattr(numba_exec, "PARALLEL_THRESHOLD", 0)
    assert_matches_reference(config, layout, dtype)
    _, parallel = numba_exec.kernel_for(RULES[config.rule], frozenset()).loops
    assert parallel.signatures, "the prange loop was not run"


def test_large_parameter_takes_parallel_loop_and_matches():
    """At 2^16 elements and above the prange loop runs without any monkeypatching."""
    config = ONE_PER_RULE[0]
    n = numba_exec.PARALLEL_THRESHOLD + 3
    rng = np.random.default_rng(0)
    p_ref = rng.standard_normal(n).astype(np.float32)
    p_fast = p_ref.copy()
    ref = config.make(p_ref, backend="numpy")
    fast = config.make(p_fast, backend="numba")
    for _ in range(3):
        g = rng.standard_normal(n).astype(np.float32)
        ref.step(g)
        fast.step(g)
    np.testing.assert_allclose(p_fast, p_ref, **tolerance(np.float32))
    assert_states_close(fast, ref, **tolerance(np.float32))
    _, parallel = numba_exec.kernel_for(RULES[config.rule], frozenset()).loops
    assert parallel.signatures


def test_centered_rmsprop_alpha_zero_matches_reference():
    """alpha = 0 is valid ([0, 1)): v = g^2 and gbar = g, so v - gbar^2 is exactly 0
    and the reference takes the finite step lr * g / eps. The fast path must agree
    (and must not turn the zero into a negative number under the square root)."""
    rng = np.random.default_rng(0)
    g = rng.standard_normal(257)
    results = {}
    for backend in CPU_BACKENDS:
        p = np.zeros(257)
        opt = ok.RMSprop(p, lr=1e-10, alpha=0.0, centered=True, backend=backend)
        opt.step(g)
        results[backend] = p
    assert np.isfinite(results["numpy"]).all()
    assert np.isfinite(results["numba"]).all(), (
        f"{np.isnan(results['numba']).sum()} NaNs on numba"
    )
    np.testing.assert_allclose(results["numba"], results["numpy"], **tolerance(np.float64))


# --------------------------------------------------------------------------- D1
MODES = {
    "numpy": ("numpy", False),
    "numba": ("numba", False),
    "numba-parallel": ("numba", True),
}


@pytest.mark.parametrize("mode", list(MODES))
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_deterministic(config, mode, monkeypatch):
    backend, parallel = MODES[mode]
    if parallel:
        monkeypatch.setattr(numba_exec, "PARALLEL_THRESHOLD", 0)
    runs = []
    for _ in range(2):
        opt, p, _ = run(config, backend, "matrix", np.float32)
        runs.append((p.tobytes(), {k: v.tobytes() for k, v in opt.state["param"].items()}))
    assert runs[0] == runs[1]
    assert len(runs[0][1]) == len(RULES[config.rule].state)


# --------------------------------------------------------------------------- B6
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_population_equals_separate_runs(config, backend):
    """K copies stacked on axis 0 with (K, 1) hyperparameters (lr, betas, momentum,
    alpha, ...) equal K separate runs with the matching scalars."""
    arrays, separate = population_kwargs(config)
    K, n = len(separate), 5
    rng = np.random.default_rng(3)
    start = rng.standard_normal((K, n))
    grads = [rng.standard_normal((K, n)) for _ in range(6)]
    stacked = start.copy()
    opt = config.make(stacked, backend=backend, **arrays)
    for g in grads:
        opt.step(g)
    tol = tolerance(np.float64)
    for k, scalars in enumerate(separate):
        row = start[k].copy()
        single = config.make(row, backend=backend, **scalars)
        for g in grads:
            single.step(np.ascontiguousarray(g[k]))
        np.testing.assert_allclose(stacked[k], row, err_msg=f"copy {k}", **tol)
        for key, value in single.state["param"].items():
            np.testing.assert_allclose(
                opt.state["param"][key][k], value, err_msg=f"copy {k} {key}", **tol
            )
    # the population really differs between copies where the hyperparameters do
    assert not np.allclose(stacked[0], stacked[1])


# --------------------------------------------------------------------------- B4
xps = make_strategies_namespace(np)

#: Ranges of the hyperparameters that hypothesis draws (momentum stays > 0: Nesterov
#: requires it).
HYPER_RANGES = {
    "lr": (0.0, 0.5),
    "momentum": (0.05, 0.99),
    "dampening": (0.0, 0.9),
    "weight_decay": (0.0, 0.2),
    "alpha": (0.0, 0.999),
    "eps": (1e-8, 1e-3),
    "lr_decay": (0.0, 0.5),
    "initial_accumulator_value": (0.0, 1.0),
    "momentum_decay": (0.0, 0.05),
    "kappa": (0.0, 0.05),
    "phi": (0.0, 0.9),
    "theta": (0.0, 0.9),
}


@st.composite
def equivalence_cases(draw):
    config = draw(st.sampled_from(CONFIGS))
    dtype = draw(st.sampled_from(["float32", "float64"]))
    shape = draw(xps.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5))
    elements = {"min_value": -10, "max_value": 10, "allow_subnormal": False}
    param = draw(xps.arrays(dtype, shape, elements=elements))
    steps = draw(st.integers(1, 4))
    grads = [draw(xps.arrays(dtype, shape, elements=elements)) for _ in range(steps)]
    overrides = {}
    for key in config.numeric_hypers():
        if key == "betas":
            beta = st.floats(0.0, 0.999)
            overrides[key] = (draw(beta), draw(beta))
        elif key in HYPER_RANGES:
            lo, hi = HYPER_RANGES[key]
            overrides[key] = draw(st.floats(lo, hi))
    return config, param, grads, overrides


@settings(max_examples=25, deadline=None)
@given(equivalence_cases())
def test_random_inputs_agree_across_backends(case):
    config, param, grads, overrides = case
    results = {}
    for backend in CPU_BACKENDS:
        p = param.copy()
        opt = config.make(p, backend=backend, **overrides)
        for g in grads:
            opt.step(g.copy())
        results[backend] = (p, opt)
    (p_ref, ref), (p_fast, fast) = results["numpy"], results["numba"]
    tol = tolerance(param.dtype)
    scale = 1.0 + float(np.max(np.abs(param), initial=0.0))
    np.testing.assert_allclose(p_fast, p_ref, rtol=tol["rtol"], atol=tol["atol"] * scale)
    assert p_fast.dtype == param.dtype
    assert_states_close(fast, ref, rtol=tol["rtol"], atol=tol["atol"] * scale)

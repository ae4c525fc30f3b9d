"""Every backend runs the same program as the reference, so results agree bit for bit.

The NumPy reference executor and the fused executors (Numba loops, the CUDA bodies
compiled by g++ as the "CUDA twin", array-api-strict through the reference) all
evaluate the one traced program of a rule, operation by operation, with the host
values rounded once: after 10 steps, parameters and every state array are bitwise
equal, for every rule variant, dtype and layout, special values included. (Rules
that call ``exp``/``log``/``pow`` could differ in the last ulp between libm
implementations; none of the built-in optimizer rules does.)
"""

from __future__ import annotations

import numpy as np
import pytest
from _support.configs import ONE_PER_RULE, population_kwargs

STEPS = 10
SHAPES = {"scalar": (), "empty": (0,), "vector": (7,), "matrix": (3, 5), "large": (1024,)}
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e-30])


def _gradients(shape, dtype, seed, special):
    rng = np.random.default_rng(seed)
    grads = []
    for _ in range(STEPS):
        g = np.asarray(rng.standard_normal(shape))
        if special and g.size:
            hit = rng.random(shape) < 0.1
            g[hit] = rng.choice(SPECIAL, size=int(hit.sum()))
        grads.append(g.astype(dtype))
    return grads


def _run(config, backend, p0, grads, asarray, to_numpy, **extra):
    p = asarray(p0)
    opt = config.make(p, backend=backend, nonfinite="propagate", **extra)
    for g in grads:
        opt.step(asarray(g))
    state = {k: to_numpy(v) for k, v in opt.state.get("param", {}).items()}
    return to_numpy(p), state


def _assert_same(got, want, where):
    (p, state), (p_ref, state_ref) = got, want
    np.testing.assert_array_equal(p, p_ref, err_msg=where)
    assert p.dtype == p_ref.dtype, where
    assert state.keys() == state_ref.keys(), where
    for k in state:
        np.testing.assert_array_equal(state[k], state_ref[k], err_msg=f"{where}: {k}")


@pytest.mark.parametrize("special", [False, True], ids=["finite", "special"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_every_rule_equals_the_reference_bitwise(backend, config, dtype, special):
    copy = lambda a: np.array(a, copy=True)  # noqa: E731
    for name, shape in SHAPES.items():
        p0 = np.asarray(np.random.default_rng(1).standard_normal(shape)).astype(dtype)
        grads = _gradients(shape, dtype, 2, special)
        want = _run(config, "numpy", p0, grads, copy, copy)
        got = _run(config, backend.optkit, p0, grads, backend.asarray, backend.to_numpy)
        _assert_same(got, want, f"{config.name} {name} on {backend.name}")


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_non_contiguous_views_update_in_place(cpu_backend, config):
    """A column of a matrix is updated through the view; the other columns stay."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((7, 3))
    frozen = base[:, [0, 2]].copy()
    view = base[:, 1]
    reference = view.copy()
    grads = _gradients((7,), np.float64, 4, False)
    opt = config.make(view, backend=cpu_backend)
    ref = config.make(reference, backend="numpy")
    for g in grads:
        opt.step(g)
        ref.step(g)
    np.testing.assert_array_equal(view, reference)
    np.testing.assert_array_equal(base[:, [0, 2]], frozen)


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_population_equals_separate_runs_bitwise(backend, config):
    """Array hyperparameters of shape (K, 1): K runs in one kernel call per step, each
    bitwise equal to its own run with scalar hyperparameters."""
    arrays, separate = population_kwargs(config)
    flags = {k: v for k, v in config.kwargs.items() if isinstance(v, bool)}
    rng = np.random.default_rng(5)
    p0 = rng.standard_normal((3, 6))
    grads = [rng.standard_normal((3, 6)) for _ in range(STEPS)]
    p = backend.asarray(p0)
    opt = config.cls(p, backend=backend.optkit, **flags, **arrays)
    for g in grads:
        opt.step(backend.asarray(g))
    together = backend.to_numpy(p)
    for k, kwargs in enumerate(separate):
        row = backend.asarray(p0[k])
        single = config.cls(row, backend=backend.optkit, **flags, **kwargs)
        for g in grads:
            single.step(backend.asarray(g[k]))
        np.testing.assert_array_equal(
            together[k], backend.to_numpy(row), err_msg=f"run {k}"
        )


@pytest.mark.parametrize("threads", ["one", "all"])
def test_same_input_same_bits_for_a_thread_count(threads, monkeypatch):
    """The fused update is element-wise: results do not depend on the thread count or
    on serial versus parallel loops at all."""
    import numba

    from optkit._exec import numba as numba_exec
    from optkit.optim.registry import ALGORITHMS

    n = (1 << 16) + 3
    rng = np.random.default_rng(6)
    p0, g = (
        rng.standard_normal(n).astype(np.float32),
        rng.standard_normal(n).astype(np.float32),
    )
    results = []
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(1 if threads == "one" else saved)
        for threshold in (1 << 40, 0):
            monkeypatch.setattr(numba_exec, "PARALLEL_THRESHOLD", threshold)
            p = p0.copy()
            opt = ALGORITHMS["adam"].make(p, backend="numba")
            for _ in range(3):
                opt.step(g)
            results.append(p)
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_array_equal(results[0], results[1])

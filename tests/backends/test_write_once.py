"""Write once: an update rule, a map and a reduction defined here, in the test file, run
unchanged on every backend; and ``backend="numba"`` really takes the fast path.

The expectations are the same math written by hand in NumPy float64.
"""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok
from optkit import _backend
from optkit._exec import array_api as reference
from optkit._exec import run_map, run_reduce, run_update
from optkit.rules import elementwise, reduction, rule
from optkit.rules.math import abs, exp, maximum, sign, sqrt, where

HALF = 0.5  # a module constant: rules are traced, so any Python value works


def shrink(x, amount):
    """A helper function a rule calls (it obeys the rule contract itself)."""
    return sign(x) * maximum(abs(x) - amount, 0.0)


@rule(state=("m",), flags=("soft",))
def signum(p, g, m, *, lr, beta, wd, soft=False):
    """Sign momentum with decoupled decay; half a step where g disagrees with m;
    with ``soft``, a soft-thresholded momentum instead of its sign."""
    m = beta * m + (1 - beta) * g
    direction = shrink(m, lr) if soft else sign(m)
    step = where(m * g > 0, direction, HALF * direction)
    return p * (1 - lr * wd) - lr * step, m


@elementwise(outputs=("y", "z"), channel=("w",), row=("r",), compute="float64")
def gated(x, u, *, w, r, t):
    """Two outputs from two inputs with per-channel and per-row parameters."""
    return x * w + r, where(u > t, sqrt(abs(u)), exp(-(u * u)))


@reduction(outputs=("sx", "sxu"), channel=("w",), compute="float64")
def weighted_sums(x, u, *, w):
    return x * w, x * u


@reduction(outputs=("big",), count=True)
def count_big(x, *, t):
    return (abs(x) > t,)


def _signum_by_hand(p, g, m, lr, beta, wd, soft):
    m = beta * m + (1 - beta) * g
    direction = np.sign(m) * np.maximum(np.abs(m) - lr, 0.0) if soft else np.sign(m)
    step = np.where(m * g > 0, direction, 0.5 * direction)
    return p * (1 - lr * wd) - lr * step, m


@pytest.mark.parametrize("soft", [False, True])
def test_a_new_update_rule_runs_everywhere(backend, soft):
    rng = np.random.default_rng(1)
    p, g, m = (rng.standard_normal((4, 9)) for _ in range(3))
    hypers = dict(lr=0.1, beta=0.9, wd=0.01)
    be = _backend.resolve_backend(backend.optkit, backend.asarray(p))
    arrays = [backend.asarray(a) for a in (p, g, m)]
    run_update(be, signum.with_flags(soft=soft), arrays[0], arrays[1], (arrays[2],), hypers)
    want_p, want_m = _signum_by_hand(p, g, m, soft=soft, **hypers)
    np.testing.assert_allclose(backend.to_numpy(arrays[0]), want_p, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(backend.to_numpy(arrays[2]), want_m, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("layout", [(5, 3, 4), (12, 3, 1)], ids=["runs", "rows"])
def test_a_new_map_runs_everywhere(backend, layout):
    rng = np.random.default_rng(2)
    x, u = (rng.standard_normal(layout).astype(np.float32) for _ in range(2))
    w, r = rng.standard_normal(layout[1]), rng.standard_normal(layout[0])
    be = _backend.resolve_backend(backend.optkit, backend.asarray(x))
    y, z = backend.asarray(np.zeros_like(x)), backend.asarray(np.zeros_like(x))
    run_map(be, gated, {"x": backend.asarray(x), "u": backend.asarray(u)}, {"y": y, "z": z},
            {"w": backend.asarray(w), "r": backend.asarray(r)}, {"t": 0.25}, layout)  # fmt: skip
    x64, u64 = x.astype(np.float64), u.astype(np.float64)
    want_y = x64 * w[None, :, None] + r[:, None, None]
    want_z = np.where(u64 > 0.25, np.sqrt(np.abs(u64)), np.exp(-(u64 * u64)))
    np.testing.assert_allclose(backend.to_numpy(y), want_y.astype(np.float32), rtol=1e-6)
    np.testing.assert_allclose(backend.to_numpy(z), want_z.astype(np.float32), rtol=1e-6)


@pytest.mark.parametrize("per", ["channel", "row"])
def test_a_new_reduction_runs_everywhere(backend, per):
    rng = np.random.default_rng(3)
    layout = (6, 5, 7)
    x, u = rng.standard_normal(layout), rng.standard_normal(layout)
    w = rng.standard_normal(5)
    be = _backend.resolve_backend(backend.optkit, backend.asarray(x))
    inputs = {"x": backend.asarray(x), "u": backend.asarray(u)}
    got = run_reduce(be, weighted_sums, inputs, {"w": backend.asarray(w)}, layout=layout,
                     per=per)  # fmt: skip
    axes = (0, 2) if per == "channel" else (1, 2)
    want = [(x * w[None, :, None]).sum(axis=axes), (x * u).sum(axis=axes)]
    for a, b in zip(got, want):
        np.testing.assert_allclose(backend.to_numpy(a), b, rtol=1e-12, atol=1e-12)


def test_a_new_count_runs_everywhere(backend):
    x = np.random.default_rng(5).standard_normal((6, 5, 7))
    be = _backend.resolve_backend(backend.optkit, backend.asarray(x))
    (count,) = run_reduce(be, count_big, {"x": backend.asarray(x)}, hypers={"t": 1.5})
    assert int(count) == int((np.abs(x) > 1.5).sum())


def test_numba_never_runs_the_reference(monkeypatch):
    """Delegation: with backend="numba" the reference executor is never called."""

    def boom(*args, **kwargs):
        raise AssertionError("the reference executor ran under backend='numba'")

    for name in ("update", "elementwise", "reduce", "count_nonfinite"):
        monkeypatch.setattr(reference, name, boom)
    w = np.ones(10)
    opt = ok.Adam(w, lr=0.1, backend="numba")
    opt.step(np.full(10, 0.5))
    assert opt.backend == "numba" and w[0] < 1.0
    x = np.random.default_rng(4).standard_normal((8, 3))
    _, cache = ok.batch_norm(x, None, None, None, None, training=True, backend="numba")
    ok.batch_norm_backward(np.ones_like(x), cache)
    ok.layer_norm(x, 3, backend="numba")
    ok.clip_by_global_norm([x], 1.0, backend="numba")


@pytest.mark.parametrize("kind", ["relu", "tanh", "sigmoid"])
def test_the_activation_maps_run_everywhere(backend, kind):
    """The layers' activations are maps too: forward and backward on every backend
    (the CUDA twin compiles ``tanh`` and ``exp`` into its C++), against NumPy float64."""
    from optkit.rules.activations import ACTIVATIONS

    forward, backward = ACTIVATIONS[kind]
    x = np.concatenate([np.random.default_rng(6).standard_normal(61) * 30,
                        [np.nan, np.inf, -np.inf, 0.0, 800.0, -800.0]])  # fmt: skip
    dy = np.random.default_rng(7).standard_normal(x.size)
    with np.errstate(all="ignore"):
        want = {"relu": np.where(x < 0, 0.0, x), "tanh": np.tanh(x),
                "sigmoid": np.where(x >= 0, 1 / (1 + np.exp(-np.abs(x))),
                                    np.exp(-np.abs(x)) / (1 + np.exp(-np.abs(x))))}[kind]  # fmt: skip
        want_dx = {"relu": np.where(want > 0, dy, 0.0), "tanh": dy * (1 - want * want),
                   "sigmoid": dy * (want * (1 - want))}[kind]  # fmt: skip
    be = _backend.resolve_backend(backend.optkit, backend.asarray(x))
    y = backend.asarray(np.zeros_like(x))
    run_map(be, forward, {"x": backend.asarray(x)}, {"y": y})
    np.testing.assert_allclose(backend.to_numpy(y), want, rtol=1e-14, atol=1e-300)
    dx = backend.asarray(np.zeros_like(x))
    run_map(
        be, backward, {"dy": backend.asarray(dy), "y": backend.asarray(want)}, {"dx": dx}
    )
    np.testing.assert_allclose(backend.to_numpy(dx), want_dx, rtol=1e-14, atol=1e-300)

"""BatchNorm gradients: finite differences in float64 and the per-channel invariants.

The loss is ``L = Σ y·r`` for a fixed random ``r`` (so ``dy = r``). Central
differences with step 1e-6 approximate ``∂L/∂x``, ``∂L/∂γ``, ``∂L/∂β`` for every
element, in training (statistics depend on x) and in eval (running statistics).
In training ``dx`` must also satisfy, per channel, ``Σ dx = 0`` and
``Σ dx·x̂ = 0``: shifting or scaling a channel's inputs does not change its output.
"""

from __future__ import annotations

import numpy as np
import pytest
from _nn_support import numeric_grad

from optkit.nn.functional import batch_norm, batch_norm_backward

STEP = 1e-6
CASES = [((5, 3), 1), ((3, 2, 4), 1), ((2, 3, 2, 2), -1), ((2, 2, 2, 3), 1), ((4, 5, 2), 0)]


def loss(x, w, b, r, training, axis, cpu_backend, stats):
    rm, rv = stats
    y, _ = batch_norm(x, w, b, rm, rv, training=training, axis=axis, backend=cpu_backend)
    return float(np.sum(y * r))


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("shape", "axis"), CASES)
def test_gradients_match_finite_differences(cpu_backend, shape, axis, training):
    rng = np.random.default_rng(7)
    channels = shape[axis]
    x = rng.standard_normal(shape) * 2 + 1
    w, b = rng.uniform(0.5, 2, channels), rng.standard_normal(channels)
    r = rng.standard_normal(shape)
    stats = (
        (None, None)
        if training
        else (rng.standard_normal(channels), rng.uniform(0.5, 2, channels))
    )

    def f():
        return loss(x, w, b, r, training, axis, cpu_backend, stats)

    _, cache = batch_norm(
        x, w, b, *stats, training=training, axis=axis, backend=cpu_backend
    )
    dx, dw, db = batch_norm_backward(r, cache)
    for name, analytic, wrt in (("dx", dx, x), ("dweight", dw, w), ("dbias", db, b)):
        numeric = numeric_grad(f, wrt, STEP)
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7, err_msg=name)


@pytest.mark.parametrize(("shape", "axis"), [*CASES, ((64, 8), 1), ((33, 7, 3), -1)])
def test_gradient_without_affine_matches_finite_differences(cpu_backend, shape, axis):
    rng = np.random.default_rng(3)
    x, r = rng.standard_normal(shape), rng.standard_normal(shape)
    _, cache = batch_norm(
        x, None, None, None, None, training=True, axis=axis, backend=cpu_backend
    )
    dx = batch_norm_backward(r, cache)[0]
    if x.size > 200:  # spot-check a few elements of the larger cases
        idx = rng.choice(x.size, 20, replace=False)
        for i in idx:
            e = np.zeros(x.size)
            e[i] = STEP
            e = e.reshape(shape)
            up = loss(x + e, None, None, r, True, axis, cpu_backend, (None, None))
            down = loss(x - e, None, None, r, True, axis, cpu_backend, (None, None))
            assert abs(dx.reshape(-1)[i] - (up - down) / (2 * STEP)) < 1e-6
        return
    numeric = numeric_grad(
        lambda: loss(x, None, None, r, True, axis, cpu_backend, (None, None)), x, STEP
    )
    np.testing.assert_allclose(dx, numeric, rtol=1e-5, atol=1e-7)


def _per_channel(a: np.ndarray, axis: int) -> np.ndarray:
    moved = np.moveaxis(a, axis, -1)
    return moved.reshape(-1, moved.shape[-1])


@pytest.mark.parametrize("eps", [0.0, 1e-3])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize(
    ("shape", "axis"), [((64, 16), 1), ((8, 6, 5, 7), 1), ((8, 5, 7, 6), -1)]
)
def test_invariants_sum_dx_and_sum_dx_xhat_vanish(cpu_backend, shape, axis, dtype, eps):
    """``Σdx = 0`` always; ``Σdx·x̂ = 0`` exactly when eps = 0 — with eps > 0 what is
    left is ``γ·invstd·Σdy·x̂·eps/(σ² + eps)`` (since ``Σx̂² = M σ²/(σ² + eps)``)."""
    rng = np.random.default_rng(11)
    channels = shape[axis]
    x = (rng.standard_normal(shape) * 3 + 10).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    w, b = (
        rng.uniform(0.5, 2, channels).astype(dtype),
        rng.standard_normal(channels).astype(dtype),
    )
    _, cache = batch_norm(
        x, w, b, None, None, training=True, axis=axis, eps=eps, backend=cpu_backend
    )
    dx, dw, _ = batch_norm_backward(dy, cache)
    invstd = cache.invstd.astype(np.float64)
    xs = _per_channel(x.astype(np.float64), axis)
    xhat = (xs - cache.mean.astype(np.float64)) * invstd
    dxs = _per_channel(dx.astype(np.float64), axis)
    scale = np.sum(np.abs(dxs), axis=0) * np.abs(xhat).max()  # size without cancellation
    tol = 1e-12 if dtype == np.float64 else 1e-5
    var = 1.0 / invstd**2 - eps
    left = w * invstd * dw.astype(np.float64) * eps / (var + eps)
    assert np.all(np.abs(dxs.sum(axis=0)) <= tol * scale)
    assert np.all(np.abs((dxs * xhat).sum(axis=0) - left) <= tol * scale)

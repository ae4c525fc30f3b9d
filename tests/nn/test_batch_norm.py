"""Functional BatchNorm: semantics by hand, layouts, dtypes, errors, delegation.

Expected values here are written out in NumPy float64 from the definitions (biased
variance normalizes, unbiased variance enters ``running_var``, momentum is the new
batch's weight, ``momentum=None`` averages cumulatively), independent of torch.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from optkit._exec import array_api as reference
from optkit.nn.functional import batch_norm, batch_norm_backward


def data(shape, axis=1, dtype=np.float64, mean=2.0, std=3.0, seed=1234):
    """Reproducible data whose channels have different means (seeded per call)."""
    channels = shape[axis]
    view = [1] * len(shape)
    view[axis] = channels
    offsets = np.linspace(-1.0, 1.0, channels).reshape(view) * 5
    rng = np.random.default_rng((seed, *shape))
    return (rng.standard_normal(shape) * std + mean + offsets).astype(dtype)


def by_hand(x, axis, weight=None, bias=None, eps=1e-5, mean=None, var=None):
    """y from the definition, float64; batch statistics unless mean/var are given."""
    x = np.moveaxis(np.asarray(x, np.float64), axis, -1)
    flat = x.reshape(-1, x.shape[-1])
    mean = flat.mean(axis=0) if mean is None else mean
    var = flat.var(axis=0) if var is None else var
    y = (x - mean) / np.sqrt(var + eps)
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return np.moveaxis(y, -1, axis), flat.mean(axis=0), flat.var(axis=0, ddof=1)


def test_import_loads_neither_numba_nor_cupy():
    code = (
        "import sys, optkit, optkit.nn, optkit.nn.functional\n"
        "import optkit._exec.array_api, optkit._exec.cuda_source\n"
        "bad = [m for m in ('numba', 'cupy') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((6, 4), 1), ((5, 3, 7), 1), ((4, 3, 2, 5), 1), ((4, 2, 5, 3), -1), ((3, 4, 2), 0)],
)
def test_train_then_eval_match_the_definition(cpu_backend, shape, axis):
    rng = np.random.default_rng(57)
    channels = shape[axis]
    w, b = rng.uniform(0.5, 2, channels), rng.standard_normal(channels)
    rm, rv = rng.standard_normal(channels), rng.uniform(0.5, 2, channels)
    rm0, rv0 = rm.copy(), rv.copy()
    x = data(shape, axis)
    y, _ = batch_norm(
        x, w, b, rm, rv, training=True, momentum=0.2, axis=axis, backend=cpu_backend
    )
    want, mean, unbiased = by_hand(x, axis, w, b)
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rm, 0.8 * rm0 + 0.2 * mean, rtol=1e-13)
    np.testing.assert_allclose(rv, 0.8 * rv0 + 0.2 * unbiased, rtol=1e-13)
    x2 = data(shape, axis)
    y2, _ = batch_norm(x2, w, b, rm, rv, training=False, axis=axis, backend=cpu_backend)
    want2, _, _ = by_hand(x2, axis, w, b, mean=rm, var=rv)
    np.testing.assert_allclose(y2, want2, rtol=1e-12, atol=1e-12)


def test_momentum_none_is_the_cumulative_average(cpu_backend):
    shape, channels = (8, 3, 2), 3
    rm, rv = np.full(channels, 7.0), np.full(channels, 9.0)  # discarded by batch 1
    nbt = np.zeros((), np.int64)
    means, variances = [], []
    for _ in range(4):
        x = data(shape)
        batch_norm(x, None, None, rm, rv, training=True, momentum=None,
                   num_batches_tracked=nbt, backend=cpu_backend)  # fmt: skip
        _, mean, unbiased = by_hand(x, 1)
        means.append(mean)
        variances.append(unbiased)
        np.testing.assert_allclose(rm, np.mean(means, axis=0), rtol=1e-13)
        np.testing.assert_allclose(rv, np.mean(variances, axis=0), rtol=1e-13)
    assert nbt.shape == () and int(nbt) == 4


def test_num_batches_tracked_counts_training_steps_with_running_stats(cpu_backend):
    x, rm, rv = data((4, 2)), np.zeros(2), np.ones(2)
    nbt = np.zeros((), np.int64)
    for _ in range(3):
        batch_norm(
            x,
            None,
            None,
            rm,
            rv,
            training=True,
            num_batches_tracked=nbt,
            backend=cpu_backend,
        )
    batch_norm(
        x, None, None, rm, rv, training=False, num_batches_tracked=nbt, backend=cpu_backend
    )
    batch_norm(
        x,
        None,
        None,
        None,
        None,
        training=True,
        num_batches_tracked=nbt,
        backend=cpu_backend,
    )
    assert int(nbt) == 3


def test_no_affine_and_no_tracking(cpu_backend):
    x = data((7, 3, 4))
    y, cache = batch_norm(x, None, None, None, None, training=True, backend=cpu_backend)
    np.testing.assert_allclose(y, by_hand(x, 1)[0], rtol=1e-12, atol=1e-12)
    dx, dweight, dbias = batch_norm_backward(np.ones_like(x), cache)
    assert dweight is None and dbias is None
    np.testing.assert_allclose(dx, 0.0, atol=1e-12)


def test_weight_without_bias_and_bias_without_weight(cpu_backend):
    x, w, b = data((6, 3)), np.array([1.0, 2.0, 3.0]), np.array([0.5, -1.0, 2.0])
    y, cache = batch_norm(x, w, None, None, None, training=True, backend=cpu_backend)
    np.testing.assert_allclose(y, by_hand(x, 1, w)[0], rtol=1e-12)
    assert batch_norm_backward(np.ones_like(x), cache)[2] is None
    y, cache = batch_norm(x, None, b, None, None, training=True, backend=cpu_backend)
    np.testing.assert_allclose(y, by_hand(x, 1, None, b)[0], rtol=1e-12)
    assert batch_norm_backward(np.ones_like(x), cache)[1] is None


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtypes_are_kept(cpu_backend, dtype):
    x = data((16, 4, 3), dtype=dtype)
    w, b, rm, rv = (
        np.ones(4, dtype),
        np.zeros(4, dtype),
        np.zeros(4, dtype),
        np.ones(4, dtype),
    )
    y, cache = batch_norm(x, w, b, rm, rv, training=True, backend=cpu_backend)
    dx, dweight, dbias = batch_norm_backward(x.copy(), cache)
    assert (
        y.dtype == dx.dtype == dweight.dtype == dbias.dtype == rm.dtype == rv.dtype == dtype
    )
    np.testing.assert_allclose(y, by_hand(x, 1)[0], rtol=1e-4, atol=1e-5)


def test_float16_input_with_float32_statistics_and_parameters(cpu_backend):
    rng = np.random.default_rng(145)
    x = data((64, 5, 3), dtype=np.float16, mean=1.0, std=2.0)
    w = rng.uniform(0.5, 2, 5).astype(np.float32)
    b = rng.standard_normal(5).astype(np.float32)
    rm, rv = np.zeros(5, np.float32), np.ones(5, np.float32)
    y, cache = batch_norm(x, w, b, rm, rv, training=True, backend=cpu_backend)
    assert y.dtype == np.float16 and cache.mean.dtype == np.float64  # statistics: float64
    assert rm.dtype == rv.dtype == np.float32
    want, _, unbiased = by_hand(x.astype(np.float64), 1, w, b)
    np.testing.assert_allclose(y.astype(np.float64), want, rtol=2e-3, atol=4e-3)
    np.testing.assert_allclose(rv, 0.9 + 0.1 * unbiased, rtol=1e-6)
    dy = data((64, 5, 3), dtype=np.float16, mean=0.0, std=1.0)
    dx, dweight, dbias = batch_norm_backward(dy, cache)
    assert dx.dtype == np.float16 and dweight.dtype == dbias.dtype == np.float32
    dx64, dw64, db64 = batch_norm_backward(
        dy.astype(np.float64),
        batch_norm(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64),
                   None, None, training=True, backend="numpy")[1],
    )  # fmt: skip
    np.testing.assert_allclose(dx.astype(np.float64), dx64, rtol=1e-2, atol=3e-3)
    np.testing.assert_allclose(dbias, db64, rtol=1e-6)
    np.testing.assert_allclose(dweight, dw64, rtol=1e-4, atol=1e-4)


def test_any_channel_axis_equals_moving_it_to_axis_1(cpu_backend):
    rng = np.random.default_rng(169)
    x = data((3, 4, 5, 2), axis=2)
    w, b = rng.standard_normal(5), rng.standard_normal(5)
    dy = rng.standard_normal(x.shape)
    y, cache = batch_norm(x, w, b, None, None, training=True, axis=2, backend=cpu_backend)
    dx, dw, db = batch_norm_backward(dy, cache)
    moved = np.ascontiguousarray(np.moveaxis(x, 2, 1))
    y1, cache1 = batch_norm(moved, w, b, None, None, training=True, backend=cpu_backend)
    dx1, dw1, db1 = batch_norm_backward(np.ascontiguousarray(np.moveaxis(dy, 2, 1)), cache1)
    np.testing.assert_allclose(np.moveaxis(y1, 1, 2), y, rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(np.moveaxis(dx1, 1, 2), dx, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(dw1, dw, rtol=1e-12)
    np.testing.assert_allclose(db1, db, rtol=1e-12)


def test_non_contiguous_input_equals_its_copy(cpu_backend):
    rng = np.random.default_rng(184)
    base = data((6, 8, 5))
    x = base[:, ::2, 1:]  # a strided view
    dy = rng.standard_normal(x.shape)
    y, cache = batch_norm(x, None, None, None, None, training=True, backend=cpu_backend)
    dx = batch_norm_backward(dy, cache)[0]
    y2, cache2 = batch_norm(
        x.copy(), None, None, None, None, training=True, backend=cpu_backend
    )
    np.testing.assert_array_equal(y, y2)
    np.testing.assert_array_equal(dx, batch_norm_backward(dy.copy(), cache2)[0])


def test_backward_uses_the_weight_of_the_forward(cpu_backend):
    x, w = data((5, 2)), np.array([2.0, 3.0])
    _, cache = batch_norm(x, w, None, None, None, training=True, backend=cpu_backend)
    dx = batch_norm_backward(np.cos(x), cache)[0]
    w[...] = 100.0  # e.g. an optimizer step between forward and backward
    np.testing.assert_array_equal(batch_norm_backward(np.cos(x), cache)[0], dx)


# ----------------------------------------------------------------------------- errors
@pytest.mark.parametrize("shape", [(1, 3), (1, 3, 1), (1, 3, 1, 1)])
def test_one_value_per_channel_in_training_raises_like_torch(cpu_backend, shape):
    x, rm, rv = np.ones(shape), np.zeros(3), np.ones(3)
    nbt = np.zeros((), np.int64)
    with pytest.raises(
        ValueError, match="Expected more than 1 value per channel when training"
    ):
        batch_norm(
            x,
            None,
            None,
            rm,
            rv,
            training=True,
            num_batches_tracked=nbt,
            backend=cpu_backend,
        )
    assert rm.tolist() == [0.0] * 3 and rv.tolist() == [1.0] * 3 and int(nbt) == 0
    y, _ = batch_norm(
        x, None, None, rm, rv, training=False, backend=cpu_backend
    )  # eval is fine
    np.testing.assert_allclose(y, 1.0 / np.sqrt(1.0 + 1e-5))


BAD_CALLS = [
    (dict(weight=np.ones(4)), ValueError, r"weight has shape \(4,\), expected \(3,\)"),
    (dict(bias=np.ones((3, 1))), ValueError, "bias has shape"),
    (dict(running_var=None), ValueError, "running_mean and running_var"),
    (
        dict(running_var=np.ones(2), running_mean=np.zeros(2)),
        ValueError,
        "running_mean has",
    ),
    (dict(eps=-1e-3), ValueError, "eps=-0.001"),
    (dict(momentum=1.5), ValueError, "momentum=1.5"),
    (dict(momentum=None, num_batches_tracked=None), ValueError, "num_batches_tracked"),
    (dict(num_batches_tracked=3), TypeError, "0-d integer array"),
    (dict(num_batches_tracked=np.zeros(())), TypeError, "0-d integer array"),
    (dict(training=False, running_mean=None, running_var=None), ValueError, "eval mode"),
    (dict(axis=3), ValueError, "axis=3 is out of range"),
    (dict(x=np.ones(5)), ValueError, "at least 2 dimensions"),
    (dict(x=np.ones((4, 3), np.int64)), TypeError, "float"),
    (dict(x=np.ones((0, 3))), ValueError, "empty"),
]


@pytest.mark.parametrize(("change", "error", "match"), BAD_CALLS)
def test_bad_calls_raise_and_modify_nothing(cpu_backend, change, error, match):
    args = dict(
        x=data((4, 3)), weight=None, bias=None, running_mean=np.zeros(3),
        running_var=np.ones(3), training=True, momentum=0.1, eps=1e-5, axis=1,
        num_batches_tracked=np.zeros((), np.int64),
    )  # fmt: skip
    args.update(change)
    before = {k: np.copy(v) for k, v in args.items() if isinstance(v, np.ndarray)}
    x = args.pop("x")
    with pytest.raises(error, match=match):
        batch_norm(x, **args, backend=cpu_backend)
    args["x"] = x
    for name, value in before.items():
        np.testing.assert_array_equal(args[name], value, err_msg=name)


def test_backward_checks_dy(cpu_backend):
    x = data((4, 3))
    _, cache = batch_norm(x, None, None, None, None, training=True, backend=cpu_backend)
    with pytest.raises(ValueError, match=r"dy has shape \(3, 4\)"):
        batch_norm_backward(np.ones((3, 4)), cache)
    with pytest.raises(TypeError, match="dy has dtype float32"):
        batch_norm_backward(np.ones((4, 3), np.float32), cache)


def test_explicit_backend_with_foreign_arrays_raises():
    with pytest.raises(TypeError, match="needs cupy arrays"):
        batch_norm(np.ones((4, 3)), training=True, backend="cupy")


# ----------------------------------------------------------------------------- delegation
def test_numba_backend_never_calls_the_reference(monkeypatch):
    pytest.importorskip("numba")

    def boom(*args, **kwargs):
        raise AssertionError("the reference ran under backend='numba'")

    for name in ("update", "elementwise", "reduce"):
        monkeypatch.setattr(reference, name, boom)
    x = data((9, 4, 3))
    _, cache = batch_norm(x, np.ones(4), np.zeros(4), np.zeros(4), np.ones(4),
                          training=True, backend="numba")  # fmt: skip
    batch_norm_backward(np.ones_like(x), cache)
    assert cache.backend.name == "numba"


def test_reference_runs_under_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    x_np = data((6, 3, 4), dtype=np.float32)
    x = xp.asarray(x_np)
    rm, rv = xp.zeros(3, dtype=xp.float32), xp.ones(3, dtype=xp.float32)
    nbt = xp.zeros((), dtype=xp.int64)
    y, cache = batch_norm(x, None, None, rm, rv, training=True, axis=1,
                          num_batches_tracked=nbt, backend="array_api")  # fmt: skip
    dx, _, _ = batch_norm_backward(xp.ones_like(x), cache)
    assert type(y) is type(x) and y.dtype == xp.float32 and dx.dtype == xp.float32
    assert int(nbt) == 1
    np.testing.assert_allclose(np.asarray(y), by_hand(x_np, 1)[0], rtol=1e-5, atol=1e-5)
    y_eval, _ = batch_norm(
        x, None, None, rm, rv, training=False, axis=-2, backend="array_api"
    )
    assert y_eval.shape == x.shape


@pytest.mark.parametrize("frozen", ["running_mean", "running_var", "num_batches_tracked"])
def test_read_only_running_statistics_modify_nothing(cpu_backend, frozen):
    """All or nothing: a read-only running_var is found before running_mean and the
    batch count move (they used to be updated first)."""
    x = data((8, 3))
    arrays = {
        "running_mean": np.zeros(3),
        "running_var": np.ones(3),
        "num_batches_tracked": np.zeros((), np.int64),
    }
    arrays[frozen].flags.writeable = False
    before = {k: v.copy() for k, v in arrays.items()}
    with pytest.raises(ValueError, match=f"{frozen} cannot be updated in place"):
        batch_norm(x, None, None, arrays["running_mean"], arrays["running_var"],
                   training=True, num_batches_tracked=arrays["num_batches_tracked"],
                   backend=cpu_backend)  # fmt: skip
    for k, v in arrays.items():
        np.testing.assert_array_equal(v, before[k])


@pytest.mark.parametrize(
    ("shape", "axis"), [((32, 6), 1), ((4, 3, 5, 6), 1), ((4, 5, 6, 3), -1), ((300, 7), -1)]
)
def test_every_backend_equals_the_reference(backend, shape, axis):
    """One definition (the rules of optkit.rules.batch_norm), every backend: outputs,
    gradients and running statistics agree with the NumPy reference."""
    x = data(shape, axis)
    channels = shape[axis]
    rng = np.random.default_rng(11)
    w, b = rng.uniform(0.5, 2, channels), rng.standard_normal(channels)
    dy = rng.standard_normal(shape)
    results = []
    for tb, name in ((None, "numpy"), (backend, backend.optkit)):
        put = (lambda a: np.array(a, copy=True)) if tb is None else tb.asarray
        get = (lambda a: np.asarray(a)) if tb is None else tb.to_numpy
        rm, rv = put(np.zeros(channels)), put(np.ones(channels))
        y, cache = batch_norm(put(x), put(w), put(b), rm, rv, training=True, axis=axis,
                              backend=name)  # fmt: skip
        grads = batch_norm_backward(put(dy), cache)
        results.append([get(a) for a in (y, *grads, rm, rv)])
    for got, want in zip(*reversed(results)):
        np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)

"""Gradient clipping: bounds and identities, thresholds, numerics at the float64
limits, every backend (one fixture), reproducibility, and torch parity."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optkit as ok
from optkit._exec import array_api as reference_executor
from optkit._exec import numba as numba_executor
from optkit._exec.numba_source import BLOCK
from optkit.clipping import clip_by_global_norm, clip_by_norm, clip_by_value, global_norm

HAS_TORCH = importlib.util.find_spec("torch") is not None
DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 2e-6, np.float64: 1e-13}


def exact_norm(arrays) -> float:
    """Global 2-norm in float64, scaled so that nothing overflows."""
    flat = np.concatenate([np.asarray(a, np.float64).ravel() for a in arrays])
    top = np.max(np.abs(flat)) if flat.size else 0.0
    return 0.0 if top == 0 else float(top * np.sqrt(np.sum((flat / top) ** 2)))


def structures(dtype, rng):
    """The same three arrays as an array list, a dict, and a FlatParams (+ flat list)."""
    w = rng.standard_normal((3, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    s = np.asarray(rng.standard_normal(), dtype=dtype)
    fp = ok.FlatParams({"w": w, "b": b, "s": s})
    return {
        "array": (w.copy(), [w]),
        "list": ([w.copy(), b.copy(), s.copy()], [w, b, s]),
        "dict": ({"w": w.copy(), "b": b.copy(), "s": s.copy()}, [w, b, s]),
        "flat": (fp, [w, b, s]),
    }


def leaves(grads):
    if isinstance(grads, ok.FlatParams):
        return [grads[k] for k in grads.keys()]
    if isinstance(grads, dict):
        return list(grads.values())
    if isinstance(grads, list):
        return grads
    return [grads]


# ------------------------------------------------------------------ bounds and identities
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["array", "list", "dict", "flat"])
def test_clip_by_value_large_threshold_is_identity(cpu_backend, dtype, kind):
    grads, originals = structures(dtype, np.random.default_rng(0))[kind]
    clip_by_value(grads, 1e6, backend=cpu_backend)
    for got, want in zip(leaves(grads), originals):
        assert got.dtype == want.dtype
        np.testing.assert_array_equal(got, want, strict=True)


@pytest.mark.parametrize("dtype", [np.float16, *DTYPES])
def test_clip_by_value_matches_np_clip(cpu_backend, dtype):
    rng = np.random.default_rng(1)
    g = (3 * rng.standard_normal(1000)).astype(dtype)
    g[:3] = [np.nan, np.inf, -np.inf]
    want = np.clip(g, -1.5, 1.5)
    clip_by_value(g, 1.5, backend=cpu_backend)
    np.testing.assert_array_equal(g, want, strict=True)
    assert np.isnan(g[0]) and g[1] == dtype(1.5) and g[2] == dtype(-1.5)


def test_clip_by_value_threshold_beyond_dtype_keeps_inf(cpu_backend):
    g = np.array([np.inf, -np.inf, 1e38, np.nan], np.float32)
    want = g.copy()
    clip_by_value(g, 1e300, backend=cpu_backend)
    np.testing.assert_array_equal(g, want, strict=True)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["array", "list", "dict", "flat"])
def test_global_norm_bounded_direction_kept_idempotent(cpu_backend, dtype, kind):
    grads, originals = structures(dtype, np.random.default_rng(2))[kind]
    before = [np.array(a, copy=True) for a in leaves(grads)]
    norm = clip_by_global_norm(grads, 0.5, backend=cpu_backend)
    assert isinstance(norm, float)
    assert norm == pytest.approx(exact_norm(originals), rel=RTOL[dtype])
    after = leaves(grads)
    assert exact_norm(after) <= 0.5 * (1 + 1e-6)
    coef = 0.5 / norm  # direction kept: one positive factor for every array
    for a, b in zip(after, before):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b * coef, rtol=4 * np.finfo(dtype).eps)
    snapshot = [np.array(a, copy=True) for a in after]
    again = clip_by_global_norm(grads, 0.5, backend=cpu_backend)
    assert again == pytest.approx(0.5, rel=1e-6)
    for a, b in zip(leaves(grads), snapshot):
        np.testing.assert_allclose(a, b, rtol=4 * np.finfo(dtype).eps, atol=0)


@pytest.mark.parametrize("fn", [clip_by_global_norm, clip_by_norm])
def test_under_the_limit_is_bitwise_untouched(cpu_backend, fn):
    g = {"w": np.array([0.3, -0.4], np.float32), "b": np.array([1e-3], np.float32)}
    want = {k: v.copy() for k, v in g.items()}
    fn(g, 10.0, backend=cpu_backend)
    for k in g:
        np.testing.assert_array_equal(g[k], want[k], strict=True)


@pytest.mark.parametrize("dtype", DTYPES)
def test_clip_by_norm_per_array(cpu_backend, dtype):
    rng = np.random.default_rng(3)
    grads = {
        "big": 10 * rng.standard_normal(7).astype(dtype),
        "small": np.full(2, 0.1, dtype),
    }
    originals = {k: v.copy() for k, v in grads.items()}
    norms = clip_by_norm(grads, 1.0, backend=cpu_backend)
    assert list(norms) == ["big", "small"]
    for k in grads:
        assert norms[k] == pytest.approx(exact_norm([originals[k]]), rel=RTOL[dtype])
    assert exact_norm([grads["big"]]) <= 1 + 1e-6
    np.testing.assert_allclose(grads["big"], originals["big"] / norms["big"], rtol=1e-6)
    np.testing.assert_array_equal(grads["small"], originals["small"])


def test_clip_by_norm_returns_the_structure(cpu_backend):
    assert clip_by_norm(np.array([3.0, 4.0]), 1.0, backend=cpu_backend) == 5.0
    assert clip_by_norm([np.ones(4), np.zeros(1)], 1.0, backend=cpu_backend) == [2.0, 0.0]
    fp = ok.FlatParams({"w": np.full(4, 2.0), "b": np.ones(1)})
    assert clip_by_norm(fp, 1.0, backend=cpu_backend) == {"w": 4.0, "b": 1.0}
    np.testing.assert_allclose(fp["w"], 0.5)  # per named view, not per buffer
    np.testing.assert_array_equal(fp["b"], 1.0)


def test_non_contiguous_zero_d_and_empty(cpu_backend):
    base = np.arange(24, dtype=np.float64).reshape(4, 6)
    view = base[:, ::2]
    scalar = np.array(-7.0)
    empty = np.zeros((0, 3))
    want = np.concatenate([view.ravel(), [-7.0]])
    norm = clip_by_global_norm([view, scalar, empty], 1.0, backend=cpu_backend)
    assert norm == pytest.approx(np.linalg.norm(want), rel=1e-14)
    np.testing.assert_allclose(np.concatenate([view.ravel(), [scalar]]), want / norm)
    np.testing.assert_array_equal(base[:, 1::2], np.arange(24.0).reshape(4, 6)[:, 1::2])
    clip_by_value(view, 0.5, backend=cpu_backend)
    assert view.max() <= 0.5
    assert clip_by_global_norm(empty, 1.0, backend=cpu_backend) == 0.0


# ------------------------------------------------------------------ numerics
@pytest.mark.parametrize(
    ("dtype", "scale"),
    [(np.float32, 1e20), (np.float32, 1e-30), (np.float64, 1e200), (np.float64, 1e-200)],
)
def test_global_norm_does_not_overflow_or_underflow(cpu_backend, dtype, scale):
    rng = np.random.default_rng(4)
    unit = [rng.standard_normal(1000), rng.standard_normal((10, 10))]
    grads = [(scale * u).astype(dtype) for u in unit]
    want = scale * exact_norm([g.astype(np.float64) / scale for g in grads])
    norm = clip_by_global_norm(grads, 1.0, backend=cpu_backend)
    assert np.isfinite(norm) and norm > 0
    assert norm == pytest.approx(want, rel=RTOL[dtype])
    if norm > 1.0:
        assert exact_norm(grads) == pytest.approx(1.0, rel=1e-6)


def test_global_norm_near_float64_limits(cpu_backend):
    big = np.array([1e308, -5e307, 2e307])
    norm = clip_by_global_norm(big, 1.0, backend=cpu_backend)
    assert norm == pytest.approx(1e308 * np.sqrt(1 + 0.25 + 0.04), rel=1e-14)
    np.testing.assert_allclose(big, [1e308 / norm, -5e307 / norm, 2e307 / norm])
    beyond = np.array([1.5e308, 1.5e308])  # the true norm exceeds float64's range
    assert clip_by_global_norm(beyond, 1.0, backend=cpu_backend) == np.inf
    np.testing.assert_array_equal(beyond, 1.5e308)
    tiny = np.array([5e-324, 5e-324, 0.0, 1e-310])
    norm = clip_by_global_norm(tiny, 1.0, backend=cpu_backend)
    assert norm == pytest.approx(exact_norm([tiny]), rel=1e-6)


def test_mixed_dtypes_one_norm(cpu_backend):
    grads = [np.full(3, 2.0, np.float32), np.full(1, 1e200, np.float64)]
    norm = clip_by_global_norm(grads, 1.0, backend=cpu_backend)
    assert norm == pytest.approx(1e200)
    assert grads[0].dtype == np.float32 and grads[1][0] == pytest.approx(1.0)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nonfinite_norm_leaves_grads_untouched(cpu_backend, bad):
    g = [np.array([1.0, bad, 3.0], np.float32), np.ones(2, np.float32)]
    want = [a.copy() for a in g]
    norm = clip_by_global_norm(g, 1.0, backend=cpu_backend)
    assert np.isnan(norm) if np.isnan(bad) else norm == np.inf
    for a, b in zip(g, want):
        np.testing.assert_array_equal(a, b)


def test_numba_parallel_equals_serial_bitwise(monkeypatch):
    """Fixed blocks: the threaded sum equals the serial one bit for bit."""
    rng = np.random.default_rng(5)
    g32 = rng.standard_normal(3 * BLOCK + 17).astype(np.float32)
    monkeypatch.setattr(numba_executor, "REDUCE_THRESHOLD", 1 << 40)
    serial = global_norm([g32], backend="numba")
    monkeypatch.setattr(numba_executor, "REDUCE_THRESHOLD", 1)
    parallel = global_norm([g32], backend="numba")
    assert serial == parallel
    assert serial == pytest.approx(exact_norm([g32]), rel=1e-14)
    a, b = g32.copy(), g32.copy()
    clip_by_global_norm(a, 1.0, backend="numba")
    monkeypatch.setattr(numba_executor, "REDUCE_THRESHOLD", 1 << 40)
    clip_by_global_norm(b, 1.0, backend="numba")
    np.testing.assert_array_equal(a, b)


def test_numba_norm_independent_of_thread_count():
    import numba

    g = np.random.default_rng(6).standard_normal(1 << 17)
    threads = numba.get_num_threads()
    results = []
    try:
        for n in sorted({1, threads}):
            numba.set_num_threads(n)
            results.append(global_norm([g], backend="numba"))
            results.append(global_norm([g], backend="numba"))
    finally:
        numba.set_num_threads(threads)
    assert len(set(results)) == 1


def test_numba_delegates_never_calls_reference(monkeypatch):
    def boom(*args, **kwargs):
        raise AssertionError("the reference executor ran under backend='numba'")

    for name in ("update", "elementwise", "reduce"):
        monkeypatch.setattr(reference_executor, name, boom)
    g = [np.ones(10, np.float32), np.ones(3)]
    clip_by_value(g, 0.5, backend="numba")
    clip_by_norm(g, 0.1, backend="numba")
    assert clip_by_global_norm(g, 0.01, backend="numba") > 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_every_backend_clips_like_the_definition(backend, dtype):
    """One definition (the rules), every backend: norm, direction, value clipping."""
    rng = np.random.default_rng(9)
    host = [(3.0 * rng.standard_normal(n)).astype(dtype) for n in (40, 7)]
    grads = [backend.asarray(h) for h in host]
    norm = clip_by_global_norm(grads, 1.0, backend=backend.optkit)
    want = exact_norm(host)
    assert float(norm) == pytest.approx(want, rel=RTOL[dtype])
    for g, h in zip(grads, host):
        np.testing.assert_allclose(backend.to_numpy(g), h / want, rtol=4 * RTOL[dtype])
    norms = clip_by_norm([backend.asarray(h) for h in host], 0.5, backend=backend.optkit)
    assert [float(n) for n in norms] == pytest.approx([exact_norm([h]) for h in host],
                                                      rel=RTOL[dtype])  # fmt: skip
    clipped = backend.asarray(host[0])
    clip_by_value(clipped, 0.7, backend=backend.optkit)
    np.testing.assert_array_equal(backend.to_numpy(clipped), np.clip(host[0], -0.7, 0.7))


def test_every_backend_survives_the_float64_range(backend):
    """Blue's scaled sums (LAPACK's dnrm2) where float64 squares overflow/underflow."""
    for scale in (1e200, 1e-200):
        g = backend.asarray(np.array([3.0, 4.0]) * scale)
        assert float(global_norm(g, backend=backend.optkit)) == pytest.approx(5 * scale)


@settings(max_examples=25, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=4),
    exponent=st.integers(-30, 30),
    max_norm=st.floats(1e-3, 1e3),
    seed=st.integers(0, 2**32 - 1),
)
def test_backends_agree_hypothesis(sizes, exponent, max_norm, seed):
    rng = np.random.default_rng(seed)
    grads = [(rng.standard_normal(n) * 10.0**exponent).astype(np.float32) for n in sizes]
    copies = [g.copy() for g in grads]
    n1 = clip_by_global_norm(grads, max_norm, backend="numba")
    n2 = clip_by_global_norm(copies, max_norm, backend="numpy")
    assert n1 == pytest.approx(n2, rel=1e-5, abs=0)
    for a, b in zip(grads, copies):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=0)


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize("value", [0.0, -1.0, np.nan, -np.inf])
@pytest.mark.parametrize(
    ("fn", "name"),
    [
        (clip_by_value, "threshold"),
        (clip_by_norm, "max_norm"),
        (clip_by_global_norm, "max_norm"),
    ],
)
def test_non_positive_threshold_raises(fn, name, value):
    g = np.ones(3)
    with pytest.raises(ValueError, match=f"{name}={value!r}"):
        fn(g, value)
    np.testing.assert_array_equal(g, 1.0)


@pytest.mark.parametrize("value", ["1", None, True, [1.0]])
def test_threshold_type_checked(value):
    with pytest.raises(TypeError, match="threshold"):
        clip_by_value(np.ones(3), value)


def test_bad_grads_raise_before_writing():
    good = np.full(3, 5.0)
    with pytest.raises(TypeError, match="parameter '1'"):
        clip_by_value([good, np.ones(3, np.int64)], 1.0)
    np.testing.assert_array_equal(good, 5.0)
    with pytest.raises(TypeError, match="needs cupy arrays"):
        clip_by_value(np.ones(3), 1.0, backend="cupy")
    frozen = np.ones(3)
    frozen.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        clip_by_global_norm([good, frozen], 1.0)
    np.testing.assert_array_equal(good, 5.0)


@pytest.mark.torch
@pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_global_norm_matches_torch(cpu_backend, dtype, max_norm):
    import torch

    rng = np.random.default_rng(7)
    grads = [rng.standard_normal(s).astype(dtype) for s in ((64, 32), (32,), (5, 5, 5))]
    tensors = [torch.zeros(g.shape, dtype=torch.from_numpy(g).dtype) for g in grads]
    for t, g in zip(tensors, grads):
        t.grad = torch.from_numpy(g.copy())
    want = float(torch.nn.utils.clip_grad_norm_(tensors, max_norm))
    norm = clip_by_global_norm(grads, max_norm, backend=cpu_backend)
    rtol = RTOL[dtype] * 10
    assert norm == pytest.approx(want, rel=rtol)
    # torch scales by max/(norm + 1e-6) where we scale by max/norm
    stabilizer = 1e-6 / norm if norm > max_norm else 0.0
    for g, t in zip(grads, tensors):
        np.testing.assert_allclose(g, t.grad.numpy(), rtol=rtol + stabilizer, atol=0)


def test_float16_global_norm_does_not_overflow(cpu_backend):
    g = np.full(100_000, 0.01, np.float16)
    norm = ok.clip_by_global_norm([g], 1.0, backend=cpu_backend)
    assert float(norm) == pytest.approx(
        np.sqrt(100_000) * float(np.float16(0.01)), rel=1e-3
    )
    assert float(np.linalg.norm(g.astype(np.float64))) <= 1.0 + 1e-3

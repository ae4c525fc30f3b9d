"""BatchNorm's generated Numba loops: accuracy, determinism, parallel path, layouts.

* Accuracy: float32 input of mean 100 (and 1e4), standard deviation 1 keeps the
  variance to 1e-5 relative against float64 (one-pass shifted sums with float64
  accumulators; the naive float32 ``E[x²] − E[x]²`` is shown to fail).
* Determinism: the same input gives bitwise identical results for a fixed thread
  count (static partition, partials merged in thread order).
* The parallel drivers, the serial chunks and the "super-row" path of
  channels-last data with few channels all agree with the reference.
"""

from __future__ import annotations

import platform

import numpy as np
import pytest

numba = pytest.importorskip("numba")

from optkit._exec import numba as numba_exec  # noqa: E402
from optkit.nn.functional import batch_norm, batch_norm_backward  # noqa: E402

ACCURACY_CASES = [((8192, 64), 1), ((16, 32, 24, 24), 1), ((16, 24, 24, 32), -1)]


@pytest.fixture
def parallel_always(monkeypatch):
    """Route every call through the parallel drivers."""
    monkeypatch.setattr(numba_exec, "REDUCE_THRESHOLD", 0)


def unbiased_var(x, axis, backend):
    """running_var after one batch with momentum 1: the unbiased batch variance."""
    channels = x.shape[axis]
    rm, rv = np.zeros(channels, np.float64), np.zeros(channels, np.float64)
    batch_norm(
        x, None, None, rm, rv, training=True, momentum=1.0, axis=axis, backend=backend
    )
    return rm, rv


@pytest.mark.parametrize("mean", [100.0, 1e4])
@pytest.mark.parametrize(("shape", "axis"), ACCURACY_CASES)
@pytest.mark.parametrize("backend_name", ["numba", "numpy"])
def test_variance_of_float32_with_a_large_mean(backend_name, shape, axis, mean):
    x = (np.random.default_rng(5).standard_normal(shape) + mean).astype(np.float32)
    moved = np.moveaxis(x.astype(np.float64), axis, -1).reshape(-1, shape[axis])
    truth = moved.var(axis=0, ddof=1)
    rm, rv = unbiased_var(x, axis, backend_name)
    assert np.max(np.abs(rv - truth) / truth) <= 1e-5
    assert np.max(np.abs(rm - moved.mean(axis=0)) / mean) <= 1e-6


def test_naive_float32_formula_would_fail_the_accuracy_target():
    x = (np.random.default_rng(5).standard_normal((8192, 64)) + 100.0).astype(np.float32)
    naive = (x * x).mean(axis=0) - x.mean(axis=0) ** 2
    truth = x.astype(np.float64).var(axis=0)
    assert np.max(np.abs(naive - truth) / truth) > 1e-3


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.float16])
@pytest.mark.parametrize(
    ("shape", "axis"), [((1000, 48), 1), ((6, 8, 33, 31), 1), ((9, 7, 30, 5), -1)]
)
def test_parallel_path_matches_the_reference(parallel_always, shape, axis, dtype):
    rng = np.random.default_rng(2)
    channels = shape[axis]
    x = (rng.standard_normal(shape) * 2 + 3).astype(dtype)
    dy = rng.standard_normal(shape).astype(dtype)
    pdt = np.float64 if dtype == np.float64 else np.float32
    w, b = (
        rng.uniform(0.5, 2, channels).astype(pdt),
        rng.standard_normal(channels).astype(pdt),
    )
    out = {}
    for name in ("numba", "numpy"):
        rm, rv = np.zeros(channels, pdt), np.ones(channels, pdt)
        y, cache = batch_norm(x, w, b, rm, rv, training=True, axis=axis, backend=name)
        out[name] = (y, *batch_norm_backward(dy, cache), rm, rv)
    tol = {np.float64: 1e-11, np.float32: 2e-5, np.float16: 4e-3}[dtype]
    for got, want in zip(out["numba"], out["numpy"]):
        assert got.dtype == want.dtype
        scale = float(np.max(np.abs(want.astype(np.float64))))
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64),
                                   rtol=tol, atol=tol * scale)  # fmt: skip


@pytest.mark.parametrize(
    ("rows", "channels"), [(13, 3), (1000, 7), (64, 100), (5, 600), (2, 1)]
)
def test_super_rows_of_channels_last_data(parallel_always, rows, channels):
    """Few channels: rows are folded into super-rows, leftovers run separately."""
    rng = np.random.default_rng(rows)
    x = rng.standard_normal((rows, channels)) * 3 + 1
    dy = rng.standard_normal((rows, channels))
    w = rng.uniform(0.5, 2, channels)
    results = {}
    for name in ("numba", "numpy"):
        y, cache = batch_norm(x, w, None, None, None, training=True, axis=-1, backend=name)
        results[name] = (y, *batch_norm_backward(dy, cache)[:2])
    for got, want in zip(results["numba"], results["numpy"]):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("threshold", [0, 1 << 62], ids=["parallel", "serial"])
@pytest.mark.parametrize(
    ("shape", "axis"), [((4096, 96), 1), ((8, 16, 30, 30), 1), ((8, 30, 30, 16), -1)]
)
def test_same_input_gives_bitwise_identical_results(monkeypatch, threshold, shape, axis):
    monkeypatch.setattr(numba_exec, "REDUCE_THRESHOLD", threshold)
    rng = np.random.default_rng(9)
    x = (rng.standard_normal(shape) + 50).astype(np.float32)
    dy = rng.standard_normal(shape).astype(np.float32)
    channels = shape[axis]
    runs = []
    for _ in range(3):
        rm, rv = np.zeros(channels, np.float32), np.ones(channels, np.float32)
        y, cache = batch_norm(
            x, None, None, rm, rv, training=True, axis=axis, backend="numba"
        )
        runs.append(
            (y, *batch_norm_backward(dy, cache)[:1], rm, rv, cache.mean, cache.invstd)
        )
    for other in runs[1:]:
        for a, b in zip(runs[0], other):
            assert a.tobytes() == b.tobytes()


def test_thread_count_changes_only_rounding(monkeypatch):
    """A different thread count may change the last bits, never more."""
    monkeypatch.setattr(numba_exec, "REDUCE_THRESHOLD", 0)
    x = (np.random.default_rng(4).standard_normal((3000, 40)) + 7).astype(np.float32)
    results = []
    saved = numba.get_num_threads()
    try:
        for threads in sorted({1, saved}):
            numba.set_num_threads(threads)
            results.append(
                batch_norm(x, None, None, None, None, training=True, backend="numba")[0]
            )
    finally:
        numba.set_num_threads(saved)
    np.testing.assert_allclose(results[0], results[-1], rtol=1e-6, atol=1e-6)


def test_float16_special_values_propagate():
    x = np.array([[1.0, 2.0], [3.0, np.inf], [5.0, 4.0]], np.float16)
    y, _ = batch_norm(x, None, None, None, None, training=True, backend="numba")
    assert y.dtype == np.float16
    assert np.all(np.isfinite(y[:, 0])) and np.all(np.isnan(y[:, 1]))


def test_numba_rejects_unsupported_dtypes():
    x = np.ones((4, 3), np.longdouble)
    if x.dtype == np.float64:
        pytest.skip("longdouble is float64 here")
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        batch_norm(x, None, None, None, None, training=True, backend="numba")


@pytest.mark.skipif(platform.machine() not in ("x86_64", "AMD64"), reason="x86 SIMD check")
def test_normalize_loop_is_vectorized():
    """The generated rows loop of the normalize pass compiles to packed SIMD code."""
    from optkit._exec.numba_source import Plan
    from optkit.rules.batch_norm import scale_offset

    x = np.ones((64, 32), np.float32)
    batch_norm(x, None, None, None, None, training=True, axis=-1, backend="numba")
    module = numba_exec._module(Plan(scale_offset, "map", "rows", bind=()))
    opts = {"error_model": "numpy", "fastmath": set(numba_exec.FASTMATH)}
    fresh = numba.njit(**opts)(
        module.module.serial.py_func
    )  # cached code cannot be inspected
    fresh(x, np.empty_like(x), np.ones(32), np.zeros(32), np.zeros(0))
    asm = fresh.inspect_asm(fresh.signatures[0])
    assert "ymm" in asm or "zmm" in asm

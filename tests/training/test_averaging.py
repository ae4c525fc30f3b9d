"""Polyak averaging: C9 (window, tail, EMA), the optimizer gate, swapping, state, E1."""

from __future__ import annotations

import numpy as np
import pytest
from _support.configs import FakeOptimizer, feed, polyak_trajectory

import optkit as ok
from optkit.averaging import PolyakAverage

TOL = {np.float32: {"rtol": 1e-6, "atol": 1e-6}, np.float64: {"rtol": 1e-14, "atol": 1e-14}}


def mean_of(iterates: list[dict], key: str) -> np.ndarray:
    return np.mean([it[key].astype(np.float64) for it in iterates], axis=0)


# ------------------------------------------------------------------ definitions
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("window", [1, 3, 8])
def test_window_is_exact_mean_of_last_n(cpu_backend, dtype, window):
    iterates = polyak_trajectory(20, dtype)
    params = {k: np.zeros_like(v) for k, v in iterates[0].items()}
    avg = PolyakAverage(params, "window", window=window, backend=cpu_backend)
    for k in range(1, len(iterates) + 1):
        feed(avg, params, iterates[k - 1 : k])
        last = iterates[max(0, k - window) : k]
        assert avg.count == len(last)
        for key in params:
            got = avg.average[key]
            assert got.dtype == dtype and got.shape == params[key].shape
            want = mean_of(last, key).astype(dtype)
            np.testing.assert_allclose(got, want, **TOL[dtype])


def test_window_mean_is_correctly_rounded_float32(cpu_backend):
    # values whose float32 running sum would lose the small parts
    values = [np.float32(1e8), np.float32(1.0), np.float32(-1e8), np.float32(3.0)]
    p = np.zeros(1, np.float32)
    avg = PolyakAverage(p, "window", window=4, backend=cpu_backend)
    for v in values:
        p[...] = v
        avg.update()
    assert avg.average[0] == np.float32(1.0)  # (1e8 + 1 - 1e8 + 3) / 4


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ema_copies_first_then_decays(cpu_backend, dtype):
    iterates = polyak_trajectory(6, dtype, seed=1)
    params = {k: np.zeros_like(v) for k, v in iterates[0].items()}
    d = 0.9
    avg = PolyakAverage(params, "ema", decay=d, backend=cpu_backend)
    feed(avg, params, iterates[:1])
    for key in params:
        np.testing.assert_array_equal(avg.average[key], iterates[0][key], strict=True)
    want = {k: v.astype(np.float64) for k, v in iterates[0].items()}
    for it in iterates[1:]:
        feed(avg, params, [it])
        for key in params:
            want[key] = d * want[key] + (1 - d) * it[key]
            np.testing.assert_allclose(avg.average[key], want[key], **TOL[dtype])


def test_ema_decay_zero_tracks_params_exactly(cpu_backend):
    p = np.zeros(5)
    avg = PolyakAverage(p, "ema", decay=0.0, backend=cpu_backend)
    for v in (1e20, 1.0, -3.5):
        p[...] = v
        avg.update()
        np.testing.assert_array_equal(avg.average, p)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("start", [0, 1, 5])
def test_tail_is_mean_since_start(cpu_backend, dtype, start):
    iterates = polyak_trajectory(12, dtype, seed=2)
    params = {k: np.zeros_like(v) for k, v in iterates[0].items()}
    avg = PolyakAverage(params, "tail", start=start, backend=cpu_backend)
    feed(avg, params, iterates)
    since = iterates[max(start - 1, 0) :]  # the k-th update sees iterate k (1-based)
    assert avg.count == len(since)
    for key in params:
        np.testing.assert_allclose(avg.average[key], mean_of(since, key), rtol=1e-6)


def test_tail_with_optimizer_counts_from_step_count():
    w = np.zeros(2)
    opt = ok.SGD(w, lr=0.5, backend="numpy")
    avg = PolyakAverage(w, "tail", start=2, optimizer=opt)
    seen = []
    for _ in range(5):
        opt.step(np.full(2, -1.0))  # w = 0.5, 1.0, 1.5, ...
        if avg.update():
            seen.append(w.copy())
    assert opt.step_count == 5 and avg.count == 4  # steps 2..5
    np.testing.assert_allclose(avg.average, np.mean(seen, axis=0))


@pytest.mark.parametrize("mode", [{"mode": "window", "window": 3}, {"mode": "ema"}])
def test_structures(cpu_backend, mode):
    w = np.ones((2, 2), np.float32)
    as_list = [w, np.zeros(3)]
    fp = ok.FlatParams({"w": np.ones((2, 2), np.float32), "b": np.zeros(3, np.float32)})
    for params, check in (
        (w, lambda a: isinstance(a, np.ndarray) and a.shape == (2, 2)),
        (as_list, lambda a: isinstance(a, list) and a[1].dtype == np.float64),
        (fp, lambda a: isinstance(a, ok.FlatParams) and fp.same_layout(a)),
    ):
        avg = PolyakAverage(params, backend=cpu_backend, **mode)
        avg.update()
        assert check(avg.average)
    np.testing.assert_array_equal(avg.average["w"], 1.0)


def test_non_contiguous_params(cpu_backend):
    base = np.zeros((4, 6))
    view = base[:, ::2]
    avg = PolyakAverage(view, "ema", decay=0.5, backend=cpu_backend)
    for v in (2.0, 4.0):
        view[...] = v
        avg.update()
    np.testing.assert_array_equal(avg.average, 3.0)
    with avg.swapped():
        np.testing.assert_array_equal(base[:, ::2], 3.0)
    np.testing.assert_array_equal(base[:, ::2], 4.0)
    np.testing.assert_array_equal(base[:, 1::2], 0.0)


def test_backends_agree():
    iterates = polyak_trajectory(10, np.float32, seed=3)
    results = {}
    for cpu_backend in ("numpy", "numba"):
        params = {k: np.zeros_like(v) for k, v in iterates[0].items()}
        avg = PolyakAverage(params, "ema", decay=0.7, backend=cpu_backend)
        feed(avg, params, iterates)
        results[cpu_backend] = avg.average["w"].copy()
    np.testing.assert_allclose(results["numpy"], results["numba"], rtol=1e-6)


# ------------------------------------------------------------------ optimizer gate
def test_optimizer_gate_skipped_steps_do_not_advance():
    p = np.zeros(2)
    opt = FakeOptimizer()
    avg = PolyakAverage(p, "window", window=3, optimizer=opt)
    p[...] = 1.0
    assert avg.update()  # the first update counts
    assert not avg.update()  # no step since
    p[...] = 5.0  # a "skipped" step changed nothing the optimizer counts
    assert not avg.update()
    assert avg.count == 1
    opt.step_count = 1
    assert avg.update()
    np.testing.assert_array_equal(avg.average, 3.0)
    with pytest.raises(TypeError, match="step_count"):
        PolyakAverage(p, "ema", optimizer=object())


def test_optimizer_skip_policy_does_not_advance_the_average():
    w = np.zeros(2)
    opt = ok.SGD(w, lr=1.0, backend="numpy", nonfinite="skip")
    avg = PolyakAverage(w, "tail", optimizer=opt)
    assert opt.step(np.full(2, -1.0)) and avg.update()
    assert not opt.step(np.array([np.nan, 1.0]))
    assert not avg.update()
    assert opt.step(np.full(2, -1.0)) and avg.update()
    assert avg.count == 2
    np.testing.assert_array_equal(avg.average, 1.5)


def test_numba_delegates_to_the_fused_loop(monkeypatch):
    from optkit._exec import array_api

    def boom(*args, **kwargs):
        raise AssertionError("the reference executor ran under backend='numba'")

    monkeypatch.setattr(array_api, "update", boom)
    p = np.ones(3, np.float32)
    avg = PolyakAverage(p, "ema", decay=0.5, backend="numba")
    avg.update()
    p[...] = 3.0
    avg.update()
    np.testing.assert_array_equal(avg.average, 2.0)


# ------------------------------------------------------------------ swapped
@pytest.mark.parametrize("mode", [{"mode": "window", "window": 2}, {"mode": "tail"}])
def test_swapped_restores_also_on_exceptions(cpu_backend, mode):
    params = {"w": np.zeros(3), "b": np.zeros(1, np.float32)}
    avg = PolyakAverage(params, backend=cpu_backend, **mode)
    for v in (1.0, 3.0):
        params["w"][...] = v
        params["b"][...] = -v
        avg.update()
    ids = {k: id(v) for k, v in params.items()}
    with avg.swapped():
        np.testing.assert_array_equal(params["w"], 2.0)
        np.testing.assert_array_equal(params["b"], -2.0)
        with pytest.raises(RuntimeError, match="swapped"):
            avg.update()
    np.testing.assert_array_equal(params["w"], 3.0)
    with pytest.raises(ZeroDivisionError), avg.swapped():
        assert params["w"][0] == 2.0
        1 / 0  # noqa: B018
    np.testing.assert_array_equal(params["w"], 3.0)
    np.testing.assert_array_equal(params["b"], -3.0)
    assert {k: id(v) for k, v in params.items()} == ids
    avg.update()  # allowed again after the block


def test_no_average_before_first_update():
    avg = PolyakAverage(np.zeros(2), "tail", start=3)
    avg.update()
    with pytest.raises(RuntimeError, match=r"no iterate yet.*step 3"):
        _ = avg.average
    with pytest.raises(RuntimeError, match="no iterate"), avg.swapped():
        pass


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"mode": "window", "window": 0}, "window=0"),
        ({"mode": "window", "window": -2}, "window=-2"),
        ({"mode": "window", "window": 2.5}, "window=2.5"),
        ({"mode": "window"}, "needs window"),
        ({"mode": "ema", "decay": 1.0}, r"decay=1.0: must be in \[0, 1\)"),
        ({"mode": "ema", "decay": -0.1}, "decay=-0.1"),
        ({"mode": "ema", "decay": float("nan")}, "decay=nan"),
        ({"mode": "tail", "start": -1}, "start=-1"),
        ({"mode": "swa"}, "mode='swa'"),
        ({"mode": "ema", "window": 3}, "window= applies to another mode"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PolyakAverage(np.zeros(2), **kwargs)


def test_array_api_strict():
    xp = pytest.importorskip("array_api_strict")
    p = xp.zeros(3, dtype=xp.float32)
    avg = PolyakAverage(p, "window", window=2)
    assert avg.backend == "array_api"
    for v in (1.0, 2.0, 4.0):
        p[...] = xp.full(3, v, dtype=xp.float32)
        avg.update()
    assert np.asarray(avg.average).tolist() == [3.0, 3.0, 3.0]
    sd = avg.state_dict()
    assert isinstance(sd["ring"]["param"], np.ndarray)
    other = PolyakAverage(xp.zeros(3, dtype=xp.float32), "window", window=2)
    other.load_state_dict(sd)
    assert np.asarray(other.average).tolist() == [3.0, 3.0, 3.0]
    ema = PolyakAverage(p, "ema", decay=0.5)
    ema.update()
    ema.update()
    assert np.asarray(ema.average).tolist() == [4.0, 4.0, 4.0]


@pytest.mark.gpu
def test_cupy_window_and_ema():
    import cupy

    p = cupy.zeros(4, dtype=cupy.float32)
    avg = PolyakAverage(p, "window", window=2)
    ema = PolyakAverage(p, "ema", decay=0.5)
    for v in (1.0, 2.0, 4.0):
        p[...] = v
        avg.update()
        ema.update()
    assert avg.average.get().tolist() == [3.0] * 4
    assert ema.average.get().tolist() == [3.0] * 4
    with avg.swapped():
        assert p.get().tolist() == [3.0] * 4
    assert p.get().tolist() == [4.0] * 4

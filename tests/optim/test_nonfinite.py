"""Non-finite gradients: raise, skip, propagate — on every optimizer."""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok
from optkit import schedules as S

OPTIMIZERS = [
    (ok.SGD, dict(lr=0.1, momentum=0.9)),
    (ok.Adagrad, dict(lr=0.1)),
    (ok.RMSprop, dict(lr=0.01, centered=True)),
    (ok.Adam, dict(lr=0.01, amsgrad=True)),
    (ok.AdamW, dict(lr=0.01)),
    (ok.NAdam, dict(lr=0.01)),
    (ok.DeltaBarDelta, dict(lr=0.01)),
]
IDS = [f"{cls.__name__}-{i}" for i, (cls, _) in enumerate(OPTIMIZERS)]


def make(cls, kwargs, cpu_backend, nonfinite, n=6):
    params = {"a": np.linspace(-1, 1, n), "b": np.linspace(2, 3, 3)}
    return params, cls(params, backend=cpu_backend, nonfinite=nonfinite, **kwargs)


def grads_like(params, bad=None, value=np.nan, index=2):
    grads = {k: 0.5 * v + 0.1 for k, v in params.items()}
    if bad is not None:
        grads[bad][index] = value
    return grads


def snapshot(params, opt):
    return (
        {k: v.copy() for k, v in params.items()},
        {n: {k: a.copy() for k, a in s.items()} for n, s in opt.state.items()},
        opt.step_count,
        [dict(g) for g in opt.group_state],
    )


def assert_same(before, after):
    for a, b in zip(before[0].values(), after[0].values()):
        np.testing.assert_array_equal(a, b)
    assert before[1].keys() == after[1].keys()
    for name in before[1]:
        for key in before[1][name]:
            np.testing.assert_array_equal(before[1][name][key], after[1][name][key])
    assert before[2:] == after[2:]


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_raise_names_parameter_and_step_and_changes_nothing(
    cpu_backend, cls, kwargs, value
):
    params, opt = make(cls, kwargs, cpu_backend, "raise")
    opt.step(grads_like(params))
    opt.step(grads_like(params))
    before = snapshot(params, opt)
    with pytest.raises(ok.NonFiniteGradientError) as info:
        opt.step(grads_like(params, bad="b", value=value))
    assert isinstance(info.value, FloatingPointError)
    assert info.value.name == "b" and info.value.step == 3 and info.value.count == 1
    assert "'b'" in str(info.value) and "step 3" in str(info.value)
    assert_same(before, snapshot(params, opt))


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_skip_returns_false_and_nothing_advances(cpu_backend, cls, kwargs):
    params, opt = make(cls, kwargs, cpu_backend, "skip")
    reference_params, reference = make(cls, kwargs, cpu_backend, "skip")
    assert opt.step(grads_like(params)) is True
    reference.step(grads_like(reference_params))
    before = snapshot(params, opt)
    assert opt.step(grads_like(params, bad="a")) is False
    assert opt.skipped_steps == 1
    assert_same(before, snapshot(params, opt))
    # after the skipped step the run continues exactly as if it never happened
    for _ in range(3):
        opt.step(grads_like(params))
        reference.step(grads_like(reference_params))
    for k in params:
        np.testing.assert_array_equal(params[k], reference_params[k])
    assert opt.step_count == reference.step_count == 4


def test_skip_does_not_advance_schedules(cpu_backend):
    w = np.ones(4)
    lr = S.step(1.0, step_size=1, gamma=0.5)  # halves every applied step
    opt = ok.SGD(w, lr=lr, backend=cpu_backend, nonfinite="skip")
    opt.step(np.ones(4))  # lr(0) = 1
    assert not opt.step(np.full(4, np.inf))
    opt.step(np.ones(4))  # lr(1) = 0.5, not lr(2)
    np.testing.assert_array_equal(w, np.full(4, 1 - 1 - 0.5))


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_propagate_poisons_only_that_index(cpu_backend, cls, kwargs):
    params, opt = make(cls, kwargs, cpu_backend, "propagate")
    opt.step(grads_like(params))
    assert opt.step(grads_like(params, bad="a", index=2)) is True
    a = params["a"]
    assert np.isnan(a[2]) or np.isinf(a[2])
    assert np.isfinite(np.delete(a, 2)).all() and np.isfinite(params["b"]).all()
    for key, state in opt.state["a"].items():
        assert np.isfinite(np.delete(state, 2)).all(), key


def test_flat_params_error_names_the_view(cpu_backend):
    fp = ok.FlatParams({"w": np.ones((2, 3)), "bias": np.zeros(3)})
    grads = fp.zeros_like()
    grads["bias"][1] = np.nan
    opt = ok.Adam(fp, lr=0.1, backend=cpu_backend)
    with pytest.raises(ok.NonFiniteGradientError, match="'bias'"):
        opt.step(grads)
    np.testing.assert_array_equal(fp["w"], 1.0)


def test_float32_large_and_parallel_check(cpu_backend, monkeypatch):
    from optkit._exec import numba as numba_exec

    monkeypatch.setattr(numba_exec, "PARALLEL_THRESHOLD", 0)
    w = np.zeros(10_001, np.float32)
    g = np.ones_like(w)
    g[-1] = np.float32("inf")
    with pytest.raises(ok.NonFiniteGradientError) as info:
        ok.SGD(w, lr=0.1, backend=cpu_backend).step(g)
    assert info.value.count == 1
    np.testing.assert_array_equal(w, 0.0)
    g[-1] = np.finfo(np.float32).max  # finite extremes pass
    assert ok.SGD(w, lr=0.0, backend=cpu_backend).step(g)


def test_invalid_policy():
    with pytest.raises(ValueError, match="nonfinite='ignore'"):
        ok.SGD(np.ones(2), nonfinite="ignore")


# ------------------------------------------- one parameter: the fused check-and-update
# With one group of one parameter whose state exists, the numba executor checks and
# updates in one kernel call (``update_checked``); other executors check, then update.
@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_single_parameter_raise_and_skip_change_nothing(cpu_backend, cls, kwargs, dtype):
    for policy in ("raise", "skip"):
        p = np.linspace(-1, 1, 7).astype(dtype)
        opt = cls(p, backend=cpu_backend, nonfinite=policy, **kwargs)
        opt.step((0.5 * p + 0.1).astype(dtype))
        before = snapshot({"p": p}, opt)
        g = (0.5 * p + 0.1).astype(dtype)
        g[[1, 4]] = [np.nan, -np.inf]
        if policy == "raise":
            with pytest.raises(ok.NonFiniteGradientError) as info:
                opt.step(g)
            assert (info.value.name, info.value.step, info.value.count) == ("param", 2, 2)
        else:
            assert opt.step(g) is False and opt.skipped_steps == 1
        assert_same(before, snapshot({"p": p}, opt))


@pytest.mark.parametrize("cls, kwargs", OPTIMIZERS, ids=IDS)
def test_single_parameter_checked_steps_match_propagate_bitwise(cpu_backend, cls, kwargs):
    rng = np.random.default_rng(3)
    grads = [rng.standard_normal(50).astype(np.float32) for _ in range(6)]
    results = []
    for policy in ("raise", "propagate"):
        p = np.linspace(-1, 1, 50).astype(np.float32)
        opt = cls(p, backend=cpu_backend, nonfinite=policy, **kwargs)
        for g in grads:
            assert opt.step(g) is True
        results.append((p, opt.state["param"], opt.step_count))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for key in results[0][1]:
        np.testing.assert_array_equal(results[0][1][key], results[1][1][key])
    assert results[0][2] == results[1][2] == 6


def test_numba_single_parameter_takes_the_fused_call(monkeypatch):
    from optkit._exec import numba as numba_exec

    p = np.ones(100, np.float32)
    opt = ok.Adam(p, lr=0.1, backend="numba")
    opt.step(np.ones_like(p))  # creates the state (through update)

    def no_separate_update(*args):
        raise AssertionError("the fused check-and-update was expected")

    monkeypatch.setattr(numba_exec, "update", no_separate_update)
    monkeypatch.setattr(numba_exec, "count_nonfinite", no_separate_update)
    assert opt.step(np.ones_like(p)) is True and opt.step_count == 2
    g = np.ones_like(p)
    g[-1] = np.inf
    with pytest.raises(ok.NonFiniteGradientError, match="1 non-finite"):
        opt.step(g)
    assert opt.step_count == 2


def test_flat_params_fused_error_names_the_view(cpu_backend):
    fp = ok.FlatParams({"w": np.ones((2, 3)), "bias": np.zeros(3)})
    opt = ok.Adam(fp, lr=0.1, backend=cpu_backend)
    opt.step(fp.zeros_like())
    before = fp.buffers["float64"].copy()
    grads = fp.zeros_like()
    grads["bias"][1] = np.inf
    with pytest.raises(ok.NonFiniteGradientError, match="'bias'"):
        opt.step(grads)
    np.testing.assert_array_equal(fp.buffers["float64"], before)

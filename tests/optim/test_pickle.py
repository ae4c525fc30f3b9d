"""Every core optimizer survives pickle and deepcopy and continues bit for bit.

The parameters are pickled together with the optimizer (its arrays are theirs), then
both the original and the copy take the same steps. Backends are resolved again on
load; schedules, FlatParams, PolyakAverage and BatchNorm come along.
"""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import optkit as ok
from optkit.optim.registry import VARIANTS


def _round_trip(obj, how):
    return pickle.loads(pickle.dumps(obj)) if how == "pickle" else copy.deepcopy(obj)


def _grads(step: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(step)
    return {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}


def _params() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(99)
    return {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}


def _same_state(a, b) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert sa["step"] == sb["step"] and sa["group_state"] == sb["group_state"]
    for name, entry in sa["state"].items():
        for key, value in entry.items():
            assert np.array_equal(value, sb["state"][name][key]), (name, key)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
@pytest.mark.parametrize("variant", VARIANTS, ids=repr)
def test_every_optimizer_continues_bit_for_bit(variant, how, cpu_backend):
    params = _params()
    opt = variant.make(params, backend=cpu_backend)
    for t in range(3):
        opt.step(_grads(t))
    params2, opt2 = _round_trip((params, opt), how)
    assert opt2.backend == opt.backend and opt2.step_count == 3
    for t in range(3, 7):
        opt.step(_grads(t))
        opt2.step(_grads(t))
    for k in params:
        assert np.array_equal(params[k], params2[k])
    _same_state(opt, opt2)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
def test_schedules_flat_params_and_averages_come_along(how, cpu_backend):
    fp = ok.FlatParams(_params())
    plateau = ok.schedules.ReduceOnPlateau(0.1, patience=0)
    opt = ok.SGD(
        fp,
        lr=ok.schedules.join([plateau, ok.schedules.cosine(0.05, 10)], [4]),
        momentum=ok.schedules.warmup(3, ok.schedules.linear(0.9, 0.99, 10), start=0.5),
        backend=cpu_backend,
    )
    avg = ok.PolyakAverage(fp, "window", window=3, optimizer=opt)
    for t in range(3):
        opt.step(_grads(t))
        avg.update()
        plateau.observe(float(t))  # worse each time: reduces the rate
    fp2, opt2, avg2 = _round_trip((fp, opt, avg), how)
    assert np.shares_memory(fp2["w"], fp2.buffers["float64"])
    for t in range(3, 8):
        for o, a in ((opt, avg), (opt2, avg2)):
            o.step(_grads(t))
            a.update()
    assert np.array_equal(fp.buffers["float64"], fp2.buffers["float64"])
    assert np.array_equal(avg.average.buffers["float64"], avg2.average.buffers["float64"])
    _same_state(opt, opt2)


@pytest.mark.parametrize(
    "schedule",
    [
        ok.schedules.constant(0.1),
        ok.schedules.linear(0.1, 0.01, 10),
        ok.schedules.exponential(0.1, 0.9),
        ok.schedules.step(0.1, 3, 0.5),
        ok.schedules.cosine(0.1, 10),
        ok.schedules.warmup(2, ok.schedules.cosine(0.1, 10)),
    ],
    ids=repr,
)
def test_every_schedule_pickles(schedule):
    copied = pickle.loads(pickle.dumps(schedule))
    assert repr(copied) == repr(schedule)
    assert [copied(t) for t in range(15)] == [schedule(t) for t in range(15)]


def test_deepcopy_of_a_plateau_schedule_is_independent():
    plateau = ok.schedules.ReduceOnPlateau(1.0, patience=0)
    twin = copy.deepcopy(plateau)
    twin.observe(1.0)
    twin.observe(2.0)
    assert twin(0) == pytest.approx(0.1) and plateau(0) == 1.0


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
@pytest.mark.parametrize("layer", [ok.nn.BatchNorm, ok.nn.LayerNorm])
def test_normalization_modules_round_trip(layer, how):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((8, 3))
    module = layer(3)
    module(x)
    copied = _round_trip(module, how)
    np.testing.assert_array_equal(module(x), copied(x))
    np.testing.assert_array_equal(module.backward(x), copied.backward(x))
    for name, value in module.state_dict().items():
        np.testing.assert_array_equal(value, copied.state_dict()[name])

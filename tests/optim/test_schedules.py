"""Schedules (closed forms, boundaries, torch's schedulers) and their use on every optimizer hyperparameter."""

from __future__ import annotations

import math

import numpy as np
import pytest

import optkit as ok
from optkit import schedules as S

CLOSED_FORMS = [
    (S.constant(0.3), lambda t: 0.3),
    (S.linear(0.1, 0.001, 50), lambda t: 0.1 + (0.001 - 0.1) * min(t, 50) / 50),
    (S.linear(0.5, 0.99, 20), lambda t: 0.5 + 0.49 * min(t, 20) / 20),
    (S.exponential(0.2, 0.97), lambda t: 0.2 * 0.97**t),
    (S.step(0.2, 7, 0.5), lambda t: 0.2 * 0.5 ** (t // 7)),
    (
        S.cosine(0.2, 30, 0.01),
        lambda t: 0.01 + 0.095 * (1 + math.cos(math.pi * min(t, 30) / 30)),
    ),
]


@pytest.mark.parametrize("schedule, closed", CLOSED_FORMS, ids=lambda x: repr(x)[:30])
def test_schedule_equals_closed_form(schedule, closed):
    for t in range(120):
        assert schedule(t) == pytest.approx(closed(t), rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("schedule, closed", CLOSED_FORMS, ids=lambda x: repr(x)[:30])
def test_schedule_starts_at_start(schedule, closed):
    assert schedule(0) == pytest.approx(closed(0), rel=0, abs=0)


def test_linear_default_end_is_one_hundredth_and_clamps():
    s = S.linear(2.0, steps=10)
    assert s(10) == 0.02
    assert s(11) == s(10_000) == 0.02


def test_cosine_clamped_after_end():
    s = S.cosine(1.0, steps=10, end=0.1)
    assert s(10) == s(11) == s(500) == 0.1


def test_join_hands_over_at_the_boundary_exactly():
    first, second = S.constant(1.0), S.linear(0.5, 0.0, 10)
    s = S.join([first, second], [5])
    assert [s(t) for t in range(5)] == [1.0] * 5
    assert s(5) == second(0) == 0.5
    assert s(6) == second(1)
    three = S.join([S.constant(1.0), S.constant(2.0), S.exponential(3.0, 0.5)], [2, 4])
    assert [three(t) for t in range(7)] == [1.0, 1.0, 2.0, 2.0, 3.0, 1.5, 0.75]


def test_warmup_then_schedule():
    s = S.warmup(5, S.exponential(1.0, 0.9), start=0.5)
    assert [s(t) for t in range(5)] == pytest.approx([0.5, 0.6, 0.7, 0.8, 0.9])
    assert s(5) == 1.0
    assert s(7) == pytest.approx(0.81)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: S.linear(0.1, 0.0, 0), "steps=0"),
        (lambda: S.linear(0.1, 0.0), "steps="),
        (lambda: S.cosine(0.1, -3), "steps=-3"),
        (lambda: S.step(0.1, 0), "step_size=0"),
        (lambda: S.exponential(0.1, 0.0), "gamma=0.0"),
        (lambda: S.constant(float("nan")), "value=nan"),
        (lambda: S.join([S.constant(1.0)], [3]), "boundaries=[3]"),
        (lambda: S.join([S.constant(1.0), S.constant(2.0)], [0]), "boundaries[0]=0"),
        (lambda: S.join([S.constant(1.0), 3.0], [2]), "schedules[1]"),
        (lambda: S.warmup(0, S.constant(1.0)), "steps=0"),
        (lambda: S.ReduceOnPlateau(0.1, factor=1.5), "factor=1.5"),
        (lambda: S.ReduceOnPlateau(0.1, mode="avg"), "mode='avg'"),
        (lambda: S.ReduceOnPlateau(0.1, patience=-1), "patience=-1"),
        (lambda: S.ReduceOnPlateau(-0.1), "start=-0.1"),
    ],
)
def test_bad_arguments_name_the_culprit(make, message):
    with pytest.raises((ValueError, TypeError)) as info:
        make()
    assert message in str(info.value)


def test_negative_step_count_raises():
    with pytest.raises(ValueError, match="t=-1"):
        S.constant(1.0)(-1)


# ---------------------------------------------------------------- ReduceOnPlateau
def torch_plateau_reference(metrics, **kw):
    """The values torch's ReduceLROnPlateau gives (live), or None without torch."""
    torch = pytest.importorskip("torch")
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=kw.pop("start"))
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kw)
    values = []
    for m in metrics:
        sched.step(m)
        values.append(opt.param_groups[0]["lr"])
    return values


PLATEAU_METRICS = [1.0, 0.9, 0.95, 0.95, 0.95, 0.8, 0.85, 0.9, 0.9, 0.9, 0.9, 0.7] + [
    0.7
] * 12


@pytest.mark.torch
@pytest.mark.parametrize(
    "kw",
    [
        dict(start=0.1, factor=0.5, patience=2),
        dict(start=0.1, factor=0.5, patience=1, cooldown=2, min_value=0.01),
        dict(start=0.1, factor=0.3, patience=0, mode="max", threshold=0.05),
        dict(start=0.1, factor=0.5, patience=1, threshold_mode="abs", threshold=0.06),
    ],
)
def test_reduce_on_plateau_matches_torch(kw):
    torch_kw = {("min_lr" if k == "min_value" else k): v for k, v in kw.items()}
    expected = torch_plateau_reference(PLATEAU_METRICS, **torch_kw)
    ours = S.ReduceOnPlateau(**kw)
    got = [ours.observe(m) for m in PLATEAU_METRICS]
    assert got == pytest.approx(expected, rel=1e-15)
    assert ours(0) == ours(999) == got[-1]


def test_reduce_on_plateau_hand_trace():
    s = S.ReduceOnPlateau(1.0, factor=0.5, patience=1, cooldown=1)
    trace = [s.observe(m) for m in [3.0, 3.0, 3.0, 3.0, 3.0, 3.0, 2.0]]
    # bad 1 (keep), bad 2 -> halve + cooldown, cooldown obs, bad 1, bad 2 -> halve
    assert trace == [1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]


def test_reduce_on_plateau_rejects_nan_metric():
    s = S.ReduceOnPlateau(1.0)
    with pytest.raises(ValueError, match="NaN"):
        s.observe(float("nan"))


def test_reduce_on_plateau_inside_join_and_state_round_trip(cpu_backend):
    plateau = S.ReduceOnPlateau(0.1, factor=0.5, patience=0)
    lr = S.join([S.linear(0.0, 0.1, 3), plateau], [3])
    w = np.array([1.0, 2.0])
    opt = ok.SGD(w, lr=lr, backend=cpu_backend)
    opt.step(np.ones(2))  # lr(0) = 0: nothing moves
    np.testing.assert_array_equal(w, [1.0, 2.0])
    for _ in range(3):
        opt.step(np.ones(2))
    plateau.observe(1.0)
    plateau.observe(2.0)  # no improvement, patience 0: halve
    assert lr(10) == 0.05
    state = opt.state_dict()
    fresh_plateau = S.ReduceOnPlateau(0.1, factor=0.5, patience=0)
    fresh = ok.SGD(
        w.copy(),
        lr=S.join([S.linear(0.0, 0.1, 3), fresh_plateau], [3]),
        backend=cpu_backend,
    )
    fresh.load_state_dict(state)
    assert fresh_plateau.value == 0.05
    assert fresh_plateau.best == 1.0


# ---------------------------------------------------------------- loading schedule states
def _plateau_state(**changes):
    state = {
        "value": 0.05,
        "best": 0.5,
        "observations": 4,
        "bad_observations": 1,
        "cooldown_left": 0,
    }
    state.update(changes)
    return {k: v for k, v in state.items() if v is not None}


BAD_PLATEAU_STATES = [
    (_plateau_state(value=-0.01), ValueError, r"^value is -0\.01"),
    (_plateau_state(value=float("nan")), ValueError, r"^value is nan"),
    (_plateau_state(value=float("inf")), ValueError, r"^value is inf"),
    (_plateau_state(value="0.1"), TypeError, r"^value is '0\.1'"),
    (_plateau_state(value=True), TypeError, r"^value is True"),
    (_plateau_state(best=float("nan")), ValueError, r"^best is nan"),
    (_plateau_state(observations=-1), ValueError, r"^observations is -1"),
    (_plateau_state(observations=2.5), TypeError, r"^observations is 2\.5"),
    (_plateau_state(bad_observations=5), ValueError, r"^bad_observations is 5"),
    (_plateau_state(bad_observations=2, observations=1), ValueError, r"^bad_observations"),
    (_plateau_state(cooldown_left=3), ValueError, r"^cooldown_left is 3.*cooldown=1"),
    (
        _plateau_state(cooldown_left=None),
        ValueError,
        r"missing entries \['cooldown_left'\]",
    ),
    (_plateau_state(extra=1), ValueError, r"unknown entries \['extra'\]"),
    ([0.05], TypeError, "is a list"),
]


@pytest.mark.parametrize("state, error, pattern", BAD_PLATEAU_STATES)
def test_reduce_on_plateau_load_checks_everything_first(state, error, pattern):
    plateau = S.ReduceOnPlateau(0.1, factor=0.5, patience=2, cooldown=1)
    for metric in (1.0, 0.5, 0.7):
        plateau.observe(metric)
    before = plateau.state_dict()
    with pytest.raises(error, match=pattern):
        plateau.load_state_dict(state)
    assert plateau.state_dict() == before
    plateau.load_state_dict(_plateau_state())  # a valid state loads
    assert plateau.state_dict() == _plateau_state()


def test_joined_schedule_load_is_all_or_nothing():
    first, second = S.ReduceOnPlateau(0.1), S.ReduceOnPlateau(0.2)
    joined = S.join([first, S.constant(0.3), second], [5, 9])
    before = joined.state_dict()
    bad = {**before, "0": {**before["0"], "value": 0.01}, "2": {**before["2"], "value": -1}}
    with pytest.raises(ValueError, match=r"^\[2\]\.value is -1"):
        joined.load_state_dict(bad)
    assert joined.state_dict() == before  # the valid first part was not loaded either
    for state, pattern in (
        ({**before, "7": {}}, r"unknown parts \['7'\]"),
        ({"1": {}, "2": before["2"]}, r"^\[0\] is missing"),
        ({**before, "1": {"value": 1.0}}, r"^\[1\]\.value: .*has no state"),
        (5, "is a int"),
    ):
        with pytest.raises((ValueError, TypeError), match=pattern):
            joined.load_state_dict(state)
        assert joined.state_dict() == before


def test_pure_schedule_state_must_be_empty():
    schedule = S.cosine(0.1, 10)
    schedule.load_state_dict({})
    with pytest.raises(ValueError, match=r"value: .*has no state"):
        schedule.load_state_dict({"value": 0.5})
    with pytest.raises(TypeError, match="expected a dict"):
        schedule.load_state_dict(None)


# ---------------------------------------------------------------- schedules on optimizers
def quadratic_grad(w):
    return 2.0 * w + np.sin(w)


def test_momentum_warmup_equals_manual_change(cpu_backend):
    n = 30
    w_sched = np.linspace(-1, 1, 6)
    w_manual = w_sched.copy()
    mu = S.linear(0.5, 0.99, 20)
    scheduled = ok.SGD(w_sched, lr=0.05, momentum=mu, backend=cpu_backend)
    manual = ok.SGD(w_manual, lr=0.05, momentum=0.5, backend=cpu_backend)
    for t in range(n):
        manual.param_groups[0]["momentum"] = mu(t)
        scheduled.step(quadratic_grad(w_sched))
        manual.step(quadratic_grad(w_manual))
    np.testing.assert_array_equal(w_sched, w_manual)


@pytest.mark.parametrize("hyper", ["lr", "betas", "weight_decay", "eps"])
def test_any_adam_hyperparameter_takes_a_schedule(cpu_backend, hyper):
    sched = {
        "lr": S.cosine(0.05, 15),
        "betas": (S.linear(0.5, 0.9, 10), 0.999),
        "weight_decay": S.step(0.1, 5, 0.5),
        "eps": S.exponential(1e-3, 0.5),
    }[hyper]
    w_a = np.linspace(-2, 2, 5)
    w_b = w_a.copy()
    base = {"lr": 0.05, "betas": (0.5, 0.999), "weight_decay": 0.1, "eps": 1e-3}
    opt_a = ok.Adam(w_a, backend=cpu_backend, **{**base, hyper: sched})
    opt_b = ok.Adam(w_b, backend=cpu_backend, **base)
    for t in range(15):
        value = (
            tuple(v(t) if callable(v) else v for v in sched)
            if hyper == "betas"
            else sched(t)
        )
        opt_b.param_groups[0][hyper] = value
        opt_a.step(quadratic_grad(w_a))
        opt_b.step(quadratic_grad(w_b))
    np.testing.assert_array_equal(w_a, w_b)


def test_scheduled_value_keeps_float32(cpu_backend):
    w = np.ones(8, np.float32)
    opt = ok.Adam(w, lr=S.exponential(np.float64(0.01), 0.9), backend=cpu_backend)
    opt.step(np.ones(8, np.float32))
    assert w.dtype == np.float32
    assert all(a.dtype == np.float32 for a in opt.state["param"].values())


TORCH_SCHEDULERS = [
    (
        "LinearLR",
        dict(start_factor=1.0, end_factor=0.01, total_iters=12),
        lambda lr: S.linear(lr, lr * 0.01, 12),
    ),
    ("StepLR", dict(step_size=5, gamma=0.3), lambda lr: S.step(lr, 5, 0.3)),
    ("ExponentialLR", dict(gamma=0.9), lambda lr: S.exponential(lr, 0.9)),
    (
        "CosineAnnealingLR",
        dict(T_max=25, eta_min=0.001),
        lambda lr: S.cosine(lr, 25, 0.001),
    ),
]


@pytest.mark.torch
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("name, kwargs, ours", TORCH_SCHEDULERS, ids=lambda x: str(x)[:18])
def test_torch_scheduler_trajectories(cpu_backend, optimizer, name, kwargs, ours):
    torch = pytest.importorskip("torch")
    lr = 0.05
    extra = dict(momentum=0.9) if optimizer == "SGD" else {}
    x0 = np.linspace(-1.5, 1.5, 7)
    tp = torch.tensor(x0.copy(), requires_grad=True)
    topt = getattr(torch.optim, optimizer)([tp], lr=lr, **extra)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    w = x0.copy()
    opt = getattr(ok, optimizer)(w, lr=ours(lr), backend=cpu_backend, **extra)
    for _ in range(25):
        tp.grad = torch.from_numpy(quadratic_grad(tp.detach().numpy()))
        topt.step()
        tsched.step()
        opt.step(quadratic_grad(w))
    np.testing.assert_allclose(w, tp.detach().numpy(), rtol=1e-10, atol=1e-12)


def test_schedule_states_load_all_or_nothing():
    first, second = S.ReduceOnPlateau(0.1), S.ReduceOnPlateau(0.1)
    opt = ok.Adam(np.ones(2), lr=first, weight_decay=second)
    opt.step(np.ones(2))
    state = opt.state_dict()
    state["param_groups"][0]["lr"] = {**first.state_dict(), "value": 0.5}
    state["param_groups"][0]["weight_decay"] = {"value": 0.2}  # incomplete: must fail
    with pytest.raises(ValueError, match="missing"):
        opt.load_state_dict(state)
    assert first.value == 0.1


def test_betas_as_a_list_in_a_group_with_a_schedule():
    a, b = np.ones(3), np.ones(3)
    ok.Adam([{"params": [a], "betas": [S.constant(0.9), 0.999]}], lr=0.1).step([[a * 2]])
    ok.Adam([b], lr=0.1, betas=(0.9, 0.999)).step([b * 2])
    np.testing.assert_array_equal(a, b)

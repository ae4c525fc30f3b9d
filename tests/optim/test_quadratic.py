"""Every configuration optimizes a quadratic and honours torch-style
parameter groups."""

from __future__ import annotations

import numpy as np
import pytest
from _support.configs import BY_NAME, CONFIG_IDS, CONFIGS, quadratic

import optkit as ok

STEPS = 20


def _layout(kind: str, n: int, dtype):
    """(param, base, mask of the base that the optimizer must not touch)."""
    rng = np.random.default_rng(5)
    if kind == "contiguous":
        base = rng.standard_normal(n).astype(dtype)
        return base, base, np.zeros(n, bool)
    if kind == "column":  # a column slice of a bigger array: stride 3
        base = rng.standard_normal((n, 3)).astype(dtype)
        untouched = np.ones(base.shape, bool)
        untouched[:, 1] = False
        return base[:, 1], base, untouched
    if kind == "transposed":  # an (n, 2) parameter stored as the transpose of (2, n)
        base = rng.standard_normal((2, n)).astype(dtype)
        return base.T, base, np.zeros(base.shape, bool)
    if kind == "strided_block":  # every other row of a matrix, two of three columns
        base = rng.standard_normal((2 * n, 3)).astype(dtype)
        untouched = np.ones(base.shape, bool)
        untouched[::2, :2] = False
        return base[::2, :2], base, untouched
    raise AssertionError(kind)


LAYOUT_KINDS = ["contiguous", "column", "transposed", "strided_block"]


# --------------------------------------------------------------------------- the quadratic
@pytest.mark.parametrize("kind", LAYOUT_KINDS)
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_quadratic_moves_the_right_way(config, cpu_backend, kind):
    loss, grad, n = quadratic()
    param, base, untouched = _layout(kind, n, np.float64)
    assert kind == "contiguous" or not param.flags.c_contiguous
    frozen = base[untouched].copy()
    opt = config.make(param, backend=cpu_backend)
    start = loss(param)
    history = [start]
    for _ in range(STEPS):
        assert opt.step(np.ascontiguousarray(grad(param))) is True
        history.append(loss(param))
    end = history[-1]
    assert np.all(np.isfinite(history))
    if config.maximize:
        assert end > 1.1 * start, history
    else:
        assert end < 0.9 * start, history
    # updated in place through the view; the rest of the base is untouched
    np.testing.assert_array_equal(base[untouched], frozen)
    assert opt.step_count == STEPS


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_quadratic_float32(config, cpu_backend):
    loss, grad, n = quadratic()
    param, _, _ = _layout("contiguous", n, np.float32)
    opt = config.make(param, backend=cpu_backend)
    start = loss(param)
    for _ in range(STEPS):
        opt.step(grad(param))
    assert param.dtype == np.float32
    assert (loss(param) > start) if config.maximize else (loss(param) < 0.9 * start)


# --------------------------------------------------------------------------- groups
def _frozen_overrides(config) -> dict:
    """Hyperparameters of a group that must not move. For delta-bar-delta ``lr`` is only
    the initial per-weight rate, which grows by ``kappa``: freeze that too."""
    overrides = {"lr": 0.0}
    if config.cls is ok.DeltaBarDelta:
        overrides["kappa"] = 0.0
    return overrides


def _group_problem():
    rng = np.random.default_rng(11)
    moving = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    frozen = {"v": rng.standard_normal(5)}
    grads = [
        {k: rng.standard_normal(v.shape) for k, v in {**moving, **frozen}.items()}
        for _ in range(5)
    ]
    return moving, frozen, grads


@pytest.mark.parametrize("grads_as", ["dict_by_name", "list_per_group"])
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_param_group_with_lr_zero_stays_bit_identical(config, cpu_backend, grads_as):
    moving, frozen, grads = _group_problem()
    alone = {k: v.copy() for k, v in moving.items()}
    frozen_before = {k: v.copy() for k, v in frozen.items()}
    if grads_as == "dict_by_name":
        groups = [{"params": moving}, {"params": frozen, **_frozen_overrides(config)}]
    else:
        groups = [
            {"params": [moving["w"], moving["b"]]},
            {"params": [frozen["v"]], **_frozen_overrides(config)},
        ]
    opt = config.make(groups, backend=cpu_backend)
    reference = config.make(alone, backend=cpu_backend)
    assert len(opt.param_groups) == 2
    assert opt.param_groups[1]["lr"] == 0.0
    assert opt.param_groups[0]["lr"] == config.kwargs["lr"]
    for g in grads:
        if grads_as == "dict_by_name":
            step_grads = g
        else:
            step_grads = [[g["w"], g["b"]], [g["v"]]]
        assert opt.step(step_grads) is True
        reference.step({"w": g["w"], "b": g["b"]})
    np.testing.assert_array_equal(frozen["v"], frozen_before["v"])
    # the other group moved exactly as it would alone
    for k in moving:
        assert not np.array_equal(moving[k], _group_problem()[0][k])
        np.testing.assert_array_equal(moving[k], alone[k])


def test_group_names_and_state_keys():
    rng = np.random.default_rng(0)
    a, b, c = (rng.standard_normal(3) for _ in range(3))
    opt = ok.Adam([{"params": [a, b]}, {"params": {"c": c}, "lr": 0.5}], backend="numpy")
    assert opt.param_groups[0]["names"] == ["0.0", "0.1"]
    assert opt.param_groups[1]["names"] == ["c"]
    assert opt.param_groups[1]["lr"] == 0.5
    assert opt.param_groups[0]["lr"] == 1e-3  # the default
    opt.step({"0.0": np.ones(3), "0.1": np.ones(3), "c": np.ones(3)})
    assert set(opt.state) == {"0.0", "0.1", "c"}
    assert set(opt.state["c"]) == {"m", "v"}


@pytest.mark.parametrize(
    "name", ["sgd_momentum", "adam", "rmsprop_centered", "delta_bar_delta"]
)
def test_groups_with_different_hyperparameters_equal_separate_optimizers(name, cpu_backend):
    config = BY_NAME[name]
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal(6), rng.standard_normal((2, 3))
    x1, y1 = x.copy(), y.copy()
    lr2 = config.kwargs["lr"] * 0.3
    opt = config.make([{"params": [x]}, {"params": [y], "lr": lr2}], backend=cpu_backend)
    sep_x = config.make(x1, backend=cpu_backend)
    sep_y = config.make(y1, backend=cpu_backend, lr=lr2)
    for _ in range(4):
        gx, gy = rng.standard_normal(6), rng.standard_normal((2, 3))
        opt.step([[gx], [gy]])
        sep_x.step(gx)
        sep_y.step(gy)
    np.testing.assert_array_equal(x, x1)
    np.testing.assert_array_equal(y, y1)

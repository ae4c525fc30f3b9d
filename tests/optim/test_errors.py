"""Bad input: specific errors that name the culprit, raised
before anything is written."""

from __future__ import annotations

import array_api_strict as xps
import numpy as np
import pytest
from _support.configs import BY_NAME, assert_snapshot_equal, snapshot

import optkit as ok
from optkit import schedules as S

# --------------------------------------------------------------------------- hyperparameters
#: (class, keyword arguments, error, message pattern): torch optim_db's error_inputs.
INVALID = [
    (ok.SGD, {"lr": -1.0}, ValueError, r"lr=-1\.0"),
    (ok.SGD, {"lr": float("nan")}, ValueError, r"lr=nan"),
    (ok.SGD, {"lr": 0.1, "momentum": -0.5}, ValueError, r"momentum=-0\.5"),
    (ok.SGD, {"lr": 0.1, "dampening": -0.1}, ValueError, r"dampening=-0\.1"),
    (ok.SGD, {"lr": 0.1, "weight_decay": -1e-4}, ValueError, r"weight_decay=-0\.0001"),
    (ok.SGD, {"lr": 0.1, "nesterov": True}, ValueError, r"nesterov.*momentum=0"),
    (
        ok.SGD,
        {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True},
        ValueError,
        r"nesterov.*dampening=0\.1",
    ),
    (ok.SGD, {"lr": "0.1"}, TypeError, r"lr='0\.1'"),
    (ok.SGD, {"lr": 0.1, "maximize": 1}, TypeError, r"maximize=1"),
    (ok.SGD, {"lr": np.array([0.1, -0.2, 0.3])}, ValueError, r"lr=array of shape \(3,\)"),
    (ok.Adagrad, {"lr": -0.01}, ValueError, r"lr=-0\.01"),
    (ok.Adagrad, {"lr_decay": -0.1}, ValueError, r"lr_decay=-0\.1"),
    (ok.Adagrad, {"eps": -1e-10}, ValueError, r"eps=-1e-10"),
    (
        ok.Adagrad,
        {"initial_accumulator_value": -0.1},
        ValueError,
        r"initial_accumulator_value=-0\.1",
    ),
    (ok.RMSprop, {"lr": -0.01}, ValueError, r"lr=-0\.01"),
    (ok.RMSprop, {"alpha": 1.0}, ValueError, r"alpha=1\.0"),
    (ok.RMSprop, {"alpha": -0.1}, ValueError, r"alpha=-0\.1"),
    (ok.RMSprop, {"eps": -1e-8}, ValueError, r"eps=-1e-08"),
    (ok.RMSprop, {"momentum": -0.9}, ValueError, r"momentum=-0\.9"),
    (ok.RMSprop, {"centered": "yes"}, TypeError, r"centered='yes'"),
    (ok.Adam, {"lr": -1e-3}, ValueError, r"lr=-0\.001"),
    (ok.Adam, {"eps": -1e-8}, ValueError, r"eps=-1e-08"),
    (ok.Adam, {"betas": (1.0, 0.999)}, ValueError, r"betas\[0\]=1\.0"),
    (ok.Adam, {"betas": (-0.1, 0.999)}, ValueError, r"betas\[0\]=-0\.1"),
    (ok.Adam, {"betas": (0.9, 1.0)}, ValueError, r"betas\[1\]=1\.0"),
    (ok.Adam, {"betas": (0.9, 1.5)}, ValueError, r"betas\[1\]=1\.5"),
    (ok.Adam, {"betas": (0.9,)}, ValueError, r"betas"),
    (ok.Adam, {"weight_decay": -0.1}, ValueError, r"weight_decay=-0\.1"),
    (ok.AdamW, {"betas": (0.9, -0.5)}, ValueError, r"betas\[1\]=-0\.5"),
    (ok.AdamW, {"weight_decay": -0.01}, ValueError, r"weight_decay=-0\.01"),
    (ok.NAdam, {"betas": (1.2, 0.999)}, ValueError, r"betas\[0\]=1\.2"),
    (ok.NAdam, {"momentum_decay": -4e-3}, ValueError, r"momentum_decay=-0\.004"),
    (ok.NAdam, {"eps": -1.0}, ValueError, r"eps=-1\.0"),
    (ok.DeltaBarDelta, {"lr": -0.01}, ValueError, r"lr=-0\.01"),
    (ok.DeltaBarDelta, {"kappa": -0.001}, ValueError, r"kappa=-0\.001"),
    (ok.DeltaBarDelta, {"phi": 1.0}, ValueError, r"phi=1\.0"),
    (ok.DeltaBarDelta, {"phi": -0.1}, ValueError, r"phi=-0\.1"),
    (ok.DeltaBarDelta, {"theta": 1.0}, ValueError, r"theta=1\.0"),
    (ok.DeltaBarDelta, {"theta": -0.5}, ValueError, r"theta=-0\.5"),
]


def _id(case) -> str:
    cls, kwargs, _, _ = case
    return f"{cls.__name__}-" + "-".join(f"{k}={v!r}" for k, v in kwargs.items())


@pytest.mark.parametrize("case", INVALID, ids=[_id(c) for c in INVALID])
def test_invalid_hyperparameter_raises_naming_it(case, cpu_backend):
    cls, kwargs, error, pattern = case
    w = np.ones(3)
    with pytest.raises(error, match=pattern):
        cls(w, backend=cpu_backend, **kwargs)
    with pytest.raises(error, match=pattern):  # the same check inside a param group
        cls([{"params": [w], **kwargs}], backend=cpu_backend)
    np.testing.assert_array_equal(w, np.ones(3))


def test_valid_edges_are_accepted():
    w = np.ones(3)
    edges = [
        ok.SGD(w, lr=0.0, momentum=0.0),
        ok.Adam(w, betas=(0.0, 0.0), eps=0.0),
        ok.RMSprop(w, alpha=0.0),
        ok.DeltaBarDelta(w, phi=0.0, theta=0.0, kappa=0.0),
        ok.SGD(w, lr=0.1, momentum=0.9, nesterov=True),
    ]
    assert [type(o).__name__ for o in edges] == [
        "SGD",
        "Adam",
        "RMSprop",
        "DeltaBarDelta",
        "SGD",
    ]
    assert edges[1].param_groups[0]["betas"] == (0.0, 0.0)


@pytest.mark.parametrize(
    "groups, pattern",
    [
        ([{"params": [np.ones(2)], "lrr": 0.1}], "lrr"),
        (
            [{"params": [np.ones(2)]}, {"params": [np.ones(2)], "betas": (0.9, 0.9)}],
            "betas",
        ),
    ],
    ids=["typo", "other_optimizers_key"],
)
def test_unknown_group_key_raises(groups, pattern):
    with pytest.raises(ValueError, match=pattern):
        ok.SGD(groups, lr=0.1)


def test_nesterov_checked_per_group():
    with pytest.raises(ValueError, match="nesterov"):
        ok.SGD(
            [{"params": [np.ones(2)]}, {"params": [np.ones(2)], "momentum": 0.0}],
            lr=0.1,
            momentum=0.9,
            nesterov=True,
        )


def test_array_hyperparameter_must_broadcast():
    with pytest.raises(ValueError, match=r"lr.*\(2, 1\).*'w'.*\(3, 4\)"):
        ok.Adam({"w": np.ones((3, 4))}, lr=np.full((2, 1), 0.1))


def test_same_array_in_two_groups_by_name_raises():
    w = np.ones(2)
    with pytest.raises(ValueError, match="'w'"):
        ok.SGD([{"params": {"w": w}}, {"params": {"w": np.ones(2)}}], lr=0.1)


# --------------------------------------------------------------------------- gradients
def _dict_params():
    rng = np.random.default_rng(4)
    return {
        "a": rng.standard_normal(3),
        "b": rng.standard_normal((2, 2)),
        "c": rng.standard_normal(4),
    }


def _good(params):
    return {k: np.full(v.shape, 0.5) for k, v in params.items()}


def _bad_dict_grads(kind, params):
    """Gradients for dict params where only the LAST entry (or the structure) is bad."""
    g = _good(params)
    if kind == "missing":
        del g["c"]
        return g, ValueError, r"missing \['c'\]"
    if kind == "extra":
        g["d"] = np.ones(1)
        return g, ValueError, r"unexpected \['d'\]"
    if kind == "shape":
        g["c"] = np.ones(5)
        return g, ValueError, r"'c'.*\(5,\).*\(4,\)"
    if kind == "dtype":
        g["c"] = g["c"].astype(np.float32)
        return g, TypeError, r"'c'.*float32"
    if kind == "library":
        g["c"] = xps.asarray(g["c"])
        return g, TypeError, r"'c'.*array_api_strict"
    if kind == "not_an_array":
        g["c"] = [0.5] * 4
        return g, TypeError, r"'c'.*list"
    if kind == "list_instead_of_dict":
        return list(g.values()), TypeError, "dict"
    raise AssertionError(kind)


DICT_CASES = [
    "missing",
    "extra",
    "shape",
    "dtype",
    "library",
    "not_an_array",
    "list_instead_of_dict",
]
CHECKED_CONFIGS = [
    "sgd_momentum",
    "adagrad",
    "rmsprop_centered",
    "adam_amsgrad",
    "nadam",
    "delta_bar_delta",
]


@pytest.mark.parametrize("name", CHECKED_CONFIGS)
@pytest.mark.parametrize("kind", DICT_CASES)
def test_bad_dict_grads_raise_and_modify_nothing(kind, name, cpu_backend):
    config = BY_NAME[name]
    params = _dict_params()
    opt = config.make(params, backend=cpu_backend)
    opt.step(_good(params))  # state exists and is non-trivial
    grads, error, pattern = _bad_dict_grads(kind, params)
    before = snapshot(opt, list(params.values()))
    with pytest.raises(error, match=pattern):
        opt.step(grads)
    assert_snapshot_equal(before, snapshot(opt, list(params.values())))
    assert opt.step(_good(params)) is True  # still usable
    assert opt.step_count == 2


def _bad_list_grads(kind, params):
    g = [np.full(p.shape, 0.5) for p in params]
    if kind == "too_few":
        return g[:2], ValueError, r"2 gradients for 3 parameters"
    if kind == "too_many":
        return [*g, np.ones(1)], ValueError, r"4 gradients for 3 parameters"
    if kind == "shape":
        g[2] = np.ones((4, 1))
        return g, ValueError, r"'2'.*\(4, 1\)"
    if kind == "dtype":
        g[2] = g[2].astype(np.float16)
        return g, TypeError, r"'2'.*float16"
    if kind == "library":
        g[2] = xps.asarray(g[2])
        return g, TypeError, r"'2'.*array_api_strict"
    if kind == "dict_instead_of_list":
        return dict(enumerate(g)), TypeError, "list"
    raise AssertionError(kind)


@pytest.mark.parametrize(
    "kind", ["too_few", "too_many", "shape", "dtype", "library", "dict_instead_of_list"]
)
def test_bad_list_grads_raise_and_modify_nothing(kind, cpu_backend):
    params = list(_dict_params().values())
    opt = ok.Adam(params, lr=0.1, backend=cpu_backend)
    opt.step([np.ones(p.shape) for p in params])
    grads, error, pattern = _bad_list_grads(kind, params)
    before = snapshot(opt, params)
    with pytest.raises(error, match=pattern):
        opt.step(grads)
    assert_snapshot_equal(before, snapshot(opt, params))


@pytest.mark.parametrize(
    "grad, error, pattern",
    [
        ([np.ones(3)], TypeError, r"'param'.*list"),
        (np.ones((3, 1)), ValueError, r"'param'.*\(3, 1\)"),
        (np.ones(3, np.float32), TypeError, r"'param'.*float32"),
        (None, TypeError, r"'param'.*NoneType"),
    ],
    ids=["list", "shape", "dtype", "none"],
)
def test_bad_grad_for_single_array(grad, error, pattern, cpu_backend):
    w = np.ones(3)
    opt = ok.SGD(w, lr=0.1, momentum=0.9, backend=cpu_backend)
    with pytest.raises(error, match=pattern):
        opt.step(grad)
    np.testing.assert_array_equal(w, np.ones(3))
    assert opt.state == {} or all(not e for e in opt.state.values())
    assert opt.step_count == 0


def test_bad_grad_in_last_group_leaves_first_group_untouched(cpu_backend):
    params = _dict_params()
    groups = [
        {"params": {"a": params["a"], "b": params["b"]}},
        {"params": {"c": params["c"]}},
    ]
    opt = ok.NAdam(groups, lr=0.1, backend=cpu_backend)
    opt.step(_good(params))
    before = snapshot(opt, list(params.values()))
    bad_last = [{"a": np.ones(3), "b": np.ones((2, 2))}, {"c": np.ones(3)}]
    with pytest.raises(ValueError, match=r"'c'"):
        opt.step(bad_last)
    with pytest.raises(ValueError, match=r"list of 2"):
        opt.step([{"a": np.ones(3), "b": np.ones((2, 2))}])
    by_name = {"a": np.ones(3), "b": np.ones((2, 2)), "c": np.ones(4, np.float32)}
    with pytest.raises(TypeError, match=r"'c'.*float32"):
        opt.step(by_name)
    assert_snapshot_equal(before, snapshot(opt, list(params.values())))


@pytest.mark.parametrize(
    "params, pattern",
    [
        ({"w": np.ones(2), "n": np.arange(3)}, r"'n'.*int64"),
        ([np.ones(2), np.ones(2, dtype=bool)], r"'1'.*bool"),
        ([np.ones(2), np.ones(2, np.int32)], r"'1'.*int32"),
        ({"z": np.ones(2, np.complex128)}, r"'z'.*complex128"),
        ([1.0, 2.0], r"'0'.*float.*not an array"),
        ({"s": "abc"}, r"'s'.*str"),
    ],
    ids=["int_in_dict", "bool_in_list", "int32_in_list", "complex", "floats", "string"],
)
def test_non_float_params_rejected_at_construction(params, pattern, cpu_backend):
    with pytest.raises(TypeError, match=pattern):
        ok.Adam(params, lr=0.1, backend=cpu_backend)


def test_integer_single_param_named():
    with pytest.raises(TypeError, match=r"'param'.*int64"):
        ok.SGD(np.arange(4), lr=0.1)


def test_empty_params_rejected():
    with pytest.raises(ValueError, match="empty"):
        ok.SGD([], lr=0.1)
    with pytest.raises(ValueError, match="empty"):
        ok.SGD({}, lr=0.1)


def test_float16_params_take_the_numpy_path_under_auto_with_one_warning():
    w = np.ones(5, np.float16)
    with pytest.warns(RuntimeWarning, match="'param' is float16"):
        opt = ok.Adam(w, lr=0.1)
    assert opt.backend == "numpy"
    opt.step(np.ones(5, np.float16))
    assert w.dtype == np.float16 and np.all(w < 1)


def test_float16_params_with_explicit_numba_raise_naming_the_parameter():
    with pytest.raises(TypeError, match="'half' is float16"):
        ok.SGD({"half": np.ones(3, np.float16)}, lr=0.1, backend="numba")


def test_delta_bar_delta_refuses_a_schedule_for_its_initial_rate():
    with pytest.raises(TypeError, match="initial value"):
        ok.DeltaBarDelta(np.ones(2), lr=S.linear(0.1, 0.0, 10))


def test_nadam_betas_not_a_pair_names_betas():
    with pytest.raises(ValueError, match="betas"):
        ok.NAdam(np.ones(2), betas=0.9)

"""Optimizer state: save -> load -> continue, plain-data state dicts,
loading errors that change nothing, and dtypes that never drift (T1)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _support.backends import tolerance
from _support.configs import (
    BY_NAME,
    CONFIG_IDS,
    CONFIGS,
    ONE_PER_RULE,
    assert_states_close,
    copy_params,
    population_kwargs,
    small_problem,
    with_scalar_kind,
)

import optkit as ok

STEPS, SPLIT = 10, 4


# --------------------------------------------------------------------------- resume
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_resume_equals_uninterrupted(config, cpu_backend):
    params, grads = small_problem()
    straight = copy_params(params)
    opt = config.make(straight, backend=cpu_backend)
    for g in grads:
        opt.step(g)

    first = copy_params(params)
    before = config.make(first, backend=cpu_backend)
    for g in grads[:SPLIT]:
        before.step(g)
    saved = copy.deepcopy(before.state_dict())
    resumed_params = copy_params(first)  # fresh copies of the parameters
    resumed = config.make(resumed_params, backend=cpu_backend)
    resumed.load_state_dict(saved)
    assert resumed.step_count == SPLIT
    for g in grads[SPLIT:]:
        resumed.step(g)
        before.step(g)  # taking a state_dict does not disturb the original

    for name in params:
        np.testing.assert_array_equal(resumed_params[name], straight[name])
        np.testing.assert_array_equal(first[name], straight[name])
    assert_states_close(resumed, opt)
    assert_states_close(before, opt)
    assert resumed.step_count == opt.step_count == STEPS
    assert _plain_equal(
        resumed.state_dict()["group_state"], opt.state_dict()["group_state"]
    )


def _plain_equal(a, b) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_plain_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_plain_equal(x, y) for x, y in zip(a, b))
    return bool(np.array_equal(a, b))


PLAIN_SCALARS = (bool, int, float, str, type(None), np.ndarray)


def _assert_plain(value, path="sd"):
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{path}: key {k!r} is not a string"
            _assert_plain(v, f"{path}[{k!r}]")
    elif isinstance(value, (list, tuple)):
        for i, v in enumerate(value):
            _assert_plain(v, f"{path}[{i}]")
    else:
        assert type(value) in PLAIN_SCALARS, f"{path} is a {type(value).__name__}"


@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_state_dict_is_plain_data(config, cpu_backend):
    params, grads = small_problem()
    opt = config.make(params, backend=cpu_backend)
    for g in grads[:3]:
        opt.step(g)
    sd = opt.state_dict()
    _assert_plain(sd)
    assert sd["step"] == 3
    assert [g["names"] for g in sd["param_groups"]] == [["w", "b"]]
    assert set(sd["state"]) == {"w", "b"}
    for name, entries in sd["state"].items():
        assert set(entries) == set(opt.state[name])
        for key, value in entries.items():
            assert value.dtype == np.float64
            assert not np.shares_memory(value, opt.state[name][key]), (name, key)
    for key, value in config.kwargs.items():
        assert sd["param_groups"][0][key] == value


def test_state_dict_is_plain_with_numpy_scalar_and_array_hypers(cpu_backend):
    w = np.ones((3, 2))
    lr = np.asarray([[0.1], [0.2], [0.3]])
    opt = ok.Adam(w, lr=lr, betas=(np.float64(0.9), 0.99), backend=cpu_backend)
    opt.step(np.ones((3, 2)))
    sd = opt.state_dict()
    _assert_plain(sd)
    np.testing.assert_array_equal(sd["param_groups"][0]["lr"], [[0.1], [0.2], [0.3]])


# ------------------------------------------------- loading does not alias its input
def test_load_copies_the_given_state_dict(cpu_backend):
    """Loading the same state dict into two optimizers must give two independent
    optimizers (torch deep-copies on load); stepping must not write into the dict."""
    params, grads = small_problem()
    opt = ok.Adam(copy_params(params), lr=0.1, backend=cpu_backend)
    opt.step(grads[0])
    sd = opt.state_dict()
    frozen = copy.deepcopy(sd)
    twins = []
    for _ in range(2):
        p = copy_params(params)
        twin = ok.Adam(p, lr=0.1, backend=cpu_backend)
        twin.load_state_dict(sd)
        twins.append((p, twin))
    for _, twin in twins:
        twin.step(grads[1])
    for name in sd["state"]:
        for key in sd["state"][name]:
            np.testing.assert_array_equal(
                sd["state"][name][key], frozen["state"][name][key], err_msg=f"{name}.{key}"
            )
    assert_states_close(twins[0][1], twins[1][1])
    np.testing.assert_array_equal(twins[0][0]["w"], twins[1][0]["w"])


def test_load_accepts_fortran_ordered_state(cpu_backend):
    """A state dict is plain NumPy data; the memory order of its arrays must not
    matter (e.g. arrays that went through a transposing serializer)."""
    params, grads = small_problem()
    straight = copy_params(params)
    ref = ok.Adam(straight, lr=0.1, backend=cpu_backend)
    for g in grads[:4]:
        ref.step(g)
    resumed_params = copy_params(params)
    first = ok.Adam(resumed_params, lr=0.1, backend=cpu_backend)
    for g in grads[:2]:
        first.step(g)
    sd = first.state_dict()
    sd["state"] = {
        n: {k: np.asfortranarray(v) for k, v in e.items()} for n, e in sd["state"].items()
    }
    resumed = ok.Adam(resumed_params, lr=0.1, backend=cpu_backend)
    resumed.load_state_dict(sd)
    for g in grads[2:4]:
        resumed.step(g)
    np.testing.assert_array_equal(resumed_params["w"], straight["w"])
    assert_states_close(resumed, ref)


# --------------------------------------------------------------------------- dtypes
SCALAR_KINDS = {
    "python_float": float,
    "numpy_float64": np.float64,
    "zero_d_array": np.asarray,
    "numpy_float32": np.float32,
}


def _run_float32(config, cpu_backend, kwargs):
    rng = np.random.default_rng(8)
    w = rng.standard_normal((2, 3)).astype(np.float32)
    opt = config.cls(w, backend=cpu_backend, **kwargs)
    for _ in range(3):
        opt.step(rng.standard_normal((2, 3)).astype(np.float32))
    return w, opt


@pytest.mark.parametrize("kind", list(SCALAR_KINDS))
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_dtype_kept_whatever_the_scalar_type(config, cpu_backend, kind):
    kwargs = with_scalar_kind(config.kwargs, SCALAR_KINDS[kind])
    w, opt = _run_float32(config, cpu_backend, kwargs)
    assert w.dtype == np.float32
    for name, entries in opt.state.items():
        for key, value in entries.items():
            assert value.dtype == np.float32, (name, key, value.dtype)
    ref_w, ref = _run_float32(config, cpu_backend, config.kwargs)
    # float32 scalars are rounded before the host arithmetic: allow a little more
    tol = tolerance(np.float32)
    np.testing.assert_allclose(w, ref_w, **tol)
    assert_states_close(opt, ref, **tol)


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_dtype_kept_with_float64_array_hypers(config, cpu_backend):
    arrays, _ = population_kwargs(config)
    if config.kwargs.get("nesterov"):  # array momentum with Nesterov
        arrays.pop("momentum")
    assert arrays["lr"].dtype == np.float64
    w = np.ones((3, 4), np.float32)
    opt = config.make(w, backend=cpu_backend, **arrays)
    for _ in range(2):
        opt.step(np.full((3, 4), 0.5, np.float32))
    assert w.dtype == np.float32
    assert not np.array_equal(w[0], w[1])
    for entries in opt.state.values():
        for value in entries.values():
            assert value.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_state_dict_keeps_dtype_and_resumes(dtype, cpu_backend):
    config = BY_NAME["adam_amsgrad_wd"]
    params, grads = small_problem(dtype)
    opt = config.make(params, backend=cpu_backend)
    opt.step(grads[0])
    sd = opt.state_dict()
    assert {v.dtype for e in sd["state"].values() for v in e.values()} == {np.dtype(dtype)}
    fresh = config.make(copy_params(params), backend=cpu_backend)
    fresh.load_state_dict(sd)
    assert {v.dtype for e in fresh.state.values() for v in e.values()} == {np.dtype(dtype)}


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_state_dict_round_trip_on_every_backend(backend, config):
    """state_dict is plain NumPy data from any backend, and a run resumed from it goes
    on bit for bit."""
    params, grads = small_problem(np.float64)
    asarray = backend.asarray

    def make(values):
        return {k: asarray(v) for k, v in values.items()}

    straight = make(params)
    opt = config.make(straight, backend=backend.optkit)
    for g in grads:
        opt.step(make(g))
    half = make(params)
    first = config.make(half, backend=backend.optkit)
    for g in grads[:SPLIT]:
        first.step(make(g))
    sd = copy.deepcopy(first.state_dict())
    assert all(type(v) is np.ndarray for e in sd["state"].values() for v in e.values())
    resumed = {k: asarray(backend.to_numpy(v)) for k, v in half.items()}
    second = config.make(resumed, backend=backend.optkit)
    second.load_state_dict(sd)
    for g in grads[SPLIT:]:
        second.step(make(g))
    for name in params:
        np.testing.assert_array_equal(
            backend.to_numpy(resumed[name]), backend.to_numpy(straight[name])
        )

"""The reference path under ``array_api_strict`` (TESTING.md B5): standard-only code,
same results as the NumPy reference, arrays stay in their library."""

from __future__ import annotations

import copy

import array_api_strict as xps
import numpy as np
import pytest
from _configs import (
    CONFIG_IDS,
    CONFIGS,
    DTYPES,
    ONE_PER_RULE,
    assert_states_close,
    population_kwargs,
)
from conftest import tolerance

import optkit as ok

STRICT_ARRAY = type(xps.ones(1))
STEPS = 10


def _strict(x):
    return xps.asarray(np.array(x, copy=True))


def _problem(dtype):
    rng = np.random.default_rng(17)
    params = {
        "w": rng.standard_normal((3, 4)),
        "b": rng.standard_normal(4),
        "s": rng.standard_normal(()),
    }
    params = {k: np.asarray(v).astype(dtype) for k, v in params.items()}
    grads = [
        {
            k: np.asarray(rng.standard_normal(v.shape)).astype(dtype)
            for k, v in params.items()
        }
        for _ in range(STEPS)
    ]
    return params, grads


def _run_numpy(config, params, grads, **overrides):
    ps = {k: v.copy() for k, v in params.items()}
    opt = config.make(ps, backend="numpy", **overrides)
    for g in grads:
        opt.step(g)
    return ps, opt


def _run_strict(config, params, grads, backend, **overrides):
    ps = {k: _strict(v) for k, v in params.items()}
    opt = config.make(ps, backend=backend, **overrides)
    assert opt.backend == "array_api"
    for g in grads:
        assert opt.step({k: _strict(v) for k, v in g.items()}) is True
    return ps, opt


@pytest.mark.parametrize("backend", ["array_api", "auto"])
@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_reference_path_runs_under_array_api_strict(config, dtype, backend):
    params, grads = _problem(dtype)
    want, ref = _run_numpy(config, params, grads)
    got, opt = _run_strict(config, params, grads, backend)
    tol = tolerance(dtype)
    for name in params:
        assert isinstance(got[name], STRICT_ARRAY)
        assert got[name].dtype == getattr(xps, np.dtype(dtype).name)
        np.testing.assert_allclose(np.asarray(got[name]), want[name], err_msg=name, **tol)
    assert opt.state.keys() == ref.state.keys()
    for name, entries in ref.state.items():
        assert opt.state[name].keys() == entries.keys()
        for key, value in entries.items():
            state = opt.state[name][key]
            assert isinstance(state, STRICT_ARRAY), (name, key)
            assert state.dtype == got[name].dtype
            np.testing.assert_allclose(
                np.asarray(state), value, err_msg=f"{name}.{key}", **tol
            )
    assert not np.allclose(np.asarray(got["w"]), params["w"])


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_population_under_array_api_strict(config):
    arrays, _ = population_kwargs(config)
    if config.kwargs.get("nesterov"):  # array momentum with Nesterov: see B6
        arrays.pop("momentum")
    strict_arrays = {
        k: tuple(_strict(b) for b in v) if isinstance(v, tuple) else _strict(v)
        for k, v in arrays.items()
    }
    rng = np.random.default_rng(4)
    start = rng.standard_normal((3, 5))
    grads = [rng.standard_normal((3, 5)) for _ in range(4)]
    want = start.copy()
    ref = config.make(want, backend="numpy", **arrays)
    got = _strict(start)
    opt = config.make(got, backend="array_api", **strict_arrays)
    for g in grads:
        ref.step(g)
        opt.step(_strict(g))
    np.testing.assert_allclose(np.asarray(got), want, **tolerance(np.float64))
    assert not np.allclose(want[0], want[1])


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_state_dict_round_trip_under_array_api_strict(config):
    """state_dict is plain NumPy data from any backend, and loads back (S1/S2)."""
    params, grads = _problem(np.float64)
    straight, ref = _run_strict(config, params, grads, "array_api")
    half = {k: _strict(v) for k, v in params.items()}
    opt = config.make(half, backend="array_api")
    for g in grads[:4]:
        opt.step({k: _strict(v) for k, v in g.items()})
    sd = copy.deepcopy(opt.state_dict())
    assert all(isinstance(v, np.ndarray) for e in sd["state"].values() for v in e.values())
    resumed = {k: _strict(np.asarray(v)) for k, v in half.items()}
    new = config.make(resumed, backend="array_api")
    new.load_state_dict(sd)
    for g in grads[4:]:
        new.step({k: _strict(v) for k, v in g.items()})
    for name in params:
        np.testing.assert_array_equal(np.asarray(resumed[name]), np.asarray(straight[name]))
    assert_states_close(new, ref)


def test_numpy_grads_for_strict_params_raise_naming_both():
    w = xps.ones(3, dtype=xps.float64)
    opt = ok.Adam({"w": w}, lr=0.1)
    with pytest.raises(TypeError, match=r"(?=.*'w')(?=.*numpy)(?=.*array_api_strict)"):
        opt.step({"w": np.ones(3)})
    assert bool(xps.all(w == 1.0))


def test_flat_params_under_array_api_strict_use_plain_dtype_names():
    """Buffers and state are named by dtype ("float64"), whatever the array library,
    so that names match the NumPy backend's and checkpoints move between them."""
    src = {"w": xps.ones((2, 3), dtype=xps.float64), "b": xps.zeros(3, dtype=xps.float64)}
    fp = ok.FlatParams(src)
    opt = ok.Adam(fp, lr=0.1)
    g = fp.zeros_like()
    for k in g.buffers:
        g.buffers[k][...] = xps.ones(9, dtype=xps.float64)
    opt.step(g)
    np.testing.assert_allclose(np.asarray(fp["w"]), 0.9)  # views see the update
    np.testing.assert_allclose(np.asarray(fp["b"]), -0.1)
    numpy_fp = ok.FlatParams({"w": np.ones((2, 3)), "b": np.zeros(3)})
    assert list(fp.buffers) == list(numpy_fp.buffers) == ["float64"]
    assert set(opt.state) == {"flat:float64"}

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
    assert_snapshot_equal,
    assert_states_close,
    population_kwargs,
    snapshot,
    with_scalar_kind,
)
from _support.corruptions import BAD_LOADS, GARBAGE, NADAM_BAD_GROUP_STATE, nodes, replaced

import optkit as ok
from optkit import schedules as S

STEPS, SPLIT = 10, 4


def _problem(dtype=np.float64):
    rng = np.random.default_rng(21)
    params = {"w": rng.standard_normal((3, 4)), "b": rng.standard_normal(4)}
    params = {k: v.astype(dtype) for k, v in params.items()}
    grads = [
        {k: rng.standard_normal(v.shape).astype(dtype) for k, v in params.items()}
        for _ in range(STEPS)
    ]
    return params, grads


def _copy(params):
    return {k: v.copy() for k, v in params.items()}


# --------------------------------------------------------------------------- resume
@pytest.mark.parametrize("config", CONFIGS, ids=CONFIG_IDS)
def test_resume_equals_uninterrupted(config, cpu_backend):
    params, grads = _problem()
    straight = _copy(params)
    opt = config.make(straight, backend=cpu_backend)
    for g in grads:
        opt.step(g)

    first = _copy(params)
    before = config.make(first, backend=cpu_backend)
    for g in grads[:SPLIT]:
        before.step(g)
    saved = copy.deepcopy(before.state_dict())
    resumed_params = _copy(first)  # fresh copies of the parameters
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
    params, grads = _problem()
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
    params, grads = _problem()
    opt = ok.Adam(_copy(params), lr=0.1, backend=cpu_backend)
    opt.step(grads[0])
    sd = opt.state_dict()
    frozen = copy.deepcopy(sd)
    twins = []
    for _ in range(2):
        p = _copy(params)
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
    params, grads = _problem()
    straight = _copy(params)
    ref = ok.Adam(straight, lr=0.1, backend=cpu_backend)
    for g in grads[:4]:
        ref.step(g)
    resumed_params = _copy(params)
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


# --------------------------------------------------------------------------- bad loads
def _bad_load_changes_nothing(make, corrupt, error, pattern, cpu_backend):
    """Load a corrupted state_dict into a stepped optimizer: the error names the
    culprit, nothing changes, and the optimizer goes on as one that never saw it."""
    params, grads = _problem()
    a, b = _copy(params), _copy(params)
    opt, twin = make(a, lr=0.1, backend=cpu_backend), make(b, lr=0.1, backend=cpu_backend)
    for g in grads[:2]:
        opt.step(g)
        twin.step(g)
    other = make(_copy(params), lr=0.3, backend=cpu_backend)
    for g in grads[:3]:
        other.step(g)
    sd = copy.deepcopy(other.state_dict())
    corrupt(sd)
    before = snapshot(opt, list(a.values()))
    with pytest.raises(error, match=pattern):
        opt.load_state_dict(sd)
    assert_snapshot_equal(before, snapshot(opt, list(a.values())))
    assert opt.param_groups[0]["lr"] == 0.1
    assert opt.skipped_steps == 0
    for g in grads[2:4]:
        opt.step(g)
        twin.step(g)
    np.testing.assert_array_equal(a["w"], b["w"])
    assert_states_close(opt, twin)


@pytest.mark.parametrize("kind", list(BAD_LOADS))
def test_bad_load_raises_and_changes_nothing(kind, cpu_backend):
    _bad_load_changes_nothing(ok.Adam, *BAD_LOADS[kind], cpu_backend)


@pytest.mark.parametrize("kind", list(NADAM_BAD_GROUP_STATE))
def test_nadam_group_state_is_checked(kind, cpu_backend):
    _bad_load_changes_nothing(ok.NAdam, *NADAM_BAD_GROUP_STATE[kind], cpu_backend)


def test_load_accepts_broadcastable_array_hyperparameters(cpu_backend):
    params, grads = _problem()
    opt = ok.Adam(_copy(params), lr=0.1, backend=cpu_backend)
    opt.step(grads[0])
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = np.full(4, 0.05)  # broadcasts to (3, 4) and (4,)
    fresh = ok.Adam(_copy(params), lr=0.1, backend=cpu_backend)
    fresh.load_state_dict(sd)
    np.testing.assert_array_equal(fresh.param_groups[0]["lr"], np.full(4, 0.05))
    assert not np.shares_memory(fresh.param_groups[0]["lr"], sd["param_groups"][0]["lr"])


def test_array_hyperparameter_for_a_flatparams_is_refused():
    flat = ok.FlatParams({"w": np.ones(3), "b": np.ones(2)})
    opt = ok.SGD(flat, lr=0.1)
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = np.full((1,), 0.1)
    with pytest.raises(ValueError, match=r"param_groups\[0\]\.lr.*FlatParams"):
        opt.load_state_dict(sd)
    assert opt.param_groups[0]["lr"] == 0.1


def test_non_finite_state_loads_when_the_optimizer_propagates():
    w = np.ones(3)
    opt = ok.Adam(w, lr=0.1, nonfinite="propagate")
    opt.step(np.array([1.0, np.nan, 1.0]))
    sd = opt.state_dict()
    fresh = ok.Adam(np.ones(3), lr=0.1, nonfinite="propagate")
    fresh.load_state_dict(sd)
    assert np.isnan(fresh.state["param"]["m"][1])
    strict = ok.Adam(np.ones(3), lr=0.1)
    with pytest.raises(ValueError, match=r"state\.param\.m holds NaN"):
        strict.load_state_dict(sd)
    assert strict.state == {}


def _schedule_bad_load(lr, corrupt, pattern):
    """An optimizer whose lr is a stateful schedule refuses a bad saved schedule
    state; neither the schedule nor the optimizer changes."""
    w = np.ones(3)
    opt = ok.SGD(w, lr=lr, momentum=0.9)
    opt.step(np.ones(3))
    sd = copy.deepcopy(opt.state_dict())
    corrupt(sd["param_groups"][0]["lr"])
    schedule_before = copy.deepcopy(lr.state_dict())
    before = snapshot(opt, [w])
    with pytest.raises((ValueError, TypeError), match=pattern):
        opt.load_state_dict(sd)
    assert lr.state_dict() == schedule_before
    assert_snapshot_equal(before, snapshot(opt, [w]))


@pytest.mark.parametrize(
    ("entry", "value", "pattern"),
    [
        ("value", -0.5, r"param_groups\[0\]\.lr\.value is -0\.5"),
        ("value", float("nan"), r"param_groups\[0\]\.lr\.value is nan"),
        ("best", float("nan"), r"param_groups\[0\]\.lr\.best"),
        ("observations", -1, r"param_groups\[0\]\.lr\.observations is -1"),
        ("bad_observations", 2.0, r"param_groups\[0\]\.lr\.bad_observations"),
        ("cooldown_left", "1", r"param_groups\[0\]\.lr\.cooldown_left"),
    ],
)
def test_bad_plateau_state_inside_an_optimizer(entry, value, pattern):
    plateau = ok.schedules.ReduceOnPlateau(0.1, patience=3)
    plateau.observe(1.0)

    def corrupt(state):
        state[entry] = value

    _schedule_bad_load(plateau, corrupt, pattern)


def test_bad_state_of_a_joined_schedule_names_the_part():
    S = ok.schedules
    first, second = S.ReduceOnPlateau(0.1), S.ReduceOnPlateau(0.05)
    first.observe(2.0)
    second.observe(3.0)
    lr = S.join([first, S.constant(0.1), second], [5, 10])

    def corrupt(state):
        state["0"]["value"] = 0.01  # valid, but must not be loaded either
        state["2"]["value"] = -1.0

    _schedule_bad_load(lr, corrupt, r"param_groups\[0\]\.lr\[2\]\.value is -1\.0")
    assert first.value == 0.1


def test_any_single_bad_entry_is_a_clean_error_or_a_valid_load():
    """Every entry of a NAdam state_dict (with a joined plateau schedule) replaced by
    garbage: the load raises ValueError/TypeError and changes nothing, or it loads
    something the optimizer can step with. Never an AttributeError or KeyError."""

    def make():
        lr = S.join([S.constant(0.1), S.ReduceOnPlateau(0.1)], [3])
        params = {"w": np.ones((3, 2)), "b": np.ones(2)}
        return params, ok.NAdam(params, lr=lr, backend="numpy")

    grads = {"w": np.ones((3, 2)), "b": np.full(2, 0.5)}
    source = make()[1]
    source.step(grads)
    sd = source.state_dict()
    failures = 0
    for path in list(nodes(sd))[1:]:
        for garbage in GARBAGE:
            params, opt = make()
            opt.step(grads)
            before = snapshot(opt, list(params.values()))
            plateau = opt.param_groups[0]["lr"].schedules[1].state_dict()
            try:
                opt.load_state_dict(replaced(sd, path, garbage))
            except (ValueError, TypeError):
                failures += 1
                assert_snapshot_equal(before, snapshot(opt, list(params.values())))
                assert opt.param_groups[0]["lr"].schedules[1].state_dict() == plateau
                continue
            assert opt.step(grads), (path, garbage)
            assert all(np.isfinite(p).all() for p in params.values()), (path, garbage)
    assert failures > 300


def test_load_rejects_a_non_state_dict():
    opt = ok.SGD(np.ones(2), lr=0.1)
    with pytest.raises(ValueError, match="state_dict"):
        opt.load_state_dict({"step": 3})


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
    params, grads = _problem(dtype)
    opt = config.make(params, backend=cpu_backend)
    opt.step(grads[0])
    sd = opt.state_dict()
    assert {v.dtype for e in sd["state"].values() for v in e.values()} == {np.dtype(dtype)}
    fresh = config.make(_copy(params), backend=cpu_backend)
    fresh.load_state_dict(sd)
    assert {v.dtype for e in fresh.state.values() for v in e.values()} == {np.dtype(dtype)}


@pytest.mark.parametrize("config", ONE_PER_RULE, ids=[c.name for c in ONE_PER_RULE])
def test_state_dict_round_trip_on_every_backend(backend, config):
    """state_dict is plain NumPy data from any backend, and a run resumed from it goes
    on bit for bit."""
    params, grads = _problem(np.float64)
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


def test_group_checks_run_for_added_groups_and_loaded_state():
    w = np.ones(2)
    opt = ok.SGD(w, lr=0.1, momentum=0.9, nesterov=True)
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        opt.add_param_group({"params": [np.ones(2)], "momentum": 0.0})
    state = opt.state_dict()
    state["param_groups"][0]["momentum"] = 0.0
    with pytest.raises(ValueError, match="nesterov=True requires momentum > 0"):
        opt.load_state_dict(state)
    assert opt.param_groups[0]["momentum"] == 0.9


def test_group_state_must_match_the_groups():
    w = np.ones(3)
    opt = ok.NAdam(w, lr=0.1)
    opt.step(np.ones(3))
    state = opt.state_dict()
    for bad in ([], [{}, {}]):
        with pytest.raises(ValueError, match="group_state"):
            opt.load_state_dict({**state, "group_state": bad})
    del state["group_state"]
    with pytest.raises(ValueError, match="group_state"):
        opt.load_state_dict(state)

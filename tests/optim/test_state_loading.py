"""Loading an optimizer state_dict is all or nothing: every bad entry is a clean
``ValueError``/``TypeError`` naming its key path, and nothing changes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from _support.configs import (
    assert_snapshot_equal,
    assert_states_close,
    copy_params,
    small_problem,
    snapshot,
)
from _support.corruptions import BAD_LOADS, GARBAGE, NADAM_BAD_GROUP_STATE, nodes, replaced

import optkit as ok
from optkit import schedules as S

STEPS, SPLIT = 10, 4


# --------------------------------------------------------------------------- bad loads
def _bad_load_changes_nothing(make, corrupt, error, pattern, cpu_backend):
    """Load a corrupted state_dict into a stepped optimizer: the error names the
    culprit, nothing changes, and the optimizer goes on as one that never saw it."""
    params, grads = small_problem()
    a, b = copy_params(params), copy_params(params)
    opt, twin = make(a, lr=0.1, backend=cpu_backend), make(b, lr=0.1, backend=cpu_backend)
    for g in grads[:2]:
        opt.step(g)
        twin.step(g)
    other = make(copy_params(params), lr=0.3, backend=cpu_backend)
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
    params, grads = small_problem()
    opt = ok.Adam(copy_params(params), lr=0.1, backend=cpu_backend)
    opt.step(grads[0])
    sd = opt.state_dict()
    sd["param_groups"][0]["lr"] = np.full(4, 0.05)  # broadcasts to (3, 4) and (4,)
    fresh = ok.Adam(copy_params(params), lr=0.1, backend=cpu_backend)
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

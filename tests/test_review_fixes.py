"""Regression tests for problems found in review: each failed before its fix."""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok
from optkit import schedules as S


def test_float16_params_take_the_numpy_path_under_auto():
    w = np.ones(5, np.float16)
    opt = ok.Adam(w, lr=0.1)
    assert opt.backend == "numpy"
    opt.step(np.ones(5, np.float16))
    assert w.dtype == np.float16 and np.all(w < 1)


def test_float16_params_with_explicit_numba_raise_naming_the_parameter():
    with pytest.raises(TypeError, match="'half' is float16"):
        ok.SGD({"half": np.ones(3, np.float16)}, lr=0.1, backend="numba")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_float16_global_norm_does_not_overflow(backend):
    g = np.full(100_000, 0.01, np.float16)
    norm = ok.clip_by_global_norm([g], 1.0, backend=backend)
    assert float(norm) == pytest.approx(
        np.sqrt(100_000) * float(np.float16(0.01)), rel=1e-3
    )
    assert float(np.linalg.norm(g.astype(np.float64))) <= 1.0 + 1e-3


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


def test_delta_bar_delta_refuses_a_schedule_for_its_initial_rate():
    with pytest.raises(TypeError, match="initial value"):
        ok.DeltaBarDelta(np.ones(2), lr=S.linear(0.1, 0.0, 10))


def test_betas_as_a_list_in_a_group_with_a_schedule():
    a, b = np.ones(3), np.ones(3)
    ok.Adam([{"params": [a], "betas": [S.constant(0.9), 0.999]}], lr=0.1).step([[a * 2]])
    ok.Adam([b], lr=0.1, betas=(0.9, 0.999)).step([b * 2])
    np.testing.assert_array_equal(a, b)


def test_nadam_betas_not_a_pair_names_betas():
    with pytest.raises(ValueError, match="betas"):
        ok.NAdam(np.ones(2), betas=0.9)


def test_load_checkpoint_backend_name_is_case_insensitive(tmp_path):
    path = tmp_path / "c.npz"
    ok.save_checkpoint(path, w=np.arange(3.0))
    np.testing.assert_array_equal(ok.load_checkpoint(path, backend="NumPy")["w"], [0, 1, 2])
    with pytest.raises(ValueError, match="unknown backend"):
        ok.load_checkpoint(path, backend="tpu")


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_dict_gradients_on_flat_params_over_several_steps(backend):
    arrays = {"w": np.linspace(-1, 1, 6).reshape(2, 3), "b": np.array([0.5, -0.5])}
    flat = ok.FlatParams(arrays)
    separate = {k: v.copy() for k, v in arrays.items()}
    opt_flat = ok.Adam(flat, lr=0.1, backend=backend)
    opt_sep = ok.Adam(separate, lr=0.1, backend=backend)
    for step in range(4):
        opt_flat.step({k: (step + 1) * flat[k] for k in flat.keys()})
        opt_sep.step({k: (step + 1) * v for k, v in separate.items()})
    for k in arrays:
        np.testing.assert_allclose(flat[k], separate[k], rtol=1e-12)

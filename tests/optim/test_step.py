"""A step is all or nothing: whatever fails, nothing has moved.

Each case builds an optimizer with two groups (so that a failure in the second group
would, without the up-front checks, come after the first group's update), makes one
good step, snapshots everything (parameters, state, step counts, group state,
hyperparameters), provokes the failure, and checks that the error names the culprit
and that the snapshot is unchanged — so that a caller who catches the error and
retries never applies an update twice. Then the optimizer goes on normally.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from _support.configs import assert_snapshot_equal, snapshot

import optkit as ok
from optkit import schedules as S


def _two_groups(cls=ok.Adam, second=None, **kwargs):
    a, b = np.linspace(-1.0, 1.0, 6), np.linspace(2.0, 3.0, 4)
    groups = [{"params": {"a": a}}, {"params": {"b": b}, **(second or {})}]
    opt = cls(groups, lr=0.1, **kwargs)
    opt.step({"a": np.ones(6), "b": np.ones(4)})
    return opt, [a, b]


def _grads():
    return {"a": np.full(6, 0.5), "b": np.full(4, -0.5)}


def _fails_changing_nothing(opt, params, error, pattern, grads=None):
    before = snapshot(opt, params)
    with pytest.raises(error, match=pattern):
        opt.step(_grads() if grads is None else grads)
    assert_snapshot_equal(before, snapshot(opt, params))


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_read_only_parameter_among_writable_ones(backend):
    a, b = np.ones(6), np.ones(4)
    b.flags.writeable = False
    opt = ok.Adam({"a": a, "b": b}, lr=0.1, backend=backend)
    _fails_changing_nothing(opt, [a, b], ValueError, r"'b'.*read-only")
    assert opt.step_count == 0 and opt.state == {}


def test_a_schedule_that_raises_in_a_later_group():
    def broken(t):
        if t >= 1:
            raise RuntimeError("schedule failed")
        return 0.1

    opt, params = _two_groups(second={"lr": broken})
    _fails_changing_nothing(opt, params, RuntimeError, "schedule failed")


@pytest.mark.parametrize(
    ("value", "error", "pattern"),
    [
        (math.nan, ValueError, r"group 1: invalid lr=nan.*step 1"),
        (math.inf, ValueError, r"group 1: invalid lr=inf.*finite.*step 1"),
        (-0.5, ValueError, r"group 1: invalid lr=-0\.5.*>= 0.*step 1"),
        ("fast", TypeError, r"group 1: invalid lr='fast'.*step 1"),
    ],
)
def test_a_bad_schedule_value_names_hyperparameter_and_step(value, error, pattern):
    schedule = S.Schedule(lambda t: 0.1 if t == 0 else value, "bad after step 0")
    opt, params = _two_groups(second={"lr": schedule})
    _fails_changing_nothing(opt, params, error, pattern)


def test_nadam_product_does_not_advance_on_a_failed_step():
    opt, params = _two_groups(ok.NAdam)
    product = opt.group_state[0]["mu_product"]
    params[1].flags.writeable = False
    _fails_changing_nothing(opt, params, ValueError, "read-only")
    assert opt.group_state[0]["mu_product"] == product
    params[1].flags.writeable = True
    assert opt.step(_grads()) and opt.group_state[0]["mu_product"] < product


@pytest.mark.parametrize(
    ("key", "value", "error", "pattern"),
    [
        ("lr", -1.0, ValueError, r"group 1: invalid lr=-1\.0.*param_groups"),
        ("betas", (0.9, 1.5), ValueError, r"betas\[1\]=1\.5"),
        ("eps", "tiny", TypeError, r"eps='tiny'"),
    ],
)
def test_values_written_into_param_groups_are_checked_at_the_next_step(
    key, value, error, pattern
):
    opt, params = _two_groups()
    good = opt.param_groups[1][key]
    opt.param_groups[1][key] = value
    _fails_changing_nothing(opt, params, error, pattern)
    opt.param_groups[1][key] = good
    assert opt.step(_grads())


def test_a_new_valid_value_in_param_groups_takes_effect():
    a = np.zeros(3)
    opt = ok.SGD(a, lr=0.1)
    opt.step(np.ones(3))
    opt.param_groups[0]["lr"] = 0.5
    opt.step(np.ones(3))
    np.testing.assert_allclose(a, -0.6)


def test_a_torch_tensor_that_requires_grad_among_others():
    torch = pytest.importorskip("torch")
    a = torch.zeros(3, dtype=torch.float64)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = ok.SGD({"a": a, "b": b}, lr=0.1)
    with pytest.raises(ValueError, match=r"'b'.*requires grad"):
        opt.step(
            {
                "a": torch.ones(3, dtype=torch.float64),
                "b": torch.ones(2, dtype=torch.float64),
            }
        )
    assert float(a.abs().sum()) == 0.0 and opt.step_count == 0


def test_grouped_parameters_take_one_flat_list_of_gradients():
    opt, params = _two_groups(ok.SGD)
    twin, twin_params = _two_groups(ok.SGD)
    opt.step([np.full(6, 0.5), np.full(4, -0.5)])
    twin.step(_grads())
    for p, q in zip(params, twin_params):
        np.testing.assert_array_equal(p, q)


def test_a_wrong_gradient_structure_says_one_list_per_group():
    opt, params = _two_groups(ok.SGD)
    _fails_changing_nothing(
        opt, params, ValueError, r"list of 2 \(one per group.*flat list of 2 arrays",
        grads=[np.ones(6)],
    )  # fmt: skip


def test_a_failed_step_can_be_retried_once_fixed():
    """The point of it all: catch, fix, retry, and the update is applied exactly once."""
    opt, params = _two_groups()
    reference, ref_params = _two_groups()
    params[1].flags.writeable = False
    with pytest.raises(ValueError):
        opt.step(_grads())
    params[1].flags.writeable = True
    opt.step(_grads())
    reference.step(_grads())
    for p, q in zip(params, ref_params):
        np.testing.assert_array_equal(p, q)
    assert opt.step_count == reference.step_count == 2

"""Parameter groups: shared parameters are refused, and groups added late behave as
torch's — each group counts its own steps (bias corrections, first-step rules)."""

from __future__ import annotations

import numpy as np
import pytest
from _support.configs import CONFIGS
from _support.goldens import PROBLEM, golden_gradient

import optkit as ok


# --------------------------------------------------------------------------- shared
@pytest.mark.parametrize(
    ("make", "names"),
    [
        (lambda w: ok.SGD([w, w], lr=0.1), ("'0'", "'1'")),
        (lambda w: ok.SGD({"w": w, "tied": w}, lr=0.1), ("'tied'", "'w'")),
        (lambda w: ok.SGD([{"params": {"w": w}}, {"params": {"v": w}}], lr=0.1),
         ("'v'", "'w'")),
    ],
    ids=["list", "dict", "two_groups"],
)  # fmt: skip
def test_the_same_array_twice_is_refused_naming_both(make, names):
    w = np.ones(4)
    with pytest.raises(ValueError, match="same array") as info:
        make(w)
    for name in names:
        assert name in str(info.value)


def test_overlapping_views_are_refused_naming_both():
    base = np.zeros(10)
    with pytest.raises(ValueError, match=r"'head'.*'tail'.*share memory"):
        ok.Adam({"head": base[:6], "tail": base[4:]}, lr=0.1)
    opt = ok.Adam({"head": base[:6]}, lr=0.1)
    with pytest.raises(ValueError, match="share memory"):
        opt.add_param_group({"params": {"tail": base[4:]}})
    assert len(opt.param_groups) == 1


def test_interleaved_views_that_do_not_overlap_are_fine():
    base = np.zeros((5, 2))
    opt = ok.SGD({"even": base[:, 0], "odd": base[:, 1]}, lr=0.5)
    opt.step({"even": np.ones(5), "odd": -np.ones(5)})
    np.testing.assert_array_equal(base, [[-0.5, 0.5]] * 5)


def test_flat_params_views_are_distinct_but_not_beside_the_buffer():
    fp = ok.FlatParams({"w": np.ones((2, 3)), "b": np.zeros(3)})
    ok.SGD(fp, lr=0.1)  # its views are distinct: fine
    with pytest.raises(ValueError, match="share memory"):
        ok.SGD([{"params": fp}, {"params": {"w_again": fp["w"]}}], lr=0.1)


# --------------------------------------------------------------------------- late groups
TORCH_CONFIGS = [c for c in CONFIGS if c.torch]
#: Gradient noise keeps the trajectories away from the optimum, where centered RMSprop's
#: v - gbar^2 cancels and amplifies last-bit differences (torch's CPU lerp fuses a
#: multiply-add) into visible ones; with noise they stay at the rounding level.
NOISE = 0.3


def _noisy(x: np.ndarray, k: int, which: int) -> np.ndarray:
    rng = np.random.default_rng((k, which))
    return golden_gradient(x) + NOISE * rng.standard_normal(x.shape)


def _trajectory_ok(config, first_steps: int, after: int = 5):
    w0, w1 = PROBLEM["x0"].copy(), PROBLEM["x0"][::-1].copy() * 0.5
    opt = config.make({"w0": w0}, backend="numpy")
    for k in range(first_steps):
        opt.step({"w0": _noisy(w0, k, 0)})
    opt.add_param_group({"params": {"w1": w1}})
    for k in range(first_steps, first_steps + after):
        opt.step({"w0": _noisy(w0, k, 0), "w1": _noisy(w1, k, 1)})
    return w0, w1


def _trajectory_torch(torch, config, first_steps: int, after: int = 5):
    kwargs = {k: v for k, v in config.kwargs.items()}
    w0 = torch.tensor(PROBLEM["x0"].copy())
    w1 = torch.tensor(PROBLEM["x0"][::-1].copy() * 0.5)
    opt = getattr(torch.optim, config.cls.__name__)([w0], foreach=False, **kwargs)

    def step(tensors, k):
        for which, t in enumerate(tensors):
            t.grad = torch.from_numpy(_noisy(t.detach().numpy().copy(), k, which))
        opt.step()

    for k in range(first_steps):
        step([w0], k)
    opt.add_param_group({"params": [w1]})
    for k in range(first_steps, first_steps + after):
        step([w0, w1], k)
    return w0.detach().numpy(), w1.detach().numpy()


@pytest.mark.torch
@pytest.mark.parametrize("first_steps", [1, 10, 1000])
@pytest.mark.parametrize("config", TORCH_CONFIGS, ids=[c.name for c in TORCH_CONFIGS])
def test_a_group_added_late_matches_torch(config, first_steps):
    torch = pytest.importorskip("torch")
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # torch's scalar state (NAdam's product)
    try:
        want = _trajectory_torch(torch, config, first_steps)
    finally:
        torch.set_default_dtype(previous)
    got = _trajectory_ok(config, first_steps)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-9, atol=1e-12)


def test_a_late_group_starts_its_own_step_count():
    """Adam's first step of a new parameter is about -lr * sign(g), whatever the
    optimizer's global step (the issue: -0.0252 instead of torch's -0.0100)."""
    w0, w1 = np.zeros(3), np.zeros(3)
    opt = ok.Adam({"w0": w0}, lr=0.01)
    for _ in range(50):
        opt.step({"w0": np.ones(3)})
    opt.add_param_group({"params": {"w1": w1}})
    opt.step({"w0": np.ones(3), "w1": np.ones(3)})
    np.testing.assert_allclose(w1, -0.01, rtol=1e-6)
    assert [gs["step"] for gs in opt.group_state] == [51, 1]


def test_group_step_counts_survive_a_state_dict_round_trip():
    w0, w1 = np.zeros(3), np.zeros(3)
    opt = ok.Adam({"w0": w0}, lr=0.01)
    for _ in range(3):
        opt.step({"w0": np.ones(3)})
    opt.add_param_group({"params": {"w1": w1}})
    opt.step({"w0": np.ones(3), "w1": np.ones(3)})
    copy0, copy1 = w0.copy(), w1.copy()
    other = ok.Adam({"w0": copy0}, lr=0.01)
    other.add_param_group({"params": {"w1": copy1}})
    other.load_state_dict(opt.state_dict())
    assert [gs["step"] for gs in other.group_state] == [4, 1]
    for o in (opt, other):
        o.step({"w0": np.ones(3), "w1": 2 * np.ones(3)})
    np.testing.assert_array_equal(copy0, w0)
    np.testing.assert_array_equal(copy1, w1)

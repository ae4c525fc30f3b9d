"""optkit.bench.targets: the performance targets, measured at small sizes."""

from __future__ import annotations

import importlib.util
import json

import numpy as np

import optkit
from optkit.bench import targets

HAS_TORCH = importlib.util.find_spec("torch") is not None
SMALL = targets.Sizes(
    adam=2**12,
    batch_norm=(
        ("(64, 8)", (64, 8), 1),
        ("NCHW", (2, 4, 3, 3), 1),
        ("NHWC", (2, 3, 3, 4), -1),
    ),
    layer_norm=(16, 8),
    clip=2**12,
    small=256,
    tensors=3,
    numpy_rounds=2,
)


def _measure(groups, backend="numba"):
    found = {}
    for _, group in targets.measure(backend, SMALL, rounds=2, groups=groups):
        found.update({t.key: t for t in group})
    return found


def test_every_group_yields_its_targets():
    found = _measure(None)
    expected = {"adam_roofline_fraction", "adam_vs_torch_fused", "finite_check_overhead",
                "numpy_over_fast", "batch_norm_speedup_2d", "batch_norm_speedup_nchw",
                "batch_norm_speedup_channels_last", "layer_norm_speedup", "clip_speedup",
                "clip_norm_only_speedup", "small_step_us_raise", "small_step_us_propagate",
                "many_tensors_speedup"}  # fmt: skip
    assert expected <= set(found)
    assert expected <= set(targets.DESCRIPTIONS)
    assert found["adam_roofline_fraction"].value > 0
    assert found["small_step_us_raise"].value > 0 and found["numpy_over_fast"].value > 0
    assert found["batch_norm_speedup_nchw_roofline_fraction"].value > 0
    peers = ["adam_vs_torch_fused", "batch_norm_speedup_2d", "clip_speedup"]
    for key in peers:
        assert (found[key].value is not None) == HAS_TORCH, found[key].detail
    times = found["adam_vs_torch_fused"].times_ms
    assert {"propagate", "raise", "roofline"} <= set(times)


def _layer_norm(x, normalized_shape, weight, bias, eps, backend=None):
    mean = x.mean(-1, keepdims=True)
    invstd = 1.0 / np.sqrt(x.var(-1, keepdims=True) + eps)
    xhat = (x - mean) * invstd
    return xhat * weight + bias, (xhat, invstd, weight)


def _layer_norm_backward(dy, cache):
    xhat, invstd, weight = cache
    g = dy * weight
    dx = invstd * (
        g - g.mean(-1, keepdims=True) - xhat * (g * xhat).mean(-1, keepdims=True)
    )
    return dx, (dy * xhat).sum(0), dy.sum(0)


def test_layer_norm_target_skips_then_runs_once_optkit_has_it(monkeypatch):
    monkeypatch.delattr(optkit, "layer_norm", raising=False)
    skipped = _measure(("layer_norm",))["layer_norm_speedup"]
    assert skipped.value is None and "no ok.layer_norm" in skipped.detail
    assert skipped.holds is None and "not measured" in targets.format_targets([skipped])
    monkeypatch.setattr(optkit, "layer_norm", _layer_norm, raising=False)
    monkeypatch.setattr(optkit, "layer_norm_backward", _layer_norm_backward, raising=False)
    measured = _measure(("layer_norm",))
    assert measured["layer_norm_speedup_roofline_fraction"].value > 0
    assert (measured["layer_norm_speedup"].value is not None) == HAS_TORCH


def test_goals_and_verdicts():
    fraction = targets.Target("adam_roofline_fraction", "x", 0.9)
    assert fraction.holds is True and fraction.unit == "of roofline"
    assert targets.Target("adam_roofline_fraction", "x", 0.8).holds is False
    assert targets.Target("finite_check_overhead", "x", 0.16).holds is False
    assert targets.Target("adam_vs_torch_fused", "x", 1.0).holds is True
    assert targets.Target("clip_norm_only_speedup", "x", 0.5).holds is None  # no goal
    assert targets.goal_text("small_step_us_raise") == "<= 10"
    assert targets.goal_text("batch_norm_speedup_2d_roofline_fraction") == "-"
    row = targets.Target("finite_check_overhead", "raise over propagate", 0.33, best=0.3)
    text = targets.format_targets([row])
    assert "+33%" in text and "+30%" in text and "<= 15%" in text and "NO" in text
    data = json.loads(json.dumps(row.as_dict()))
    assert (
        data["holds"] is False and data["goal"] == "<= 15%" and data["unit"] == "fraction"
    )


def test_numpy_group_is_for_fast_backends_only():
    assert _measure(("numpy",), backend="numpy") == {}

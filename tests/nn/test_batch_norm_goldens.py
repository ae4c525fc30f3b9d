"""BatchNorm parity with torch goldens, without torch.

``tools/make_batchnorm_goldens.py`` recorded torch ``BatchNorm1d/2d`` in float64:
training steps (outputs, input/weight/bias gradients, running statistics and
``num_batches_tracked`` after each step) then one eval step, for momentum 0.1/0.3/
0.5, ``momentum=None``, ``affine=False``, ``track_running_stats=False``, a custom
eps and two-row batches. Every case is replayed on each CPU backend, through the
module and through the functional API, in torch's layout and channels-last, and
must agree to 1e-6 relative.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from optkit.nn import BatchNorm
from optkit.nn.functional import batch_norm, batch_norm_backward

GOLDEN_PATH = Path(__file__).parents[1] / "data" / "batchnorm_goldens.npz"

with np.load(GOLDEN_PATH, allow_pickle=False) as _z:
    GOLDENS = {k: _z[k] for k in _z.files}
CONFIGS: dict[str, dict] = json.loads(str(GOLDENS.pop("configs")))
META = json.loads(str(GOLDENS.pop("meta")))


def golden(case: str) -> dict[str, np.ndarray]:
    prefix = f"{case}/"
    return {k[len(prefix) :]: v for k, v in GOLDENS.items() if k.startswith(prefix)}


def close(actual, expected, what: str) -> None:
    """rtol 1e-6, with an absolute floor relative to the array's scale."""
    expected = np.asarray(expected)
    scale = max(float(np.max(np.abs(expected))), 1.0) if expected.size else 1.0
    np.testing.assert_allclose(
        actual, expected, rtol=1e-6, atol=1e-12 * scale, err_msg=what
    )


def to_layout(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if channels_last else a


def from_layout(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(a, -1, 1) if channels_last else a


def make_module(case: str, cpu_backend: str, channels_last: bool) -> BatchNorm:
    config, g = CONFIGS[case], golden(case)
    module = BatchNorm(
        config["shape"][1],
        eps=config.get("eps", 1e-5),
        momentum=config.get("momentum", 0.1),
        affine=config.get("affine", True),
        track_running_stats=config.get("track_running_stats", True),
        axis=-1 if channels_last else 1,
        dtype="float64",
        backend=cpu_backend,
    )
    if module.affine:
        module.weight[...] = g["weight"]
        module.bias[...] = g["bias"]
    return module


def test_goldens_are_small_and_from_torch():
    assert GOLDEN_PATH.stat().st_size < 100_000
    assert META["dtype"] == "float64" and META["torch"]
    assert set(CONFIGS) >= {"bn1d_2d", "bn2d", "bn2d_cumulative", "bn2d_no_tracking"}


@pytest.mark.parametrize(
    "channels_last", [False, True], ids=["torch-layout", "channels-last"]
)
@pytest.mark.parametrize("case", sorted(CONFIGS))
def test_module_matches_torch_goldens(case, cpu_backend, channels_last):
    g, steps = golden(case), CONFIGS[case]["batches"]
    module = make_module(case, cpu_backend, channels_last)
    for step in range(steps + 1):
        module.train(step < steps)
        x, dy = (
            to_layout(g["x"][step], channels_last),
            to_layout(g["dy"][step], channels_last),
        )
        y = module.forward(x)
        dx = module.backward(dy)
        where = f"{case} step {step} ({cpu_backend})"
        close(from_layout(y, channels_last), g["y"][step], f"y, {where}")
        close(from_layout(dx, channels_last), g["dx"][step], f"dx, {where}")
        if module.affine:
            close(module.grad_weight, g["dweight"][step], f"dweight, {where}")
            close(module.grad_bias, g["dbias"][step], f"dbias, {where}")
        else:
            assert module.grad_weight is None and module.grad_bias is None
        if module.track_running_stats:
            close(module.running_mean, g["running_mean"][step], f"running_mean, {where}")
            close(module.running_var, g["running_var"][step], f"running_var, {where}")
            assert int(module.num_batches_tracked) == int(g["num_batches_tracked"][step])
        else:
            assert module.running_mean is None and module.num_batches_tracked is None


@pytest.mark.parametrize("case", ["bn1d_3d", "bn2d", "bn2d_cumulative"])
def test_functional_matches_torch_goldens(case, cpu_backend):
    config, g = CONFIGS[case], golden(case)
    steps, channels = config["batches"], config["shape"][1]
    rm, rv = np.zeros(channels), np.ones(channels)
    nbt = np.zeros((), np.int64)
    for step in range(steps + 1):
        y, cache = batch_norm(
            g["x"][step], g["weight"], g["bias"], rm, rv,
            training=step < steps, momentum=config.get("momentum", 0.1),
            num_batches_tracked=nbt, backend=cpu_backend,
        )  # fmt: skip
        dx, dweight, dbias = batch_norm_backward(g["dy"][step], cache)
        close(y, g["y"][step], f"y step {step}")
        close(dx, g["dx"][step], f"dx step {step}")
        close(dweight, g["dweight"][step], f"dweight step {step}")
        close(dbias, g["dbias"][step], f"dbias step {step}")
        close(rm, g["running_mean"][step], f"running_mean step {step}")
        close(rv, g["running_var"][step], f"running_var step {step}")
        assert int(nbt) == int(g["num_batches_tracked"][step])


def test_reference_on_array_api_strict_matches_goldens():
    xp = pytest.importorskip("array_api_strict")
    g = golden("bn2d")
    steps = CONFIGS["bn2d"]["batches"]
    rm, rv = xp.zeros(3, dtype=xp.float64), xp.ones(3, dtype=xp.float64)
    w, b = xp.asarray(g["weight"]), xp.asarray(g["bias"])
    for step in range(steps + 1):
        x = xp.asarray(g["x"][step])
        y, cache = batch_norm(x, w, b, rm, rv, training=step < steps, backend="array_api")
        dx, dweight, dbias = batch_norm_backward(xp.asarray(g["dy"][step]), cache)
        assert type(y) is type(x) and y.dtype == xp.float64
        close(np.asarray(y), g["y"][step], f"y step {step}")
        close(np.asarray(dx), g["dx"][step], f"dx step {step}")
        close(np.asarray(dweight), g["dweight"][step], f"dweight step {step}")
        close(np.asarray(dbias), g["dbias"][step], f"dbias step {step}")
        close(np.asarray(rv), g["running_var"][step], f"running_var step {step}")

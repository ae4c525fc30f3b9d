"""BatchNorm against live torch; every test skips when torch is absent.

Random configurations (shape, layout, momentum, affine, tracking, eps) run several
training steps and one eval step through ``optkit.nn.BatchNorm`` and torch's
``BatchNorm1d/2d`` side by side: outputs, input/weight/bias gradients and running
statistics must agree — to 1e-6 relative in float64; in float32, optkit's distance to torch's float64 result
stays within twice torch's own float32 distance to it (plus a few ulp). Channels-last
data is compared with torch's ``channels_last`` memory format.
"""

from __future__ import annotations

import numpy as np
import pytest

from optkit.nn import BatchNorm

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

CONFIGS = [
    dict(shape=(16, 6), momentum=0.1),
    dict(shape=(9, 4, 11), momentum=0.25, eps=1e-3),
    dict(shape=(5, 3, 7, 6), momentum=None),
    dict(shape=(5, 3, 7, 6), momentum=0.1, channels_last=True),
    dict(shape=(4, 8, 3, 5), affine=False),
    dict(shape=(4, 8, 3, 5), track_running_stats=False, channels_last=True),
    dict(shape=(2, 5), momentum=0.9),
    dict(shape=(64, 32, 8, 8), momentum=0.1),  # large enough for the parallel path
]


def torch_module(config, dtype):
    n = len(config["shape"])
    cls = torch.nn.BatchNorm1d if n <= 3 else torch.nn.BatchNorm2d
    keys = ("eps", "momentum", "affine", "track_running_stats")
    return cls(
        config["shape"][1], dtype=dtype, **{k: config[k] for k in keys if k in config}
    )


def optkit_module(config, dtype, cpu_backend):
    keys = ("eps", "momentum", "affine", "track_running_stats")
    return BatchNorm(
        config["shape"][1],
        axis=-1 if config.get("channels_last") else 1,
        dtype=dtype,
        backend=cpu_backend,
        **{k: config[k] for k in keys if k in config},
    )


def to_optkit(t, channels_last: bool) -> np.ndarray:
    a = t.detach().numpy()
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if channels_last else a.copy()


def from_optkit(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(a, -1, 1) if channels_last else a


def _close(got, want32, want64, dtype):
    """float64: rtol 1e-6. float32: within 2x torch float32's own error (vs float64)."""
    want64 = np.asarray(want64, np.float64)
    if dtype == "float64":
        np.testing.assert_allclose(got, want64, rtol=1e-6, atol=1e-9)
        return
    ours = np.abs(np.asarray(got, np.float64) - want64).max(initial=0.0)
    torch_error = np.abs(np.asarray(want32, np.float64) - want64).max(initial=0.0)
    floor = 4 * np.finfo(np.float32).eps * max(np.abs(want64).max(initial=0.0), 1.0)
    assert ours <= 2 * torch_error + floor, (ours, torch_error)


def _pair(config, dtype, gen):
    """torch modules in ``dtype`` and in float64 with the same parameters."""
    ref, ref64 = (
        torch_module(config, getattr(torch, dtype)),
        torch_module(config, torch.float64),
    )
    if ref.affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5, generator=gen)
            ref.bias.normal_(generator=gen)
            ref64.weight.copy_(ref.weight.double())
            ref64.bias.copy_(ref.bias.double())
    return ref, ref64


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c).replace(" ", ""))
def test_module_matches_live_torch(cpu_backend, config, dtype):
    gen = torch.Generator().manual_seed(0)
    ref, ref64 = _pair(config, dtype, gen)
    ours = optkit_module(config, dtype, cpu_backend)
    last = config.get("channels_last", False)
    fmt = (
        torch.channels_last
        if last and len(config["shape"]) == 4
        else torch.contiguous_format
    )
    if ref.affine:
        ours.weight[...] = ref.weight.detach().numpy()
        ours.bias[...] = ref.bias.detach().numpy()
    for step in range(4):
        training = step < 3
        for m in (ref, ref64, ours):
            m.train(training)
        x = torch.randn(config["shape"], dtype=getattr(torch, dtype), generator=gen) * 2 + 3
        x = x.contiguous(memory_format=fmt).requires_grad_(True)
        x64 = x.detach().double().contiguous(memory_format=fmt).requires_grad_(True)
        dy = torch.randn(config["shape"], dtype=getattr(torch, dtype), generator=gen)
        y, y64 = ref(x), ref64(x64)
        y.backward(dy)
        y64.backward(dy.double())
        got_y = ours(to_optkit(x, last))
        got_dx = ours.backward(to_optkit(dy, last))
        _close(from_optkit(got_y, last), y.detach(), y64.detach(), dtype)
        _close(from_optkit(got_dx, last), x.grad, x64.grad, dtype)
        if ref.affine:
            _close(ours.grad_weight, ref.weight.grad, ref64.weight.grad, dtype)
            _close(ours.grad_bias, ref.bias.grad, ref64.bias.grad, dtype)
            for m in (ref, ref64):
                m.weight.grad = m.bias.grad = None
        if ref.track_running_stats:
            _close(ours.running_mean, ref.running_mean, ref64.running_mean, dtype)
            _close(ours.running_var, ref.running_var, ref64.running_var, dtype)
            assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked)


def test_one_value_per_channel_error_matches_torch(cpu_backend):
    x = torch.ones(1, 3)
    with pytest.raises(ValueError) as theirs:
        torch.nn.functional.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError) as mine:
        BatchNorm(3, backend=cpu_backend)(x.numpy())
    assert str(mine.value).split(",")[0] == str(theirs.value).split(",")[0]

"""BatchNorm against live torch (C10); every test skips when torch is absent.

Random configurations (shape, layout, momentum, affine, tracking, eps) run several
training steps and one eval step through ``optkit.nn.BatchNorm`` and torch's
``BatchNorm1d/2d`` side by side: outputs, input/weight/bias gradients and running
statistics must agree — to 1e-6 relative in float64 (the issue's bar, here met
with a large margin) and to float32 precision in float32. Channels-last data is
compared with torch's ``channels_last`` memory format.
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


def optkit_module(config, dtype, backend):
    keys = ("eps", "momentum", "affine", "track_running_stats")
    return BatchNorm(
        config["shape"][1],
        axis=-1 if config.get("channels_last") else 1,
        dtype=dtype,
        backend=backend,
        **{k: config[k] for k in keys if k in config},
    )


def to_optkit(t, channels_last: bool) -> np.ndarray:
    a = t.detach().numpy()
    return np.ascontiguousarray(np.moveaxis(a, 1, -1)) if channels_last else a.copy()


def from_optkit(a: np.ndarray, channels_last: bool) -> np.ndarray:
    return np.moveaxis(a, -1, 1) if channels_last else a


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: str(c).replace(" ", ""))
def test_module_matches_live_torch(backend, config, dtype):
    tdtype = getattr(torch, dtype)
    rtol, atol = (1e-6, 1e-9) if dtype == "float64" else (2e-4, 2e-5)
    gen = torch.Generator().manual_seed(0)
    ref, ours = torch_module(config, tdtype), optkit_module(config, dtype, backend)
    last = config.get("channels_last", False)
    fmt = (
        torch.channels_last
        if last and len(config["shape"]) == 4
        else torch.contiguous_format
    )
    if ref.affine:
        with torch.no_grad():
            ref.weight.uniform_(0.5, 1.5, generator=gen)
            ref.bias.normal_(generator=gen)
        ours.weight[...] = ref.weight.detach().numpy()
        ours.bias[...] = ref.bias.detach().numpy()
    for step in range(4):
        training = step < 3
        ref.train(training)
        ours.train(training)
        x = torch.randn(config["shape"], dtype=tdtype, generator=gen) * 2 + 3
        x = x.contiguous(memory_format=fmt).requires_grad_(True)
        dy = torch.randn(config["shape"], dtype=tdtype, generator=gen)
        y = ref(x)
        y.backward(dy)
        got_y = ours(to_optkit(x, last))
        got_dx = ours.backward(to_optkit(dy, last))
        np.testing.assert_allclose(
            from_optkit(got_y, last), y.detach().numpy(), rtol=rtol, atol=atol
        )
        np.testing.assert_allclose(
            from_optkit(got_dx, last), x.grad.numpy(), rtol=rtol, atol=atol
        )
        if ref.affine:
            np.testing.assert_allclose(
                ours.grad_weight, ref.weight.grad.numpy(), rtol=rtol, atol=atol
            )
            np.testing.assert_allclose(
                ours.grad_bias, ref.bias.grad.numpy(), rtol=rtol, atol=atol
            )
            ref.weight.grad = ref.bias.grad = None
        if ref.track_running_stats:
            np.testing.assert_allclose(
                ours.running_mean, ref.running_mean.numpy(), rtol=rtol, atol=atol
            )
            np.testing.assert_allclose(
                ours.running_var, ref.running_var.numpy(), rtol=rtol, atol=atol
            )
            assert int(ours.num_batches_tracked) == int(ref.num_batches_tracked)


def test_one_value_per_channel_error_matches_torch(backend):
    x = torch.ones(1, 3)
    with pytest.raises(ValueError) as theirs:
        torch.nn.functional.batch_norm(x, None, None, training=True)
    with pytest.raises(ValueError) as mine:
        BatchNorm(3, backend=backend)(x.numpy())
    assert str(mine.value).split(",")[0] == str(theirs.value).split(",")[0]

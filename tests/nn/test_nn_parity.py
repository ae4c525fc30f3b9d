"""Parity with torch: recorded goldens (no torch needed) and live torch (skipped
without it). Float64 MLP with BatchNorm in training mode.

Tolerances: losses and gradients to rtol 1e-10 elementwise; the only absolute
floor (1e-15) is for the biases of the Linear layers in front of a BatchNorm,
whose true gradient is exactly zero (the normalisation removes the mean), so both
libraries return roundoff of order 1e-18. Trajectories to 1e-8 relative to each
tensor's scale: Adam turns that roundoff into tiny steps of those biases, which
reach ``running_mean`` entries far below the tensor's scale.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from _nn_support import assert_close_to_scale, golden_model, goldens, section

import optkit as ok
from optkit.nn.fit import batches

G = goldens()
OPTIMIZERS = {
    "sgd": lambda p: ok.SGD(p, lr=0.1, momentum=0.9, weight_decay=1e-4),
    "adam": lambda p: ok.Adam(p, lr=1e-3),
}


def loaded(cpu_backend: str):
    model = golden_model(cpu_backend)
    model.load_state_dict(section(G, "init"))
    return model


def test_golden_loss_and_every_gradient(cpu_backend):
    model = loaded(cpu_backend)
    x, y = G["data/x"][:64], G["data/y"][:64]
    loss, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    assert loss == pytest.approx(float(G["grad/loss"]), rel=1e-10)
    expected = section(G, "grad")
    expected.pop("loss")
    assert sorted(expected) == sorted(grads.keys())
    for name, value in expected.items():
        np.testing.assert_allclose(grads[name], value, rtol=1e-10, atol=1e-15, err_msg=name)


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_golden_three_epoch_trajectory_through_fit(name, cpu_backend):
    model = loaded(cpu_backend)
    opt = OPTIMIZERS[name](model.parameters())
    history = ok.fit(model, opt, (G["data/x"], G["data/y"]), 3, 32, seed=0, progress=False)
    np.testing.assert_allclose(history["train_loss"], G[f"{name}/epoch_loss"], rtol=1e-10)
    final = section(G, name)
    final.pop("epoch_loss")
    state = model.state_dict()
    assert list(state) == list(section(G, "init"))
    for key, value in final.items():
        assert_close_to_scale(state[key], value, 1e-8, key)


# ----------------------------------------------------------------------- live torch
torch_only = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def torch_twin(model_seed: int = 0):
    torch = pytest.importorskip("torch")
    torch.manual_seed(model_seed)
    nn = torch.nn
    return torch, nn.Sequential(
        nn.Linear(64, 32), nn.BatchNorm1d(32), nn.Tanh(),
        nn.Linear(32, 32), nn.BatchNorm1d(32), nn.ReLU(),
        nn.Linear(32, 10),
    ).double()  # fmt: skip


@pytest.mark.torch
@torch_only
@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
def test_live_torch_loss_and_gradients(cpu_backend, label_smoothing):
    from functools import partial

    torch, net = torch_twin(3)
    model = golden_model(cpu_backend)
    model.load_state_dict({k: v.numpy() for k, v in net.state_dict().items()})
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((40, 64)) * 2 + 1, rng.integers(0, 10, 40)
    loss_fn = partial(ok.nn.cross_entropy, label_smoothing=label_smoothing)
    loss, grads = model.loss_and_grad(loss_fn, x, y)
    F = torch.nn.functional
    ref = F.cross_entropy(
        net(torch.from_numpy(x)), torch.from_numpy(y), label_smoothing=label_smoothing
    )
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(
            grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-15, err_msg=name
        )
    for key, value in net.state_dict().items():  # running statistics moved alike
        np.testing.assert_allclose(
            model.state_dict()[key], value.numpy(), rtol=1e-12, atol=1e-15
        )


@pytest.mark.torch
@torch_only
def test_live_torch_eval_mode_and_state_dict_round_trip():
    torch, net = torch_twin(4)
    model = golden_model("numba")
    model.load_state_dict({k: v.numpy() for k, v in net.state_dict().items()})
    x = np.random.default_rng(9).standard_normal((20, 64))
    for _ in range(3):  # training forwards move the running statistics in both
        net(torch.from_numpy(x))
        model(x)
    net.eval()
    model.eval()
    np.testing.assert_allclose(
        model(x), net(torch.from_numpy(x)).detach().numpy(), rtol=1e-10
    )
    back = {k: torch.from_numpy(v) for k, v in model.state_dict().items()}
    net.load_state_dict(back)  # torch accepts our keys, shapes and dtypes
    assert [k for k in back] == list(net.state_dict())


@pytest.mark.torch
@torch_only
@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_live_torch_trajectory(name):
    """The goldens' recipe, recomputed now (catches a stale golden file)."""
    torch, net = torch_twin(0)
    options = {"sgd": (torch.optim.SGD, dict(lr=0.1, momentum=0.9, weight_decay=1e-4)),
               "adam": (torch.optim.Adam, dict(lr=1e-3))}[name]  # fmt: skip
    opt = options[0](net.parameters(), **options[1])
    x, y = G["data/x"], G["data/y"]
    model = golden_model("numba")
    model.load_state_dict({k: v.numpy() for k, v in net.state_dict().items()})
    rng = np.random.default_rng(0)
    for _ in range(3):
        for idx in batches(len(y), 32, rng.permutation(len(y))):
            opt.zero_grad()
            i = torch.from_numpy(idx)
            torch.nn.functional.cross_entropy(
                net(torch.from_numpy(x)[i]), torch.from_numpy(y)[i]
            ).backward()
            opt.step()
    ok.fit(
        model, OPTIMIZERS[name](model.parameters()), (x, y), 3, 32, seed=0, progress=False
    )
    for key, value in net.state_dict().items():
        assert_close_to_scale(model.state_dict()[key], value.numpy(), 1e-8, key)


@pytest.mark.torch
@torch_only
def test_live_torch_init_gains_and_mse():
    torch = pytest.importorskip("torch")
    for nonlinearity, param in [("relu", None), ("tanh", None), ("leaky_relu", 0.2),
                                ("sigmoid", None), ("selu", None)]:  # fmt: skip
        assert ok.nn.init.calculate_gain(nonlinearity, param) == pytest.approx(
            torch.nn.init.calculate_gain(nonlinearity, param)
        )
    rng = np.random.default_rng(10)
    a, b = rng.standard_normal((5, 3)), rng.standard_normal((5, 3))
    ta = torch.from_numpy(a).requires_grad_(True)
    ref = torch.nn.functional.mse_loss(ta, torch.from_numpy(b))
    ref.backward()
    value, grad = ok.nn.mse(a, b, grad=True)
    assert value == pytest.approx(ref.item(), rel=1e-14)
    np.testing.assert_allclose(grad, ta.grad.numpy(), rtol=1e-14)
    probs = rng.dirichlet(np.ones(3), 5)
    tz = torch.from_numpy(a).requires_grad_(True)
    ref = torch.nn.functional.cross_entropy(
        tz, torch.from_numpy(probs), label_smoothing=0.2
    )
    ref.backward()
    value, grad = ok.nn.cross_entropy(a, probs, label_smoothing=0.2, grad=True)
    assert value == pytest.approx(ref.item(), rel=1e-13)
    np.testing.assert_allclose(grad, tz.grad.numpy(), rtol=1e-12)


@pytest.mark.torch
@torch_only
def test_live_torch_layer_norm_plugs_in_when_the_core_has_it():
    torch = pytest.importorskip("torch")
    if not hasattr(ok.nn, "LayerNorm"):
        pytest.skip("ok.nn.LayerNorm has not landed in this checkout")
    torch.manual_seed(5)
    net = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.LayerNorm(5), torch.nn.Tanh(),
                              torch.nn.Linear(5, 3)).double()  # fmt: skip
    model = ok.nn.Sequential(ok.nn.Linear(6, 5, dtype="float64"), ok.nn.LayerNorm(5, dtype="float64"),
                             ok.nn.Tanh(), ok.nn.Linear(5, 3, dtype="float64"))  # fmt: skip
    model.load_state_dict({k: v.numpy() for k, v in net.state_dict().items()})
    x, y = (
        np.random.default_rng(11).standard_normal((7, 6)),
        np.array([0, 1, 2, 0, 1, 2, 0]),
    )
    loss, grads = model.loss_and_grad(ok.nn.cross_entropy, x, y)
    ref = torch.nn.functional.cross_entropy(net(torch.from_numpy(x)), torch.from_numpy(y))
    ref.backward()
    assert loss == pytest.approx(ref.item(), rel=1e-10)
    for name, p in net.named_parameters():
        np.testing.assert_allclose(grads[name], p.grad.numpy(), rtol=1e-10, atol=1e-15)

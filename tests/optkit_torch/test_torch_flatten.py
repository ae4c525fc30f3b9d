"""flatten_: one buffer per dtype; a step over a flattened model is one kernel call."""

from __future__ import annotations

import copy

import pytest

torch = pytest.importorskip("torch")

from _torch_support import data, default_dtype, flat_params, mlp  # noqa: E402

import optkit as ok  # noqa: E402
from optkit._exec import numba as numba_executor  # noqa: E402

pytestmark = pytest.mark.torch


@pytest.fixture
def kernel_calls(monkeypatch):
    """Sizes of the parameter arrays passed to the Numba executor's update."""
    calls = []
    original = numba_executor.update

    def counting(rule, p, g, states, values):
        calls.append(p.size)
        return original(rule, p, g, states, values)

    monkeypatch.setattr(numba_executor, "update", counting)
    return calls


def _train(model, opt, steps, zero=None):
    x, y = data(torch.float64)
    for _ in range(steps):
        (zero or opt.zero_grad)()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def test_flatten_rehomes_parameters_and_gradients():
    model = mlp()
    before = flat_params(model)
    flat = ok.torch.flatten_(model)
    assert torch.equal(flat_params(model), before)
    buffer, grads = flat.params["float64"], flat.grads["float64"]
    assert buffer.numel() == sum(p.numel() for p in model.parameters())
    for name, p in model.named_parameters():
        key, offset, shape = flat.layout[name]
        assert key == "float64" and tuple(p.shape) == shape
        assert p.data_ptr() == buffer[offset:].data_ptr()
        assert p.grad.data_ptr() == grads[offset:].data_ptr()
    x, y = data(torch.float64)
    torch.nn.functional.cross_entropy(model(x), y).backward()
    assert float(grads.abs().sum()) > 0  # backward accumulated into the buffer


@pytest.mark.parametrize("name", ["Adam", "SGD", "NAdam"])
def test_flattened_model_steps_in_one_call_and_equals_unflattened(name, kernel_calls):
    kwargs = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    with default_dtype(torch.float64):
        plain, flat = mlp(), mlp()
        ok.torch.flatten_(flat)
        a = getattr(ok.torch, name)(plain.parameters(), **kwargs)
        b = getattr(ok.torch, name)(flat.parameters(), **kwargs)
        _train(plain, a, 3)
        per_tensor = len(kernel_calls)
        kernel_calls.clear()
        _train(flat, b, 3)
        assert per_tensor == 3 * len(list(plain.parameters()))
        assert kernel_calls == [sum(p.numel() for p in flat.parameters())] * 3
        assert torch.equal(flat_params(plain), flat_params(flat))
        for p in flat.parameters():  # state entries are views of one buffer each
            assert b.state[p]["step"].item() == 3


def test_gradients_that_left_the_buffer_are_copied_back(kernel_calls):
    model = mlp()
    flat = ok.torch.flatten_(model)
    opt = ok.torch.Adam(model.parameters(), lr=0.01)
    reference = copy.deepcopy(model)
    ref_opt = ok.torch.Adam(reference.parameters(), lr=0.01)
    _train(model, opt, 3, zero=model.zero_grad)  # torch's zero_grad: grads set to None
    _train(reference, ref_opt, 3)
    assert torch.equal(flat_params(model), flat_params(reference))
    assert len(kernel_calls) == 3 + 3 * len(list(reference.parameters()))
    for p in model.parameters():
        assert p.grad.untyped_storage().data_ptr() == flat.grads["float64"].data_ptr()


def test_zero_grad_keeps_homed_gradients_in_place():
    model = mlp()
    flat = ok.torch.flatten_(model)
    opt = ok.torch.SGD(model.parameters(), lr=0.1)
    _train(model, opt, 1)
    grads = [p.grad for p in model.parameters()]
    opt.zero_grad()  # set_to_none=True by default: homed gradients are zeroed instead
    assert all(p.grad is g for p, g in zip(model.parameters(), grads))
    assert float(flat.grads["float64"].abs().sum()) == 0


def test_mixed_dtypes_and_frozen_parameters():
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 2).double())
    model[0].bias.requires_grad_(False)
    frozen = model[0].bias.data_ptr()
    flat = ok.torch.flatten_(model)
    assert sorted(flat.params) == ["float32", "float64"]
    assert flat.params["float32"].numel() == 12 and flat.params["float64"].numel() == 10
    assert model[0].bias.data_ptr() == frozen and model[0].bias.grad is None


def test_flatten_refuses_what_it_cannot_flatten():
    with pytest.raises(TypeError, match="named_parameters"):
        ok.torch.flatten_([torch.zeros(3)])
    frozen = torch.nn.Linear(2, 2).requires_grad_(False)
    with pytest.raises(ValueError, match="no trainable parameter"):
        ok.torch.flatten_(frozen)

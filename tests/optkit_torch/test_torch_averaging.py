"""ok.torch.PolyakAverage: averages of a model's parameters, in place, torch-friendly."""

from __future__ import annotations

import io

import pytest

torch = pytest.importorskip("torch")

from _torch_support import data, mlp  # noqa: E402

import optkit as ok  # noqa: E402
from optkit._exec import numba as numba_executor  # noqa: E402

pytestmark = pytest.mark.torch


def _steps(model, opt, average, steps, history=None):
    x, y = data(torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        average.update()
        if history is not None:
            history.append({n: p.detach().clone() for n, p in model.named_parameters()})


@pytest.mark.parametrize("flat", [False, True], ids=["tensors", "flattened"])
def test_ema_and_window_equal_their_definitions(flat):
    model = mlp()
    if flat:
        ok.torch.flatten_(model)
    opt = ok.torch.SGD(model.parameters(), lr=0.1)
    ema = ok.torch.PolyakAverage(model, decay=0.8)
    window = ok.torch.PolyakAverage(model, "window", window=3)
    history = []
    x, y = data(torch.float64)
    for _ in range(6):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        ema.update()
        window.update()
        history.append({n: p.detach().clone() for n, p in model.named_parameters()})
    for name in history[0]:
        expected = history[0][name]
        for h in history[1:]:
            expected = 0.8 * expected + 0.2 * h[name]
        assert torch.allclose(ema.average[name], expected, rtol=1e-14, atol=1e-15)
        mean = sum(h[name] for h in history[-3:]) / 3
        assert torch.allclose(window.average[name], mean, rtol=1e-14, atol=1e-15)


def test_flattened_model_is_averaged_in_one_call(monkeypatch):
    model = mlp()
    ok.torch.flatten_(model)
    average = ok.torch.PolyakAverage(model, decay=0.5)
    calls = []
    original = numba_executor.update
    monkeypatch.setattr(
        numba_executor, "update", lambda *a: calls.append(a[1].size) or original(*a)
    )
    average.update()
    average.update()
    assert calls == [sum(p.numel() for p in model.parameters())]  # the first copies


def test_swapped_puts_the_average_in_and_restores():
    model = mlp()
    opt = ok.torch.Adam(model.parameters(), lr=0.01)
    average = ok.torch.PolyakAverage(model, "tail", optimizer=opt)
    _steps(model, opt, average, 4)
    current = {n: p.detach().clone() for n, p in model.named_parameters()}
    with average.swapped():
        for name, p in model.named_parameters():
            assert torch.equal(p, average.average[name])
    for name, p in model.named_parameters():
        assert torch.equal(p, current[name])
    assert average.count == 4


def test_skipped_steps_are_not_averaged():
    model = torch.nn.Linear(2, 1)
    opt = ok.torch.SGD(model.parameters(), lr=0.1, nonfinite="skip")
    average = ok.torch.PolyakAverage(model, "tail", optimizer=opt)
    model.weight.grad = torch.ones(1, 2)
    model.bias.grad = torch.ones(1)
    opt.step()
    assert average.update() is True
    model.bias.grad = torch.tensor([float("nan")])
    opt.step()
    assert opt.skipped_steps == 1 and average.update() is False and average.count == 1


def test_state_dict_round_trip_between_flat_and_not():
    model = mlp()
    flat = mlp()
    ok.torch.flatten_(flat)
    opt = ok.torch.SGD(model.parameters(), lr=0.1)
    average = ok.torch.PolyakAverage(model, "window", window=2)
    _steps(model, opt, average, 3)
    buffer = io.BytesIO()
    torch.save(average.state_dict(), buffer)
    buffer.seek(0)
    other = ok.torch.PolyakAverage(flat, "window", window=2)
    other.load_state_dict(torch.load(buffer, weights_only=True))
    for name, value in average.average.items():
        assert torch.equal(other.average[name], value)
    assert other.state_dict()["names"] == average.state_dict()["names"]
    with pytest.raises(ValueError, match="window"):
        ok.torch.PolyakAverage(flat, "window", window=3).load_state_dict(
            average.state_dict()
        )

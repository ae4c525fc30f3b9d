"""optkit.torch optimizers and averages survive pickle and deepcopy, bit for bit."""

from __future__ import annotations

import copy
import pickle

import pytest

torch = pytest.importorskip("torch")

from _torch_support import data, flat_params, mlp  # noqa: E402

import optkit as ok  # noqa: E402

pytestmark = pytest.mark.torch

CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=ok.schedules.linear(0.5, 0.9, steps=5))),
    ("Adagrad", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("Adam", dict(lr=ok.schedules.cosine(0.01, steps=10), amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("NAdam", dict(lr=0.002)),
    ("DeltaBarDelta", dict(lr=0.01, kappa=0.001)),
]


def _train(model, opt, steps, average=None):
    x, y = data(torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()
        if average is not None:
            average.update()


def _round_trip(obj, how):
    return pickle.loads(pickle.dumps(obj)) if how == "pickle" else copy.deepcopy(obj)


@pytest.mark.parametrize("how", ["pickle", "deepcopy"])
@pytest.mark.parametrize("flat", [False, True], ids=["tensors", "flattened"])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[c[0] for c in CONFIGS])
def test_round_trip_continues_bit_for_bit(name, kwargs, flat, how):
    model = mlp()
    if flat:
        ok.torch.flatten_(model)
    opt = getattr(ok.torch, name)(model.parameters(), **kwargs)
    average = ok.torch.PolyakAverage(model, "ema", decay=0.9, optimizer=opt)
    _train(model, opt, 3, average)
    model2, opt2, average2 = _round_trip((model, opt, average), how)
    assert opt2.step_count == 3 and type(opt2) is type(opt)
    _train(model, opt, 4, average)
    _train(model2, opt2, 4, average2)
    assert torch.equal(flat_params(model), flat_params(model2))
    for key, value in average.average.items():
        assert torch.equal(value, average2.average[key])
    sd, sd2 = opt.state_dict(), opt2.state_dict()
    assert sd["optkit"] == sd2["optkit"]
    for index, entry in sd["state"].items():
        for key, value in entry.items():
            assert torch.equal(value, sd2["state"][index][key])


def test_pickled_state_is_not_one_buffer_per_view():
    """State entries are views of one buffer per state; pickled as such, each would
    carry the whole buffer. (torch pickles each flattened parameter with its whole
    buffer too: those are counted.)"""
    model = torch.nn.Sequential(*[torch.nn.Linear(64, 64) for _ in range(4)])
    ok.torch.flatten_(model)
    opt = ok.torch.Adam(model.parameters())
    model(torch.ones(1, 64)).sum().backward()
    opt.step()
    n = len(list(model.parameters()))
    size = sum(p.numel() for p in model.parameters()) * 4  # bytes of one buffer
    assert len(pickle.dumps(opt)) < (n + 2 + 1) * size  # params + exp_avg, exp_avg_sq

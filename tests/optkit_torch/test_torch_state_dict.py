"""State dicts in torch's format: torch -> optkit -> torch, torch.save/load, checks."""

from __future__ import annotations

import copy
import io

import pytest

torch = pytest.importorskip("torch")

from _torch_support import data, default_dtype, flat_params, mlp  # noqa: E402

import optkit as ok  # noqa: E402

pytestmark = pytest.mark.torch

CONFIGS = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adagrad", dict(lr=0.05, initial_accumulator_value=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.3)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
    ("AdamW", dict(lr=0.01)),
    ("NAdam", dict(lr=0.002)),
]
IDS = [name for name, _ in CONFIGS]


def _train(model, opt, steps):
    x, y = data(torch.float64)
    for _ in range(steps):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        opt.step()


def _saved(opt):
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def _close(a, b) -> bool:
    return float((flat_params(a) - flat_params(b)).abs().max()) <= 1e-12


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_torch_to_optkit_to_torch(name, kwargs):
    with default_dtype(torch.float64):
        reference = mlp()
        theirs = getattr(torch.optim, name)(reference.parameters(), **kwargs)
        _train(reference, theirs, 10)
        model = copy.deepcopy(reference)
        ours = getattr(ok.torch, name)(model.parameters(), **kwargs)
        ours.load_state_dict(_saved(theirs))
        _train(reference, theirs, 10)
        _train(model, ours, 10)
        assert _close(model, reference)
        back_model = copy.deepcopy(model)
        back = getattr(torch.optim, name)(back_model.parameters(), **kwargs)
        back.load_state_dict(_saved(ours))
        _train(model, ours, 10)
        _train(back_model, back, 10)
        assert _close(model, back_model)


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_state_has_torch_names(name, kwargs):
    with default_dtype(torch.float64):
        model, twin = mlp(), mlp()
        ours = getattr(ok.torch, name)(model.parameters(), **kwargs)
        theirs = getattr(torch.optim, name)(twin.parameters(), **kwargs)
        _train(model, ours, 1)
        _train(twin, theirs, 1)
        sd, reference = ours.state_dict(), theirs.state_dict()
        assert sd["state"].keys() == reference["state"].keys()
        for index, entry in reference["state"].items():
            assert set(entry) <= set(sd["state"][index])
            for key, value in entry.items():
                assert sd["state"][index][key].dtype == value.dtype
                assert sd["state"][index][key].shape == value.shape
        for group, ref in zip(sd["param_groups"], reference["param_groups"]):
            assert set(ref) <= set(group)


def test_optkit_entry_and_weights_only_round_trip():
    model = mlp()
    lr = ok.schedules.ReduceOnPlateau(0.01, patience=0)
    opt = ok.torch.Adam(model.parameters(), lr=lr, nonfinite="skip")
    _train(model, opt, 3)
    lr.observe(1.0)
    lr.observe(2.0)  # reduced to 0.001
    sd = _saved(opt)
    assert sd["optkit"]["step"] == 3 and sd["param_groups"][0]["lr"] == pytest.approx(1e-3)
    assert sd["optkit"]["schedules"][0]["lr"]["value"] == pytest.approx(1e-3)
    other_lr = ok.schedules.ReduceOnPlateau(0.01, patience=0)
    other = ok.torch.Adam(copy.deepcopy(model).parameters(), lr=other_lr)
    other.load_state_dict(sd)
    assert other.step_count == 3 and other_lr.value == pytest.approx(1e-3)
    assert other.param_groups[0]["lr"] is other_lr  # the schedule is kept


def test_loaded_state_is_copied():
    model = mlp()
    theirs = torch.optim.Adam(model.parameters())
    _train(model, theirs, 1)
    ours = ok.torch.Adam(model.parameters())
    sd = theirs.state_dict()
    ours.load_state_dict(sd)
    for index, p in enumerate(model.parameters()):
        assert (
            ours.state[p]["exp_avg"].data_ptr() != sd["state"][index]["exp_avg"].data_ptr()
        )


def test_late_param_group_starts_fresh_like_torch():
    with default_dtype(torch.float64):
        models = [mlp(), mlp()]
        opts = []
        for model, module in zip(models, (ok.torch, torch.optim)):
            first, *rest = list(model.parameters())
            opt = module.Adam([first], lr=0.01)
            opts.append(opt)
            _train(model, opt, 5)
            opt.add_param_group({"params": rest, "lr": 0.005})
            _train(model, opt, 5)
        assert _close(*models)
        assert float(opts[0].state[list(models[0].parameters())[-1]]["step"]) == 5


@pytest.mark.parametrize(
    "corrupt, error, pattern",
    [
        (lambda sd: sd.pop("param_groups"), ValueError, "not an optimizer state_dict"),
        (lambda sd: sd["param_groups"].append({}), ValueError, "parameter groups"),
        (lambda sd: sd["param_groups"][0].update(lr=-1.0), ValueError, r"lr=-1\.0"),
        (lambda sd: sd["param_groups"][0].update(betas=(1.5, 0.9)), ValueError, "betas"),
        (lambda sd: sd["state"][0].update(exp_avg=torch.zeros(3)), ValueError, "exp_avg"),
        (lambda sd: sd["state"][0].update(step=torch.tensor(-1.0)), ValueError, "step"),
        (lambda sd: sd["state"][0].update(step=torch.tensor(1.5)), ValueError, "step"),
        (lambda sd: sd["state"].update({99: {}}), ValueError, "99"),
        (lambda sd: sd["optkit"].update(optimizer="SGD"), ValueError, "from SGD"),
        (lambda sd: sd["state"][1]["exp_avg"].fill_(float("nan")), ValueError, "NaN"),
    ],
)
def test_bad_state_dict_loads_nothing(corrupt, error, pattern):
    model = mlp()
    opt = ok.torch.Adam(model.parameters(), lr=0.01)
    _train(model, opt, 2)
    before = copy.deepcopy(opt.state_dict())
    sd = copy.deepcopy(opt.state_dict())
    corrupt(sd)
    with pytest.raises(error, match=pattern):
        opt.load_state_dict(sd)
    after = opt.state_dict()
    assert after["param_groups"] == before["param_groups"]
    assert after["optkit"] == before["optkit"]
    for index, entry in before["state"].items():
        for key, value in entry.items():
            assert torch.equal(after["state"][index][key], value)

"""ok.torch.X trains a BatchNorm MLP as torch.optim.X does (same seed, same data).

float64: within 1e-10 after 100 steps. float32: the distance of the optkit float32
run from torch's float64 run is at most twice the distance of torch's own float32 run
from it. Also with StepLR and OneCycleLR attached, with ``step(closure)`` and with a
CPU GradScaler. Learning rates are moderate so that the 100-step runs are not chaotic
(a chaotic run amplifies any rounding difference, torch's own included).
"""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from _torch_support import default_dtype, flat_params, train  # noqa: E402

import optkit as ok  # noqa: E402

pytestmark = pytest.mark.torch

#: (torch.optim class name, keyword arguments): every optimizer torch shares with optkit.
CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-3)),
    ("SGD", dict(lr=0.05, momentum=0.5, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1, weight_decay=1e-3, eps=1e-8)),
    ("RMSprop", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.003, centered=True, momentum=0.5, weight_decay=1e-3)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.005, betas=(0.8, 0.99), maximize=True)),
    ("AdamW", dict(lr=0.01)),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True)),
    ("NAdam", dict(lr=0.002)),
    ("NAdam", dict(lr=0.002, weight_decay=0.01, decoupled_weight_decay=True)),
]


def _ids(config):
    name, kwargs = config
    return name + "-" + "-".join(f"{k}={v}" for k, v in kwargs.items())


def _pair(name, kwargs, dtype, **train_kwargs):
    ours, _ = train(lambda p: getattr(ok.torch, name)(p, **kwargs), dtype, **train_kwargs)
    theirs, _ = train(
        lambda p: getattr(torch.optim, name)(p, **kwargs), dtype, **train_kwargs
    )
    return flat_params(ours), flat_params(theirs)


def _distance(a, b) -> float:
    return float((a - b).abs().max())


@pytest.mark.parametrize("config", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_float64_and_float32_match_torch(config):
    name, kwargs = config
    ours64, torch64 = _pair(name, kwargs, torch.float64)
    assert _distance(ours64, torch64) <= 1e-10
    ours32, torch32 = _pair(name, kwargs, torch.float32)
    own_error = _distance(torch32, torch64)
    assert 0 < own_error < 1e-3  # the run is not chaotic: the comparison means something
    assert _distance(ours32, torch64) <= 2 * own_error


SCHEDULED = [
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("Adam", dict(lr=0.01)),
    ("RMSprop", dict(lr=0.01, momentum=0.5)),
]


@pytest.mark.parametrize("config", SCHEDULED, ids=[_ids(c) for c in SCHEDULED])
def test_step_lr(config):
    name, kwargs = config
    lrs = {}

    def scheduler(opt):
        sched = torch.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.5)
        lrs[type(opt).__module__.startswith("optkit")] = sched
        return sched

    ours, theirs = _pair(name, kwargs, torch.float64, scheduler=scheduler)
    assert _distance(ours, theirs) <= 1e-10
    assert lrs[True].get_last_lr() == lrs[False].get_last_lr() == [kwargs["lr"] / 8]


@pytest.mark.parametrize("config", SCHEDULED, ids=[_ids(c) for c in SCHEDULED])
def test_one_cycle_lr_cycles_lr_and_momentum(config):
    name, kwargs = config
    seen = []

    def scheduler(opt):
        sched = torch.optim.lr_scheduler.OneCycleLR(
            opt, max_lr=4 * kwargs["lr"], total_steps=100
        )
        seen.append(opt)
        return sched

    ours, theirs = _pair(name, kwargs, torch.float64, scheduler=scheduler)
    assert _distance(ours, theirs) <= 1e-10
    key = "betas" if name == "Adam" else "momentum"
    # the momentum (beta1) was cycled back up to its maximum by the end
    assert seen[0].param_groups[0][key] == seen[1].param_groups[0][key]


@pytest.mark.parametrize("name", ["SGD", "Adam", "Adagrad"])
def test_step_with_closure(name):
    kwargs = dict(lr=0.05) if name != "Adam" else dict(lr=0.01)
    ours, theirs = _pair(name, kwargs, torch.float64, closure=True, steps=40)
    assert _distance(ours, theirs) <= 1e-10


def test_closure_loss_is_returned():
    model = torch.nn.Linear(3, 1)
    opt = ok.torch.SGD(model.parameters(), lr=0.1)

    def closure():
        opt.zero_grad()
        loss = model(torch.ones(1, 3)).sum()
        loss.backward()
        return loss

    loss = opt.step(closure)
    assert isinstance(loss, torch.Tensor) and loss.requires_grad
    assert opt.step() is None


@pytest.mark.parametrize("name", ["SGD", "Adam"])
def test_grad_scaler_on_cpu(name):
    kwargs = dict(lr=0.05, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    scalers = []

    def run(module, dtype, scaled):
        scaler = None
        if scaled:
            scaler = torch.amp.GradScaler("cpu", init_scale=2.0**10)
            scalers.append(scaler)
        model, _ = train(
            lambda p: getattr(module, name)(p, **kwargs), dtype, steps=60, scaler=scaler
        )
        return flat_params(model)

    ours = run(ok.torch, torch.float32, True)
    theirs = run(torch.optim, torch.float32, True)
    exact = run(torch.optim, torch.float64, False)
    assert _distance(ours, exact) <= 2 * _distance(theirs, exact)
    assert scalers[0].get_scale() == scalers[1].get_scale() == 2.0**10  # no inf seen


def test_grad_scaler_skips_the_step_on_overflow():
    model = torch.nn.Linear(4, 1)
    before = flat_params(model)
    opt = ok.torch.Adam(model.parameters(), lr=0.1)
    scaler = torch.amp.GradScaler("cpu", init_scale=2.0**127)
    loss = model(torch.full((2, 4), 1e3)).pow(2).mean()
    scaler.scale(loss).backward()  # overflows to inf
    scaler.step(opt)
    scaler.update()
    assert torch.equal(flat_params(model), before)
    assert opt.step_count == 0 and opt.skipped_steps == 0  # the scaler skipped it
    assert scaler.get_scale() < 2.0**127


def test_step_hooks_run():
    model = torch.nn.Linear(2, 1)
    opt = ok.torch.Adam(model.parameters())
    calls = []
    opt.register_step_pre_hook(lambda o, args, kwargs: calls.append(("pre", o)))
    opt.register_step_post_hook(lambda o, args, kwargs: calls.append(("post", o)))
    model(torch.ones(1, 2)).sum().backward()
    opt.step()
    assert calls == [("pre", opt), ("post", opt)]


@pytest.mark.parametrize("config", CONFIGS, ids=[_ids(c) for c in CONFIGS])
def test_float32_update_error_per_element(config):
    """Open loop (gradients given, not computed from the parameters): over 20,000
    elements and 30 steps, the mean and largest error of the float32 update from
    torch's float64 one are at most twice torch's own float32 errors."""
    name, kwargs = config
    g = torch.Generator().manual_seed(3)
    start = torch.randn(20_000, generator=g, dtype=torch.float64)
    scale = torch.rand(20_000, generator=g, dtype=torch.float64)
    grads = [scale * (1 + 0.1 * torch.randn(20_000, generator=g, dtype=torch.float64))
             for _ in range(30)]  # fmt: skip
    finals = {}
    for label, module, dtype in [
        ("ours", ok.torch, torch.float32),
        ("torch", torch.optim, torch.float32),
        ("exact", torch.optim, torch.float64),
    ]:
        with default_dtype(dtype):
            p = torch.nn.Parameter(start.to(dtype))
            opt = getattr(module, name)([p], **kwargs)
            for grad in grads:
                p.grad = grad.to(dtype)
                opt.step()
        finals[label] = p.detach().double()
    ours = (finals["ours"] - finals["exact"]).abs()
    theirs = (finals["torch"] - finals["exact"]).abs()
    assert float(ours.mean()) <= 2 * float(theirs.mean())
    assert float(ours.max()) <= 2 * float(theirs.max())

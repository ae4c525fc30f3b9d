"""optkit.torch's optimizers behave as torch users expect, and refuse what they cannot do."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from _torch_support import default_dtype  # noqa: E402

import optkit as ok  # noqa: E402

pytestmark = pytest.mark.torch


def _param(*shape, dtype=torch.float64, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.nn.Parameter(
        torch.randn(*shape, generator=g, dtype=torch.float64).to(dtype)
    )


def _grads(steps, *shape, seed=1):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=g, dtype=torch.float64) for _ in range(steps)]


def test_is_a_torch_optimizer_with_torch_groups():
    p = _param(3)
    opt = ok.torch.Adam([p], lr=0.01, fused=True, foreach=False)
    assert isinstance(opt, torch.optim.Optimizer)
    group = opt.param_groups[0]
    assert group["lr"] == 0.01 and group["betas"] == (0.9, 0.999)
    assert group["fused"] is True and group["foreach"] is False  # accepted, ignored
    assert group["capturable"] is False and group["differentiable"] is False


@pytest.mark.parametrize("keyword", ["capturable", "differentiable"])
def test_capturable_and_differentiable_are_refused(keyword):
    with pytest.raises(NotImplementedError, match=keyword):
        ok.torch.Adam([_param(3)], **{keyword: True})
    opt = ok.torch.Adam([_param(3)])
    with pytest.raises(NotImplementedError, match=keyword):
        opt.add_param_group({"params": [_param(2)], keyword: True})
    assert len(opt.param_groups) == 1


@pytest.mark.parametrize(
    "make, error, pattern",
    [
        (lambda p: ok.torch.Adam(p, lr=-1.0), ValueError, r"lr=-1\.0"),
        (lambda p: ok.torch.Adam(p, betas=(0.9, 1.0)), ValueError, r"betas\[1\]=1\.0"),
        (lambda p: ok.torch.SGD(p, lr=0.1, nesterov=True), ValueError, "nesterov"),
        (lambda p: ok.torch.SGD(p, lr=0.1, momentun=0.9), TypeError, "momentun"),
        (lambda p: ok.torch.SGD(p, 0.1, 0.9, 0.0, 0.0, False, True), TypeError, "at most"),
        (lambda p: ok.torch.Adam(p, nonfinite="ignore"), ValueError, "nonfinite"),
        (lambda p: ok.torch.Adam([{"params": p, "lr": "0.1"}]), TypeError, "lr='0.1'"),
        (lambda p: ok.torch.Adam([{"params": p, "beta": 0.9}]), ValueError, "beta"),
    ],
)
def test_bad_hyperparameters_are_named(make, error, pattern):
    with pytest.raises(error, match=pattern):
        make([_param(3)])


def test_parameter_twice_is_refused():
    p = _param(3)
    with pytest.raises(ValueError, match="twice"):
        ok.torch.SGD([p, p], lr=0.1)
    opt = ok.torch.SGD([p], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [p]})


@pytest.mark.parametrize(
    "dtype, pattern",
    [(torch.bfloat16, "bfloat16"), (torch.int64, "int64"), (torch.complex64, "complex64")],
)
def test_unsupported_dtypes_are_refused(dtype, pattern):
    p = torch.zeros(3, dtype=dtype)
    with pytest.raises(TypeError, match=pattern):
        ok.torch.SGD([p], lr=0.1)


def test_sparse_gradient_is_refused_and_nothing_changes():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    dense = _param(2, dtype=torch.float32)
    opt = ok.torch.Adam([dense, emb.weight], lr=0.1)
    before = [dense.detach().clone(), emb.weight.detach().clone()]
    dense.grad = torch.ones(2)
    emb(torch.tensor([1, 2])).sum().backward()
    with pytest.raises(TypeError, match="sparse"):
        opt.step()
    assert torch.equal(dense, before[0]) and torch.equal(emb.weight, before[1])
    assert opt.step_count == 0


def test_float16_parameters_are_supported():
    """float16 runs the reference executor in float16 on the CPU; its error from a
    float64 run is of the order of torch's own float16 error."""
    grads = _grads(30, 64)
    finals = {}
    for label, module, dtype in [
        ("ours", ok.torch, torch.float16),
        ("torch", torch.optim, torch.float16),
        ("exact", torch.optim, torch.float64),
    ]:
        p = _param(64, dtype=dtype)
        opt = module.SGD([p], lr=0.01, momentum=0.9)
        for g in grads:
            p.grad = g.to(dtype)
            opt.step()
        assert p.dtype == dtype
        finals[label] = p.detach().double()
    own = float((finals["torch"] - finals["exact"]).abs().max())
    assert float((finals["ours"] - finals["exact"]).abs().max()) <= 2 * own


def test_non_contiguous_parameter_matches_torch():
    results = []
    for module in (ok.torch, torch.optim):
        base = _param(5, 4)
        p = torch.nn.Parameter(base.detach().t())  # a transposed view: not contiguous
        assert not p.is_contiguous()
        opt = module.Adam([p], lr=0.05)
        for g in _grads(10, 4, 5):
            p.grad = g
            opt.step()
        results.append(p.detach().clone())
        assert not p.is_contiguous()  # updated in place, layout kept
    assert torch.allclose(*results, rtol=0, atol=1e-14)


def test_updates_leaf_parameters_in_place():
    p = _param(4)
    ptr = p.data_ptr()
    opt = ok.torch.SGD([p], lr=0.5)
    p.grad = torch.ones(4, dtype=torch.float64)
    expected = p.detach() - 0.5
    opt.step()
    assert p.data_ptr() == ptr and p.requires_grad and p.is_leaf
    assert torch.equal(p.detach(), expected)


@pytest.mark.parametrize("flat", [False, True], ids=["tensors", "flattened"])
@pytest.mark.parametrize("name", ["Adam", "NAdam", "SGD"])
def test_parameters_without_gradients_keep_their_own_step_counts(name, flat):
    """torch skips parameters whose grad is None; their step counts fall behind and
    the bias corrections differ per parameter afterwards."""
    kwargs = dict(lr=0.01, momentum=0.9) if name == "SGD" else dict(lr=0.01)
    grads = _grads(12, 2, 3)
    finals = []
    with default_dtype(torch.float64):
        for module in (ok.torch, torch.optim):
            a, b, c = _param(3, seed=1), _param(3, seed=2), _param(3, seed=3)
            if flat and module is ok.torch:
                ok.torch.flatten_(torch.nn.ParameterList([a, b, c]))
            opt = getattr(module, name)([a, b, c], **kwargs)
            for i, g in enumerate(grads):
                a.grad = g[0].clone()
                b.grad = g[1].clone() if not 2 <= i < 6 else None
                c.grad = None  # never gets a gradient
                opt.step()
            finals.append(torch.cat([a.detach(), b.detach(), c.detach()]))
            assert c not in opt.state or not opt.state[c]
            if name != "SGD":
                assert (
                    float(opt.state[a]["step"]) == 12 and float(opt.state[b]["step"]) == 8
                )
    assert torch.allclose(*finals, rtol=0, atol=1e-14)


def test_zero_grad_sets_gradients_to_none():
    p = _param(3)
    opt = ok.torch.SGD([p], lr=0.1)
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.zero_grad()
    assert p.grad is None
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.zero_grad(set_to_none=False)
    assert torch.equal(p.grad, torch.zeros(3, dtype=torch.float64))


def test_zero_dim_tensor_learning_rate():
    p, q = _param(3), _param(3)
    lr = torch.tensor(0.1)  # float32: read as the number it holds
    a = ok.torch.SGD([p], lr=lr)
    b = ok.torch.SGD([q], lr=float(lr))
    for g in _grads(3, 3):
        p.grad, q.grad = g.clone(), g.clone()
        a.step()
        b.step()
    assert torch.equal(p, q)


def test_import_optkit_does_not_import_torch():
    code = "import sys, optkit; assert 'torch' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


# ----------------------------------------------------------------- optkit's additions
def _bad_gradient_setup(nonfinite):
    a, b = _param(3), _param(2)
    opt = ok.torch.Adam(
        [("layer.weight", a), ("layer.bias", b)], lr=0.1, nonfinite=nonfinite
    )
    a.grad = torch.ones(3, dtype=torch.float64)
    b.grad = torch.ones(2, dtype=torch.float64)
    opt.step()
    a.grad = torch.ones(3, dtype=torch.float64)
    b.grad = torch.tensor([1.0, float("nan")], dtype=torch.float64)
    return opt, a, b


def test_nonfinite_raise_names_the_parameter_and_changes_nothing():
    opt, a, b = _bad_gradient_setup("raise")
    before = [a.detach().clone(), b.detach().clone()]
    state = {k: v.clone() for k, v in opt.state[a].items()}
    with pytest.raises(ok.NonFiniteGradientError, match=r"layer\.bias") as info:
        opt.step()
    assert info.value.step == 2 and info.value.count == 1
    assert torch.equal(a, before[0]) and torch.equal(b, before[1])
    assert all(torch.equal(opt.state[a][k], v) for k, v in state.items())
    assert opt.step_count == 1


def test_nonfinite_skip_and_propagate():
    opt, a, b = _bad_gradient_setup("skip")
    before = a.detach().clone()
    opt.step()
    assert opt.skipped_steps == 1 and opt.step_count == 1 and torch.equal(a, before)
    opt, a, b = _bad_gradient_setup("propagate")
    opt.step()
    assert opt.step_count == 2 and bool(torch.isnan(b).any())
    assert not bool(torch.isnan(a).any())


def test_momentum_warmup_schedule_with_step_lr():
    """A schedule drives momentum while torch's StepLR drives lr: the same as torch's
    SGD with momentum set by hand before each step."""
    warmup = ok.schedules.linear(0.5, 0.9, steps=10)
    grads = _grads(25, 4)
    p, q = _param(4), _param(4)
    ours = ok.torch.SGD([p], lr=0.1, momentum=warmup)
    theirs = torch.optim.SGD([q], lr=0.1, momentum=0.5)
    scheds = [
        torch.optim.lr_scheduler.StepLR(o, step_size=7, gamma=0.5) for o in (ours, theirs)
    ]
    for t, g in enumerate(grads):
        theirs.param_groups[0]["momentum"] = warmup(t)
        p.grad, q.grad = g.clone(), g.clone()
        ours.step()
        theirs.step()
        for s in scheds:
            s.step()
    assert torch.allclose(p, q, rtol=0, atol=1e-14)
    assert scheds[0].get_last_lr() == scheds[1].get_last_lr()


def test_per_element_learning_rate_equals_the_core_optimizer():
    """A tensor hyperparameter broadcast to the parameter (one lr per row): the same
    numbers as optkit's Adam on NumPy arrays."""
    lr = torch.tensor([[0.1], [0.01], [0.001]], dtype=torch.float64)
    p = _param(3, 4)
    w = p.detach().numpy().copy()
    ours = ok.torch.Adam([p], lr=lr)
    core = ok.Adam(w, lr=lr.numpy().copy(), backend="numba")
    for g in _grads(5, 3, 4):
        p.grad = g.clone()
        ours.step()
        core.step(g.numpy().copy())
    assert np.array_equal(p.detach().numpy(), w)
    with pytest.raises(ValueError, match="broadcast"):
        ok.torch.Adam([_param(2, 4)], lr=lr)


def test_delta_bar_delta_equals_the_core_optimizer():
    p = _param(6)
    w = p.detach().numpy().copy()
    ours = ok.torch.DeltaBarDelta([p], lr=0.05, kappa=0.01, phi=0.3, theta=0.6)
    core = ok.DeltaBarDelta(w, lr=0.05, kappa=0.01, phi=0.3, theta=0.6, backend="numba")
    for g in _grads(20, 6):
        p.grad = g.clone()
        ours.step()
        core.step(g.numpy().copy())
    assert np.array_equal(p.detach().numpy(), w)
    assert np.array_equal(ours.state[p]["rate"].numpy(), core.state["param"]["rate"])


def test_wrap_any_optkit_optimizer():
    Wrapped = ok.torch.wrap(ok.SGD, "WrappedSGD")
    assert issubclass(Wrapped, torch.optim.Optimizer) and Wrapped.__name__ == "WrappedSGD"
    p, q = _param(3), _param(3)
    a, b = Wrapped([p], lr=0.1, momentum=0.9), ok.torch.SGD([q], lr=0.1, momentum=0.9)
    for g in _grads(4, 3):
        p.grad, q.grad = g.clone(), g.clone()
        a.step()
        b.step()
    assert torch.equal(p, q) and "momentum_buffer" in a.state[p]
    with pytest.raises(TypeError, match=r"optkit\.Optimizer subclass"):
        ok.torch.wrap(torch.optim.SGD)


def test_values_written_into_param_groups_are_checked_at_the_step():
    p = _param(3)
    opt = ok.torch.Adam([p], lr=0.1)
    p.grad = torch.ones(3, dtype=torch.float64)
    opt.step()
    before = p.detach().clone()
    opt.param_groups[0]["lr"] = -0.5
    with pytest.raises(ValueError, match=r"group 0: invalid lr=-0\.5.*nothing was updated"):
        opt.step()
    assert torch.equal(p, before) and opt.step_count == 1
    opt.param_groups[0]["lr"] = 0.1
    opt.step()
    assert opt.step_count == 2 and float(opt.state[p]["step"]) == 2


def test_a_bad_schedule_value_names_the_step():
    p = _param(3)
    opt = ok.torch.SGD([p], lr=ok.schedules.linear(0.1, -0.1, steps=4))
    p.grad = torch.ones(3, dtype=torch.float64)
    for _ in range(3):
        opt.step()
    with pytest.raises(ValueError, match="schedule value at step 3"):
        opt.step()
    assert opt.step_count == 3


def test_step_without_any_gradient_changes_nothing():
    p = _param(3)
    before = p.detach().clone()
    opt = ok.torch.Adam([p], lr=0.1)
    opt.step()
    assert torch.equal(p, before) and not opt.state.get(p)

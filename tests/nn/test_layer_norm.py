"""LayerNorm: the definition, every backend, finite differences, torch parity.

LayerNorm is four rules (per-row moments, normalize, per-row and per-feature gradient
sums, input gradient) plus O(N) array code: the proof that the map/reduction
primitives generalise beyond BatchNorm.
"""

from __future__ import annotations

import numpy as np
import pytest

import optkit as ok
from optkit.nn import LayerNorm

SHAPES = [((6, 5), (5,)), ((3, 4, 7), (7,)), ((2, 3, 4, 5), (4, 5))]


def by_hand(x, normalized, weight=None, bias=None, eps=1e-5):
    axes = tuple(range(x.ndim - len(normalized), x.ndim))
    x = x.astype(np.float64)
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    y = (x - mean) / np.sqrt(var + eps)
    return y * (1.0 if weight is None else weight) + (0.0 if bias is None else bias)


@pytest.mark.parametrize(("shape", "normalized"), SHAPES)
def test_every_backend_matches_the_definition(backend, shape, normalized):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape) * 3 + 5
    w, b = rng.uniform(0.5, 2, normalized), rng.standard_normal(normalized)
    y, cache = ok.layer_norm(backend.asarray(x), normalized, backend.asarray(w),
                             backend.asarray(b), backend=backend.optkit)  # fmt: skip
    np.testing.assert_allclose(backend.to_numpy(y), by_hand(x, normalized, w, b),
                               rtol=1e-12, atol=1e-12)  # fmt: skip
    dy = rng.standard_normal(shape)
    dx, dw, db = ok.layer_norm_backward(backend.asarray(dy), cache)
    ref = ok.layer_norm_backward(dy, ok.layer_norm(x, normalized, w, b, backend="numpy")[1])
    for got, want in zip((dx, dw, db), ref):
        np.testing.assert_allclose(backend.to_numpy(got), want, rtol=1e-11, atol=1e-12)


def test_gradients_match_finite_differences():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6))
    w, b = rng.uniform(0.5, 2, 6), rng.standard_normal(6)
    dy = rng.standard_normal((3, 6))

    def loss(x_, w_, b_):
        return float((ok.layer_norm(x_, 6, w_, b_, backend="numpy")[0] * dy).sum())

    _, cache = ok.layer_norm(x, 6, w, b, backend="numpy")
    dx, dw, db = ok.layer_norm_backward(dy, cache)
    h = 1e-6
    for name, array, grad in (("x", x, dx), ("w", w, dw), ("b", b, db)):
        numeric = np.zeros_like(array)
        for i in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[i] += h
            minus[i] -= h
            args = {"x": (x, w, b), "w": (x, w, b), "b": (x, w, b)}[name]
            swap = {"x": 0, "w": 1, "b": 2}[name]
            hi = list(args)
            lo = list(args)
            hi[swap], lo[swap] = plus, minus
            numeric[i] = (loss(*hi) - loss(*lo)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8, err_msg=name)


def test_invariants_of_the_input_gradient():
    """Without an affine part and with eps = 0, Σ dx = 0 and Σ dx·x̂ = 0 over each row
    (eps > 0 leaves Σ x̂² = D σ²/(σ² + ε) and the second one off by about ε/σ²)."""
    rng = np.random.default_rng(3)
    x, dy = rng.standard_normal((5, 9)) + 4, rng.standard_normal((5, 9))
    y, cache = ok.layer_norm(x, 9, eps=0.0, backend="numba")
    dx, dw, db = ok.layer_norm_backward(dy, cache)
    assert dw is None and db is None
    np.testing.assert_allclose(dx.sum(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose((dx * y).sum(axis=1), 0, atol=1e-11)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(normalized_shape=4), "trailing dimensions"),
        (dict(normalized_shape=3, weight=np.ones(4)), "weight has shape"),
        (dict(normalized_shape=3, eps=-1.0), "eps"),
    ],
)
def test_bad_calls_name_the_culprit(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ok.layer_norm(np.ones((2, 3)), **kwargs)


def test_backward_checks_dy():
    _, cache = ok.layer_norm(np.ones((4, 3)), 3, backend="numpy")
    with pytest.raises(ValueError, match=r"dy has shape \(3, 4\), .* had \(4, 3\)"):
        ok.layer_norm_backward(np.ones((3, 4)), cache)
    with pytest.raises(TypeError, match=r"dy has dtype float32, .* had float64"):
        ok.layer_norm_backward(np.ones((4, 3), np.float32), cache)


@pytest.mark.torch
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("shape", "normalized"), SHAPES)
def test_module_matches_torch(cpu_backend, shape, normalized, dtype):
    """float64 to 1e-10; float32 within twice torch's own float32 error (vs float64)."""
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    ref = torch.nn.LayerNorm(normalized, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.uniform_(0.5, 1.5, generator=gen)
        ref.bias.normal_(generator=gen)
    ref32 = torch.nn.LayerNorm(normalized, dtype=torch.float32)
    ref32.load_state_dict({k: v.float() for k, v in ref.state_dict().items()})
    ours = LayerNorm(normalized, dtype=dtype, backend=cpu_backend)
    ours.load_state_dict({k: v.numpy().astype(dtype) for k, v in ref.state_dict().items()})
    x = torch.randn(shape, generator=gen, dtype=torch.float64) * 2 + 3
    dy = torch.randn(shape, generator=gen, dtype=torch.float64)
    outs = {}
    for name, module, cast in (("64", ref, torch.float64), ("32", ref32, torch.float32)):
        xt = x.detach().to(cast).clone().requires_grad_(True)
        y = module(xt)
        y.backward(dy.to(cast))
        outs[name] = [y.detach().numpy(), xt.grad.numpy(), module.weight.grad.numpy(),
                      module.bias.grad.numpy()]  # fmt: skip
    y = ours(x.numpy().astype(dtype))
    got = [y, ours.backward(dy.numpy().astype(dtype)), ours.grad_weight, ours.grad_bias]
    for g, w64, w32 in zip(got, outs["64"], outs["32"]):
        assert g.dtype == np.dtype(dtype)
        if dtype == "float64":
            np.testing.assert_allclose(g, w64, rtol=1e-10, atol=1e-12)
        else:
            ours_err = np.abs(g.astype(np.float64) - w64).max()
            torch_err = np.abs(w32.astype(np.float64) - w64).max()
            floor = 4 * np.finfo(np.float32).eps * max(np.abs(w64).max(), 1.0)
            assert ours_err <= 2 * torch_err + floor, (ours_err, torch_err)

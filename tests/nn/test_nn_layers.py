"""Layers one by one: finite-difference gradients, init, backends, bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from _nn_support import numeric_grad

import optkit as ok
from optkit import _backend
from optkit.nn import Dropout, Linear, ReLU, Sigmoid, Tanh, _ops

ACTIVATIONS = [ReLU, Tanh, Sigmoid]


def test_linear_gradients_match_finite_differences(cpu_backend):
    rng = np.random.default_rng(0)
    layer = Linear(5, 3, dtype="float64", seed=1, backend=cpu_backend)
    x = rng.standard_normal((4, 2, 5))  # leading axes are batch axes, as in torch
    w_up = rng.standard_normal((4, 2, 3))

    def f():
        return float(np.sum(w_up * layer.forward(x)))

    f()
    dx = layer.backward(w_up)
    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=1e-7, atol=1e-9)
    grad_w, grad_b = layer.grad_weight.copy(), layer.grad_bias.copy()
    np.testing.assert_allclose(grad_w, numeric_grad(f, layer.weight), rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(grad_b, numeric_grad(f, layer.bias), rtol=1e-7, atol=1e-9)


@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_activation_gradients_match_finite_differences(cls, cpu_backend):
    rng = np.random.default_rng(1)
    layer = cls(backend=cpu_backend)
    x = rng.standard_normal((6, 7)) * 3
    x[np.abs(x) < 1e-3] = 0.5  # keep ReLU away from its kink
    w_up = rng.standard_normal((6, 7))

    def f():
        return float(np.sum(w_up * layer.forward(x)))

    f()
    np.testing.assert_allclose(
        layer.backward(w_up), numeric_grad(f, x), rtol=1e-7, atol=1e-9
    )


def test_dropout_gradient_is_its_mask_and_finite_differences_agree():
    rng = np.random.default_rng(2)
    drop = Dropout(0.3, seed=5)
    x = rng.standard_normal((50, 8))
    w_up = rng.standard_normal((50, 8))
    state = drop.rng.bit_generator.state

    def f():
        drop.rng.bit_generator.state = state  # the same mask every call
        return float(np.sum(w_up * drop.forward(x)))

    f()
    dx = drop.backward(w_up)
    np.testing.assert_allclose(dx, numeric_grad(f, x), rtol=1e-7, atol=1e-9)
    kept = dx != 0
    assert 0.55 < kept.mean() < 0.85
    np.testing.assert_allclose(dx[kept], w_up[kept] / 0.7)


def test_dropout_modes_and_seeding():
    x = np.ones((1000, 10), np.float32)
    a, b = Dropout(0.5, seed=3), Dropout(0.5, seed=3)
    ya, yb = a(x), b(x)
    np.testing.assert_array_equal(ya, yb)
    assert ya.dtype == np.float32 and set(np.unique(ya)) == {0.0, 2.0}
    assert abs(float(ya.mean()) - 1.0) < 0.03  # inverted dropout keeps the mean
    assert not np.array_equal(a(x), ya)  # a new mask each call
    a.eval()
    assert a(x) is x and a.backward(x) is x
    np.testing.assert_array_equal(Dropout(1.0, seed=0)(x), 0.0)
    assert Dropout(0.0, seed=0)(x) is x
    for bad in (-0.1, 1.5, True, "0.5"):
        with pytest.raises(ValueError, match="dropout probability"):
            Dropout(bad)
    with pytest.raises(ValueError, match="not both"):
        Dropout(0.5, rng=np.random.default_rng(0), seed=1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("cls", ACTIVATIONS)
def test_numba_activations_equal_the_reference(cls, dtype):
    """Same values as the NumPy path, NaN and infinities included, both sizes (serial
    and parallel loops of the generated maps)."""
    rng = np.random.default_rng(3)
    for size in (37, 1 << 18):
        x = (rng.standard_normal(size) * 20).astype(dtype)
        x[:5] = [np.nan, np.inf, -np.inf, 0.0, -0.0]
        dy = rng.standard_normal(size).astype(dtype)
        ref, fast = cls(backend="numpy"), cls(backend="numba")
        y_ref, y_fast = ref(x), fast(x)
        assert y_fast.dtype == np.dtype(dtype)
        tol = dict(rtol=4 * np.finfo(dtype).eps, atol=np.finfo(dtype).tiny)
        np.testing.assert_allclose(y_fast, y_ref, **tol)
        # The backward from the same output (1 - y*y cancels near |y| = 1, so one ulp
        # of tanh would show as a large relative difference).
        numba_backend = _backend.resolve_backend("numba", dy)
        dx_fast = _ops.activation_backward(numba_backend, cls.kind, dy, y_ref)
        np.testing.assert_allclose(dx_fast, ref.backward(dy), **tol)
        assert fast.backward(dy).dtype == np.dtype(dtype)


def test_activation_values():
    x = np.array([-800.0, -2.0, 0.0, 3.0, 800.0])
    for cpu_backend in ("numpy", "numba"):
        np.testing.assert_allclose(ReLU(backend=cpu_backend)(x), [0, 0, 0, 3, 800])
        np.testing.assert_allclose(Tanh(backend=cpu_backend)(x), np.tanh(x))
        sig = Sigmoid(backend=cpu_backend)(x)  # no overflow at +-800
        np.testing.assert_allclose(
            sig, [0.0, 1 / (1 + math.e**2), 0.5, 1 / (1 + math.e**-3), 1]
        )


def test_linear_default_init_follows_torch_bounds_and_is_seeded():
    layer = Linear(400, 300, seed=0)
    bound = 1 / math.sqrt(400)
    assert layer.weight.shape == (300, 400) and layer.weight.dtype == np.float32
    assert float(np.abs(layer.weight).max()) <= bound
    assert float(np.abs(layer.bias).max()) <= bound
    # U(-b, b) has standard deviation b / sqrt(3)
    assert abs(float(layer.weight.std()) - bound / math.sqrt(3)) < 0.01 * bound
    again = Linear(400, 300, seed=0)
    np.testing.assert_array_equal(layer.weight, again.weight)
    assert not np.array_equal(layer.weight, Linear(400, 300, seed=1).weight)
    assert Linear(3, 2, bias=False).bias is None
    assert list(Linear(3, 2, bias=False).parameters("l.")) == ["l.weight"]


def test_linear_bad_input_names_the_problem():
    layer = Linear(4, 2, seed=0)
    with pytest.raises(ValueError, match="4 features"):
        layer(np.ones((3, 5), np.float32))
    with pytest.raises(TypeError, match="dtype float64 but its weight is float32"):
        layer(np.ones((3, 4)))
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(4, 2).backward(np.ones((3, 2), np.float32))
    layer(np.ones((3, 4), np.float32))
    with pytest.raises(ValueError, match="expected float32 \\(3, 2\\)"):
        layer.backward(np.ones((3, 3), np.float32))
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="in_features"):
            Linear(bad, 2)
    with pytest.raises(TypeError, match="float dtype"):
        Linear(2, 2, dtype="int32")


def test_linear_bound_to_views_writes_gradients_there():
    layer = Linear(3, 2, seed=0, dtype="float64")
    flat = ok.FlatParams(layer.parameters("fc."))
    grads = flat.zeros_like()
    layer.bind(flat, "fc.", grads=grads)
    assert np.shares_memory(layer.weight, flat.buffers["float64"])
    layer(np.ones((4, 3)))
    layer.backward(np.ones((4, 2)))
    assert layer.grad_weight is grads["fc.weight"]
    np.testing.assert_allclose(grads["fc.bias"], [4.0, 4.0])
    layer.bind(flat, "fc.", grads={"fc.bias": grads["fc.bias"]})  # weight frozen
    grads["fc.weight"][...] = -1.0
    layer(np.ones((4, 3)))
    layer.backward(np.ones((4, 2)))
    assert layer.grad_weight is None
    np.testing.assert_array_equal(grads["fc.weight"], -1.0)  # untouched
    with pytest.raises(ValueError, match=r"params\['fc.weight'\] is float32"):
        layer.bind(ok.FlatParams(Linear(3, 2).parameters("fc.")), "fc.")


def test_layer_state_dict_round_trip_and_checks():
    layer = Linear(3, 2, seed=0)
    state = layer.state_dict()
    assert list(state) == ["weight", "bias"] and state["weight"] is not layer.weight
    other = Linear(3, 2, seed=1)
    other.load_state_dict(state)
    np.testing.assert_array_equal(other.weight, layer.weight)
    before = other.weight.copy()
    with pytest.raises(ValueError, match="shape"):
        other.load_state_dict(
            {"weight": np.ones((3, 3), np.float32), "bias": state["bias"]}
        )
    with pytest.raises(TypeError, match="dtype"):
        other.load_state_dict(
            {"weight": state["weight"].astype(np.float64), "bias": state["bias"]}
        )
    with pytest.raises(KeyError, match="missing keys \\['bias'\\]"):
        other.load_state_dict({"weight": state["weight"]})
    np.testing.assert_array_equal(other.weight, before)


def test_reprs():
    assert repr(Linear(2, 3)) == "Linear(in_features=2, out_features=3, bias=True)"
    assert repr(ReLU()) == "ReLU()" and repr(Dropout(0.25)) == "Dropout(p=0.25)"


def test_layers_and_losses_run_on_a_strict_array_api_namespace():
    """Forward and backward use only the standard: array_api_strict arrays agree with
    NumPy's results."""
    xps = pytest.importorskip("array_api_strict")
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    y = np.array([0, 1, 1, 0, 1])
    reference = [
        Linear(3, 4, dtype="float64", seed=0),
        Tanh(),
        Linear(4, 2, dtype="float64", seed=1),
    ]
    strict = [Linear(3, 4, dtype="float64", seed=0, backend="array_api"), Tanh(backend="array_api"),
              Linear(4, 2, dtype="float64", seed=1, backend="array_api")]  # fmt: skip
    for layer in strict:
        for name in ("weight", "bias"):
            if hasattr(layer, name):
                setattr(layer, name, xps.asarray(getattr(layer, name)))
    outs = []
    for layers, to in ((reference, np.asarray), (strict, xps.asarray)):
        h = to(x)
        for layer in layers:
            h = layer.forward(h)
        loss, d = ok.nn.cross_entropy(h, to(y), grad=True)
        for layer in reversed(layers):
            d = layer.backward(d)
        outs.append((loss, np.asarray(d), np.asarray(layers[0].grad_weight)))
    assert type(strict[0].grad_weight).__module__.startswith("array_api_strict")
    assert outs[1][0] == pytest.approx(outs[0][0], rel=1e-14)
    for a, b in zip(outs[1][1:], outs[0][1:]):
        np.testing.assert_allclose(a, b, rtol=1e-13)

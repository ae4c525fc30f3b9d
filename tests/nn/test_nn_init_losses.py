"""Initialisers (torch's formulas, seeded) and the losses."""

from __future__ import annotations

import math
from functools import partial

import numpy as np
import pytest
from _nn_support import numeric_grad

import optkit as ok
from optkit.nn import init


def spread(fn, shape=(400, 300), **kw):
    return fn(np.empty(shape), **kw, seed=0)


def test_initialisers_follow_their_formulas():
    fan_in, fan_out = 300, 400
    w = spread(init.xavier_uniform_, gain=2.0)
    bound = 2.0 * math.sqrt(6 / (fan_in + fan_out))
    assert np.abs(w).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    w = spread(init.xavier_normal_)
    assert abs(w.std() - math.sqrt(2 / (fan_in + fan_out))) < 0.01 * w.std()
    w = spread(init.kaiming_uniform_, nonlinearity="relu")
    bound = math.sqrt(2) * math.sqrt(3 / fan_in)
    assert np.abs(w).max() <= bound and abs(w.std() - bound / math.sqrt(3)) < 0.01 * bound
    w = spread(init.kaiming_normal_, mode="fan_out", nonlinearity="relu")
    assert abs(w.std() - math.sqrt(2 / fan_out)) < 0.01 * w.std()
    conv = init.kaiming_uniform_(np.empty((8, 4, 3, 3)), seed=0)  # fan_in = 4 * 9
    assert np.abs(conv).max() <= math.sqrt(2 / (1 + 0.01**2)) * math.sqrt(3 / 36)


def test_orthogonal_and_seeding():
    for shape in ((6, 4), (4, 6), (3, 2, 2)):
        w = init.orthogonal_(np.empty(shape), gain=1.5, seed=1)
        flat = w.reshape(shape[0], -1) / 1.5
        small = flat @ flat.T if shape[0] <= flat.shape[1] else flat.T @ flat
        np.testing.assert_allclose(small, np.eye(small.shape[0]), atol=1e-12)
    a = init.normal_(np.empty(5), seed=3)
    b = init.normal_(np.empty(5), rng=np.random.default_rng(3))
    np.testing.assert_array_equal(a, b)
    w32 = init.uniform_(np.empty(4, np.float32), -1, 1, seed=0)
    assert w32.dtype == np.float32
    assert init.zeros_(np.ones(2)).tolist() == [0, 0] and init.ones_(
        np.zeros(1)
    ).tolist() == [1]
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        init.xavier_uniform_(np.empty(3))
    with pytest.raises(ValueError, match="mode='fan'"):
        init.kaiming_normal_(np.empty((2, 2)), mode="fan")
    with pytest.raises(ValueError, match="unsupported nonlinearity"):
        init.calculate_gain("swish")
    with pytest.raises(TypeError, match="Generator"):
        init.normal_(np.empty(2), rng=np.random.RandomState(0))


def test_initialisers_write_views_of_a_model_in_place():
    model = ok.nn.mlp([5, 4, 3], seed=0)
    for name, w in model.named_parameters().items():
        if name.endswith("weight"):
            init.orthogonal_(w, seed=0)
    w = model.parameters()["0.weight"]
    np.testing.assert_allclose(w @ w.T, np.eye(4), atol=1e-6)


def test_cross_entropy_values_and_gradients():
    rng = np.random.default_rng(0)
    z = rng.standard_normal((6, 4)) * 3
    y = rng.integers(0, 4, 6)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    nll = -np.mean(np.log(p[np.arange(6), y]))
    assert ok.nn.cross_entropy(z, y) == pytest.approx(nll, rel=1e-12)
    smooth = 0.9 * nll + 0.1 * np.mean(-np.log(p).mean(axis=1))
    assert ok.nn.cross_entropy(z, y, label_smoothing=0.1) == pytest.approx(
        smooth, rel=1e-12
    )
    assert ok.nn.cross_entropy(z, y, reduction="sum") == pytest.approx(6 * nll, rel=1e-12)
    for loss in (ok.nn.cross_entropy, partial(ok.nn.cross_entropy, label_smoothing=0.2)):
        _, grad = loss(z, y, grad=True)
        numeric = numeric_grad(partial(loss, z, y), z)
        np.testing.assert_allclose(grad, numeric, rtol=1e-7, atol=1e-10)
    onehot = np.eye(4)[y]
    assert ok.nn.cross_entropy(z, onehot) == pytest.approx(nll, rel=1e-12)
    huge = np.array([[1000.0, 0.0], [-1000.0, 0.0]])
    value, grad = ok.nn.cross_entropy(huge, np.array([0, 1]), grad=True)  # stable
    assert value == pytest.approx(0.0, abs=1e-12) and np.isfinite(grad).all()
    assert ok.nn.cross_entropy(z.astype(np.float32), y, grad=True)[1].dtype == np.float32


def test_loss_bad_input():
    z = np.zeros((3, 4))
    with pytest.raises(ValueError, match="class 4, outside \\[0, 4\\)"):
        ok.nn.cross_entropy(z, np.array([0, 1, 4]))
    with pytest.raises(ValueError, match="shape \\(2,\\), expected \\(3,\\)"):
        ok.nn.cross_entropy(z, np.array([0, 1]))
    with pytest.raises(ValueError, match="label_smoothing"):
        ok.nn.cross_entropy(z, np.array([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(ValueError, match="reduction='none'"):
        ok.nn.mse(z, z, reduction="none")
    with pytest.raises(ValueError, match="no broadcasting"):
        ok.nn.mse(np.zeros((3, 1)), np.zeros(3))
    assert (
        ok.nn.accuracy(
            np.array([[0.0, 1.0], [1.0, 0.0]]), np.array([[0.2, 0.8], [0.6, 0.4]])
        )
        == 1.0
    )

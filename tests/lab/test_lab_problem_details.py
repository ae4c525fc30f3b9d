"""What each problem promises beyond the common contract, the registry, bad input."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from _lab_cases import needs_sklearn

from optkit import problems
from optkit.problems._rotation import GivensLayers


# ----------------------------------------------------------------------- quadratic
@pytest.mark.parametrize("dim", [1, 2, 3, 8, 33, 100])
def test_givens_layers_are_orthogonal(dim):
    q = GivensLayers(dim, seed=dim).dense()
    np.testing.assert_allclose(q.T @ q, np.eye(dim), atol=1e-13)
    x = np.random.default_rng(0).standard_normal((4, dim))
    back = GivensLayers(dim, seed=dim).apply(np, x, lambda k, v, like, dtype=None: v)
    np.testing.assert_allclose(back, x @ q.T, atol=1e-13)


def test_givens_layers_preserve_norms_at_ten_thousand_dims():
    rotation = GivensLayers(10_000, seed=1)
    x = np.random.default_rng(1).standard_normal((2, 10_000))
    y = rotation.apply(np, x, lambda k, v, like, dtype=None: v)
    z = rotation.apply(np, y, lambda k, v, like, dtype=None: v, transpose=True)
    np.testing.assert_allclose(np.linalg.norm(y, axis=1), np.linalg.norm(x, axis=1))
    np.testing.assert_allclose(z, x, atol=1e-12)
    assert np.abs(y - x).max() > 1.0  # it did rotate


def test_quadratic_spectrum_eigenvectors_and_start():
    q = problems.quadratic(dim=6, kappa=1e3, seed=2)
    np.testing.assert_allclose(q.eigenvalues, np.geomspace(1, 1e3, 6))
    assert q.condition_number == pytest.approx(1e3)
    vectors = q.eigenvectors()
    np.testing.assert_allclose(vectors.T @ vectors, np.eye(6), atol=1e-13)
    np.testing.assert_allclose(
        q.hessian(q.x0), vectors @ np.diag(q.eigenvalues) @ vectors.T, atol=1e-10
    )
    np.testing.assert_allclose(q.to_eigenbasis(q.x0), np.ones(6), atol=1e-13)
    np.testing.assert_allclose(q.from_eigenbasis(q.to_eigenbasis(q.x0)), q.x0, atol=1e-13)
    assert float(q.value(q.x0)) == pytest.approx(0.5 * q.eigenvalues.sum())
    # rotated eigenvectors spread over the axes; axis-aligned ones are the axes
    assert np.abs(vectors).max() < 0.99
    np.testing.assert_array_equal(
        problems.quadratic(dim=6, rotate=False).eigenvectors(), np.eye(6)
    )


def test_quadratic_with_zero_eigenvalues_is_convex_not_strongly():
    q = problems.quadratic(eigenvalues=[3.0, 0.0, 1.0])
    assert q.dim == 3 and q.condition_number == float("inf")
    np.testing.assert_array_equal(q.eigenvalues, [0.0, 1.0, 3.0])
    direction = q.eigenvectors()[:, 0]  # the flat direction
    assert float(q.value(5.0 * direction)) == pytest.approx(0.0, abs=1e-24)


def test_quadratic_seeds_give_different_rotations():
    a, b = problems.quadratic(dim=5, seed=0), problems.quadratic(dim=5, seed=1)
    assert not np.allclose(a.eigenvectors(), b.eigenvectors())
    np.testing.assert_array_equal(
        a.eigenvectors(), problems.quadratic(dim=5).eigenvectors()
    )


# ----------------------------------------------------------------------- the others
def test_himmelblau_has_four_global_minima():
    p = problems.himmelblau()
    assert p.minima.shape == (4, 2)
    assert np.abs(p.value(p.minima)).max() < 1e-20
    assert np.abs(p.grad(p.minima)).max() < 1e-10
    np.testing.assert_allclose(
        p.minima[1:],
        [[-2.805118, 3.131312], [-3.779310, -3.283186], [3.584428, -1.848126]],
        atol=1e-6,
    )


def test_strict_saddle_index_and_escape_direction():
    s = problems.saddle(eigenvalues=[1.0, -2.0], quartic=0.5)
    assert s.index == 1
    np.testing.assert_array_equal(s.hessian(s.saddle_point), np.diag([1.0, -2.0]))
    np.testing.assert_allclose(s.x_star, [0.0, 2.0])
    assert s.f_star == -2.0
    assert np.all(np.linalg.eigvalsh(s.hessian(s.x_star)) > 0)


def test_monkey_saddle_is_degenerate():
    m = problems.saddle("monkey", dim=3)
    np.testing.assert_array_equal(m.hessian(m.saddle_point)[:2, :2], np.zeros((2, 2)))
    np.testing.assert_array_equal(m.grad(m.saddle_point), np.zeros(3))
    assert m.index == 0
    # f falls along three directions from the origin (cos 3θ = -1)
    for angle in (np.pi / 3, np.pi, 5 * np.pi / 3):
        point = 0.1 * np.array([np.cos(angle), np.sin(angle), 0.0])
        assert float(m.value(point)) < 0


def test_cliff_wall_is_height_over_width_steeper_than_the_valley():
    c = problems.cliff(height=20.0, width=0.05)
    foot = np.array([-1.0, 0.0])
    assert float(c.grad(foot)[0]) == pytest.approx(-1.0)  # the valley's own slope
    xs = np.linspace(-1.2, -0.99, 20001)
    slope = c.grad(np.stack([xs, np.zeros_like(xs)], axis=1))[:, 0] - xs
    assert -slope.min() == pytest.approx(20.0 / 0.05, rel=1e-6)
    plateau, floor = np.array([-1.5, 0.0]), np.array([-0.9, 0.0])
    assert float(c.value(plateau) - c.value(floor)) == pytest.approx(
        20.0 + 0.5 * (2.25 - 0.81)
    )
    jump = 0.1 * c.grad(np.array([-1 - 15 / 16 * 0.05, 0.0]))  # one SGD step, lr 0.1
    assert abs(float(jump[0])) > 39.0


@pytest.mark.parametrize("rho", [0.9, 1.0, 1.1])
def test_deep_linear_norms_scale_like_rho_to_the_depth(rho):
    p = problems.deep_linear(depth=30, width=4, spectral_radius=rho)
    np.testing.assert_allclose(p.forward_norms(p.x0), rho ** np.arange(31), rtol=1e-10)
    back = p.backward_norms(p.x0)  # ‖δ_j‖ = ρ^(N−j) ‖δ_N‖ for W = ρQ
    np.testing.assert_allclose(back, back[-1] * rho ** (30 - np.arange(31)), rtol=1e-9)


def test_deep_linear_layer_gradient_norms_match_the_gradient_blocks():
    p = problems.deep_linear(depth=3, width=2, tied=False, init="symmetric")
    x = p.x0 + 0.1
    blocks = p.grad(x).reshape(3, 4)
    np.testing.assert_allclose(p.layer_grad_norms(x), np.linalg.norm(blocks, axis=1))
    tied = problems.deep_linear(depth=3, width=2)
    total = tied.grad(tied.x0)
    assert tied.layer_grad_norms(tied.x0).shape == (3,)
    assert np.linalg.norm(total) <= tied.layer_grad_norms(tied.x0).sum() + 1e-12


@pytest.mark.parametrize("init", ["orthogonal", "symmetric", "gaussian"])
def test_deep_linear_starts_have_the_requested_spectral_radius(init):
    p = problems.deep_linear(depth=5, width=5, spectral_radius=0.7, init=init, seed=4)
    radius = np.abs(np.linalg.eigvals(p.x0.reshape(5, 5))).max()
    assert radius == pytest.approx(0.7, rel=1e-10)
    starts = p.random_start([np.random.default_rng(s) for s in range(3)])
    assert starts.shape == (3, 25)


@needs_sklearn
def test_logistic_regression_data_minimum_and_minibatches():
    p = problems.logistic_regression("breast_cancer", l2=1e-2, batch_size=16)
    assert p.dim == 31 and p.features.shape == (569, 31)
    np.testing.assert_allclose(p.features[:, :-1].mean(axis=0), 0.0, atol=1e-12)
    assert float(p.value(p.x0)) == pytest.approx(np.log(2.0))
    assert np.abs(p.grad(p.x_star)).max() < 1e-12
    accuracy = np.mean((p.features @ p.x_star > 0) == p.labels)
    assert accuracy > 0.95
    assert problems.logistic_regression("breast_cancer", l2=0.0).x_star is None
    digits = problems.logistic_regression("digits", l2=1e-2)
    assert digits.dim == 650 and float(digits.value(digits.x0)) == pytest.approx(np.log(10))


@needs_sklearn
def test_logistic_regression_without_scikit_learn_names_the_extra(monkeypatch):
    from optkit.problems import logistic

    logistic.load_dataset.cache_clear()
    monkeypatch.setitem(sys.modules, "sklearn", None)
    try:
        with pytest.raises(ImportError, match=r"optkit\[lab\]"):
            problems.logistic_regression()
    finally:
        logistic.load_dataset.cache_clear()


# ----------------------------------------------------------------------- registry, errors
def test_registry_lists_and_builds_every_problem():
    assert problems.names() == sorted(problems.PROBLEMS)
    assert {"quadratic", "rosenbrock", "saddle", "cliff", "deep_linear"} <= set(
        problems.names()
    )
    with pytest.raises(ValueError, match=r"unknown problem 'nope'.*quadratic"):
        problems.make("nope")
    with pytest.raises(TypeError, match="no parameter 'kapa'"):
        problems.make("quadratic", kapa=3)


@pytest.mark.parametrize(
    "build, error, message",
    [
        (lambda: problems.quadratic(dim=0), ValueError, "dim=0"),
        (lambda: problems.quadratic(kappa=0.5), ValueError, "kappa=0.5"),
        (lambda: problems.quadratic(eigenvalues=[1.0, -1.0]), ValueError, "saddle"),
        (lambda: problems.quadratic(dim=3, eigenvalues=[1.0, 2.0]), ValueError, "dim=3"),
        (lambda: problems.quadratic(kappa=3.0, eigenvalues=[1.0]), ValueError, "not both"),
        (lambda: problems.quadratic(rotate="yes"), TypeError, "rotate"),
        (lambda: problems.rosenbrock(1), ValueError, "dim=1"),
        (lambda: problems.rastrigin(dim=2.5), TypeError, "dim=2.5"),
        (lambda: problems.saddle("flat"), ValueError, "kind='flat'"),
        (lambda: problems.saddle(quartic=0.0), ValueError, "quartic=0"),
        (lambda: problems.saddle("monkey", eigenvalues=[1.0]), ValueError, "eigenvalues"),
        (lambda: problems.cliff(width=0.0), ValueError, "width=0.0"),
        (lambda: problems.cliff(noise=-1.0), ValueError, "noise=-1.0"),
        (lambda: problems.deep_linear(init="zeros"), ValueError, "init='zeros'"),
        (lambda: problems.deep_linear(depth=0), ValueError, "depth=0"),
    ],
)
def test_bad_parameters_name_the_culprit(build, error, message):
    with pytest.raises(error, match=message):
        build()


@needs_sklearn
def test_bad_logistic_parameters_name_the_culprit():
    with pytest.raises(ValueError, match="dataset='iris'"):
        problems.logistic_regression("iris")
    with pytest.raises(ValueError, match="batch_size=10000"):
        problems.logistic_regression(batch_size=10_000)
    with pytest.raises(ValueError, match=r"l2=-1\.0"):
        problems.logistic_regression(l2=-1.0)


def test_bad_points_name_the_shape_or_dtype_and_change_nothing():
    p = problems.rosenbrock(3)
    with pytest.raises(ValueError, match=r"shape \(2,\).*\(3,\) or \(K, 3\)"):
        p.value(np.zeros(2))
    with pytest.raises(ValueError, match=r"shape \(1, 2, 3\)"):
        p.grad(np.zeros((1, 2, 3)))
    with pytest.raises(TypeError, match="dtype int64"):
        p.value(np.zeros(3, dtype=np.int64))
    with pytest.raises(TypeError, match="must be an array"):
        p.value([1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match=r"v has shape \(2,\)"):
        p.hvp(np.zeros(3), np.zeros(2))
    with pytest.raises(ValueError, match="holds 2 generators for 3 points"):
        p.sample_grad(np.zeros((3, 3)), [np.random.default_rng(0)] * 2)
    with pytest.raises(TypeError, match=r"numpy\.random\.Generator"):
        problems.rosenbrock(3, noise=1.0).sample_grad(np.zeros(3), 0)
    with pytest.raises(TypeError, match="backend='numba' takes NumPy"):
        import array_api_strict as xps

        p.value_and_grad(xps.zeros(3, dtype=xps.float64), backend="numba")
    x = np.ones((2, 3))
    p.value_and_grad(x, backend="numba")
    np.testing.assert_array_equal(x, np.ones((2, 3)))
